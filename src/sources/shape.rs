//! Pure pieces of ingesting: a request's body and headers as jq sees them, the headers as the
//! log keeps them (credentials redacted), and the event id a duplicate key implies.

use base64::Engine;
use http::HeaderMap;
use serde_json::{Map, Value};
use sha2::Digest;

use super::verify::{Scheme, is_credential_header, is_credential_query_param};
use crate::model::ids::{SourceId, SourceRequestId};

/// Most form fields taken from a form-encoded body.
const MAX_FORM_FIELDS: usize = 1_000;
/// What a redacted header value is logged as.
pub const REDACTED: &str = "[redacted]";

/// The body as a value: JSON parsed (by content type, or by its look when none is given), a
/// form as an object of its fields, UTF-8 text as a string, anything else as
/// `{"base64": …}`. serde_json refuses nesting deeper than 128, so a hostile document cannot
/// exhaust the stack; such a body is kept as text.
pub fn body_value(content_type: Option<&str>, body: &[u8]) -> Value {
    let ct = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let looks_json = ct.is_empty() && matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['));
    if (ct == "application/json" || ct.ends_with("+json") || looks_json)
        && let Ok(v) = serde_json::from_slice::<Value>(body)
    {
        return v;
    }
    if ct == "application/x-www-form-urlencoded" {
        let mut fields = Map::new();
        for (k, v) in form_urlencoded::parse(body).take(MAX_FORM_FIELDS) {
            fields.insert(k.into_owned(), Value::String(v.into_owned()));
        }
        return Value::Object(fields);
    }
    match std::str::from_utf8(body) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => serde_json::json!({"base64": base64::engine::general_purpose::STANDARD.encode(body)}),
    }
}

/// Headers by lower-case name (repeated ones joined with ", "); credential headers are left
/// out of what jq sees, so no expression can copy a secret into an event.
pub fn visible_headers(scheme: &Scheme, headers: &HeaderMap) -> Value {
    collect_headers(headers, |name| (!is_credential_header(scheme, name)).then_some(None))
}

/// Headers as the ingest log keeps them: credential values replaced by [`REDACTED`].
pub fn logged_headers(scheme: &Scheme, headers: &HeaderMap) -> Value {
    collect_headers(headers, |name| {
        Some(is_credential_header(scheme, name).then(|| REDACTED.to_string()))
    })
}

/// `keep(name)`: `None` drops the header, `Some(None)` keeps its value, `Some(Some(v))`
/// replaces it with `v`.
fn collect_headers(headers: &HeaderMap, keep: impl Fn(&str) -> Option<Option<String>>) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        let Some(replacement) = keep(name.as_str()) else {
            continue;
        };
        let value = replacement.unwrap_or_else(|| String::from_utf8_lossy(value.as_bytes()).into_owned());
        match out.get_mut(name.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&value);
            }
            _ => {
                out.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    Value::Object(out)
}

/// The query string as an object of its parameters (the last of a repeated name wins),
/// without the preset's credential parameters (an API key, a verify token).
pub fn query_value(scheme: &Scheme, query: Option<&str>) -> Value {
    let mut out = Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()).take(MAX_FORM_FIELDS) {
        if !is_credential_query_param(scheme, &k) {
            out.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    Value::Object(out)
}

/// The query string as the log keeps it: credential parameters' values redacted.
pub fn logged_query(scheme: &Scheme, query: Option<&str>) -> Option<String> {
    let query = query?;
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()).take(MAX_FORM_FIELDS) {
        let v = if is_credential_query_param(scheme, &k) {
            REDACTED.into()
        } else {
            v
        };
        out.append_pair(&k, &v);
    }
    Some(out.finish())
}

/// The event id of a request: from its duplicate key when it has one, so that a redelivery
/// is recognised by the publish path's idempotency (`(account, event_id)` is unique);
/// otherwise from the request's own id. Long keys are hashed to stay within the 200
/// characters an event id may have.
pub fn event_id(source: SourceId, dedupe_key: Option<&str>, request: SourceRequestId) -> String {
    match dedupe_key {
        Some(key) if key.len() <= 120 && !key.chars().any(char::is_control) => {
            format!("src_{}_{key}", source.into_uuid().simple())
        }
        Some(key) => format!(
            "src_{}_sha256_{}",
            source.into_uuid().simple(),
            hex::encode(sha2::Sha256::digest(key.as_bytes()))
        ),
        None => format!("src_{}_{}", source.into_uuid().simple(), request.into_uuid().simple()),
    }
}

/// A jq output taken as a key or type: strings as they are, numbers in their JSON form,
/// anything else (null, objects, arrays, booleans) as no key.
pub fn as_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_values_by_their_content_type() {
        assert_eq!(
            body_value(Some("application/json; charset=utf-8"), br#"{"a":1}"#)["a"],
            1
        );
        assert_eq!(body_value(None, b" [1,2]"), serde_json::json!([1, 2]));
        assert_eq!(
            body_value(Some("application/x-www-form-urlencoded"), b"a=1&b=x%20y")["b"],
            "x y"
        );
        assert_eq!(body_value(Some("text/plain"), b"{not json"), "{not json");
        assert_eq!(
            body_value(Some("application/octet-stream"), &[0xff, 0x00])["base64"],
            "/wA="
        );
        let deep = "[".repeat(10_000);
        assert_eq!(
            body_value(Some("application/json"), deep.as_bytes()),
            Value::String(deep.clone())
        );
    }

    #[test]
    fn long_or_odd_duplicate_keys_are_hashed_into_a_bounded_event_id() {
        let s = SourceId::new();
        let r = SourceRequestId::new();
        assert!(event_id(s, Some("evt_1"), r).ends_with("_evt_1"));
        let long = "k".repeat(500);
        let id = event_id(s, Some(&long), r);
        assert!(id.len() <= 200, "{}", id.len());
        assert_eq!(
            id,
            event_id(s, Some(&long), SourceRequestId::new()),
            "the key decides, not the request"
        );
        assert_ne!(event_id(s, None, r), event_id(s, None, SourceRequestId::new()));
    }
}
