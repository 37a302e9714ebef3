//! A Cloud API webhook body → [`Parsed`]: pure, no I/O, never panics.
//!
//! The body is `{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
//! "messages", "value": {"metadata", "contacts", "messages", "statuses"}}]}]}`; one body may
//! hold several entries, changes, messages and statuses. What hookline accepts:
//! - only a body that is not JSON, not an object, whose `object` is not
//!   `whatsapp_business_account`, that is nested deeper than [`MAX_DEPTH`] levels or that holds
//!   more than [`MAX_ITEMS`] messages and statuses is refused ([`BodyError`]). Everything else
//!   is answered: Meta retries a refused body for days;
//! - every message becomes one [`Inbound`], in body order. A kind hookline does not act on
//!   (`reaction`, `unsupported`, `system`, `errors`, `order`, an unknown one, …) is
//!   [`EventType::UpdateIgnored`] without input; a message whose fields hookline reads (id,
//!   sender, type, the kind's payload) do not parse is [`EventType::UpdateUnparsed`] with the
//!   reason in `parse_error`;
//! - statuses (sent, delivered, read, failed) of the bot's own messages become
//!   [`StatusReceipt`]s; one without an id or recipient is only counted;
//! - changes of other fields (`account_update`, template status, …) and containers of the wrong
//!   JSON type are passed over: they hold no message to answer.
//!
//! The walk is a fixed number of loops over the envelope: no recursion whose depth the input
//! chooses, and the depth check runs before the envelope is walked.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::shorten;
use crate::platforms::{BodyError, Choice, EventType, ExternalId, Inbound, InboundFile, InboundUser};
use crate::scenario::{Input, MediaInput, MediaKind, UserInfo};

/// Deepest JSON nesting accepted. Real bodies stay under 10 levels.
pub const MAX_DEPTH: usize = 40;
/// Most messages plus statuses read from one body. Meta batches at most a few dozen.
pub const MAX_ITEMS: usize = 1_000;
/// Error messages may quote the body; cap them so a large value is not echoed back.
const MAX_ERROR_CHARS: usize = 300;
/// The `object` of a WhatsApp Business Account webhook.
const OBJECT: &str = "whatsapp_business_account";

/// Everything hookline reads from one body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Parsed {
    /// One per message, in body order.
    pub items: Vec<Inbound>,
    /// `origins[i]` says where `items[i]` came from (same length, same order).
    pub origins: Vec<Origin>,
    /// Delivery receipts of the bot's own messages, in body order.
    pub statuses: Vec<StatusReceipt>,
    /// Statuses passed over for lack of an id or a recipient.
    pub unreadable_statuses: usize,
}

/// Where a message came from: what [`Inbound`] has no field for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// WhatsApp's id of the message (`wamid.…`); `update_id` is [`update_id_of`] it. Empty when
    /// the message had none (then `update_id` is derived from the message's JSON).
    pub message_id: String,
    /// The business number that received it (`metadata.phone_number_id`): whose bot it is for.
    pub phone_number_id: Option<String>,
    /// The message's `type` as WhatsApp wrote it (`text`, `interactive`, `reaction`, …).
    pub kind: String,
}

/// What became of a message the bot sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Sent,
    Delivered,
    Read,
    Failed,
    /// `deleted`, `warning`, or a newer status.
    Other,
}

/// One entry of a body's `statuses`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReceipt {
    /// The bot's message (`wamid.…`) the status is about.
    pub message_id: String,
    /// The user's `wa_id` the message went to.
    pub recipient: String,
    pub status: ReceiptStatus,
    /// Unix seconds.
    pub timestamp: Option<i64>,
    /// The first error's code and title (`failed`, sometimes `warning`).
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    /// The business number that sent the message.
    pub phone_number_id: Option<String>,
}

