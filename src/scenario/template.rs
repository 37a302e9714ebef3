//! `{{var}}` templating for texts, captions, button labels and action data.
//!
//! `{{var}}` and `{{ var }}` both work, with dotted paths (`{{user.first_name}}`). The value is
//! shown through `variables_mapping[var][raw]` when the scenario maps it (`cook` → `Повар`).
//! An unknown variable renders as the empty string, so a half-filled profile never shows
//! raw braces to a user. Text between braces that is not a variable path is left untouched.

use serde_json::{Map, Value};

use super::types::Context;
use super::value::{display, is_ident_char, is_path, lookup};

/// Everything a template needs: collected data, the chat context and the display mapping.
pub struct Vars<'a> {
    pub data: &'a Map<String, Value>,
    pub ctx: &'a Context,
    pub mapping: &'a Map<String, Value>,
    /// Applied to each interpolated value (message texts: the platform's text format).
    pub escape: Option<fn(&str) -> String>,
}

impl Vars<'_> {
    /// The display text for a variable path.
    pub fn show(&self, path: &str) -> String {
        let raw = display(&lookup(path, self.data, self.ctx));
        let shown = match self.mapping.get(path).and_then(|m| m.get(&raw)) {
            Some(mapped) => display(mapped),
            None => raw,
        };
        match self.escape {
            Some(escape) => escape(&shown),
            None => shown,
        }
    }
}

/// Renders `{{…}}` placeholders in `text`, in one pass: linear in the text's length however
/// many `{{` it holds (each byte is examined a bounded number of times; see the tests).
///
/// A placeholder's inside can hold only path characters and whitespace, so the scan after a
/// `{{` stops at the first other character: a `}}` there closes a placeholder, anything else
/// means the braces are kept as written and the search for the next `{{` goes on from there.
pub fn render(text: &str, vars: &Vars<'_>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // `copied` is where the text not yet written to `out` begins; `at` is where scanning resumes.
    let mut copied = 0;
    let mut at = 0;
    while let Some(open) = find_open(bytes, at) {
        let inner_start = open + 2;
        let inner_end = scan_inner(text, inner_start);
        let closes = bytes.get(inner_end..inner_end + 2) == Some(b"}}".as_slice());
        let inner = text.get(inner_start..inner_end).unwrap_or_default().trim();
        if closes && is_path(inner) {
            out.push_str(text.get(copied..open).unwrap_or_default());
            out.push_str(&vars.show(inner));
            copied = inner_end + 2;
            at = copied;
        } else {
            // Not a placeholder: the braces stay as written. Nothing between the braces and
            // `inner_end` is a `{`, so the next `{{` cannot start before `inner_end`.
            at = inner_end;
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

/// Position of the next `{{` at or after `from`.
fn find_open(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < bytes.len() {
        tick();
        if bytes.get(i) == Some(&b'{') && bytes.get(i + 1) == Some(&b'{') {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// End of the run of path characters and whitespace starting at `from` (a byte index).
fn scan_inner(text: &str, from: usize) -> usize {
    let rest = text.get(from..).unwrap_or_default();
    for (i, c) in rest.char_indices() {
        tick();
        if !(is_ident_char(c) || c == '.' || c.is_whitespace()) {
            return from + i;
        }
    }
    text.len()
}

/// Number of `{{` openings in a text, as counted against the scenario's template limits.
pub fn openings(text: &str) -> usize {
    text.matches("{{").count()
}

#[cfg(test)]
thread_local! {
    /// Bytes examined by [`render`] on this thread, so a test can check the work is linear.
    pub static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[inline]
fn tick() {
    #[cfg(test)]
    SCANNED.with(|c| c.set(c.get() + 1));
}

/// Renders every string inside a JSON value (object keys are kept as written).
pub fn render_value(value: &Value, vars: &Vars<'_>) -> Value {
    match value {
        Value::String(s) => Value::String(render(s, vars)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_value(v, vars)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), render_value(v, vars))).collect()),
        other => other.clone(),
    }
}
