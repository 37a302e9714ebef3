//! What a platform's webhook body means, in words every platform shares: the items a body
//! holds (a text, a command, a button choice, a file, a location, a contact, a membership
//! change, an ignored kind, …) with the chat, the sender and the engine's input. Dialogs and
//! the store read only these; each platform's parser produces them.

use serde::{Deserialize, Serialize};

use crate::scenario::{Input, MediaKind, UserInfo};

/// What an inbound item means to hookline; the handler reports it as `event_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// Text, a location or a contact.
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "message.edited")]
    MessageEdited,
    /// An inline button was pressed.
    #[serde(rename = "callback.received")]
    CallbackReceived,
    /// A photo, video, audio, document, voice, video note, animation or sticker.
    #[serde(rename = "media.received")]
    MediaReceived,
    /// Text starting with `/` (including `/start@SomeBot payload`).
    #[serde(rename = "command.received")]
    CommandReceived,
    /// The user blocked the bot or removed it from the chat.
    #[serde(rename = "bot.blocked")]
    BotBlocked,
    /// The bot was unblocked or added to a chat.
    #[serde(rename = "bot.unblocked")]
    BotUnblocked,
    /// A kind hookline does not act on (channel posts, inline queries, polls, payments, service
    /// messages, unknown future kinds, …).
    #[serde(rename = "update.ignored")]
    UpdateIgnored,
    /// A kind hookline acts on whose fields do not parse: recorded with its body, not acted on.
    #[serde(rename = "update.unparsed")]
    UpdateUnparsed,
    /// A button pressed on a keyboard that is not the chat's current one: answered, not acted on.
    #[serde(rename = "callback.stale")]
    CallbackStale,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::MessageReceived,
        EventType::MessageEdited,
        EventType::CallbackReceived,
        EventType::MediaReceived,
        EventType::CommandReceived,
        EventType::BotBlocked,
        EventType::BotUnblocked,
        EventType::UpdateIgnored,
        EventType::UpdateUnparsed,
        EventType::CallbackStale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageReceived => "message.received",
            EventType::MessageEdited => "message.edited",
            EventType::CallbackReceived => "callback.received",
            EventType::MediaReceived => "media.received",
            EventType::CommandReceived => "command.received",
            EventType::BotBlocked => "bot.blocked",
            EventType::BotUnblocked => "bot.unblocked",
            EventType::UpdateIgnored => "update.ignored",
            EventType::UpdateUnparsed => "update.unparsed",
            EventType::CallbackStale => "callback.stale",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An id a platform gives a user: Telegram's are integers, other platforms' are strings
/// (phone numbers, opaque ids). Kept as the platform wrote it, so events show it unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExternalId {
    Number(i64),
    Text(String),
}

impl std::fmt::Display for ExternalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExternalId::Number(n) => write!(f, "{n}"),
            ExternalId::Text(s) => f.write_str(s),
        }
    }
}

/// The sender of an inbound item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundUser {
    pub id: ExternalId,
    /// Names for the scenario's `user.*` variables.
    pub info: UserInfo,
}

/// A file the user sent, as the platform describes it (not downloaded yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundFile {
    pub kind: MediaKind,
    /// The platform's reference to fetch the bytes with.
    pub file_id: String,
    /// Stable across bots' copies of the same file: the library's key for "seen before".
    pub file_unique_id: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
    pub caption: Option<String>,
}

/// A button the user chose on a message the bot sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The platform's id of the choice, to acknowledge it (Telegram's callback query id).
    pub id: Option<String>,
    /// The bot's message that carried the buttons, to tell an old keyboard from the current one
    /// and to retire it.
    pub message_id: Option<String>,
}

/// One item of a platform's webhook body, as dialogs process it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// The platform's id of the update: the inbox's key for "processed once".
    pub update_id: i64,
    pub event_type: EventType,
    pub chat_id: Option<String>,
    pub user: Option<InboundUser>,
    /// Set when the item is a button choice.
    pub choice: Option<Choice>,
    /// What the scenario engine should see; `None` when the bot does not act on the item.
    pub input: Option<Input>,
    pub file: Option<InboundFile>,
    /// The chat moved (a Telegram group became a supergroup): the conversation continues there.
    pub moved_to_chat: Option<String>,
    /// Why an item of a kind hookline acts on could not be read (`update.unparsed`).
    #[serde(default)]
    pub parse_error: Option<String>,
    /// The platform's id of the user's message, where it has one worth keeping (WhatsApp's
    /// `wamid…`, to mark it read).
    #[serde(default)]
    pub message_id: Option<String>,
}

impl Inbound {
    /// The chat id, or `""` for an item outside any chat.
    pub fn chat(&self) -> &str {
        self.chat_id.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_keep_their_json_type() {
        assert_eq!(
            serde_json::to_value(ExternalId::Number(7)).unwrap(),
            serde_json::json!(7)
        );
        assert_eq!(
            serde_json::to_value(ExternalId::Text("15551234567".into())).unwrap(),
            serde_json::json!("15551234567")
        );
        assert_eq!(ExternalId::Number(-5).to_string(), "-5");
    }
}
