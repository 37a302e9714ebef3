//! Pure helpers at the edge of the media library: what the bytes are, what a file may be called,
//! and how names are shown back in headers.

/// The content type: sniffed from the bytes' magic numbers first (an upload's declared type is
/// the client's guess), then the declared type, then the file name's extension, then
/// `application/octet-stream`.
pub fn content_type(head: &[u8], declared: Option<&str>, file_name: &str) -> String {
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_string();
    }
    if let Some(d) = declared
        .map(essence)
        .filter(|d| is_mime(d) && d != "application/octet-stream")
    {
        return d;
    }
    mime_guess::from_path(file_name)
        .first()
        .map(|m| m.essence_str().to_string())
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

fn essence(value: &str) -> String {
    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// `type/subtype` made of token characters; anything else is not used as a header value.
fn is_mime(value: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    matches!(value.split_once('/'), Some((t, s)) if token(t) && token(s))
}

/// The kinds a media item can be. Uploads get one from their content type; a platform may
/// name a finer one for what users send (a voice note is audio, a sticker an image).
pub const KINDS: &[&str] = &[
    "image",
    "video",
    "audio",
    "document",
    "voice",
    "video_note",
    "animation",
    "sticker",
];

/// The kind of bytes of this content type.
pub fn kind_of(content_type: &str) -> &'static str {
    match content_type.split('/').next().unwrap_or_default() {
        "image" => "image",
        "video" => "video",
        "audio" => "audio",
        _ => "document",
    }
}

/// A file name safe to store and show: the last path component, without control or
/// bidirectional-override characters, trimmed, at most 255 characters; `file` when nothing
/// is left.
pub fn safe_file_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .take(255)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "file".to_string()
    } else {
        cleaned.to_string()
    }
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266):
/// no quote, backslash or control character reaches the header unescaped.
pub fn content_disposition(file_name: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
    const ATTR: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(file_name, ATTR)
    )
}

/// An alias a scenario can name: 1–100 of `A-Z a-z 0-9 _ . -`.
pub fn valid_alias(alias: &str) -> bool {
    (1..=100).contains(&alias.len())
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A platform name such as `telegram`: 1–32 of `a-z 0-9 _ -`.
pub fn valid_platform(platform: &str) -> bool {
    (1..=32).contains(&platform.len())
        && platform
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn bytes_beat_the_declared_type_and_the_extension() {
        assert_eq!(content_type(PNG, Some("text/plain"), "notes.txt"), "image/png");
        assert_eq!(content_type(b"%PDF-1.7\n", None, "x.bin"), "application/pdf");
        assert_eq!(
            content_type(b"hello", Some("text/plain; charset=utf-8"), "a.png"),
            "text/plain"
        );
        assert_eq!(
            content_type(b"hello", Some("application/octet-stream"), "a.csv"),
            "text/csv"
        );
        assert_eq!(
            content_type(b"hello", Some("bad type\r\nx: y"), "a"),
            "application/octet-stream"
        );
        assert_eq!(content_type(b"", None, ""), "application/octet-stream");
    }

    #[test]
    fn kinds_follow_the_major_type() {
        assert_eq!(kind_of("image/png"), "image");
        assert_eq!(kind_of("video/mp4"), "video");
        assert_eq!(kind_of("audio/ogg"), "audio");
        assert_eq!(kind_of("application/pdf"), "document");
        assert_eq!(kind_of("text/plain"), "document");
    }

    #[test]
    fn hostile_file_names_are_neutralised() {
        assert_eq!(safe_file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(safe_file_name(Some("C:\\Users\\x\\photo.jpg")), "photo.jpg");
        assert_eq!(safe_file_name(Some("a\r\nb\u{0}c.png")), "abc.png");
        assert_eq!(safe_file_name(Some("evil\u{202e}gpj.exe")), "evilgpj.exe");
        assert_eq!(safe_file_name(Some("..")), "file");
        assert_eq!(safe_file_name(Some(".hidden")), "hidden");
        assert_eq!(safe_file_name(None), "file");
        assert_eq!(safe_file_name(Some(&"x".repeat(1000))).chars().count(), 255);
    }

    #[test]
    fn content_disposition_escapes_everything() {
        assert_eq!(
            content_disposition("report 1.pdf"),
            "attachment; filename=\"report 1.pdf\"; filename*=UTF-8''report%201.pdf"
        );
        let h = content_disposition("a\"b\\c;ф.png");
        assert_eq!(
            h,
            "attachment; filename=\"a_b_c;_.png\"; filename*=UTF-8''a%22b%5Cc%3B%D1%84.png"
        );
        assert!(axum::http::HeaderValue::from_str(&h).is_ok());
    }

    #[test]
    fn aliases_and_platforms_are_checked() {
        assert!(valid_alias("welcome_image") && valid_alias("a.b-c_1") && valid_alias(&"a".repeat(100)));
        assert!(!valid_alias("") && !valid_alias(&"a".repeat(101)) && !valid_alias("a b") && !valid_alias("ф"));
        assert!(valid_platform("telegram") && !valid_platform("Tele gram") && !valid_platform(""));
    }
}
