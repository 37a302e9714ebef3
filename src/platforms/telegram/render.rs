//! Rendering an engine [`OutMessage`] into the Bot API calls that deliver it: pure, no I/O.
//!
//! The calls are plain serializable data so the outbox can store them and a worker can send
//! them later with [`super::api::BotApi::call`]. Media stays a [`MediaRef`] until the media
//! library resolves it (an alias to a stored file or a cached Telegram `file_id`).
//!
//! Rules (GET INN's, with its known bugs fixed):
//! - buttons form an inline keyboard, two per row in order; `callback_data` is the button value;
//! - no media: `sendMessage` (HTML), split at line boundaries past 4,096 characters, the keyboard
//!   on the last part;
//! - one media item: the text becomes its caption (joined with the item's own caption) and the
//!   keyboard is attached; past 1,024 characters the text goes first as its own message;
//! - several items: the text first, then albums in Telegram's allowed groupings (photos and videos
//!   together, documents together, audio together, at most 10 each; animations and voice notes
//!   alone), then the keyboard under a "👆" message.

use frankenstein::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use serde::{Deserialize, Serialize};

use crate::scenario::{Button, MediaItem, OutMessage};

/// Telegram's limit for a message's text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Telegram's limit for a media caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Telegram's limit for an album.
pub const MAX_ALBUM_ITEMS: usize = 10;
/// The message that carries the keyboard under an album.
pub const KEYBOARD_CARRIER_TEXT: &str = "👆";
/// Formatting mode of scenario texts.
pub const PARSE_MODE: &str = "HTML";

/// Escape a value interpolated into a [`PARSE_MODE`] text, so user input (`<b>x</b>`, a name
/// with a stray `<`) shows as written and cannot break or inject markup. `"` is escaped too, as
/// a value may land inside an attribute of the author's markup (`<a href="{{url}}">`).
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Where a file to send comes from. The media library resolves `Alias` (a scenario's `file_id`,
/// which may name a stored file or already be a Telegram file id) before sending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum MediaRef {
    Alias(String),
    /// A Telegram `file_id`, sent by reference.
    FileId(String),
    /// A stored file (`media_id`) whose bytes are uploaded.
    Upload {
        media_id: String,
    },
}

/// The Bot API method that sends one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaMethod {
    #[serde(rename = "sendPhoto")]
    Photo,
    #[serde(rename = "sendVideo")]
    Video,
    #[serde(rename = "sendAudio")]
    Audio,
    #[serde(rename = "sendDocument")]
    Document,
    #[serde(rename = "sendAnimation")]
    Animation,
    #[serde(rename = "sendVoice")]
    Voice,
}

impl MediaMethod {
    /// Scenario `type` → method; anything unknown is sent as a document.
    pub fn for_kind(kind: &str) -> Self {
        match kind.to_ascii_lowercase().as_str() {
            "image" | "photo" | "picture" => MediaMethod::Photo,
            "video" => MediaMethod::Video,
            "audio" | "music" => MediaMethod::Audio,
            "animation" | "gif" => MediaMethod::Animation,
            "voice" => MediaMethod::Voice,
            _ => MediaMethod::Document,
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            MediaMethod::Photo => "sendPhoto",
            MediaMethod::Video => "sendVideo",
            MediaMethod::Audio => "sendAudio",
            MediaMethod::Document => "sendDocument",
            MediaMethod::Animation => "sendAnimation",
            MediaMethod::Voice => "sendVoice",
        }
    }

