//! Which endpoints an event goes to (pure), and the payload check against an event type's schema.

use serde_json::Value;

/// An endpoint's subscription: event types (`None` = all) and labels the event must all carry.
#[derive(Clone, Debug, Default)]
pub struct Subscription {
    pub event_types: Option<Vec<String>>,
    pub labels: Vec<String>,
}

impl Subscription {
    pub fn matches(&self, event_type: &str, labels: &[String]) -> bool {
        let type_ok = match &self.event_types {
            None => true,
            Some(types) => types.iter().any(|t| t == event_type),
        };
        type_ok && self.labels.iter().all(|l| labels.contains(l))
    }
}

/// Event type names: 1–100 characters of `a-z A-Z 0-9 . _ -`, e.g. `order.created`.
pub fn valid_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Labels: 1–100 printable characters without spaces or commas.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty() && label.len() <= 100 && label.chars().all(|c| !c.is_control() && c != ' ' && c != ',')
}

/// Check `value` against the subset of JSON Schema hookline enforces on publish: `type`,
/// `required`, `properties`, `additionalProperties: false`, `items`, `enum`, `const`,
/// `minLength`/`maxLength`, `minimum`/`maximum`, `minItems`/`maxItems`. Other keywords are
/// accepted and ignored. Returns the first violation with its JSON pointer.
pub fn check_schema(schema: &Value, value: &Value) -> Result<(), String> {
    check_at(schema, value, "", 0)
}

fn check_at(schema: &Value, value: &Value, at: &str, depth: usize) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    if depth > 32 {
        return Err(format!("{at}: schema nests too deeply"));
    }
    let fail = |msg: String| Err(format!("{}: {msg}", if at.is_empty() { "/" } else { at }));
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
            return fail(format!("expected {}", types.join(" or ")));
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return fail("is not one of the allowed values".into());
    }
    if let Some(c) = s.get("const")
        && c != value
    {
        return fail("is not the required constant".into());
    }
    match value {
        Value::String(text) => {
            let n = text.chars().count() as u64;
            if s.get("minLength").and_then(Value::as_u64).is_some_and(|m| n < m) {
                return fail("is too short".into());
            }
            if s.get("maxLength").and_then(Value::as_u64).is_some_and(|m| n > m) {
                return fail("is too long".into());
            }
        }
        Value::Number(num) => {
            let x = num.as_f64().unwrap_or(0.0);
            if s.get("minimum").and_then(Value::as_f64).is_some_and(|m| x < m) {
                return fail("is below the minimum".into());
            }
            if s.get("maximum").and_then(Value::as_f64).is_some_and(|m| x > m) {
                return fail("is above the maximum".into());
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if s.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m) {
                return fail("has too few items".into());
            }
            if s.get("maxItems").and_then(Value::as_u64).is_some_and(|m| n > m) {
                return fail("has too many items".into());
            }
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_at(item_schema, item, &format!("{at}/{i}"), depth + 1)?;
                }
            }
        }
        Value::Object(map) => {
            if let Some(required) = s.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        return fail(format!("missing required property `{r}`"));
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, v) in map {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => check_at(sub, v, &format!("{at}/{k}"), depth + 1)?,
                    None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return fail(format!("property `{k}` is not allowed"));
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// A schema must at least be a JSON object (the keywords above are then applied).
pub fn valid_schema(schema: &Value) -> bool {
    schema.is_object()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn subscriptions_match_types_and_all_labels() {
        let all = Subscription::default();
        assert!(all.matches("x", &[]));
        let s = Subscription {
            event_types: Some(vec!["order.created".into()]),
            labels: vec!["moscow".into(), "vip".into()],
        };
        let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(s.matches("order.created", &labels(&["vip", "moscow", "extra"])));
        assert!(!s.matches("order.created", &labels(&["vip"])));
        assert!(!s.matches("order.paid", &labels(&["vip", "moscow"])));
        let none = Subscription {
            event_types: Some(vec![]),
            labels: vec![],
        };
        assert!(!none.matches("x", &[]));
    }

    #[test]
    fn names_and_labels() {
        assert!(valid_type_name("order.created"));
        assert!(!valid_type_name(""));
        assert!(!valid_type_name("a b"));
        assert!(!valid_type_name(&"a".repeat(101)));
        assert!(valid_label("city:moscow"));
        assert!(!valid_label("a,b"));
    }

    #[test]
    fn schema_subset_table() {
        let schema = json!({
            "type": "object",
            "required": ["order_id"],
            "additionalProperties": false,
            "properties": {
                "order_id": {"type": "integer", "minimum": 1},
                "status": {"enum": ["new", "paid"]},
                "items": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 3}}
            }
        });
        let cases = [
            (json!({"order_id": 5}), true),
            (json!({"order_id": 5, "status": "paid", "items": ["a"]}), true),
            (json!({}), false),
            (json!({"order_id": 0}), false),
            (json!({"order_id": "5"}), false),
            (json!({"order_id": 5, "status": "lost"}), false),
            (json!({"order_id": 5, "items": ["toolong"]}), false),
            (json!({"order_id": 5, "items": ["a", "b", "c"]}), false),
            (json!({"order_id": 5, "other": 1}), false),
            (json!([1]), false),
        ];
        for (value, ok) in cases {
            assert_eq!(check_schema(&schema, &value).is_ok(), ok, "{value}");
        }
        let err = check_schema(&schema, &json!({"order_id": 5, "items": [1]})).unwrap_err();
        assert!(err.starts_with("/items/0"), "{err}");
    }
}
