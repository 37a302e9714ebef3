//! The catalogue: which Bot API update kinds exist, how each is checked, and the event types
//! hookline reports for them.

pub use crate::platforms::inbound::EventType;

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
