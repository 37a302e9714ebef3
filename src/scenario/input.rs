//! Typed validation of one input against a step's `expected_input`: the value to store, or the
//! text to send back. GET INN defined these rules but never ran them; here they are enforced.

use serde_json::{Value, json};

use super::date::DateFormat;
use super::rules::{ExpectedInput, InputType, Rules};
use super::types::{Input, MediaInput, MediaKind, RejectReason};
use super::value::{format_f64, number_value, parse_decimal};

/// A refused input: why, and the (untemplated) text to send.
pub type Refusal = (RejectReason, String);

/// Validates `input` and returns the JSON value to store in the step's variable.
pub fn validate(exp: &ExpectedInput, input: &Input) -> Result<Value, Refusal> {
    let r = &exp.rules;
    let invalid = |key: &str, default: &dyn Fn() -> String| (RejectReason::Invalid, r.message(key, default));
    let wrong = |default: &str| {
        (
            RejectReason::WrongInputType,
            r.message("type_error", || default.to_string()),
        )
    };
    match exp.kind {
        InputType::Text | InputType::Number | InputType::Date | InputType::Email => {
            let Input::Text(raw) = input else {
                return Err(wrong("Please send a text message."));
            };
            textual(exp.kind, r, raw.trim()).map_err(|(key, default)| invalid(key, &|| default.clone()))
        }
        InputType::Phone => {
            let raw = match input {
                Input::Text(t) => t.as_str(),
                Input::Contact { phone_number, .. } => phone_number.as_str(),
                _ => return Err(wrong("Please send a phone number.")),
            };
            normalise_phone(raw)
                .map(Value::String)
                .ok_or_else(|| invalid("error_message", &|| PHONE_HELP.to_string()))
        }
        InputType::Button => {
            let value = match input {
                Input::Text(t) => t.trim(),
                Input::Button(b) => b.as_str(),
                _ => return Err(wrong("Please choose one of the options.")),
            };
            if !r.allowed_values.is_empty() && !r.allowed_values.iter().any(|a| a == value) {
                return Err((
                    RejectReason::InvalidButton,
                    r.message("error_message", || "Please choose one of the offered options.".into()),
                ));
            }
            Ok(Value::String(value.to_string()))
        }
        InputType::Location => match input {
            Input::Location { latitude, longitude }
                if (-90.0..=90.0).contains(latitude) && (-180.0..=180.0).contains(longitude) =>
            {
                Ok(json!({ "latitude": latitude, "longitude": longitude }))
            }
            _ => Err(wrong("Please share a location.")),
        },
        InputType::Contact => match input {
            Input::Contact {
                phone_number,
                first_name,
                user_id,
            } => Ok(json!({
                "phone_number": normalise_phone(phone_number).unwrap_or_else(|| phone_number.clone()),
                "first_name": first_name,
                "user_id": user_id,
            })),
            _ => Err(wrong("Please share a contact.")),
        },
        InputType::File | InputType::Photo | InputType::Document => {
            let what = match exp.kind {
                InputType::Photo => "Please send a photo.",
                InputType::Document => "Please send a document.",
                _ => "Please send a file.",
            };
            let Input::Media(m) = input else {
                return Err(wrong(what));
            };
            file(exp.kind, r, m, what)
        }
    }
}

const PHONE_HELP: &str = "Please enter a valid phone number with 10 to 15 digits, for example +79161234567.";

/// Checks typed text; on failure returns the message key and the default text.
fn textual(kind: InputType, r: &Rules, t: &str) -> Result<Value, (&'static str, String)> {
    match kind {
        InputType::Number => {
            // People type "3,5" where a decimal comma is usual.
            let normal = if t.contains('.') {
                t.to_string()
            } else {
                t.replacen(',', ".", 1)
            };
            let n = parse_decimal(&normal).ok_or(("number_error", "Please enter a number.".to_string()))?;
            if let Some(min) = r.min_value.filter(|m| n < *m) {
                return Err((
                    "min_value_error",
                    format!("Value must be at least {}.", format_f64(min)),
                ));
            }
            if let Some(max) = r.max_value.filter(|m| n > *m) {
                return Err(("max_value_error", format!("Value must not exceed {}.", format_f64(max))));
            }
            Ok(number_value(n))
        }
        InputType::Date => {
            let default_fmt;
            let fmt = match &r.date_format {
                Some(f) => f,
                None => {
                    default_fmt = DateFormat::parse_format("%Y-%m-%d").map_err(|e| ("error_message", e))?;
                    &default_fmt
                }
            };
            let example = time::Date::from_calendar_date(2024, time::Month::December, 31)
                .map(|d| fmt.write(d))
                .unwrap_or_default();
            let parsed = fmt.parse(t).ok_or_else(|| {
                (
                    "format_error",
                    format!(
                        "Please enter a date in the format {}, for example {example}.",
                        fmt.human()
                    ),
                )
            })?;
            if let Some(min) = r.min_date.filter(|m| parsed.date < *m) {
                return Err((
                    "min_date_error",
                    format!("The date must not be earlier than {}.", fmt.write(min)),
                ));
            }
            if let Some(max) = r.max_date.filter(|m| parsed.date > *m) {
                return Err((
                    "max_date_error",
                    format!("The date must not be later than {}.", fmt.write(max)),
                ));
            }
            Ok(Value::String(parsed.normalised()))
        }
        InputType::Email => {
            if is_email(t) {
                Ok(Value::String(t.to_string()))
            } else {
                Err((
                    "error_message",
                    "Please enter a valid email address, for example name@example.com.".into(),
                ))
            }
        }
        _ => {
            if let Some(re) = &r.pattern
                && !re.is_match(t)
            {
                return Err(("pattern_error", "Input format is not valid.".into()));
            }
            let len = t.chars().count();
            if let Some(min) = r.min_length.filter(|m| len < *m) {
                return Err(("min_length_error", format!("Input must be at least {min} characters.")));
            }
            if let Some(max) = r.max_length.filter(|m| len > *m) {
                return Err(("max_length_error", format!("Input must not exceed {max} characters.")));
            }
            Ok(Value::String(t.to_string()))
        }
    }
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let labels_ok = domain.split('.').count() >= 2
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    !local.is_empty()
        && s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && labels_ok
}

