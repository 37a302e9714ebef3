//! Sending what can be sent when some media cannot: Telegram refused a reference that names no
//! file of the bot's library (an alias never uploaded, a stale file id). The text and the buttons
//! must still reach the user — a message is never silently dropped for a missing picture.

use std::collections::HashSet;

use super::render::{AlbumItem, ApiCall, KEYBOARD_CARRIER_TEXT, MediaRef};

fn names(media: &MediaRef, missing: &HashSet<String>) -> bool {
    match media {
        MediaRef::Alias(r) | MediaRef::FileId(r) => missing.contains(r),
        MediaRef::Upload { .. } => false,
    }
}

/// `call` without the media items whose references are in `missing`. A single file becomes a
/// text message carrying its caption and keyboard; an album keeps its other items (one left is
/// sent alone). `None` when nothing is left to send.
pub fn without_media(call: &ApiCall, missing: &HashSet<String>) -> Option<ApiCall> {
    match call {
        ApiCall::SendMedia {
            chat_id,
            media,
            caption,
            reply_markup,
            ..
        } if names(media, missing) => {
            let text = caption.clone().filter(|c| !c.trim().is_empty());
            match (text, reply_markup) {
                (None, None) => None,
                (text, markup) => Some(ApiCall::SendMessage {
                    chat_id: *chat_id,
                    text: text.unwrap_or_else(|| KEYBOARD_CARRIER_TEXT.to_string()),
                    reply_markup: markup.clone(),
                }),
            }
        }
        ApiCall::SendMediaGroup { chat_id, items } => {
            let mut kept: Vec<AlbumItem> = items.iter().filter(|i| !names(&i.media, missing)).cloned().collect();
            match kept.len() {
                0 => None,
                1 => {
                    let one = kept.remove(0);
                    Some(ApiCall::SendMedia {
                        method: one.kind,
                        chat_id: *chat_id,
                        media: one.media,
                        caption: one.caption,
                        reply_markup: None,
                    })
                }
                _ => Some(ApiCall::SendMediaGroup {
                    chat_id: *chat_id,
                    items: kept,
                }),
            }
        }
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::telegram::render::{MediaMethod, keyboard};
    use crate::scenario::Button;

    fn missing(refs: &[&str]) -> HashSet<String> {
        refs.iter().map(|r| r.to_string()).collect()
    }

    fn photo(r: &str, caption: Option<&str>, with_buttons: bool) -> ApiCall {
        ApiCall::SendMedia {
            method: MediaMethod::Photo,
            chat_id: 7,
            media: MediaRef::FileId(r.into()),
            caption: caption.map(str::to_string),
            reply_markup: with_buttons
                .then(|| {
                    keyboard(&[Button {
                        text: "Go".into(),
                        value: "go".into(),
                    }])
                })
                .flatten(),
        }
    }

    fn item(r: &str) -> AlbumItem {
        AlbumItem {
            kind: MediaMethod::Photo,
            media: MediaRef::FileId(r.into()),
            caption: None,
        }
    }

    #[test]
    fn a_missing_single_file_leaves_its_caption_and_buttons() {
        let degraded = without_media(&photo("menu_jpg", Some("Our menu"), true), &missing(&["menu_jpg"]));
        let Some(ApiCall::SendMessage { text, reply_markup, .. }) = degraded else {
            panic!("{degraded:?}")
        };
        assert_eq!(text, "Our menu");
        assert!(reply_markup.is_some(), "the buttons stay");
        let degraded = without_media(&photo("menu_jpg", None, true), &missing(&["menu_jpg"]));
        assert!(
            matches!(degraded, Some(ApiCall::SendMessage { ref text, .. }) if text == KEYBOARD_CARRIER_TEXT),
            "{degraded:?}"
        );
        assert_eq!(
            without_media(&photo("menu_jpg", None, false), &missing(&["menu_jpg"])),
            None
        );
    }

    #[test]
    fn other_files_and_calls_are_untouched() {
        let call = photo("present", Some("x"), false);
        assert_eq!(without_media(&call, &missing(&["menu_jpg"])), Some(call));
        let text = ApiCall::SendMessage {
            chat_id: 7,
            text: "hi".into(),
            reply_markup: None,
        };
        assert_eq!(without_media(&text, &missing(&["hi"])), Some(text));
    }

    #[test]
    fn an_album_loses_only_the_missing_items() {
        let album = ApiCall::SendMediaGroup {
            chat_id: 7,
            items: vec![item("a"), item("gone"), item("b")],
        };
        let Some(ApiCall::SendMediaGroup { items, .. }) = without_media(&album, &missing(&["gone"])) else {
            panic!()
        };
        assert_eq!(items, vec![item("a"), item("b")]);
        assert!(matches!(
            without_media(&album, &missing(&["gone", "b"])),
            Some(ApiCall::SendMedia { media: MediaRef::FileId(ref r), .. }) if r == "a"
        ));
        assert_eq!(without_media(&album, &missing(&["a", "gone", "b"])), None);
    }
}
