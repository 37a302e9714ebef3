//! Event-type payload schemas: JSON Schema draft 2020-12, checked by the `jsonschema` crate.
//! Pure: no I/O.
//!
//! A schema is accepted only if everything in it is enforced. [`compile`] refuses, when an
//! event type is saved:
//! - a document larger than [`MAX_SCHEMA_BYTES`] or nested deeper than [`MAX_SCHEMA_DEPTH`];
//! - a keyword outside draft 2020-12's vocabularies (the meta-schema allows any unknown keyword
//!   and ignores it, so a misspelt `minimun` would silently enforce nothing), or a `$schema`
//!   naming another draft (whose keywords differ);
//! - a schema the draft's meta-schema refuses, an unknown `format`, a `pattern` the linear-time
//!   regex engine cannot compile (no look-around or back-references: a pattern costs time in
//!   proportion to the text, never more);
//! - a `$ref` to anything outside the document: nothing is ever fetched.
//!
//! `format` is asserted, not just annotated: a payload whose `"format": "email"` field is not
//! an email is refused.

use jsonschema::{Draft, PatternOptions, Validator};
use serde_json::Value;

/// Largest schema document, serialized.
pub const MAX_SCHEMA_BYTES: usize = 65_536;
/// Deepest nesting of JSON values in a schema document.
pub const MAX_SCHEMA_DEPTH: usize = 32;
/// Largest compiled regex per `pattern`, in bytes.
const MAX_PATTERN_BYTES: usize = 1 << 20;

/// The one draft accepted, as `$schema` names it (absent means this draft too).
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The keywords of draft 2020-12 that are enforced or are pure annotations (core, applicator,
/// unevaluated, validation, format and meta-data vocabularies), plus `definitions`, the older
/// name for `$defs`, that `$ref` pointers still reach. Anything else is refused, including the
/// content vocabulary, which 2020-12 makes annotation-only (it would not be asserted).
const KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "$ref",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$comment",
    "$defs",
    "definitions",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "prefixItems",
    "items",
    "contains",
    "properties",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "type",
    "const",
    "enum",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxContains",
    "minContains",
    "maxProperties",
    "minProperties",
    "required",
    "dependentRequired",
    "format",
    "title",
    "description",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "examples",
];

/// Keywords whose value is one subschema.
const ONE_SCHEMA: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "items",
    "contains",
    "additionalProperties",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
];
/// Keywords whose value is an array of subschemas.
const SCHEMA_LIST: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value maps names to subschemas.
const SCHEMA_MAP: &[&str] = &[
    "$defs",
    "definitions",
    "properties",
    "patternProperties",
    "dependentSchemas",
];

/// Why a schema is refused, for the caller to show.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(String);

/// Check and compile an event type's schema. Run it when the schema is saved; what it accepts
/// is enforced in full by the validator it returns.
pub fn compile(schema: &Value) -> Result<Validator, SchemaError> {
    if !(schema.is_object() || schema.is_boolean()) {
        return Err(SchemaError("must be a JSON Schema (an object or a boolean)".into()));
    }
    if serde_json::to_vec(schema).map_or(true, |b| b.len() > MAX_SCHEMA_BYTES) {
        return Err(SchemaError(format!("must be at most {} KiB", MAX_SCHEMA_BYTES / 1024)));
    }
    check_keywords(schema)?;
    build(schema)
}

/// Compile a schema saved earlier (it passed [`compile`] then, or was saved before these checks
/// and is refused by the validator if it is not a valid schema).
pub fn build(schema: &Value) -> Result<Validator, SchemaError> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .offline()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .with_pattern_options(PatternOptions::regex().size_limit(MAX_PATTERN_BYTES))
        .build(schema)
        .map_err(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            SchemaError(format!("{at}: {}", e.masked()))
        })
}

/// Check `payload` against a compiled schema; the error names the first failing location of
/// the payload as a JSON pointer. The payload's values are not echoed.
pub fn check(validator: &Validator, payload: &Value) -> Result<(), String> {
    match validator.iter_errors(payload).next() {
        None => Ok(()),
        Some(e) => {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            Err(format!("{at}: {}", e.masked()))
        }
    }
}

