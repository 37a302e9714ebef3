use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const TO: &str = "16505551234";

fn buttons(n: usize) -> Vec<Button> {
    (1..=n)
        .map(|i| Button {
            text: format!("Option {i}"),
            value: format!("opt_{i}"),
        })
        .collect()
}

fn with_buttons(text: &str, buttons: Vec<Button>) -> OutMessage {
    OutMessage {
        text: text.into(),
        buttons,
        ..OutMessage::default()
    }
}

fn item(kind: &str, file_id: &str, caption: Option<&str>) -> MediaItem {
    MediaItem {
        kind: kind.into(),
        file_id: file_id.into(),
        caption: caption.map(str::to_string),
    }
}

fn text_message(body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "type": "text",
        "text": {"body": body, "preview_url": false},
    })
}

fn types(calls: &[Value]) -> Vec<&str> {
    calls.iter().map(|c| c["type"].as_str().unwrap()).collect()
}

#[test]
fn plain_text_is_one_text_message() {
    assert_eq!(
        render(TO, &OutMessage::text("Hello, Sheena!")),
        vec![text_message("Hello, Sheena!")]
    );
}

#[test]
fn nothing_to_say_sends_nothing() {
    assert!(render(TO, &OutMessage::text("  \n")).is_empty());
}

#[test]
fn long_text_is_split_at_line_boundaries() {
    let line = "x".repeat(99);
    let text = vec![line.as_str(); 60].join("\n"); // 60 lines of 100 characters with the breaks
    let calls = render(TO, &OutMessage::text(&text));
    assert_eq!(calls.len(), 2);
    let bodies: Vec<&str> = calls.iter().map(|c| c["text"]["body"].as_str().unwrap()).collect();
    assert!(bodies.iter().all(|b| b.chars().count() <= MAX_TEXT_CHARS));
    assert!(bodies[0].ends_with('x'), "cut at a line break, not inside a line");
    assert_eq!(bodies.join("\n"), text);
}

#[test]
fn two_buttons_are_reply_buttons_under_the_text() {
    let calls = render(TO, &with_buttons("Pick a size", buttons(2)));
    assert_eq!(
        calls,
        vec![json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Pick a size"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "opt_1", "title": "Option 1"}},
                    {"type": "reply", "reply": {"id": "opt_2", "title": "Option 2"}},
                ]},
            },
        })]
    );
}

#[test]
fn five_buttons_are_a_list() {
    let calls = render(TO, &with_buttons("Pick a slot", buttons(5)));
    assert_eq!(types(&calls), ["interactive"]);
    let interactive = &calls[0]["interactive"];
    assert_eq!(interactive["type"], "list");
    assert_eq!(interactive["body"]["text"], "Pick a slot");
    assert_eq!(interactive["action"]["button"], LIST_BUTTON_TEXT);
    let rows = interactive["action"]["sections"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[4], json!({"id": "opt_5", "title": "Option 5"}));
}

#[test]
fn twelve_buttons_are_a_numbered_list_under_the_text() {
    let calls = render(TO, &with_buttons("Pick a city", buttons(12)));
    assert_eq!(types(&calls), ["text"]);
    let body = calls[0]["text"]["body"].as_str().unwrap();
    assert!(body.starts_with("Pick a city\n\n1. Option 1\n2. Option 2\n"), "{body}");
    assert!(body.ends_with("\n12. Option 12"), "{body}");
    let alone = render(TO, &with_buttons("", buttons(11)));
    assert!(alone[0]["text"]["body"].as_str().unwrap().starts_with("1. Option 1\n"));
}

#[test]
fn zero_buttons_add_nothing_interactive() {
    let calls = render(TO, &with_buttons("Just text", Vec::new()));
    assert_eq!(types(&calls), ["text"]);
}

#[test]
fn long_labels_are_shortened_and_long_values_cut() {
    let label = "Deliver to my office address please";
    let value = "v".repeat(300);
    let one = vec![Button {
        text: label.into(),
        value: value.clone(),
    }];
    let calls = render(TO, &with_buttons("Where?", one));
    let reply = &calls[0]["interactive"]["action"]["buttons"][0]["reply"];
    assert_eq!(reply["title"], "Deliver to my offic…");
    assert_eq!(reply["title"].as_str().unwrap().chars().count(), 20);
    assert_eq!(reply["id"].as_str().unwrap(), &value[..256]);

    let mut many = buttons(4);
    many[0].text = label.into();
    let calls = render(TO, &with_buttons("Where?", many));
    let rows = &calls[0]["interactive"]["action"]["sections"][0]["rows"];
    assert_eq!(rows[0]["title"], "Deliver to my office ad…");
    assert_eq!(rows[0]["description"], label);
    assert!(rows[1].get("description").is_none());
    let longer = "a".repeat(100);
    let mut many = buttons(4);
    many[0].text = longer.clone();
    many[0].value = longer.clone();
    let calls = render(TO, &with_buttons("Where?", many));
    let row = &calls[0]["interactive"]["action"]["sections"][0]["rows"][0];
    assert_eq!(row["description"].as_str().unwrap().chars().count(), 72);
    assert!(row["description"].as_str().unwrap().ends_with('…'));
    assert_eq!(row["id"].as_str().unwrap(), &longer[..100]);
}

#[test]
fn a_text_too_long_for_an_interactive_body_goes_first() {
    let text = "y".repeat(MAX_CAPTION_CHARS + 1);
    let calls = render(TO, &with_buttons(&text, buttons(2)));
    assert_eq!(types(&calls), ["text", "interactive"]);
    assert_eq!(calls[0], text_message(&text));
    assert_eq!(calls[1]["interactive"]["body"]["text"], KEYBOARD_CARRIER_TEXT);
    let blank = render(TO, &with_buttons(" ", buttons(2)));
    assert_eq!(types(&blank), ["interactive"]);
    assert_eq!(blank[0]["interactive"]["body"]["text"], KEYBOARD_CARRIER_TEXT);
}

