//! Parsing a webhook body into a [`ParsedUpdate`]: pure, no I/O, never panics.
//!
//! The Bot API types come from the `frankenstein` crate (types only). What hookline accepts:
//! - the body is a JSON object with an integer `update_id` in `0..=i64::MAX`; anything else is an
//!   [`UpdateError`] (400 INVALID_UPDATE_FORMAT). Nothing else is ever refused: Telegram
//!   redelivers a refused update and holds the chat's later ones behind it;
//! - the update's kind is the first key the catalogue knows; a body with no known kind is a newer
//!   Bot API's update, and a known kind hookline does not act on (polls, payments, channel posts,
//!   …) is not checked at all: both become [`EventType::UpdateIgnored`];
//! - a kind hookline acts on is parsed with the crate's type (at most [`MAX_DEPTH`] levels deep).
//!   A failure in a field hookline reads (ids, chat, sender, text, media, callback data, member
//!   status) makes it [`EventType::UpdateUnparsed`], with the reason in
//!   [`ParsedUpdate::parse_error`]. A failure anywhere else (entities, reply markup, forward origin, reactions, …) means
//!   Telegram speaks a newer dialect than the crate: that top-level field is dropped, the parse
//!   retried, and the dropped path listed in [`ParsedUpdate::skipped_fields`] for the logs. A
//!   field hookline never reads must not cost a user their reply.

use std::borrow::Cow;

use frankenstein::types::{CallbackQuery, ChatMember, ChatMemberUpdated, ChatType, Message, User};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::platforms::inbound::{Choice, ExternalId, Inbound, InboundUser};
use crate::scenario::{Input, MediaInput, UserInfo};

pub use super::update_kinds::EventType;
use super::update_kinds::{Kind, kind_of};
use super::update_media::media_of;

/// Deepest JSON nesting accepted. Real updates stay under 15 levels; the limit keeps the typed
/// parse (recursive through `reply_to_message`) far from the stack's end.
pub const MAX_DEPTH: usize = 40;
/// How many unreadable decoration fields one update may lose before it is rejected.
const MAX_SKIPPED: usize = 16;
/// Error messages quote the offending value; cap them so a 1 MB string is not echoed back.
const MAX_ERROR_LEN: usize = 300;

/// Why a body is not a Telegram update. The message names the field and is safe to return.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UpdateError(pub String);

impl UpdateError {
    fn new(message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        UpdateError(message)
    }
}

/// Kind of chat, from `chat.type`; anything new is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    Private,
    Group,
    Supergroup,
    Channel,
    Other,
}

impl ChatKind {
    /// Groups share the stricter outbound rate limit.
    pub fn is_group(self) -> bool {
        matches!(self, ChatKind::Group | ChatKind::Supergroup)
    }
}

/// The sender of an update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramUser {
    pub id: i64,
    pub is_bot: bool,
    pub language_code: Option<String>,
    /// Names for the scenario's `user.*` variables.
    pub info: UserInfo,
}

/// A file the user sent, as Telegram describes it (not downloaded).
pub use crate::platforms::inbound::InboundFile as IncomingMedia;

/// Everything the webhook handler needs from one update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParsedUpdate {
    pub update_id: i64,
    pub event_type: EventType,
    pub chat_id: Option<i64>,
    pub chat_type: Option<ChatKind>,
    pub user: Option<TelegramUser>,
    /// The message the update is about (the user's message; for callbacks see below).
    pub message_id: Option<i64>,
    pub callback_query_id: Option<String>,
    /// The bot's message whose button was pressed (to remove or edit its keyboard).
    pub callback_message_id: Option<i64>,
    /// What the scenario engine should see; `None` when the bot does not act on the update.
    pub input: Option<Input>,
    pub media: Option<IncomingMedia>,
    /// A group became a supergroup: replies go to this chat from now on.
    pub migrate_to_chat_id: Option<i64>,
    /// The update's kind as Telegram named it (`message`, `callback_query`, or an unknown key).
    pub raw_kind: String,
    /// Fields dropped because the crate could not read them (see the module comment).
    pub skipped_fields: Vec<String>,
    /// Why an update of a kind hookline acts on could not be read (`update.unparsed`).
    #[serde(default)]
    pub parse_error: Option<String>,
}

impl ParsedUpdate {
    fn new(update_id: i64, event_type: EventType, raw_kind: &str) -> Self {
        ParsedUpdate {
            update_id,
            event_type,
            chat_id: None,
            chat_type: None,
            user: None,
            message_id: None,
            callback_query_id: None,
            callback_message_id: None,
            input: None,
            media: None,
            migrate_to_chat_id: None,
            raw_kind: raw_kind.to_string(),
            skipped_fields: Vec::new(),
            parse_error: None,
        }
    }
}

