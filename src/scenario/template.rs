//! `{{var}}` templating for texts, captions, button labels and action data.
//!
//! `{{var}}` and `{{ var }}` both work, with dotted paths (`{{user.first_name}}`). The value is
//! shown through `variables_mapping[var][raw]` when the scenario maps it (`cook` → `Повар`).
//! An unknown variable renders as the empty string, so a half-filled profile never shows
//! raw braces to a user. Text between braces that is not a variable path is left untouched.

use serde_json::{Map, Value};

use super::types::Context;
use super::value::{display, is_path, lookup};

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

/// Renders `{{…}}` placeholders in `text`.
pub fn render(text: &str, vars: &Vars<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let (before, after_open) = rest.split_at(open);
        out.push_str(before);
        let inner_start = after_open.strip_prefix("{{").unwrap_or(after_open);
        match inner_start.split_once("}}") {
            Some((inner, after)) if is_path(inner.trim()) => {
                out.push_str(&vars.show(inner.trim()));
                rest = after;
            }
            _ => {
                // Not a placeholder: keep the braces and continue after them.
                out.push_str("{{");
                rest = inner_start;
            }
        }
    }
    out.push_str(rest);
    out
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