    /// The request field that carries the file (`photo`, `video`, …).
    pub fn field(self) -> &'static str {
        match self {
            MediaMethod::Photo => "photo",
            MediaMethod::Video => "video",
            MediaMethod::Audio => "audio",
            MediaMethod::Document => "document",
            MediaMethod::Animation => "animation",
            MediaMethod::Voice => "voice",
        }
    }

    /// Which album an item may join; `None` for kinds Telegram never groups.
    fn album(self) -> Option<AlbumClass> {
        match self {
            MediaMethod::Photo | MediaMethod::Video => Some(AlbumClass::Visual),
            MediaMethod::Document => Some(AlbumClass::Document),
            MediaMethod::Audio => Some(AlbumClass::Audio),
            MediaMethod::Animation | MediaMethod::Voice => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AlbumClass {
    Visual,
    Document,
    Audio,
}

/// One item of `sendMediaGroup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumItem {
    /// `Photo`, `Video`, `Audio` or `Document`.
    pub kind: MediaMethod,
    pub media: MediaRef,
    pub caption: Option<String>,
}

/// A Bot API request, ready to be queued and sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum ApiCall {
    SendMessage {
        chat_id: i64,
        text: String,
        reply_markup: Option<InlineKeyboardMarkup>,
    },
    SendMedia {
        method: MediaMethod,
        chat_id: i64,
        media: MediaRef,
        caption: Option<String>,
        reply_markup: Option<InlineKeyboardMarkup>,
    },
    SendMediaGroup {
        chat_id: i64,
        items: Vec<AlbumItem>,
    },
    AnswerCallbackQuery {
        callback_query_id: String,
        text: Option<String>,
    },
    /// `reply_markup: None` removes the keyboard of a message whose button was pressed.
    EditMessageReplyMarkup {
        chat_id: i64,
        message_id: i64,
        reply_markup: Option<InlineKeyboardMarkup>,
    },
}

impl ApiCall {
    /// The Bot API method name.
    pub fn method(&self) -> &'static str {
        match self {
            ApiCall::SendMessage { .. } => "sendMessage",
            ApiCall::SendMedia { method, .. } => method.method(),
            ApiCall::SendMediaGroup { .. } => "sendMediaGroup",
            ApiCall::AnswerCallbackQuery { .. } => "answerCallbackQuery",
            ApiCall::EditMessageReplyMarkup { .. } => "editMessageReplyMarkup",
        }
    }

    /// The chat the call writes to (for rate limiting and `migrate_to_chat_id`).
    pub fn chat_id(&self) -> Option<i64> {
        match self {
            ApiCall::SendMessage { chat_id, .. }
            | ApiCall::SendMedia { chat_id, .. }
            | ApiCall::SendMediaGroup { chat_id, .. }
            | ApiCall::EditMessageReplyMarkup { chat_id, .. } => Some(*chat_id),
            ApiCall::AnswerCallbackQuery { .. } => None,
        }
    }

    /// Point the call at a new chat after a group became a supergroup.
    pub fn retarget(&mut self, new_chat_id: i64) {
        match self {
            ApiCall::SendMessage { chat_id, .. }
            | ApiCall::SendMedia { chat_id, .. }
            | ApiCall::SendMediaGroup { chat_id, .. }
            | ApiCall::EditMessageReplyMarkup { chat_id, .. } => *chat_id = new_chat_id,
            ApiCall::AnswerCallbackQuery { .. } => {}
        }
    }

    /// Whether the call counts against the per-chat message limits.
    pub fn is_message(&self) -> bool {
        !matches!(self, ApiCall::AnswerCallbackQuery { .. })
    }
}

/// Answer a pressed button so the client's spinner stops.
pub fn answer_callback(callback_query_id: &str, text: Option<String>) -> ApiCall {
    ApiCall::AnswerCallbackQuery {
        callback_query_id: callback_query_id.to_string(),
        text,
    }
}

/// Remove the keyboard of the message whose button was pressed, so old buttons cannot be
/// pressed again.
pub fn remove_keyboard(chat_id: i64, message_id: i64) -> ApiCall {
    ApiCall::EditMessageReplyMarkup {
        chat_id,
        message_id,
        reply_markup: None,
    }
}

