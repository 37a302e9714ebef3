use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn button(n: usize) -> Button {
    Button {
        text: format!("B{n}"),
        value: format!("v{n}"),
    }
}

fn item(kind: &str, id: &str) -> MediaItem {
    MediaItem {
        kind: kind.into(),
        file_id: id.into(),
        caption: None,
    }
}

fn msg(text: &str, media: Vec<MediaItem>, buttons: usize) -> OutMessage {
    OutMessage {
        text: text.into(),
        media,
        buttons: (1..=buttons).map(button).collect(),
    }
}

/// A compact view of the calls: method, text/caption, file refs, keyboard labels.
fn view(calls: &[ApiCall]) -> Vec<Value> {
    calls
        .iter()
        .map(|c| match c {
            ApiCall::SendMessage { text, reply_markup, .. } => json!(["sendMessage", text, kb(reply_markup)]),
            ApiCall::SendMedia {
                method,
                media,
                caption,
                reply_markup,
                ..
            } => json!([method.method(), alias(media), caption, kb(reply_markup)]),
            ApiCall::SendMediaGroup { items, .. } => {
                json!([
                    "sendMediaGroup",
                    items
                        .iter()
                        .map(|i| json!([i.kind.field(), alias(&i.media)]))
                        .collect::<Vec<_>>()
                ])
            }
            other => json!([other.method()]),
        })
        .collect()
}

fn alias(m: &MediaRef) -> String {
    match m {
        MediaRef::Alias(a) | MediaRef::FileId(a) => a.clone(),
        MediaRef::Upload { media_id } => media_id.clone(),
    }
}

fn kb(markup: &Option<InlineKeyboardMarkup>) -> Value {
    match markup {
        None => Value::Null,
        Some(m) => json!(
            serde_json::to_value(m).unwrap()["inline_keyboard"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["text"].clone())
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
        ),
    }
}

#[test]
fn keyboard_is_two_per_row_with_values_as_callback_data() {
    let markup = keyboard(&(1..=5).map(button).collect::<Vec<_>>()).unwrap();
    assert_eq!(
        serde_json::to_value(&markup).unwrap(),
        json!({"inline_keyboard": [
            [{"text": "B1", "callback_data": "v1"}, {"text": "B2", "callback_data": "v2"}],
            [{"text": "B3", "callback_data": "v3"}, {"text": "B4", "callback_data": "v4"}],
            [{"text": "B5", "callback_data": "v5"}]
        ]})
    );
    assert!(keyboard(&[]).is_none());
}

#[test]
fn rendering_table() {
    let long_caption = "c".repeat(MAX_CAPTION_CHARS + 1);
    let cases: Vec<(&str, OutMessage, Value)> = vec![
        ("text only", msg("Hi", vec![], 0), json!([["sendMessage", "Hi", null]])),
        (
            "text + buttons",
            msg("Pick", vec![], 3),
            json!([["sendMessage", "Pick", [["B1", "B2"], ["B3"]]]]),
        ),
        ("nothing", msg("  ", vec![], 0), json!([])),
        (
            "buttons, blank text",
            msg("", vec![], 1),
            json!([["sendMessage", "👆", [["B1"]]]]),
        ),
        (
            "one photo takes the text as caption and the keyboard",
            msg("Look", vec![item("image", "cat")], 2),
            json!([["sendPhoto", "cat", "Look", [["B1", "B2"]]]]),
        ),
        (
            "one media without text",
            msg("", vec![item("video", "v")], 0),
            json!([["sendVideo", "v", null, null]]),
        ),
        (
            "text over 1,024 goes first",
            msg(&long_caption, vec![item("document", "d")], 1),
            json!([
                ["sendMessage", long_caption, null],
                ["sendDocument", "d", null, [["B1"]]]
            ]),
        ),
        (
            "album of photos and videos, text first, keyboard after",
            msg(
                "Gallery",
                vec![item("image", "p1"), item("video", "v1"), item("photo", "p2")],
                2,
            ),
            json!([
                ["sendMessage", "Gallery", null],
                ["sendMediaGroup", [["photo", "p1"], ["video", "v1"], ["photo", "p2"]]],
                ["sendMessage", "👆", [["B1", "B2"]]]
            ]),
        ),
        (
            "mixed kinds split into allowed groups",
            msg(
                "",
                vec![
                    item("image", "p1"),
                    item("image", "p2"),
                    item("document", "d1"),
                    item("document", "d2"),
                    item("audio", "a1"),
                    item("animation", "g1"),
                    item("image", "p3"),
                ],
                0,
            ),
            json!([
                ["sendMediaGroup", [["photo", "p1"], ["photo", "p2"]]],
                ["sendMediaGroup", [["document", "d1"], ["document", "d2"]]],
                ["sendAudio", "a1", null, null],
                ["sendAnimation", "g1", null, null],
                ["sendPhoto", "p3", null, null]
            ]),
        ),
        (
            "unknown kinds are documents",
            msg("", vec![item("spreadsheet", "x"), item("pdf", "y")], 0),
            json!([["sendMediaGroup", [["document", "x"], ["document", "y"]]]]),
        ),
    ];
    for (name, m, want) in cases {
        assert_eq!(Value::Array(view(&render(5, &m))), want, "{name}");
    }
}

