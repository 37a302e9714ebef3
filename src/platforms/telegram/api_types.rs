//! What the Bot API client takes and returns.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::render::{ApiCall, MediaMethod};
use crate::secrets::Secret;

/// Why a call did not succeed, classified for the outbox. Messages never contain the token or
/// the request URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// 429: wait this many seconds (Telegram's `parameters.retry_after`, at least 1).
    #[error("rate limited by Telegram; retry after {0} s")]
    RetryAfter(u64),
    /// 5xx, network error or timeout: retry with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    /// 4xx other than 403/429: retrying the same call cannot help. Code 0 is a local refusal
    /// (unresolved media, invalid path).
    #[error("rejected by Telegram ({code}): {description}")]
    Permanent { code: i64, description: String },
    /// The group became a supergroup: resend to this chat id.
    #[error("chat migrated to {0}")]
    Migrated(i64),
    /// 403: the user blocked the bot or it was removed from the chat.
    #[error("forbidden: {0}")]
    Blocked(String),
    /// A download exceeded the caller's limit.
    #[error("file exceeds {limit} bytes")]
    TooLarge { limit: u64 },
}

impl CallError {
    /// Telegram refused a `file_id` (expired, from another bot, or made up): the media library
    /// should forget the cached id and upload the bytes again.
    pub fn is_rejected_file_id(&self) -> bool {
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

    /// An edit that changed nothing (e.g. removing a keyboard twice); treat as done.
    /// Telegram refused the text's formatting ("can't parse entities"): the same call as plain
    /// text can succeed.
    pub fn is_unparsable_entities(&self) -> bool {
        matches!(self, CallError::Permanent { code: 400, description } if description.to_ascii_lowercase().contains("can't parse entities"))
    }

    pub fn is_not_modified(&self) -> bool {
        matches!(self, CallError::Permanent { code: 400, description } if description.contains("message is not modified"))
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CallError::RetryAfter(_) | CallError::Transient(_))
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

/// `setWebhook` parameters.
#[derive(Clone, Debug, Default)]
pub struct WebhookConfig {
    pub url: String,
    /// Sent back by Telegram in `X-Telegram-Bot-Api-Secret-Token` with every update.
    pub secret_token: Option<Secret<String>>,
    pub allowed_updates: Option<Vec<String>>,
    pub max_connections: Option<u32>,
    pub drop_pending_updates: bool,
}

/// `getWebhookInfo`, in GET INN's `WebhookStatus` shape. Dates are Unix seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookStatus {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub has_custom_certificate: bool,
    #[serde(default)]
    pub pending_update_count: u64,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub last_error_date: Option<i64>,
    #[serde(default)]
    pub last_error_message: Option<String>,
    #[serde(default)]
    pub last_synchronization_error_date: Option<i64>,
    #[serde(default)]
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub allowed_updates: Option<Vec<String>>,
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
