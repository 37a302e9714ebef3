//! Rendering an engine [`OutMessage`] into Cloud API message bodies (`POST
//! /{phone_number_id}/messages`): pure, deterministic, no I/O.
//!
//! Rules, within the Cloud API's limits:
//! - text: a `text` message, split at a line (else a space) past 4,096 characters;
//! - 1–3 buttons: an `interactive` `button` message (reply buttons: title ≤ 20 characters,
//!   id = the button's value, ≤ 256); 4–10: an `interactive` `list` (row title ≤ 24, the full
//!   label as its description ≤ 72 when the title had to be shortened, id ≤ 200); more than 10:
//!   the labels as a numbered list under the text, since WhatsApp has no larger picker. Labels
//!   too long end in "…"; ids too long are cut (the choice then arrives cut, see the parser);
//! - an interactive body holds at most 1,024 characters: a longer (or blank) text goes first as
//!   text messages and the buttons hang under a "👆";
//! - one media item: the text becomes its caption (joined with the item's own) when the kind
//!   takes captions (image, video, document) and it fits 1,024 characters; otherwise the text
//!   goes first. Several items: the text first, then one message per item with its own caption.
//!   Buttons come last, under a "👆".
//!
//! A media item's `file_id` that is an `http(s)` URL is sent as `link`; anything else as `id`,
//! which the sender must resolve (a media alias → an uploaded WhatsApp media id) before sending.

use serde_json::{Value, json};

use super::shorten;
use crate::platforms::telegram::render::{KEYBOARD_CARRIER_TEXT, MediaMethod, split_text};
use crate::scenario::{Button, MediaItem, OutMessage};

/// The Cloud API's limit for a text message body, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The limit for a media caption and for an interactive message's body.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Reply buttons one interactive message may carry.
pub const MAX_REPLY_BUTTONS: usize = 3;
/// Rows one list message may carry (over all its sections).
pub const MAX_LIST_ROWS: usize = 10;
/// The label of the button that opens a list (≤ 20 characters).
pub const LIST_BUTTON_TEXT: &str = "Choose";
const MAX_BUTTON_TITLE: usize = 20;
const MAX_BUTTON_ID: usize = 256;
const MAX_ROW_TITLE: usize = 24;
const MAX_ROW_DESCRIPTION: usize = 72;
const MAX_ROW_ID: usize = 200;

/// How a message's buttons are offered.
enum Choices {
    None,
    /// The `interactive` object without its body.
    Interactive(Value),
    /// More buttons than a list holds: a numbered list of the labels, to go under the text.
    Numbered(String),
}

impl Choices {
    fn of(buttons: &[Button]) -> Choices {
        match buttons.len() {
            0 => Choices::None,
            1..=MAX_REPLY_BUTTONS => Choices::Interactive(json!({
                "type": "button",
                "action": {"buttons": buttons.iter().map(|b| json!({
                    "type": "reply",
                    "reply": {"id": cut(&b.value, MAX_BUTTON_ID), "title": shorten(&b.text, MAX_BUTTON_TITLE)},
                })).collect::<Vec<_>>()},
            })),
            n if n <= MAX_LIST_ROWS => Choices::Interactive(json!({
                "type": "list",
                "action": {
                    "button": LIST_BUTTON_TEXT,
                    "sections": [{"rows": buttons.iter().map(list_row).collect::<Vec<_>>()}],
                },
            })),
            _ => Choices::Numbered(
                buttons
                    .iter()
                    .enumerate()
                    .map(|(i, b)| format!("{}. {}", i + 1, b.text))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        }
    }
}

fn list_row(button: &Button) -> Value {
    let mut row = json!({"id": cut(&button.value, MAX_ROW_ID), "title": shorten(&button.text, MAX_ROW_TITLE)});
    if button.text.chars().count() > MAX_ROW_TITLE {
        row["description"] = json!(shorten(&button.text, MAX_ROW_DESCRIPTION));
    }
    row
}

/// `s`'s first `max` characters, without a mark: ids must stay prefixes of the value.
fn cut(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}

/// The message bodies that deliver `msg` to the user `to` (a `wa_id`), in order.
pub fn render(to: &str, msg: &OutMessage) -> Vec<Value> {
    let mut out = Vec::new();
    let choices = Choices::of(&msg.buttons);
    match msg.media.as_slice() {
        [] => push_with_choices(&mut out, to, &msg.text, choices),
        [item] => {
            render_single(&mut out, to, &msg.text, item);
            push_with_choices(&mut out, to, "", choices);
        }
        items => {
            push_text(&mut out, to, &msg.text);
            for item in items {
                let own = item.caption.as_deref().unwrap_or_default();
                out.push(media_message(to, item, &shorten(own.trim(), MAX_CAPTION_CHARS)));
            }
            push_with_choices(&mut out, to, "", choices);
        }
    }
    out
}

/// Mark a user's message read (shows the blue ticks): `POST /{phone_number_id}/messages`.
pub fn mark_read(message_id: &str) -> Value {
    json!({"messaging_product": "whatsapp", "status": "read", "message_id": message_id})
}

fn envelope(to: &str, kind: &str, content: Value) -> Value {
    let mut message = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
    });
    message[kind] = content;
    message
}