#[test]
fn albums_hold_at_most_ten() {
    let items = (0..23).map(|i| item("image", &format!("p{i}"))).collect();
    let calls = render(5, &msg("", items, 0));
    let sizes: Vec<usize> = calls
        .iter()
        .map(|c| match c {
            ApiCall::SendMediaGroup { items, .. } => items.len(),
            _ => 1,
        })
        .collect();
    assert_eq!(sizes, vec![10, 10, 3]);
}

#[test]
fn item_captions_join_the_text_and_are_capped() {
    let mut one = item("image", "p");
    one.caption = Some("credit: Bob".into());
    let calls = render(5, &msg("Title", vec![one.clone()], 0));
    assert!(matches!(&calls[0], ApiCall::SendMedia { caption: Some(c), .. } if c == "Title\n\ncredit: Bob"));
    one.caption = Some("z".repeat(5000));
    let calls = render(5, &msg("Title", vec![one.clone(), one], 0));
    match &calls[1] {
        ApiCall::SendMediaGroup { items, .. } => {
            assert!(
                items
                    .iter()
                    .all(|i| i.caption.as_ref().unwrap().chars().count() == MAX_CAPTION_CHARS)
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_text_splits_at_lines_and_keeps_the_keyboard_last() {
    let line = "x".repeat(1000);
    let text = [line.as_str(); 9].join("\n");
    let calls = render(5, &msg(&text, vec![], 1));
    let texts: Vec<(usize, bool)> = calls
        .iter()
        .map(|c| match c {
            ApiCall::SendMessage { text, reply_markup, .. } => (text.chars().count(), reply_markup.is_some()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, vec![(4003, false), (4003, false), (1000, true)]);
}

#[test]
fn split_text_falls_back_to_spaces_then_characters() {
    assert_eq!(split_text("aaa bbb", 5), vec!["aaa", "bbb"]);
    assert_eq!(split_text("abcdefg", 3), vec!["abc", "def", "g"]);
    assert_eq!(split_text("ééééé", 2), vec!["éé", "éé", "é"]);
    assert_eq!(split_text("", 3), vec![""]);
}

#[test]
fn helpers_and_serialization_round_trip() {
    let calls = vec![
        answer_callback("cb", None),
        remove_keyboard(5, 77),
        render(5, &msg("x", vec![item("image", "p"), item("image", "q")], 1)).remove(1),
    ];
    for call in calls {
        let json = serde_json::to_string(&call).unwrap();
        assert_eq!(serde_json::from_str::<ApiCall>(&json).unwrap(), call);
    }
    assert_eq!(remove_keyboard(5, 77).method(), "editMessageReplyMarkup");
    let mut c = render(5, &msg("x", vec![], 0)).remove(0);
    c.retarget(-100777);
    assert_eq!(c.chat_id(), Some(-100777));
}

proptest! {
    /// Every part fits, and joining the parts loses only the separators split on.
    #[test]
    fn split_parts_fit(text in "[a-zé \n]{0,300}", max in 1usize..50) {
        let parts = split_text(&text, max);
        prop_assert!(parts.iter().all(|p| p.chars().count() <= max));
        let kept: usize = parts.iter().map(|p| p.chars().count()).sum();
        prop_assert!(text.chars().count() - kept <= parts.len().saturating_sub(1));
    }

    /// No call exceeds Telegram's limits, whatever the message.
    #[test]
    fn rendered_calls_respect_limits(text_len in 0usize..9000, kinds in proptest::collection::vec(0usize..6, 0..25), buttons in 0usize..7) {
        let names = ["image", "video", "audio", "document", "animation", "voice"];
        let media = kinds.iter().enumerate().map(|(i, k)| item(names[*k], &format!("f{i}"))).collect();
        let calls = render(1, &msg(&"w ".repeat(text_len / 2), media, buttons));
        for call in &calls {
            match call {
                ApiCall::SendMessage { text, .. } => prop_assert!(text.chars().count() <= MAX_TEXT_CHARS && !text.is_empty()),
                ApiCall::SendMedia { caption, .. } => prop_assert!(caption.as_ref().is_none_or(|c| c.chars().count() <= MAX_CAPTION_CHARS)),
                ApiCall::SendMediaGroup { items, .. } => prop_assert!((2..=MAX_ALBUM_ITEMS).contains(&items.len())),
                _ => {}
            }
        }
        let with_keyboard = calls.iter().filter(|c| matches!(c,
            ApiCall::SendMessage { reply_markup: Some(_), .. } | ApiCall::SendMedia { reply_markup: Some(_), .. })).count();
        prop_assert_eq!(with_keyboard, usize::from(buttons > 0));
    }
}
