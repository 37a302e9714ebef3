//! What the Bot API client takes and returns.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::render::{ApiCall, MediaMethod};

pub use crate::platforms::outbound::{CallError, WebhookSetup as WebhookConfig, WebhookStatus};

/// Refusals only Telegram's descriptions tell apart.
pub trait Refusals {
    /// Telegram refused a `file_id` (expired, from another bot, or made up): the media library
    /// should forget the cached id and upload the bytes again.
    fn is_rejected_file_id(&self) -> bool;
    /// Telegram refused the text's formatting ("can't parse entities"): the same call as plain
    /// text can succeed.
    fn is_unparsable_entities(&self) -> bool;
    /// An edit that changed nothing (e.g. removing a keyboard twice); treat as done.
    fn is_not_modified(&self) -> bool;
}

impl Refusals for CallError {
    fn is_rejected_file_id(&self) -> bool {
        match self {
            CallError::Permanent { code: 400, description } => {
                let d = description.to_ascii_lowercase();
                d.contains("wrong file identifier")
                    || d.contains("wrong remote file identifier")
                    || d.contains("wrong file_id")
                    || d.contains("invalid file_id")
            }
            _ => false,
        }
    }

    fn is_unparsable_entities(&self) -> bool {
        matches!(self, CallError::Permanent { code: 400, description } if description.to_ascii_lowercase().contains("can't parse entities"))
    }

    fn is_not_modified(&self) -> bool {
        matches!(self, CallError::Permanent { code: 400, description } if description.contains("message is not modified"))
    }
}

/// What a successful send produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Telegram's ids of the messages created (one per album item); empty for answers and edits.
    pub message_ids: Vec<i64>,
    /// The `file_id` Telegram assigned to each sent file, in order, to cache for the next send.
    pub file_ids: Vec<String>,
}

impl Sent {
    pub(super) fn from_result(call: &ApiCall, result: Value) -> Sent {
        let messages = match result {
            Value::Array(items) => items,
            obj @ Value::Object(_) => vec![obj],
            _ => Vec::new(),
        };
        let mut sent = Sent::default();
        for message in &messages {
            if let Some(id) = message.get("message_id").and_then(Value::as_i64) {
                sent.message_ids.push(id);
            }
            let fields: &[MediaMethod] = match call {
                ApiCall::SendMedia { method, .. } => std::slice::from_ref(method),
                ApiCall::SendMediaGroup { .. } => &[
                    MediaMethod::Photo,
                    MediaMethod::Video,
                    MediaMethod::Audio,
                    MediaMethod::Document,
                ],
                _ => &[],
            };
            for field in fields {
                let file = match message.get(field.field()) {
                    // A photo comes back in several sizes; the largest is last.
                    Some(Value::Array(sizes)) => sizes.last(),
                    other => other,
                };
                if let Some(id) = file.and_then(|f| f.get("file_id")).and_then(Value::as_str) {
                    sent.file_ids.push(id.to_string());
                    break;
                }
            }
        }
        sent
    }
}

/// The bot itself, from `getMe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotUser {
    pub id: i64,
    pub is_bot: bool,
    pub first_name: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// `getFile`: `file_path` is what [`super::api::BotApi::download_file`] needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub file_id: String,
    pub file_unique_id: String,
    #[serde(default)]
    pub file_size: Option<u64>,
    #[serde(default)]
    pub file_path: Option<String>,
}
