//! Small helpers over `serde_json::Value` shared by conditions, templates and the engine:
//! how a value is shown to a user, when it counts as a number, and how a dotted path is looked up.

use serde_json::{Map, Value};

use super::types::Context;

/// Text shown for a value: strings as-is, integral numbers without `.0`, `true`/`false`,
/// null as the empty string, arrays and objects as compact JSON.
pub fn display(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                n.as_f64().map(format_f64).unwrap_or_default()
            }
        }
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

/// Formats a float the way a person writes it: `3` not `3.0`, `2.5` stays `2.5`.
pub fn format_f64(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        // The range check makes the cast exact.
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// A value seen as a number: JSON numbers, and strings that are plain decimal numbers
/// (`"42"`, `" -3.5 "`), so data typed by users compares numerically with literals.
pub fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_decimal(s),
        _ => None,
    }
}

/// Parses a plain decimal number. Rejects what `f64::from_str` would also accept but a person
/// would not call a number here: `inf`, `NaN`, hex, empty strings.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A JSON number for a float: an integer when it is integral, so `5` is stored as `5`.
pub fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// Looks up a dotted path. Collected data wins (an exact key first, so a variable literally named
/// `a.b` works, then nested objects/arrays); then the built-ins from the context.
/// Anything not found is `Null`, which is how the condition language defines "undefined".
pub fn lookup(path: &str, data: &Map<String, Value>, ctx: &Context) -> Value {
    if let Some(v) = data.get(path) {
        return v.clone();
    }
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    if let Some(root) = data.get(first) {
        let mut cur = root;
        let mut found = true;
        for part in parts {
            let next = match cur {
                Value::Object(m) => m.get(part),
                Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if found {
            return cur.clone();
        }
    }
    builtin(path, ctx).map_or(Value::Null, Value::String)
}

fn builtin(path: &str, ctx: &Context) -> Option<String> {
    match path {
        "user.first_name" => ctx.user.first_name.clone(),
        "user.last_name" => ctx.user.last_name.clone(),
        "user.username" => ctx.user.username.clone(),
        "chat.id" => Some(ctx.chat_id.clone()),
        "platform" => Some(ctx.platform.clone()),
        _ => None,
    }
}

/// True for a character allowed in a variable name segment (Unicode letters and digits, `_`),
/// so Cyrillic variable names work as they did in GET INN.
pub fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// True for a syntactically valid dotted variable path such as `user.first_name`.
pub fn is_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|seg| !seg.is_empty() && seg.chars().all(is_ident_char))
}