impl From<ParsedUpdate> for Inbound {
    fn from(p: ParsedUpdate) -> Inbound {
        Inbound {
            update_id: p.update_id,
            event_type: p.event_type,
            chat_id: p.chat_id.map(|c| c.to_string()),
            user: p.user.map(|u| InboundUser {
                id: ExternalId::Number(u.id),
                info: u.info,
            }),
            choice: p.callback_query_id.map(|id| Choice {
                id: Some(id),
                message_id: p.callback_message_id.map(|m| m.to_string()),
            }),
            input: p.input,
            file: p.media,
            moved_to_chat: p.migrate_to_chat_id.map(|c| c.to_string()),
            parse_error: p.parse_error,
            message_id: None,
        }
    }
}

/// Parse a webhook body. See the module comment for what is accepted.
pub fn parse_update(body: &[u8]) -> Result<ParsedUpdate, UpdateError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| UpdateError::new(format!("body is not valid JSON: {e}")))?;
    let Value::Object(obj) = &root else {
        return Err(UpdateError::new("body must be a JSON object"));
    };
    let update_id = match obj.get("update_id") {
        None => return Err(UpdateError::new("update_id: missing")),
        Some(v) => v
            .as_i64()
            .filter(|id| *id >= 0)
            .ok_or_else(|| UpdateError::new("update_id: must be an integer between 0 and 2^63-1"))?,
    };
    let known = obj.iter().find_map(|(k, v)| kind_of(k).map(|kind| (k, kind, v)));
    let Some((name, kind, value)) = known else {
        let raw = obj.keys().find(|k| *k != "update_id").map_or("none", String::as_str);
        return Ok(ParsedUpdate::new(update_id, EventType::UpdateIgnored, raw));
    };
    let mut out = ParsedUpdate::new(update_id, EventType::UpdateIgnored, name);
    if let Kind::Ignored = kind {
        read_loose_chat_and_user(&mut out, value);
        return Ok(out);
    }
    let parsed = if depth(&root) > MAX_DEPTH {
        Err(UpdateError::new(format!(
            "body is nested deeper than {MAX_DEPTH} levels"
        )))
    } else if !value.is_object() {
        Err(UpdateError::new(format!("{name}: must be an object")))
    } else {
        read_acted(&mut out, name, kind, value)
    };
    if let Err(e) = parsed {
        // Telegram would redeliver a refusal forever and hold the chat's later updates behind
        // it: record what could not be read, and answer.
        let mut unparsed = ParsedUpdate::new(update_id, EventType::UpdateUnparsed, name);
        read_loose_chat_and_user(&mut unparsed, value);
        unparsed.parse_error = Some(e.0);
        return Ok(unparsed);
    }
    Ok(out)
}

/// How hookline treats a body: the classes [`parse_update`] sorts bodies into. Takes raw bytes,
/// so a fuzzer can drive the parser directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateClass {
    /// Not JSON, or no integer `update_id`: refused (400).
    Invalid,
    /// Recorded, and given to the scenario when it carries an input.
    Processed,
    /// A kind hookline does not act on: recorded only.
    Ignored,
    /// A kind hookline acts on whose fields do not parse: recorded as `update.unparsed`.
    Unparsed,
}

/// Classify a webhook body; never panics, whatever the bytes.
pub fn classify_update(body: &[u8]) -> UpdateClass {
    match parse_update(body) {
        Err(_) => UpdateClass::Invalid,
        Ok(p) => match p.event_type {
            EventType::UpdateUnparsed => UpdateClass::Unparsed,
            EventType::UpdateIgnored => UpdateClass::Ignored,
            _ => UpdateClass::Processed,
        },
    }
}

/// Read a kind hookline acts on, with the crate's types.
fn read_acted(out: &mut ParsedUpdate, name: &str, kind: Kind, value: &Value) -> Result<(), UpdateError> {
    match kind {
        Kind::Message => {
            let value = bounded_message(name, value, &mut out.skipped_fields);
            let msg: Message = typed(name, &value, MESSAGE_CORE, &mut out.skipped_fields)?;
            read_message(out, name, &msg)?;
        }
        Kind::EditedMessage => {
            let value = bounded_message(name, value, &mut out.skipped_fields);
            let msg: Message = typed(name, &value, MESSAGE_CORE, &mut out.skipped_fields)?;
            read_chat_and_sender(out, name, &msg)?;
            out.event_type = EventType::MessageEdited;
        }
        Kind::CallbackQuery => read_callback(out, name, value)?,
        Kind::MyChatMember => {
            let upd: ChatMemberUpdated = typed(name, value, MEMBER_CORE, &mut out.skipped_fields)?;
            set_chat(out, upd.chat.id, upd.chat.type_field);
            out.user = Some(user(name, &upd.from)?);
            out.event_type = match upd.new_chat_member {
                ChatMember::Kicked(_) | ChatMember::Left(_) => EventType::BotBlocked,
                ChatMember::Member(_) | ChatMember::Administrator(_) | ChatMember::Creator(_) => {
                    EventType::BotUnblocked
                }
                ChatMember::Restricted(_) => EventType::UpdateIgnored,
            };
        }
        Kind::Ignored => {}
    }
    Ok(())
}

