//! The catalogue: which Bot API update kinds exist, how each is checked, and the event types
//! hookline reports for them.

use serde::{Deserialize, Serialize};

/// What an update means to hookline; the handler reports it as `event_type`.
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

pub(super) enum Kind {
    Message,
    EditedMessage,
    CallbackQuery,
    MyChatMember,
    /// Known, but not acted on: never schema-checked, so a shape the crate does not know (or a
    /// field Telegram dropped) cannot make Telegram redeliver it and hold the chat's queue.
    Ignored,
}

/// The Bot API's update kinds (the names of `allowed_updates`).
pub(super) fn kind_of(name: &str) -> Option<Kind> {
    Some(match name {
        "message" => Kind::Message,
        "edited_message" => Kind::EditedMessage,
        "callback_query" => Kind::CallbackQuery,
        "my_chat_member" => Kind::MyChatMember,
        // Channel posts and business messages are not conversations with a user of the bot.
        _ if KNOWN_KINDS.contains(&name) => Kind::Ignored,
        _ => return None,
    })
}

/// Every kind name `kind_of` knows, for `allowed_updates` and tests.
pub const KNOWN_KINDS: &[&str] = &[
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "guest_message",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "managed_bot",
    "subscription",
    "stopped_message_generation",
];

/// The kinds a hookline bot subscribes to in `setWebhook`: the ones it acts on.
pub const DEFAULT_ALLOWED_UPDATES: &[&str] = &["message", "edited_message", "callback_query", "my_chat_member"];
