//! What goes out to a platform, in words every platform shares: a queued call (the platform's
//! own request, kept as data so the outbox can store it), how a send ended, and what a
//! webhook registration looks like.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::secrets::Secret;

/// One request to a platform's API, as its adapter rendered it. Dialogs and the store carry it
/// unread; only the adapter that made it sends it. Shared, not copied: a reply is held by the
/// chat's write and by the request that sends it at once.
#[derive(Clone, Debug, PartialEq)]
pub struct PlatformCall(Arc<Value>);

impl PlatformCall {
    pub fn new(call: Value) -> PlatformCall {
        PlatformCall(Arc::new(call))
    }

    /// The call as JSON, for its adapter to read.
    pub fn json(&self) -> &Value {
        &self.0
    }
}

impl Serialize for PlatformCall {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PlatformCall {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(PlatformCall::new)
    }
}

/// Why a call did not succeed, classified so the outbox knows what to do. Messages never
/// contain a token or a request URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The platform asked to wait this many seconds (at least 1).
    #[error("rate limited by the platform; retry after {0} s")]
    RetryAfter(u64),
    /// 5xx, network error or timeout: retry with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Retrying the same call cannot help. Code 0 is a local refusal (unresolved media, invalid
    /// path).
    #[error("rejected by the platform ({code}): {description}")]
    Permanent { code: i64, description: String },
    /// The chat moved (a group became a supergroup): resend to this chat.
    #[error("chat migrated to {0}")]
    Migrated(i64),
    /// The user blocked the bot or it was removed from the chat.
    #[error("forbidden: {0}")]
    Blocked(String),
    /// The platform allows free-form messages only within a window after the user's last
    /// message (WhatsApp's 24 hours), and the window is closed: never retried as is.
    #[error("outside the customer-service window: {0}")]
    OutsideWindow(String),
    /// A download exceeded the caller's limit.
    #[error("file exceeds {limit} bytes")]
    TooLarge { limit: u64 },
}

impl CallError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CallError::RetryAfter(_) | CallError::Transient(_))
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            CallError::RetryAfter(_) => "rate_limited",
            CallError::Transient(_) => "transient",
            CallError::Permanent { .. } => "rejected",
            CallError::Migrated(_) => "migrated",
            CallError::Blocked(_) => "blocked",
            CallError::OutsideWindow(_) => "outside_window",
            CallError::TooLarge { .. } => "too_large",
        }
    }
}

/// What calling a platform for one bot takes: its credential's secret token and its
/// non-secret settings (WhatsApp's phone number id and Graph API version, …). `Debug` shows the
/// settings only.
#[derive(Clone)]
pub struct Access {
    pub token: Secret<String>,
    pub settings: serde_json::Map<String, Value>,
}

impl Access {
    /// Access with a token and no settings (Telegram needs nothing else).
    pub fn token(token: Secret<String>) -> Access {
        Access {
            token,
            settings: serde_json::Map::new(),
        }
    }

    /// A non-secret setting that is a non-empty string.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("token", &self.token)
            .field("settings", &self.settings)
            .finish()
    }
}

/// A chat whose reply window is closed: who it is, when its user last wrote, and the dialog's
/// variables (a template's parameters are filled from them).
#[derive(Debug)]
pub struct ClosedWindow<'a> {
    pub chat_id: &'a str,
    /// The user's last message (ms); `None` when the chat has no dialog.
    pub last_user_message_ms: Option<i64>,
    pub data: &'a serde_json::Map<String, Value>,
    pub context: &'a crate::scenario::Context,
}

/// What becomes of a call whose chat's reply window is closed.
#[derive(Debug, PartialEq)]
pub enum OutsideWindow {
    /// The call needs no window (a template, a read receipt): send it.
    Keep,
    /// Send this instead (the bot's approved template).
    Replace(PlatformCall),
    /// It cannot go: fail it, saying why.
    Refuse(String),
}

/// How one send ended, as the adapter reports it to the outbox.
#[derive(Debug)]
pub struct SendReport {
    /// Done: what to record with the reply (the platform's message ids, …); or why not.
    pub outcome: Result<Value, CallError>,
    /// After [`CallError::Migrated`], the call addressed to the new chat, to store for the
    /// retry; `None` otherwise.
    pub moved: Option<PlatformCall>,
    /// Scenario media neither in the library nor known to the platform: the rest was sent
    /// without it, and the dialog should say so.
    pub missing_media: Vec<String>,
}

/// What a webhook registration asks of the platform.
#[derive(Clone, Debug, Default)]
pub struct WebhookSetup {
    pub url: String,
    /// Sent back by the platform with every update, so hookline knows the sender.
    pub secret_token: Option<Secret<String>>,
    /// The update kinds to send; `None` for the platform's default.
    pub allowed_updates: Option<Vec<String>>,
    pub max_connections: Option<u32>,
    pub drop_pending_updates: bool,
}

/// The platform's view of a registration (GET INN's `WebhookStatus` shape). Dates are Unix
/// seconds.
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