/// The inbox key of a WhatsApp message. The inbox keys items by `(bot, platform, i64)` while
/// WhatsApp's ids are strings (`wamid.HBgL…`), so the id is hashed: the first 8 bytes of its
/// SHA-256 as a big-endian integer with the top bit cleared, a stable number in `0..=i64::MAX`.
///
/// Why a collision is no practical risk: two different ids share a key with probability 2⁻⁶³,
/// and among `n` messages of one bot the chance of any shared key is about n²/2⁶⁴: 5·10⁻⁸ for a
/// million messages, 5·10⁻⁴ for a billion. A collision would make the later message look like a
/// redelivery of the earlier one (answered, not processed). Keys never meet Telegram's, as the
/// platform is part of the key. The original id travels in [`Origin::message_id`].
pub fn update_id_of(message_id: &str) -> i64 {
    let digest = crate::secrets::sha256(message_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first) & i64::MAX
}

fn refuse(message: String) -> BodyError {
    BodyError(shorten(&message, MAX_ERROR_CHARS))
}

/// Parse a webhook body. See the module comment for what is accepted.
pub fn parse(body: &[u8]) -> Result<Parsed, BodyError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| refuse(format!("body is not valid JSON: {e}")))?;
    let Value::Object(obj) = &root else {
        return Err(refuse("body must be a JSON object".to_string()));
    };
    match obj.get("object") {
        Some(Value::String(s)) if s == OBJECT => {}
        Some(Value::String(s)) => return Err(refuse(format!("object: expected \"{OBJECT}\", got \"{s}\""))),
        Some(_) => return Err(refuse("object: must be a string".to_string())),
        None => return Err(refuse("object: missing".to_string())),
    }
    if deeper_than(&root, MAX_DEPTH) {
        return Err(refuse(format!("body is nested deeper than {MAX_DEPTH} levels")));
    }
    let values = message_values(obj);
    let count: usize = values
        .iter()
        .map(|v| list(v, "messages").len() + list(v, "statuses").len())
        .sum();
    if count > MAX_ITEMS {
        return Err(refuse(format!(
            "body holds {count} messages and statuses; at most {MAX_ITEMS} are read"
        )));
    }
    let mut out = Parsed::default();
    for value in values {
        let phone_number_id = value
            .get("metadata")
            .and_then(|m| m.get("phone_number_id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let contacts = list(value, "contacts");
        for message in list(value, "messages") {
            let (item, mut origin) = read_message(message, contacts);
            origin.phone_number_id = phone_number_id.clone();
            out.items.push(item);
            out.origins.push(origin);
        }
        for status in list(value, "statuses") {
            match read_status(status, &phone_number_id) {
                Some(receipt) => out.statuses.push(receipt),
                None => out.unreadable_statuses += 1,
            }
        }
    }
    Ok(out)
}

/// The `value` objects of the body's `messages` changes, in body order.
fn message_values(root: &Map<String, Value>) -> Vec<&Value> {
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    entries
        .iter()
        .flat_map(|entry| list(entry, "changes"))
        .filter(|change| change.get("field").and_then(Value::as_str) == Some("messages"))
        .filter_map(|change| change.get("value").filter(|v| v.is_object()))
        .collect()
}

/// `value[key]` as a slice; empty when absent or not an array.
fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Whether `root` has more than `limit` levels, looked at one level at a time (no recursion).
fn deeper_than(root: &Value, limit: usize) -> bool {
    let mut level: Vec<&Value> = vec![root];
    for _ in 0..limit {
        level = level
            .into_iter()
            .flat_map(|v| -> Box<dyn Iterator<Item = &Value> + '_> {
                match v {
                    Value::Array(items) => Box::new(items.iter()),
                    Value::Object(map) => Box::new(map.values()),
                    _ => Box::new(std::iter::empty()),
                }
            })
            .collect();
        if level.is_empty() {
            return false;
        }
    }
    true
}