/// Fields of a message hookline reads: a failure there makes the update `update.unparsed`.
const MESSAGE_CORE: &[&str] = &[
    "message_id",
    "date",
    "chat",
    "from",
    "text",
    "caption",
    "photo",
    "document",
    "video",
    "audio",
    "voice",
    "video_note",
    "animation",
    "sticker",
    "location",
    "venue",
    "contact",
    "migrate_to_chat_id",
];
const MEMBER_CORE: &[&str] = &["chat", "from", "date", "old_chat_member", "new_chat_member"];
const CALLBACK_CORE: &[&str] = &["id", "from", "data", "chat_instance", "inline_message_id"];

/// Fields of a message that hold another message.
const NESTED_MESSAGES: [&str; 2] = ["reply_to_message", "pinned_message"];

/// Telegram never nests a message more than one level (a reply's own reply is not sent), and
/// each level of the typed parse costs a deep stack frame; deeper levels are dropped.
pub(super) fn bounded_message<'a>(name: &str, value: &'a Value, skipped: &mut Vec<String>) -> Cow<'a, Value> {
    let too_deep = |outer: &str, inner: &str| value.get(outer).and_then(|o| o.get(inner)).is_some();
    let pairs: Vec<(&str, &str)> = NESTED_MESSAGES
        .iter()
        .flat_map(|o| NESTED_MESSAGES.iter().map(move |i| (*o, *i)))
        .filter(|(o, i)| too_deep(o, i))
        .collect();
    if pairs.is_empty() {
        return Cow::Borrowed(value);
    }
    let mut copy = value.clone();
    for (outer, inner) in pairs {
        if let Some(o) = copy.get_mut(outer).and_then(Value::as_object_mut) {
            o.remove(inner);
            skipped.push(format!("{name}.{outer}.{inner}"));
        }
    }
    Cow::Owned(copy)
}

/// Deserialize `value` as `T`, dropping unreadable non-core top-level fields (module comment).
pub(super) fn typed<T: DeserializeOwned>(
    name: &str,
    value: &Value,
    core: &[&str],
    skipped: &mut Vec<String>,
) -> Result<T, UpdateError> {
    let mut pruned: Option<Value> = None;
    loop {
        let current = pruned.as_ref().unwrap_or(value);
        let err = match serde_path_to_error::deserialize::<_, T>(current) {
            Ok(t) => return Ok(t),
            Err(err) => err,
        };
        let field = match err.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        let reject = || {
            let path = err.path().to_string();
            let at = if path == "." {
                name.to_string()
            } else {
                format!("{name}.{path}")
            };
            UpdateError::new(format!("{at}: {}", err.inner()))
        };
        let Some(field) = field.filter(|f| !core.contains(&f.as_str())) else {
            return Err(reject());
        };
        if skipped.len() >= MAX_SKIPPED {
            return Err(reject());
        }
        let copy = pruned.get_or_insert_with(|| value.clone());
        let removed = copy.as_object_mut().and_then(|o| o.remove(&field));
        if removed.is_none() {
            return Err(reject());
        }
        skipped.push(format!("{name}.{field}"));
    }
}

fn read_message(out: &mut ParsedUpdate, name: &str, msg: &Message) -> Result<(), UpdateError> {
    read_chat_and_sender(out, name, msg)?;
    out.migrate_to_chat_id = msg.migrate_to_chat_id;
    if let Some(media) = media_of(msg) {
        out.input = Some(Input::Media(MediaInput {
            kind: media.kind,
            media_id: None,
            file_name: media.file_name.clone(),
            content_type: media.mime_type.clone(),
            size: media.file_size,
            caption: media.caption.clone(),
            download_limit_kb: None,
        }));
        out.media = Some(media);
        out.event_type = EventType::MediaReceived;
    } else if let Some(text) = &msg.text {
        let input = Input::from_text(text);
        out.event_type = match input {
            Input::Command { .. } => EventType::CommandReceived,
            _ => EventType::MessageReceived,
        };
        out.input = Some(input);
    } else if let Some(loc) = msg.location.as_deref().or(msg.venue.as_deref().map(|v| &v.location)) {
        out.input = Some(Input::Location {
            latitude: loc.latitude,
            longitude: loc.longitude,
        });
        out.event_type = EventType::MessageReceived;
    } else if let Some(c) = &msg.contact {
        out.input = Some(Input::Contact {
            phone_number: c.phone_number.clone(),
            first_name: Some(c.first_name.clone()),
            user_id: c.user_id.and_then(|id| i64::try_from(id).ok()),
        });
        out.event_type = EventType::MessageReceived;
    }
    // Anything else (service messages, dice, polls, stories, …) stays `update.ignored`.
    Ok(())
}

