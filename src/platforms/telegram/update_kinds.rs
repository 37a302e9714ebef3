//! The catalogue: which Bot API update kinds exist, how each is checked, and the event types
//! hookline reports for them.

use frankenstein::inline_mode::{ChosenInlineResult, InlineQuery};
use frankenstein::payments::{PaidMediaPurchased, PreCheckoutQuery, ShippingQuery};
use frankenstein::types::{
    BotSubscriptionUpdated, BusinessConnection, BusinessMessagesDeleted, ChatBoostRemoved, ChatBoostUpdated,
    ChatJoinRequest, ChatMemberUpdated, ManagedBotUpdated, Message, MessageGenerationStopped,
    MessageReactionCountUpdated, MessageReactionUpdated, Poll, PollAnswer,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::update::{UpdateError, bounded_message, typed};

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
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::MessageReceived,
        EventType::MessageEdited,
        EventType::CallbackReceived,
        EventType::MediaReceived,
        EventType::CommandReceived,
        EventType::BotBlocked,
        EventType::BotUnblocked,
        EventType::UpdateIgnored,
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
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a kind hookline ignores: it must still be the crate's type (wrong types are errors).
pub(super) type Check = fn(&str, &Value, &mut Vec<String>) -> Result<(), UpdateError>;

pub(super) enum Kind {
    Message,
    EditedMessage,
    CallbackQuery,
    MyChatMember,
    Ignored(Check),
}

fn check<T: DeserializeOwned>(name: &str, value: &Value, skipped: &mut Vec<String>) -> Result<(), UpdateError> {
    typed::<T>(name, value, CORE, skipped).map(drop)
}

fn check_message(name: &str, value: &Value, skipped: &mut Vec<String>) -> Result<(), UpdateError> {
    let value = bounded_message(name, value, skipped);
    check::<Message>(name, &value, skipped)
}

/// For ignored kinds hookline reads only who and where.
const CORE: &[&str] = &["chat", "from", "user"];

/// The Bot API's update kinds (the names of `allowed_updates`).
pub(super) fn kind_of(name: &str) -> Option<Kind> {
    Some(match name {
        "message" => Kind::Message,
        "edited_message" => Kind::EditedMessage,
        "callback_query" => Kind::CallbackQuery,
        "my_chat_member" => Kind::MyChatMember,
        // Channel posts and business messages are not conversations with a user of the bot.
        "channel_post" | "edited_channel_post" | "business_message" | "edited_business_message" | "guest_message" => {
            Kind::Ignored(check_message)
        }
        "business_connection" => Kind::Ignored(check::<BusinessConnection>),
        "deleted_business_messages" => Kind::Ignored(check::<BusinessMessagesDeleted>),
        "message_reaction" => Kind::Ignored(check::<MessageReactionUpdated>),
        "message_reaction_count" => Kind::Ignored(check::<MessageReactionCountUpdated>),
        "inline_query" => Kind::Ignored(check::<InlineQuery>),
        "chosen_inline_result" => Kind::Ignored(check::<ChosenInlineResult>),
        "shipping_query" => Kind::Ignored(check::<ShippingQuery>),
        "pre_checkout_query" => Kind::Ignored(check::<PreCheckoutQuery>),
        "purchased_paid_media" => Kind::Ignored(check::<PaidMediaPurchased>),
        "poll" => Kind::Ignored(check::<Poll>),
        "poll_answer" => Kind::Ignored(check::<PollAnswer>),
        "chat_member" => Kind::Ignored(check::<ChatMemberUpdated>),
        "chat_join_request" => Kind::Ignored(check::<ChatJoinRequest>),
        "chat_boost" => Kind::Ignored(check::<ChatBoostUpdated>),
        "removed_chat_boost" => Kind::Ignored(check::<ChatBoostRemoved>),
        "managed_bot" => Kind::Ignored(check::<ManagedBotUpdated>),
        "subscription" => Kind::Ignored(check::<BotSubscriptionUpdated>),
        "stopped_message_generation" => Kind::Ignored(check::<MessageGenerationStopped>),
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
