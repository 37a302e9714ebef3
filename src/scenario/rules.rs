//! `expected_input`: what a step waits for, compiled from the document with every mistake
//! reported. Runtime checking lives in `input.rs`.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};
use time::Date;

use super::date::{DateFormat, parse_bound};
use super::limits::MAX_PATTERN_CHARS;
use super::problem::Sink;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputType {
    Text,
    Number,
    Date,
    Email,
    Phone,
    Button,
    Location,
    Contact,
    File,
    Photo,
    Document,
}

impl InputType {
    pub fn parse(s: &str) -> Option<InputType> {
        Some(match s {
            "text" => InputType::Text,
            "number" => InputType::Number,
            "date" => InputType::Date,
            "email" => InputType::Email,
            "phone" => InputType::Phone,
            "button" => InputType::Button,
            "location" => InputType::Location,
            "contact" => InputType::Contact,
            "file" => InputType::File,
            "photo" => InputType::Photo,
            "document" => InputType::Document,
            _ => return None,
        })
    }

    /// Types answered by typing; a button press at such a step (without buttons) is refused
    /// with GET INN's "send a text message instead" correction.
    pub fn is_textual(self) -> bool {
        matches!(
            self,
            InputType::Text | InputType::Number | InputType::Date | InputType::Email | InputType::Phone
        )
    }
}

/// Validation settings of one step.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub pattern: Option<Regex>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub date_format: Option<DateFormat>,
    pub min_date: Option<Date>,
    pub max_date: Option<Date>,
    pub allowed_values: Vec<String>,
    pub allowed_types: Vec<String>,
    pub max_size_kb: Option<f64>,
    /// `error_message` and the specific `*_error` texts, by key.
    pub messages: BTreeMap<String, String>,
}

impl Rules {
    /// The text for a failure: the specific key, else `error_message`, else `default`.
    pub fn message(&self, key: &str, default: impl FnOnce() -> String) -> String {
        self.messages
            .get(key)
            .or_else(|| self.messages.get("error_message"))
            .cloned()
            .unwrap_or_else(default)
    }
}

#[derive(Clone, Debug)]
pub struct ExpectedInput {
    pub kind: InputType,
    pub variable: Option<String>,
    pub rules: Rules,
    pub max_retries: Option<u32>,
    pub on_fail: Option<String>,
}

/// Keys of `validation` and the types they apply to (`None` = all types).
const KEYS: &[(&str, Option<&[InputType]>)] = &[
    ("pattern", Some(&[InputType::Text])),
    ("min_length", Some(&[InputType::Text])),
    ("max_length", Some(&[InputType::Text])),
    ("min_value", Some(&[InputType::Number])),
    ("max_value", Some(&[InputType::Number])),
    ("format", Some(&[InputType::Date])),
    ("min_date", Some(&[InputType::Date])),
    ("max_date", Some(&[InputType::Date])),
    ("allowed_values", Some(&[InputType::Button])),
    (
        "allowed_types",
        Some(&[InputType::File, InputType::Photo, InputType::Document]),
    ),
    (
        "max_size_kb",
        Some(&[InputType::File, InputType::Photo, InputType::Document]),
    ),
    ("required", None),
    ("max_retries", None),
    ("on_fail", None),
    ("error_message", None),
];

/// Compiles `expected_input`. `has_buttons` picks the default type (`button` when the step
/// offers buttons, else `text`). Returns `None` only when the value is unusable.
pub fn compile(v: &Value, has_buttons: bool, sink: &mut Sink<'_>) -> Option<ExpectedInput> {
    let Some(obj) = v.as_object() else {
        sink.error("expected_input", "must be an object");
        return None;
    };
    let kind = match obj.get("type") {
        None | Some(Value::Null) if has_buttons => InputType::Button,
        None | Some(Value::Null) => InputType::Text,
        Some(Value::String(s)) => match InputType::parse(s) {
            Some(k) => k,
            None => {
                sink.error(
                    "expected_input.type",
                    format!("unknown input type '{s}' (expected text, number, date, email, phone, button, location, contact, file, photo or document)"),
                );
                return None;
            }
        },
        Some(_) => {
            sink.error("expected_input.type", "must be a string");
            return None;
        }
    };
    let variable = match obj.get("variable") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(_) => {
            sink.error("expected_input.variable", "must be a non-empty string");
            None
        }
    };
    let empty = Map::new();
    let validation = match obj.get("validation") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => {
            sink.error("expected_input.validation", "must be an object");
            &empty
        }
    };
    let rules = compile_rules(kind, validation, sink);
    // `max_retries`/`on_fail` may sit in expected_input or in its validation.
    let pick = |key: &str| obj.get(key).or_else(|| validation.get(key)).filter(|v| !v.is_null());
    let max_retries = pick("max_retries").and_then(|v| match v.as_u64() {
        Some(n) if n >= 1 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        _ => {
            sink.error("expected_input.max_retries", "must be a positive integer");
            None
        }
    });
    let on_fail = pick("on_fail").and_then(|v| match v.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            sink.error("expected_input.on_fail", "must be a step id");
            None
        }
    });
    if on_fail.is_some() != max_retries.is_some() {
        sink.warn(
            "expected_input.max_retries",
            "max_retries and on_fail only work together; the step keeps asking",
        );
    }
    if kind == InputType::Button && !has_buttons && rules.allowed_values.is_empty() {
        sink.warn("expected_input.type", "expects a button but the step has no buttons");
    }
    let (max_retries, on_fail) = match (max_retries, on_fail) {
        (Some(m), Some(f)) => (Some(m), Some(f)),
        _ => (None, None),
    };
    Some(ExpectedInput {
        kind,
        variable,
        rules,
        max_retries,
        on_fail,
    })
}