fn read_chat_and_sender(out: &mut ParsedUpdate, name: &str, msg: &Message) -> Result<(), UpdateError> {
    set_chat(out, msg.chat.id, msg.chat.type_field);
    out.message_id = Some(i64::from(msg.message_id));
    if let Some(from) = &msg.from {
        out.user = Some(user(name, from)?);
    }
    Ok(())
}

/// A callback's `message` may be inaccessible (date 0) and is an untagged union in the crate,
/// whose errors carry no path; it is parsed on its own so its decorations can be skipped too.
fn read_callback(out: &mut ParsedUpdate, name: &str, value: &Value) -> Result<(), UpdateError> {
    let mut without_message = Map::new();
    if let Some(obj) = value.as_object() {
        for (k, v) in obj.iter().filter(|(k, _)| *k != "message") {
            without_message.insert(k.clone(), v.clone());
        }
    }
    let cb: CallbackQuery = typed(
        name,
        &Value::Object(without_message),
        CALLBACK_CORE,
        &mut out.skipped_fields,
    )?;
    out.user = Some(user(name, &cb.from)?);
    out.callback_query_id = Some(cb.id.clone());
    out.event_type = EventType::CallbackReceived;
    out.input = cb.data.clone().map(Input::Button);
    if let Some(message) = value.get("message") {
        let path = format!("{name}.message");
        if !message.is_object() {
            return Err(UpdateError::new(format!("{path}: must be an object")));
        }
        let msg: Message = if message.get("date").and_then(Value::as_u64) == Some(0) {
            // An inaccessible message carries only chat, message_id and date.
            let mut core = Map::new();
            for key in ["chat", "message_id", "date"] {
                if let Some(v) = message.get(key) {
                    core.insert(key.to_string(), v.clone());
                }
            }
            typed(&path, &Value::Object(core), MESSAGE_CORE, &mut out.skipped_fields)?
        } else {
            let message = bounded_message(&path, message, &mut out.skipped_fields);
            typed(&path, &message, MESSAGE_CORE, &mut out.skipped_fields)?
        };
        set_chat(out, msg.chat.id, msg.chat.type_field);
        out.callback_message_id = Some(i64::from(msg.message_id));
    }
    Ok(())
}

fn set_chat(out: &mut ParsedUpdate, id: i64, kind: ChatType) {
    out.chat_id = Some(id);
    out.chat_type = Some(match kind {
        ChatType::Private => ChatKind::Private,
        ChatType::Group => ChatKind::Group,
        ChatType::Supergroup => ChatKind::Supergroup,
        ChatType::Channel => ChatKind::Channel,
    });
}

fn user(name: &str, u: &User) -> Result<TelegramUser, UpdateError> {
    let id = i64::try_from(u.id).map_err(|_| UpdateError::new(format!("{name}.from.id: out of range")))?;
    Ok(TelegramUser {
        id,
        is_bot: u.is_bot,
        language_code: u.language_code.clone(),
        info: UserInfo {
            first_name: Some(u.first_name.clone()),
            last_name: u.last_name.clone(),
            username: u.username.clone(),
        },
    })
}

/// For kinds hookline ignores: chat and sender, if the (already validated) object has them.
fn read_loose_chat_and_user(out: &mut ParsedUpdate, value: &Value) {
    let chat = value
        .get("chat")
        .or_else(|| value.get("message").and_then(|m| m.get("chat")));
    if let Some(chat) = chat.filter(|c| c.get("id").and_then(Value::as_i64).is_some()) {
        out.chat_id = chat.get("id").and_then(Value::as_i64);
        out.chat_type = chat.get("type").and_then(Value::as_str).map(|t| match t {
            "private" => ChatKind::Private,
            "group" => ChatKind::Group,
            "supergroup" => ChatKind::Supergroup,
            "channel" => ChatKind::Channel,
            _ => ChatKind::Other,
        });
    }
    let sender = value.get("from").or_else(|| value.get("user"));
    if let Some(u) = sender.and_then(|s| serde_json::from_value::<User>(s.clone()).ok()) {
        out.user = user("", &u).ok();
    }
}

/// Nesting depth of a JSON value, computed without recursion.
fn depth(root: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(root, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
