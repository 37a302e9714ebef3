//! The engine's inputs and outputs: dialog state (persisted by the shell as JSON), user input,
//! chat context, and the actions the shell carries out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::model::dialog::{Context, DialogState, DialogStatus, PendingAuto, UserInfo};

/// Kinds of media a user can send (Telegram's names; WhatsApp maps onto them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Photo,
    Document,
    Video,
    Audio,
    Voice,
    VideoNote,
    Animation,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Document => "document",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Voice => "voice",
            MediaKind::VideoNote => "video_note",
            MediaKind::Animation => "animation",
            MediaKind::Sticker => "sticker",
        }
    }
}

/// A file the user sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaInput {
    pub kind: MediaKind,
    #[serde(default)]
    pub media_id: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub caption: Option<String>,
    /// The largest file the platform lets the bot fetch, in KiB: a larger one is refused like
    /// one over the step's `max_size_kb`, since its bytes can never be had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_limit_kb: Option<u64>,
}

/// One thing that happened in the chat. Serialized as `{"type": "text", "value": "hi"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Input {
    Text(String),
    /// Callback data of a pressed inline button.
    Button(String),
    /// `/name payload`; see [`Input::from_text`].
    Command {
        name: String,
        payload: Option<String>,
    },
    Media(MediaInput),
    Location {
        latitude: f64,
        longitude: f64,
    },
    Contact {
        phone_number: String,
        first_name: Option<String>,
        user_id: Option<i64>,
    },
    /// The durable timer of a `ScheduleAuto` fired.
    AutoTick {
        token: u64,
    },
}

impl Input {
    /// Recognises `/name`, `/name payload` and `/name@SomeBot payload` (names are lowercased);
    /// anything else is `Text`. A lone `/` or `/ x` stays text.
    pub fn from_text(text: &str) -> Input {
        let trimmed = text.trim();
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Input::Text(text.to_string());
        };
        let (word, payload) = match rest.split_once(char::is_whitespace) {
            Some((w, p)) => (w, p.trim()),
            None => (rest, ""),
        };
        let name = word.split_once('@').map_or(word, |(n, _bot)| n);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Input::Text(text.to_string());
        }
        Input::Command {
            name: name.to_ascii_lowercase(),
            payload: (!payload.is_empty()).then(|| payload.to_string()),
        }
    }
}

/// An inline button: `text` is the label, `value` the callback data and the stored value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub text: String,
    pub value: String,
}

/// A media item as written in the scenario (`kind` is the document's `type`, e.g. `image`);
/// `file_id` is a media alias or a platform file id, resolved by the shell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    pub kind: String,
    pub file_id: String,
    /// The item's templated `caption` or `description`.
    #[serde(default)]
    pub caption: Option<String>,
}

/// A message to send, already templated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutMessage {
    pub text: String,
    #[serde(default)]
    pub media: Vec<MediaItem>,
    #[serde(default)]
    pub buttons: Vec<Button>,
}

impl OutMessage {
    pub fn text(text: impl Into<String>) -> Self {
        OutMessage {
            text: text.into(),
            ..OutMessage::default()
        }
    }
}

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    Send(OutMessage),
    /// Answer the callback query of a `Button` input so the client's spinner stops.
    AnswerCallback {
        text: Option<String>,
    },
    /// Publish an event (`dialog.started`, `dialog.step_changed`, `dialog.completed`, or a
    /// scenario `action` step's own event type).
    Emit {
        event_type: String,
        data: Value,
    },
    /// Fire `Input::AutoTick { token }` at `at_ms` (Unix milliseconds).
    ScheduleAuto {
        at_ms: i64,
        token: u64,
    },
}

/// Why an input was refused. The state is unchanged except `retries` for `Invalid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A button where text is expected, text where a button is expected, or the wrong kind of input.
    WrongInputType,
    /// A button value the step does not offer.
    InvalidButton,
    /// Typed validation (`expected_input.type` and its `validation`) failed.
    Invalid,
}

/// What happened, for logs, metrics and tests. Actions and state carry the substance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum OutcomeKind {
    /// A new dialog was created by a first input.
    Started,
    /// The input was accepted and the dialog moved to another step (or an auto tick moved it).
    Advanced,
    /// The input was accepted but the conditional `next_step` matched nothing: the step is shown again.
    Repeated,
    /// The input was accepted at a step without `next_step`: the dialog is finished.
    Completed,
    /// `/start`, an input after completion, or a state whose step no longer exists.
    Restarted,
    Rejected(RejectReason),
    Duplicate,
    RateLimited,
    /// Nothing to do: a stale auto tick, or a tick with no dialog.
    Ignored,
    /// `/help` or `/reset`.
    Command,
}

/// The result of one [`step`](super::step()): the new state (`None` means "no dialog": delete it),
/// the actions in order, and a summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub state: Option<DialogState>,
    pub actions: Vec<Action>,
    pub kind: OutcomeKind,
}