/// Two buttons per row, in order; `None` without buttons.
pub fn keyboard(buttons: &[Button]) -> Option<InlineKeyboardMarkup> {
    if buttons.is_empty() {
        return None;
    }
    let rows: Vec<Vec<InlineKeyboardButton>> = buttons
        .chunks(2)
        .map(|row| {
            row.iter()
                .map(|b| {
                    InlineKeyboardButton::builder()
                        .text(b.text.clone())
                        .callback_data(b.value.clone())
                        .build()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    Some(InlineKeyboardMarkup::builder().inline_keyboard(rows).build())
}

/// The calls that deliver `msg` to `chat_id`, in order.
pub fn render(chat_id: i64, msg: &OutMessage) -> Vec<ApiCall> {
    let markup = keyboard(&msg.buttons);
    let mut calls = Vec::new();
    match msg.media.as_slice() {
        [] => push_text(&mut calls, chat_id, &msg.text, markup),
        [item] => render_single(&mut calls, chat_id, &msg.text, item, markup),
        items => {
            push_text(&mut calls, chat_id, &msg.text, None);
            push_albums(&mut calls, chat_id, items);
            if markup.is_some() {
                push_text(&mut calls, chat_id, KEYBOARD_CARRIER_TEXT, markup);
            }
        }
    }
    calls
}

fn render_single(
    calls: &mut Vec<ApiCall>,
    chat_id: i64,
    text: &str,
    item: &MediaItem,
    markup: Option<InlineKeyboardMarkup>,
) {
    let own = item.caption.as_deref().filter(|c| !c.trim().is_empty());
    let text = text.trim_end();
    let combined = match own {
        Some(own) if !text.is_empty() => format!("{text}\n\n{own}"),
        Some(own) => own.to_string(),
        None => text.to_string(),
    };
    let caption = if combined.chars().count() <= MAX_CAPTION_CHARS {
        combined
    } else {
        push_text(calls, chat_id, text, None);
        own.map(|c| truncate_chars(c, MAX_CAPTION_CHARS)).unwrap_or_default()
    };
    calls.push(ApiCall::SendMedia {
        method: MediaMethod::for_kind(&item.kind),
        chat_id,
        media: MediaRef::Alias(item.file_id.clone()),
        caption: (!caption.is_empty()).then_some(caption),
        reply_markup: markup,
    });
}

fn push_albums(calls: &mut Vec<ApiCall>, chat_id: i64, items: &[MediaItem]) {
    let mut album: Vec<AlbumItem> = Vec::new();
    let mut class = None;
    let flush = |calls: &mut Vec<ApiCall>, album: &mut Vec<AlbumItem>| match album.len() {
        0 => {}
        // sendMediaGroup needs at least two items.
        1 => {
            let one = album.remove(0);
            calls.push(ApiCall::SendMedia {
                method: one.kind,
                chat_id,
                media: one.media,
                caption: one.caption,
                reply_markup: None,
            });
        }
        _ => calls.push(ApiCall::SendMediaGroup {
            chat_id,
            items: std::mem::take(album),
        }),
    };
    for item in items {
        let method = MediaMethod::for_kind(&item.kind);
        let caption = item
            .caption
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| truncate_chars(c, MAX_CAPTION_CHARS));
        let this = method.album();
        if this.is_none() || this != class || album.len() == MAX_ALBUM_ITEMS {
            flush(calls, &mut album);
        }
        class = this;
        let entry = AlbumItem {
            kind: method,
            media: MediaRef::Alias(item.file_id.clone()),
            caption,
        };
        if this.is_some() {
            album.push(entry);
        } else {
            calls.push(ApiCall::SendMedia {
                method,
                chat_id,
                media: entry.media,
                caption: entry.caption,
                reply_markup: None,
            });
        }
    }
    flush(calls, &mut album);
}

/// `sendMessage` calls for `text` (nothing when it is blank), the keyboard on the last one. A
/// keyboard with blank text still needs a message to hang on, so it gets the carrier text.
fn push_text(calls: &mut Vec<ApiCall>, chat_id: i64, text: &str, markup: Option<InlineKeyboardMarkup>) {
    let text = if text.trim().is_empty() {
        if markup.is_none() {
            return;
        }
        KEYBOARD_CARRIER_TEXT
    } else {
        text
    };
    let mut parts = split_text(text, MAX_TEXT_CHARS);
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        calls.push(ApiCall::SendMessage {
            chat_id,
            text: part,
            reply_markup: None,
        });
    }
    calls.push(ApiCall::SendMessage {
        chat_id,
        text: last,
        reply_markup: markup,
    });
}

/// Split `text` into parts of at most `max` characters, at line boundaries where possible, else
/// at a space, else anywhere (between characters).
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        // Byte index just past the `max`-th character.
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..limit];
        let cut = window
            .rfind('\n')
            .filter(|&i| i > 0)
            .map(|i| (i, i + 1))
            .or_else(|| window.rfind(' ').filter(|&i| i > 0).map(|i| (i, i + 1)))
            .unwrap_or((limit, limit));
        parts.push(rest[..cut.0].to_string());
        rest = &rest[cut.1..];
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