#[test]
fn one_media_item_takes_the_text_as_caption() {
    let msg = OutMessage {
        text: "Your receipt".into(),
        media: vec![item("image", "https://cdn.example.com/r.png", Some("Order 42"))],
        buttons: Vec::new(),
    };
    assert_eq!(
        render(TO, &msg),
        vec![json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "type": "image",
            "image": {"link": "https://cdn.example.com/r.png", "caption": "Your receipt\n\nOrder 42"},
        })]
    );
}

#[test]
fn one_media_item_with_a_long_text_or_no_caption_support_sends_the_text_first() {
    let long = "z".repeat(MAX_CAPTION_CHARS + 1);
    let msg = OutMessage {
        text: long.clone(),
        media: vec![item("document", "8872145", Some("invoice"))],
        buttons: buttons(1),
    };
    let calls = render(TO, &msg);
    assert_eq!(types(&calls), ["text", "document", "interactive"]);
    assert_eq!(calls[0], text_message(&long));
    assert_eq!(calls[1]["document"], json!({"id": "8872145", "caption": "invoice"}));
    assert_eq!(calls[2]["interactive"]["body"]["text"], KEYBOARD_CARRIER_TEXT);

    let audio = OutMessage {
        text: "Listen".into(),
        media: vec![item("audio", "555", Some("ignored"))],
        buttons: Vec::new(),
    };
    let calls = render(TO, &audio);
    assert_eq!(types(&calls), ["text", "audio"]);
    assert_eq!(calls[1]["audio"], json!({"id": "555"}));
}

#[test]
fn several_media_items_are_one_message_each_after_the_text() {
    let msg = OutMessage {
        text: "Our menu".into(),
        media: vec![
            item("photo", "https://cdn.example.com/a.jpg", Some("Starters")),
            item("video", "777", None),
            item("voice", "778", Some("no caption on audio")),
            item("sticker", "779", None),
            item("gif", "780", None),
            item("something-new", "781", Some("  ")),
        ],
        buttons: buttons(2),
    };
    let calls = render(TO, &msg);
    assert_eq!(
        types(&calls),
        [
            "text",
            "image",
            "video",
            "audio",
            "sticker",
            "document",
            "document",
            "interactive"
        ]
    );
    assert_eq!(calls[0], text_message("Our menu"));
    assert_eq!(
        calls[1]["image"],
        json!({"link": "https://cdn.example.com/a.jpg", "caption": "Starters"})
    );
    assert_eq!(calls[2]["video"], json!({"id": "777"}));
    assert_eq!(calls[3]["audio"], json!({"id": "778"}));
    assert_eq!(calls[6]["document"], json!({"id": "781"}));
    assert_eq!(calls[7]["interactive"]["body"]["text"], KEYBOARD_CARRIER_TEXT);
    assert!(
        calls
            .iter()
            .all(|c| c["to"] == TO && c["messaging_product"] == "whatsapp")
    );
}

#[test]
fn mark_read_names_the_message() {
    assert_eq!(
        mark_read("wamid.ABC"),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.ABC"})
    );
}

fn any_button() -> impl Strategy<Value = Button> {
    (".{0,40}", ".{0,300}").prop_map(|(text, value)| Button { text, value })
}

fn any_message() -> impl Strategy<Value = OutMessage> {
    let media = ("[a-z]{0,8}", ".{0,20}", proptest::option::of(".{0,1100}"))
        .prop_map(|(kind, file_id, caption)| MediaItem { kind, file_id, caption });
    (
        ".{0,5000}",
        prop::collection::vec(media, 0..4),
        prop::collection::vec(any_button(), 0..13),
    )
        .prop_map(|(text, media, buttons)| OutMessage { text, media, buttons })
}

proptest! {
    #[test]
    fn rendered_messages_stay_within_whatsapp_s_limits(msg in any_message()) {
        let calls = render(TO, &msg);
        prop_assert_eq!(&calls, &render(TO, &msg), "deterministic");
        let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
        for call in &calls {
            prop_assert_eq!(&call["to"], TO);
            prop_assert!(chars(&call["text"]["body"]) <= MAX_TEXT_CHARS);
            let kind = call["type"].as_str().unwrap();
            prop_assert!(chars(&call[kind]["caption"]) <= MAX_CAPTION_CHARS);
            let interactive = &call["interactive"];
            prop_assert!(chars(&interactive["body"]["text"]) <= MAX_CAPTION_CHARS);
            prop_assert!(!interactive.is_object() || chars(&interactive["body"]["text"]) > 0);
            for b in interactive["action"]["buttons"].as_array().into_iter().flatten() {
                prop_assert!(chars(&b["reply"]["title"]) <= 20);
                prop_assert!(chars(&b["reply"]["id"]) <= 256);
            }
            for r in interactive["action"]["sections"][0]["rows"].as_array().into_iter().flatten() {
                prop_assert!(chars(&r["title"]) <= 24);
                prop_assert!(chars(&r["description"]) <= 72);
                prop_assert!(chars(&r["id"]) <= 200);
            }
        }
        let offered = calls.iter().filter(|c| c["type"] == "interactive").count();
        prop_assert_eq!(offered, usize::from((1..=10).contains(&msg.buttons.len())));
        let media = calls.iter().filter(|c| !matches!(c["type"].as_str(), Some("text" | "interactive"))).count();
        prop_assert_eq!(media, msg.media.len());
    }
}
