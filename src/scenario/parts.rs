//! Parts of a step shared by its compiler: buttons and media items.

use serde_json::{Map, Value};

use super::limits::{MAX_BUTTONS, MAX_TEMPLATES_PER_TEXT, MAX_TEXT_CHARS};
use super::model::MediaSpec;
use super::problem::Sink;
use super::template::openings;
use super::types::Button;

/// Telegram rejects callback data longer than this many bytes.
pub const MAX_CALLBACK_BYTES: usize = 64;

const MEDIA_TYPES: &[&str] = &[
    "image",
    "photo",
    "video",
    "audio",
    "document",
    "animation",
    "voice",
    "video_note",
    "sticker",
];

pub fn buttons(obj: &Map<String, Value>, sink: &mut Sink<'_>) -> Vec<Button> {
    // Legacy documents put buttons under `response`; GET INN validated against them.
    let (list, field) = match obj.get("buttons").filter(|v| !v.is_null()) {
        Some(b) => (b, "buttons".to_string()),
        None => match obj
            .get("response")
            .and_then(|r| r.get("buttons"))
            .filter(|v| !v.is_null())
        {
            Some(b) => (b, "response.buttons".to_string()),
            None => return Vec::new(),
        },
    };
    let Some(items) = list.as_array() else {
        sink.error(field, "must be a list of {text, value}");
        return Vec::new();
    };
    if items.len() > MAX_BUTTONS {
        sink.error(
            field,
            format!("has {} buttons; the limit is {MAX_BUTTONS}", items.len()),
        );
        return Vec::new();
    }
    let mut out: Vec<Button> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let value = match item.get("value") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                sink.error(format!("{f}.value"), "must be a non-empty string");
                continue;
            }
        };
        if value.len() > MAX_CALLBACK_BYTES {
            sink.error(
                format!("{f}.value"),
                format!(
                    "is {} bytes; callback data must fit in {MAX_CALLBACK_BYTES} bytes",
                    value.len()
                ),
            );
        }
        if out.iter().any(|b| b.value == value) {
            sink.error(format!("{f}.value"), format!("duplicate button value '{value}'"));
        }
        let text = match item.get("text") {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                check_text(s, &format!("{f}.text"), sink);
                s.clone()
            }
            None | Some(Value::Null) => value.clone(),
            Some(_) => {
                sink.error(format!("{f}.text"), "must be a non-empty string");
                value.clone()
            }
        };
        out.push(Button { text, value });
    }
    out
}

pub fn media_item(item: &Value, field: &str, sink: &mut Sink<'_>) -> Option<MediaSpec> {
    let Some(obj) = item.as_object() else {
        sink.error(field, "must be an object {type, file_id}");
        return None;
    };
    let kind = match obj.get("type").and_then(Value::as_str) {
        Some(t) if MEDIA_TYPES.contains(&t) => t.to_string(),
        _ => {
            sink.error(
                format!("{field}.type"),
                format!("must be one of {}", MEDIA_TYPES.join(", ")),
            );
            return None;
        }
    };
    let file_id = match obj.get("file_id").and_then(Value::as_str) {
        Some(f) if !f.trim().is_empty() => f.to_string(),
        _ => {
            sink.error(format!("{field}.file_id"), "must be a non-empty media alias or file id");
            return None;
        }
    };
    sink.warn(format!("{field}.file_id"), unchecked_media_message(&file_id));
    let caption = ["caption", "description"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str).map(|c| (*k, c)))
        .map(|(key, caption)| {
            check_text(caption, &format!("{field}.{key}"), sink);
            caption.to_string()
        });
    Some(MediaSpec { kind, file_id, caption })
}

/// The compiler's warning for a media reference: it cannot see the bot's library, so it says the
/// reference is unchecked. The API, which can, replaces or drops these (`http::scenarios`).
pub fn unchecked_media_message(file_id: &str) -> String {
    format!("media alias '{file_id}' is not checked until media exists")
}

/// Reports a text (message, caption, label) longer than [`MAX_TEXT_CHARS`] or with more than
/// [`MAX_TEMPLATES_PER_TEXT`] placeholders.
pub fn check_text(text: &str, field: &str, sink: &mut Sink<'_>) {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        sink.error(
            field,
            format!("is {chars} characters long; the limit is {MAX_TEXT_CHARS}"),
        );
    }
    let templates = openings(text);
    if templates > MAX_TEMPLATES_PER_TEXT {
        sink.error(
            field,
            format!("has {templates} '{{{{' placeholders; the limit is {MAX_TEMPLATES_PER_TEXT}"),
        );
    }
}