/// Normalises a phone number to E.164 (`+79161234567`): drops spaces, dashes, dots and
/// parentheses, turns an international `00` into `+`, and a Russian trunk `8` of an 11-digit
/// number into `+7`. `None` unless 10–15 digits remain.
pub fn normalise_phone(s: &str) -> Option<String> {
    let compact: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{a0}'))
        .collect();
    let (plus, digits) = match compact.strip_prefix('+') {
        Some(d) => (true, d.to_string()),
        None => match compact.strip_prefix("00") {
            Some(d) => (true, d.to_string()),
            None => (false, compact),
        },
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) || !(10..=15).contains(&digits.len()) {
        return None;
    }
    if !plus && digits.len() == 11 && digits.starts_with('8') {
        return Some(format!("+7{}", digits.get(1..).unwrap_or_default()));
    }
    Some(format!("+{digits}"))
}

fn file(kind: InputType, r: &Rules, m: &MediaInput, what: &str) -> Result<Value, Refusal> {
    let is_image_doc = m.kind == MediaKind::Document
        && m.content_type
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("image/"));
    let kind_ok = match kind {
        InputType::Photo => m.kind == MediaKind::Photo || is_image_doc,
        InputType::Document => m.kind == MediaKind::Document,
        _ => true,
    };
    if !kind_ok {
        return Err((
            RejectReason::WrongInputType,
            r.message("type_error", || what.to_string()),
        ));
    }
    // Telegram photos carry no MIME type; they are always JPEG.
    let content_type = m
        .content_type
        .clone()
        .or_else(|| (m.kind == MediaKind::Photo).then(|| "image/jpeg".to_string()));
    if !r.allowed_types.is_empty()
        && !r
            .allowed_types
            .iter()
            .any(|t| type_matches(t, m, content_type.as_deref()))
    {
        let list = r.allowed_types.join(", ");
        return Err((
            RejectReason::Invalid,
            r.message("allowed_types_error", || {
                format!("This file type is not allowed. Allowed: {list}.")
            }),
        ));
    }
    if let (Some(max_kb), Some(size)) = (r.max_size_kb, m.size)
        && size as f64 > max_kb * 1024.0
    {
        return Err((
            RejectReason::Invalid,
            r.message("max_size_error", || {
                format!("The file is too large (at most {} KB).", format_f64(max_kb))
            }),
        ));
    }
    if let (Some(limit_kb), Some(size)) = (m.download_limit_kb, m.size)
        && size > limit_kb.saturating_mul(1024)
    {
        return Err((
            RejectReason::Invalid,
            r.message("max_size_error", || {
                format!("The file is too large (at most {} KB).", limit_kb)
            }),
        ));
    }
    Ok(json!({
        "kind": m.kind.as_str(),
        "media_id": m.media_id,
        "file_name": m.file_name,
        "content_type": content_type,
        "size": m.size,
        "caption": m.caption,
    }))
}

/// `allowed_types` entries are MIME types (`image/png`, `image/*`), extensions (`pdf`, `.pdf`)
/// or media kinds (`photo`, `video`).
fn type_matches(allowed: &str, m: &MediaInput, content_type: Option<&str>) -> bool {
    let a = allowed.trim().to_ascii_lowercase();
    if let Some((major, minor)) = a.split_once('/') {
        let Some(ct) = content_type.map(str::to_ascii_lowercase) else {
            return false;
        };
        let (cmajor, cminor) = ct.split_once('/').unwrap_or((ct.as_str(), ""));
        let cminor = cminor.split(';').next().unwrap_or_default().trim();
        return major == cmajor && (minor == "*" || minor == cminor);
    }
    if a == m.kind.as_str() {
        return true;
    }
    let ext = a.trim_start_matches('.');
    m.file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(_, e)| e.eq_ignore_ascii_case(ext))
}