/// One message: its item and origin. Never fails: a message that cannot be read is
/// `update.unparsed`.
fn read_message(message: &Value, contacts: &[Value]) -> (Inbound, Origin) {
    let id = message.get("id").and_then(Value::as_str).filter(|s| !s.is_empty());
    let from = message.get("from").and_then(Value::as_str).filter(|s| !s.is_empty());
    let kind = message.get("type").and_then(Value::as_str);
    let update_id = match id {
        Some(id) => update_id_of(id),
        // Stable across Meta's redeliveries of the same body, so it is still recorded once.
        None => update_id_of(&format!("message without id: {message}")),
    };
    let mut item = Inbound {
        update_id,
        event_type: EventType::UpdateIgnored,
        chat_id: from.map(str::to_string),
        user: from.map(|wa_id| sender(wa_id, contacts)),
        choice: None,
        input: None,
        file: None,
        moved_to_chat: None,
        parse_error: None,
        message_id: id.map(str::to_string),
    };
    let read = if !message.is_object() {
        Err("message: must be an object".to_string())
    } else if id.is_none() {
        Err("message.id: missing or not a non-empty string".to_string())
    } else if from.is_none() {
        Err("message.from: missing or not a non-empty string".to_string())
    } else {
        match kind {
            None => Err("message.type: missing or not a string".to_string()),
            Some(kind) => read_kind(&mut item, kind, message),
        }
    };
    if let Err(reason) = read {
        item.event_type = EventType::UpdateUnparsed;
        item.choice = None;
        item.input = None;
        item.file = None;
        item.parse_error = Some(shorten(&reason, MAX_ERROR_CHARS));
    }
    let origin = Origin {
        message_id: id.unwrap_or_default().to_string(),
        phone_number_id: None,
        kind: kind.unwrap_or_default().to_string(),
    };
    (item, origin)
}

/// The sender, named by the change's `contacts` entry with the same `wa_id`.
fn sender(wa_id: &str, contacts: &[Value]) -> InboundUser {
    let name = contacts
        .iter()
        .find(|c| c.get("wa_id").and_then(Value::as_str) == Some(wa_id))
        .and_then(|c| c.get("profile"))
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str);
    InboundUser {
        id: ExternalId::Text(wa_id.to_string()),
        info: UserInfo {
            first_name: name.map(str::to_string),
            last_name: None,
            username: None,
        },
    }
}

/// The string at `path` below the message, or why there is none.
fn text_at<'a>(message: &'a Value, path: &[&str]) -> Result<&'a str, String> {
    let mut at = message;
    for key in path {
        at = at.get(key).unwrap_or(&Value::Null);
    }
    at.as_str()
        .ok_or_else(|| format!("message.{}: missing or not a string", path.join(".")))
}

/// The optional string `field` of `parent` (named `path` in errors): absent and `null` are
/// `None`, any other non-string is an error.
fn optional_text(parent: &Value, path: &str, field: &str) -> Result<Option<String>, String> {
    match parent.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("message.{path}.{field}: not a string")),
    }
}

fn read_kind(item: &mut Inbound, kind: &str, message: &Value) -> Result<(), String> {
    match kind {
        "text" => {
            let input = Input::from_text(text_at(message, &["text", "body"])?);
            item.event_type = match input {
                Input::Command { .. } => EventType::CommandReceived,
                _ => EventType::MessageReceived,
            };
            item.input = Some(input);
        }
        "interactive" => {
            let reply = text_at(message, &["interactive", "type"])?;
            // Flow answers (`nfm_reply`) and newer replies are nothing a scenario waits for.
            if matches!(reply, "button_reply" | "list_reply") {
                let value = text_at(message, &["interactive", reply, "id"])?;
                choose(item, message, value)?;
            }
        }
        "button" => {
            // A template's quick reply: the payload hookline set, else the label shown.
            let value = text_at(message, &["button", "payload"]).or_else(|_| text_at(message, &["button", "text"]))?;
            choose(item, message, value)?;
        }
        "image" | "document" | "audio" | "video" | "sticker" | "voice" => read_media(item, kind, message)?,
        "location" => {
            let coordinate = |field: &str, bound: f64| {
                message
                    .get("location")
                    .and_then(|l| l.get(field))
                    .and_then(Value::as_f64)
                    .filter(|x| x.abs() <= bound)
                    .ok_or_else(|| format!("message.location.{field}: missing or not a number within ±{bound}"))
            };
            item.input = Some(Input::Location {
                latitude: coordinate("latitude", 90.0)?,
                longitude: coordinate("longitude", 180.0)?,
            });
            item.event_type = EventType::MessageReceived;
        }
        "contacts" => {
            item.input = Some(read_contact(message)?);
            item.event_type = EventType::MessageReceived;
        }
        // reaction, unsupported, system, errors, order, request_welcome, newer kinds: recorded,
        // not acted on.
        _ => {}
    }
    Ok(())
}