/// Walk the schema's subschemas (iteratively, to a bounded depth) and refuse unknown keywords.
fn check_keywords(schema: &Value) -> Result<(), SchemaError> {
    // (subschema, where it is in the document, nesting depth of JSON values)
    let mut stack: Vec<(&Value, String, usize)> = vec![(schema, String::new(), 0)];
    while let Some((node, at, depth)) = stack.pop() {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(SchemaError(format!("nests deeper than {MAX_SCHEMA_DEPTH} levels")));
        }
        let Value::Object(members) = node else {
            continue; // booleans are schemas; anything else the meta-schema refuses
        };
        for (key, value) in members {
            let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
            if !KEYWORDS.contains(&key.as_str()) {
                return Err(SchemaError(format!(
                    "{here}: `{key}` is not a JSON Schema keyword, so it would not be enforced"
                )));
            }
            if key == "$schema" && value.as_str().map(|v| v.trim_end_matches('#')) != Some(DRAFT_2020_12) {
                return Err(SchemaError(format!(
                    "{here}: only draft 2020-12 schemas are checked; use \"{DRAFT_2020_12}\" or leave `$schema` out"
                )));
            }
            let key = key.as_str();
            match value {
                Value::Array(items) if SCHEMA_LIST.contains(&key) => {
                    stack.extend(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, s)| (s, format!("{here}/{i}"), depth + 2)),
                    );
                }
                Value::Object(map) if SCHEMA_MAP.contains(&key) => {
                    stack.extend(map.iter().map(|(name, s)| (s, format!("{here}/{name}"), depth + 2)));
                }
                _ if ONE_SCHEMA.contains(&key) => stack.push((value, here, depth + 1)),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accepts(schema: Value, ok: &[Value], refused: &[Value]) {
        let v = compile(&schema).unwrap_or_else(|e| panic!("{schema} should compile: {e}"));
        for p in ok {
            assert!(check(&v, p).is_ok(), "{schema} should accept {p}: {:?}", check(&v, p));
        }
        for p in refused {
            assert!(check(&v, p).is_err(), "{schema} should refuse {p}");
        }
    }

    #[test]
    fn every_listed_keyword_is_enforced() {
        accepts(
            json!({"pattern": "^A-[0-9]+$"}),
            &[json!("A-12")],
            &[json!("B-12"), json!("A-")],
        );
        accepts(
            json!({"format": "email"}),
            &[json!("a@b.example")],
            &[json!("not an email")],
        );
        accepts(
            json!({"format": "date-time"}),
            &[json!("2026-12-04T17:00:00Z")],
            &[json!("yesterday")],
        );
        accepts(
            json!({"oneOf": [{"type": "integer"}, {"minimum": 2}]}),
            &[json!(1), json!(2.5)],
            &[json!(3), json!(1.5)],
        );
        accepts(
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]}),
            &[json!("x"), json!(null)],
            &[json!(1)],
        );
        accepts(json!({"not": {"const": "admin"}}), &[json!("user")], &[json!("admin")]);
        accepts(
            json!({"$defs": {"card": {"type": "string", "minLength": 3}},
                   "properties": {"card": {"$ref": "#/$defs/card"}}}),
            &[json!({"card": "A-1"})],
            &[json!({"card": "A"}), json!({"card": 5})],
        );
        accepts(json!({"multipleOf": 5}), &[json!(10), json!(0)], &[json!(7)]);
        accepts(
            json!({"prefixItems": [{"type": "string"}]}),
            &[json!(["a", 1])],
            &[json!([1])],
        );
        accepts(
            json!({"definitions": {"n": {"minimum": 1}}, "items": {"$ref": "#/definitions/n"}}),
            &[json!([1, 2])],
            &[json!([0])],
        );
        accepts(
            json!({"type": "object", "required": ["points"], "additionalProperties": false,
                   "properties": {"points": {"type": "integer", "minimum": 0}}}),
            &[json!({"points": 3})],
            &[json!({}), json!({"points": -1}), json!({"points": 1, "x": 1})],
        );
    }

    #[test]
    fn errors_name_the_payload_location_without_echoing_it() {
        let v = compile(&json!({"properties": {"items": {"items": {"pattern": "^ok$"}}}})).unwrap();
        let why = check(&v, &json!({"items": ["ok", "secret-value"]})).unwrap_err();
        assert!(why.starts_with("/items/1: "), "{why}");
        assert!(!why.contains("secret-value"), "{why}");
    }

    #[test]
    fn unenforced_or_unsafe_schemas_are_refused() {
        let refused = [
            (json!({"properties": {"n": {"minimun": 1}}}), "/properties/n/minimun"),
            (json!({"anyOf": [{"typ": "string"}]}), "/anyOf/0/typ"),
            (json!({"$defs": {"a": {"patern": "x"}}}), "/$defs/a/patern"),
            (json!({"$ref": "https://schemas.example/order.json"}), ""),
            (json!({"properties": {"a": {"$ref": "other.json#/x"}}}), ""),
            (json!({"format": "emial"}), ""),
            (json!({"type": "strin"}), ""),
            (json!({"pattern": "(?<=a)b"}), ""),
            (json!({"minLength": -1}), ""),
            (
                json!({"$schema": "http://json-schema.org/draft-07/schema#"}),
                "/$schema",
            ),
            (json!({"additionalItems": false}), "/additionalItems"),
            (json!({"contentMediaType": "application/json"}), "/contentMediaType"),
            (json!(5), ""),
        ];
        for (schema, at) in refused {
            let why = compile(&schema)
                .err()
                .unwrap_or_else(|| panic!("{schema} must be refused"));
            assert!(why.to_string().contains(at), "{schema}: {why}");
        }
        let mut deep = json!({"type": "integer"});
        for _ in 0..40 {
            deep = json!({"not": deep});
        }
        assert!(compile(&deep).unwrap_err().to_string().contains("deeper"));
        let big = json!({"enum": vec!["x".repeat(100); 1_000]});
        assert!(compile(&big).unwrap_err().to_string().contains("KiB"));
    }

    #[test]
    fn annotations_and_data_under_keywords_are_not_taken_for_keywords() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema#",
            "title": "t", "description": "d", "examples": [{"anything": 1}],
            "default": {"minimun": 3}, "const": {"typ": 1},
            "properties": {"minimun": {"type": "integer"}, "typ": true},
            "dependentRequired": {"a": ["b"]},
        });
        compile(&schema).unwrap();
    }
}
