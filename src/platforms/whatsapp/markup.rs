//! Scenario texts are written in Telegram's HTML subset (`<b>`, `<i>`, `<s>`, `<u>`, `<code>`,
//! `<pre>`, `<a href>`, `<tg-spoiler>`, `<blockquote>`), with `&lt;`-style entities, and values
//! interpolated into them are HTML-escaped. WhatsApp reads its own marks instead (`*bold*`,
//! `_italic_`, `~strike~`, `` `code` ``, ```` ```block``` ````), so texts are converted before
//! they are sent: one pass, linear in the text, no recursion; a tag hookline does not know is
//! dropped and its content kept, and text that is not a well-formed tag stays as written.

/// The longest tag read as one (a link's tag holds its address).
const MAX_TAG_BYTES: usize = 2_048;

/// `html` as WhatsApp formatting.
pub fn html_to_whatsapp(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Links whose text is being written: their URL goes after the text.
    let mut links: Vec<String> = Vec::new();
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('&') {
            let (text, used) = entity(rest);
            out.push_str(text);
            rest = &rest[used..];
            continue;
        }
        // A tag holds no other `<`: the scan stops at the next `<` or `>`, so every byte is
        // looked at a bounded number of times however many `<` the text holds.
        let close = rest.as_bytes()[1..]
            .iter()
            .position(|b| *b == b'<' || *b == b'>')
            .map(|i| i + 1)
            .filter(|end| rest.as_bytes()[*end] == b'>' && *end <= MAX_TAG_BYTES);
        match close.map(|end| (&rest[1..end], end)) {
            Some((tag, end)) if is_tag(tag) => {
                write_tag(&mut out, tag, &mut links);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push('<');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A tag's inside: an optional `/`, a name of letters, digits and `-`, then attributes.
fn is_tag(inside: &str) -> bool {
    let name = inside.strip_prefix('/').unwrap_or(inside);
    let name_end = name.find(|c: char| c.is_whitespace()).unwrap_or(name.len());
    let name = &name[..name_end];
    !name.is_empty()
        && name.len() <= 20
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !inside.contains('<')
}

fn write_tag(out: &mut String, tag: &str, links: &mut Vec<String>) {
    let closing = tag.starts_with('/');
    let body = tag.trim_start_matches('/');
    let name = body
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mark = match name.as_str() {
        "b" | "strong" => "*",
        "i" | "em" => "_",
        "s" | "strike" | "del" => "~",
        "code" => "`",
        "pre" => "```",
        "a" if closing => {
            if let Some(href) = links.pop().filter(|h| !h.is_empty()) {
                out.push_str(" (");
                out.push_str(&href);
                out.push(')');
            }
            return;
        }
        "a" => {
            if links.len() < 64 {
                links.push(href(body));
            }
            return;
        }
        "br" => "\n",
        _ => "",
    };
    out.push_str(mark);
}

/// The `href` attribute's value, entities decoded.
fn href(tag: &str) -> String {
    let Some(at) = tag.find("href=") else {
        return String::new();
    };
    let value = &tag[at + 5..];
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
    let raw = match quote {
        Some(q) => value[1..].split(q).next().unwrap_or_default(),
        None => value.split(char::is_whitespace).next().unwrap_or_default(),
    };
    html_to_whatsapp(&raw.replace('<', ""))
}

/// The text of the entity at the start of `s` and the bytes it used; an unknown or unclosed
/// one is kept as written.
fn entity(s: &str) -> (&str, usize) {
    for (name, text) in [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&amp;", "&"),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&apos;", "'"),
        ("&nbsp;", "\u{a0}"),
    ] {
        if s.starts_with(name) {
            return (text, name.len());
        }
    }
    ("&", 1)
}

#[cfg(test)]
mod tests {
    use super::html_to_whatsapp as wa;

    #[test]
    fn formatting_tags_become_whatsapp_marks() {
        assert_eq!(wa("<b>Hi</b>, <i>you</i>"), "*Hi*, _you_");
        assert_eq!(wa("<s>old</s> <code>x</code>"), "~old~ `x`");
        assert_eq!(wa("<pre>a\nb</pre>"), "```a\nb```");
        assert_eq!(wa("<u>under</u><tg-spoiler>s</tg-spoiler>"), "unders");
        assert_eq!(wa("line<br>next"), "line\nnext");
    }

    #[test]
    fn links_keep_their_text_and_show_the_address() {
        assert_eq!(
            wa(r#"See <a href="https://x.example/?a=1&amp;b=2">the menu</a>."#),
            "See the menu (https://x.example/?a=1&b=2)."
        );
        assert_eq!(wa("<a>bare</a>"), "bare");
    }

    #[test]
    fn escaped_values_come_back_as_written() {
        assert_eq!(wa("1 &lt; 2 &amp;&amp; 3 &gt; 2 &quot;q&quot;"), "1 < 2 && 3 > 2 \"q\"");
        assert_eq!(wa("Tom &amp; Jerry &unknown; &"), "Tom & Jerry &unknown; &");
    }

    #[test]
    fn what_is_not_a_tag_stays() {
        assert_eq!(wa("a < b > c"), "a < b > c");
        assert_eq!(wa("<<b>x</b>"), "<*x*");
        assert_eq!(wa("price <5"), "price <5");
        assert_eq!(wa("plain"), "plain");
        assert_eq!(wa(""), "");
    }

    #[test]
    fn hostile_runs_of_marks_come_through() {
        let text = "<".repeat(50_000) + &"&".repeat(50_000) + &"<a href=x>".repeat(1_000) + ">";
        let out = wa(&text);
        assert!(out.starts_with(&"<".repeat(50_000)));
        assert_eq!(out.matches('&').count(), 50_000);
        assert!(
            out.ends_with(" (x)") || out.ends_with('>'),
            "{}",
            &out[out.len() - 20..]
        );
    }
}