fn compile_rules(kind: InputType, v: &Map<String, Value>, sink: &mut Sink<'_>) -> Rules {
    let field = |k: &str| format!("expected_input.validation.{k}");
    let mut rules = Rules::default();
    for (key, value) in v {
        if key.ends_with("_error") || key == "error_message" {
            match value.as_str() {
                Some(s) => {
                    super::parts::check_text(s, &field(key), sink);
                    rules.messages.insert(key.clone(), s.to_string());
                }
                None => sink.error(field(key), "must be a string"),
            }
            continue;
        }
        match KEYS.iter().find(|(k, _)| k == key) {
            None => sink.warn(field(key), "unknown validation key; ignored"),
            Some((_, Some(types))) if !types.contains(&kind) => {
                sink.warn(field(key), "does not apply to this input type; ignored")
            }
            Some(_) => {}
        }
    }
    let count = |key: &str, sink: &mut Sink<'_>| -> Option<usize> {
        let v = v.get(key).filter(|v| !v.is_null())?;
        let n = v.as_u64().and_then(|n| usize::try_from(n).ok());
        if n.is_none() {
            sink.error(field(key), "must be a non-negative integer");
        }
        n
    };
    rules.min_length = count("min_length", sink);
    rules.max_length = count("max_length", sink);
    if let (Some(a), Some(b)) = (rules.min_length, rules.max_length)
        && a > b
    {
        sink.error(field("min_length"), "is greater than max_length");
    }
    let number = |key: &str, sink: &mut Sink<'_>| -> Option<f64> {
        let v = v.get(key).filter(|v| !v.is_null())?;
        let n = v.as_f64();
        if n.is_none() {
            sink.error(field(key), "must be a number");
        }
        n
    };
    rules.min_value = number("min_value", sink);
    rules.max_value = number("max_value", sink);
    rules.max_size_kb = number("max_size_kb", sink);
    if let (Some(a), Some(b)) = (rules.min_value, rules.max_value)
        && a > b
    {
        sink.error(field("min_value"), "is greater than max_value");
    }
    rules.pattern = compile_pattern(v, sink);
    if kind == InputType::Date {
        compile_dates(v, &mut rules, sink);
    }
    let strings = |key: &str, sink: &mut Sink<'_>| -> Vec<String> {
        let Some(v) = v.get(key).filter(|v| !v.is_null()) else {
            return Vec::new();
        };
        match v.as_array() {
            Some(items) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            _ => {
                sink.error(field(key), "must be a list of strings");
                Vec::new()
            }
        }
    };
    rules.allowed_values = strings("allowed_values", sink);
    rules.allowed_types = strings("allowed_types", sink);
    rules
}

/// The `pattern` rule: the whole input must match it.
fn compile_pattern(v: &Map<String, Value>, sink: &mut Sink<'_>) -> Option<Regex> {
    let field = |k: &str| format!("expected_input.validation.{k}");
    if let Some(p) = v.get("pattern").filter(|v| !v.is_null()) {
        match p.as_str() {
            // The whole input must match (GET INN anchored only the start, which let
            // "10.06 10:00 garbage" through).
            Some(s) if s.chars().count() > MAX_PATTERN_CHARS => sink.error(
                field("pattern"),
                format!("is longer than {MAX_PATTERN_CHARS} characters"),
            ),
            Some(s) => match Regex::new(&format!("^(?:{s})$")) {
                Ok(re) => return Some(re),
                Err(e) => sink.error(field("pattern"), format!("invalid regular expression: {e}")),
            },
            None => sink.error(field("pattern"), "must be a string"),
        }
    }
    None
}

/// The date rules: the step's format, and the earliest and latest dates in it.
fn compile_dates(v: &Map<String, Value>, rules: &mut Rules, sink: &mut Sink<'_>) {
    let field = |k: &str| format!("expected_input.validation.{k}");
    let fmt_src = v.get("format").and_then(Value::as_str).unwrap_or("%Y-%m-%d");
    match DateFormat::parse_format(fmt_src) {
        Ok(f) => {
            for key in ["min_date", "max_date"] {
                let Some(b) = v.get(key).filter(|v| !v.is_null()) else {
                    continue;
                };
                match b.as_str().and_then(|s| parse_bound(s, &f)) {
                    Some(d) if key == "min_date" => rules.min_date = Some(d),
                    Some(d) => rules.max_date = Some(d),
                    None => sink.error(field(key), "must be a date as YYYY-MM-DD or in the step's format"),
                }
            }
            rules.date_format = Some(f);
        }
        Err(e) => sink.error(field("format"), e),
    }
}