/// Text messages for `text`; nothing when it is blank.
fn push_text(out: &mut Vec<Value>, to: &str, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    for part in split_text(text, MAX_TEXT_CHARS) {
        out.push(envelope(to, "text", json!({"body": part, "preview_url": false})));
    }
}

/// `text` with the buttons: in the interactive body when it fits, else before it.
fn push_with_choices(out: &mut Vec<Value>, to: &str, text: &str, choices: Choices) {
    match choices {
        Choices::None => push_text(out, to, text),
        Choices::Numbered(list) if text.trim().is_empty() => push_text(out, to, &list),
        Choices::Numbered(list) => push_text(out, to, &format!("{}\n\n{list}", text.trim_end())),
        Choices::Interactive(mut interactive) => {
            let fits = !text.trim().is_empty() && text.chars().count() <= MAX_CAPTION_CHARS;
            let body = if fits {
                text
            } else {
                push_text(out, to, text);
                KEYBOARD_CARRIER_TEXT
            };
            interactive["body"] = json!({"text": body});
            out.push(envelope(to, "interactive", interactive));
        }
    }
}

/// The Cloud API message type for a scenario media `type`; anything unknown is a document.
fn media_type(kind: &str) -> &'static str {
    if kind.eq_ignore_ascii_case("sticker") {
        return "sticker";
    }
    match MediaMethod::for_kind(kind) {
        MediaMethod::Photo => "image",
        MediaMethod::Video => "video",
        MediaMethod::Audio | MediaMethod::Voice => "audio",
        // WhatsApp has no animation type and a GIF is no valid `video`: a document always goes.
        MediaMethod::Animation | MediaMethod::Document => "document",
    }
}

fn takes_caption(media_type: &str) -> bool {
    matches!(media_type, "image" | "video" | "document")
}

/// One media message; `caption` is dropped when blank or when the type takes none.
fn media_message(to: &str, item: &MediaItem, caption: &str) -> Value {
    let kind = media_type(&item.kind);
    let source = if item.file_id.starts_with("https://") || item.file_id.starts_with("http://") {
        "link"
    } else {
        "id"
    };
    let mut content = json!({ source: item.file_id });
    if takes_caption(kind) && !caption.trim().is_empty() {
        content["caption"] = json!(caption);
    }
    envelope(to, kind, content)
}

/// One item with the text as its caption when it fits, else the text first.
fn render_single(out: &mut Vec<Value>, to: &str, text: &str, item: &MediaItem) {
    let own = item.caption.as_deref().map(str::trim).unwrap_or_default();
    let parts: Vec<&str> = [text.trim(), own].into_iter().filter(|p| !p.is_empty()).collect();
    let joined = parts.join("\n\n");
    if takes_caption(media_type(&item.kind)) && joined.chars().count() <= MAX_CAPTION_CHARS {
        out.push(media_message(to, item, &joined));
    } else {
        push_text(out, to, text);
        out.push(media_message(to, item, &shorten(own, MAX_CAPTION_CHARS)));
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