/// A button choice: the value is the reply's id (what the renderer set from the button's
/// value); the choice names the bot's message that carried the buttons.
fn choose(item: &mut Inbound, message: &Value, value: &str) -> Result<(), String> {
    let context = message.get("context").unwrap_or(&Value::Null);
    let carrier = optional_text(context, "context", "id")?;
    item.event_type = EventType::CallbackReceived;
    item.input = Some(Input::Button(value.to_string()));
    item.choice = Some(Choice {
        id: None,
        message_id: carrier,
    });
    Ok(())
}

fn read_media(item: &mut Inbound, kind: &str, message: &Value) -> Result<(), String> {
    let media = message
        .get(kind)
        .filter(|m| m.is_object())
        .ok_or_else(|| format!("message.{kind}: missing or not an object"))?;
    let media_id = text_at(message, &[kind, "id"])?.to_string();
    let voice_note = media.get("voice").and_then(Value::as_bool) == Some(true);
    let media_kind = match kind {
        "image" => MediaKind::Photo,
        "video" => MediaKind::Video,
        "sticker" => MediaKind::Sticker,
        "voice" => MediaKind::Voice,
        "audio" if voice_note => MediaKind::Voice,
        "audio" => MediaKind::Audio,
        _ => MediaKind::Document,
    };
    let file = InboundFile {
        kind: media_kind,
        file_unique_id: optional_text(media, kind, "sha256")?.unwrap_or_else(|| media_id.clone()),
        file_id: media_id,
        file_name: optional_text(media, kind, "filename")?,
        mime_type: optional_text(media, kind, "mime_type")?,
        file_size: None,
        caption: optional_text(media, kind, "caption")?,
    };
    item.input = Some(Input::Media(MediaInput {
        kind: file.kind,
        media_id: None,
        file_name: file.file_name.clone(),
        content_type: file.mime_type.clone(),
        size: None,
        caption: file.caption.clone(),
        download_limit_kb: None,
    }));
    item.file = Some(file);
    item.event_type = EventType::MediaReceived;
    Ok(())
}

/// The first shared contact with a phone number.
fn read_contact(message: &Value) -> Result<Input, String> {
    let contact = list(message, "contacts")
        .first()
        .ok_or("message.contacts: missing or empty")?;
    let phone = list(contact, "phones")
        .iter()
        .find_map(|p| p.get("phone").or_else(|| p.get("wa_id")).and_then(Value::as_str))
        .ok_or("message.contacts[0].phones: no phone number")?;
    let name = contact.get("name").unwrap_or(&Value::Null);
    let first_name = optional_text(name, "contacts[0].name", "first_name")?;
    let first_name = match first_name {
        Some(n) => Some(n),
        None => optional_text(name, "contacts[0].name", "formatted_name")?,
    };
    Ok(Input::Contact {
        phone_number: phone.to_string(),
        first_name,
        // A Telegram user id; a WhatsApp contact's `wa_id` is its phone number.
        user_id: None,
    })
}

fn read_status(status: &Value, phone_number_id: &Option<String>) -> Option<StatusReceipt> {
    let message_id = status.get("id").and_then(Value::as_str).filter(|s| !s.is_empty())?;
    let recipient = status.get("recipient_id").and_then(Value::as_str)?;
    let error = list(status, "errors").first();
    Some(StatusReceipt {
        message_id: message_id.to_string(),
        recipient: recipient.to_string(),
        status: match status.get("status").and_then(Value::as_str) {
            Some("sent") => ReceiptStatus::Sent,
            Some("delivered") => ReceiptStatus::Delivered,
            Some("read") => ReceiptStatus::Read,
            Some("failed") => ReceiptStatus::Failed,
            _ => ReceiptStatus::Other,
        },
        // Meta writes Unix seconds as a string.
        timestamp: status.get("timestamp").and_then(|t| match t {
            Value::String(s) => s.parse().ok(),
            other => other.as_i64(),
        }),
        error_code: error.and_then(|e| e.get("code")).and_then(Value::as_i64),
        error_title: error
            .and_then(|e| e.get("title").or_else(|| e.get("message")))
            .and_then(Value::as_str)
            .map(|t| shorten(t, MAX_ERROR_CHARS)),
        phone_number_id: phone_number_id.clone(),
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
