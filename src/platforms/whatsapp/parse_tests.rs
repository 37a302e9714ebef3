use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const PHONE_NUMBER_ID: &str = "106540352242922";

/// A body as Meta sends it: one entry, one `messages` change with the given contacts, messages
/// and statuses.
fn body(contacts: Value, messages: Value, statuses: Value) -> Vec<u8> {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    });
    if !contacts.is_null() {
        value["contacts"] = contacts;
    }
    if !messages.is_null() {
        value["messages"] = messages;
    }
    if !statuses.is_null() {
        value["statuses"] = statuses;
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    })
    .to_string()
    .into_bytes()
}

fn contact(wa_id: &str, name: &str) -> Value {
    json!({"profile": {"name": name}, "wa_id": wa_id})
}

/// One message of `kind` from Sheena, with the kind's payload.
fn from_sheena(id: &str, kind: &str, payload: Value) -> Vec<u8> {
    let mut message = json!({"from": "16505551234", "id": id, "timestamp": "1749416383", "type": kind});
    message[kind] = payload;
    body(
        json!([contact("16505551234", "Sheena Nelson")]),
        json!([message]),
        Value::Null,
    )
}

fn only(parsed: &Parsed) -> &Inbound {
    assert_eq!(parsed.items.len(), 1, "{parsed:#?}");
    assert_eq!(parsed.origins.len(), 1);
    &parsed.items[0]
}

#[test]
fn a_text_message_is_received_with_its_sender() {
    let parsed = parse(&from_sheena(
        "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "text",
        json!({"body": "Does it come in another color?"}),
    ))
    .unwrap();
    let item = only(&parsed);
    assert_eq!(item.event_type, EventType::MessageReceived);
    assert_eq!(item.input, Some(Input::Text("Does it come in another color?".into())));
    assert_eq!(item.chat_id.as_deref(), Some("16505551234"));
    let user = item.user.as_ref().unwrap();
    assert_eq!(user.id, ExternalId::Text("16505551234".into()));
    assert_eq!(user.info.first_name.as_deref(), Some("Sheena Nelson"));
    let origin = &parsed.origins[0];
    assert_eq!(
        origin.message_id,
        "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    );
    assert_eq!(origin.phone_number_id.as_deref(), Some(PHONE_NUMBER_ID));
    assert_eq!(origin.kind, "text");
    assert_eq!(item.update_id, update_id_of(&origin.message_id));
    assert_eq!(item.choice, None);
    assert_eq!(item.parse_error, None);
}

#[test]
fn a_leading_slash_is_a_command_as_on_telegram() {
    let parsed = parse(&from_sheena("wamid.cmd", "text", json!({"body": "/Start promo-42"}))).unwrap();
    let item = only(&parsed);
    assert_eq!(item.event_type, EventType::CommandReceived);
    assert_eq!(
        item.input,
        Some(Input::Command {
            name: "start".into(),
            payload: Some("promo-42".into())
        })
    );
    let lone = parse(&from_sheena("wamid.slash", "text", json!({"body": "/ not a command"}))).unwrap();
    assert_eq!(only(&lone).event_type, EventType::MessageReceived);
}

#[test]
fn a_reply_button_is_a_choice_on_the_message_that_carried_it() {
    let mut message = json!({
        "context": {"from": "15550783881", "id": "wamid.BOT_MESSAGE"},
        "from": "16505551234",
        "id": "wamid.REPLY",
        "timestamp": "1749416383",
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "size_m", "title": "Medium"}},
    });
    let parsed = parse(&body(
        json!([contact("16505551234", "Sheena Nelson")]),
        json!([message.clone()]),
        Value::Null,
    ))
    .unwrap();
    let item = only(&parsed);
    assert_eq!(item.event_type, EventType::CallbackReceived);
    assert_eq!(item.input, Some(Input::Button("size_m".into())));
    assert_eq!(
        item.choice,
        Some(Choice {
            id: None,
            message_id: Some("wamid.BOT_MESSAGE".into())
        })
    );
    // Without a context the choice is still read; it just names no message.
    message.as_object_mut().unwrap().remove("context");
    let parsed = parse(&body(Value::Null, json!([message]), Value::Null)).unwrap();
    assert_eq!(
        only(&parsed).choice,
        Some(Choice {
            id: None,
            message_id: None
        })
    );
    assert_eq!(only(&parsed).user.as_ref().unwrap().info.first_name, None);
}

#[test]
fn a_list_reply_is_a_choice_of_the_row_id() {
    let message = json!({
        "context": {"from": "15550783881", "id": "wamid.LIST"},
        "from": "16505551234",
        "id": "wamid.ROW",
        "timestamp": "1749416383",
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": "priority_express", "title": "Express Shipping", "description": "Next Day to 2 Days"},
        },
    });
    let parsed = parse(&body(Value::Null, json!([message]), Value::Null)).unwrap();
    let item = only(&parsed);
    assert_eq!(item.event_type, EventType::CallbackReceived);
    assert_eq!(item.input, Some(Input::Button("priority_express".into())));
    assert_eq!(item.choice.as_ref().unwrap().message_id.as_deref(), Some("wamid.LIST"));
}

#[test]
fn a_template_quick_reply_is_a_choice_of_its_payload() {
    let parsed = parse(&from_sheena(
        "wamid.QR",
        "button",
        json!({"payload": "unsubscribe_me", "text": "Stop promotions"}),
    ))
    .unwrap();
    let item = only(&parsed);
    assert_eq!(item.event_type, EventType::CallbackReceived);
    assert_eq!(item.input, Some(Input::Button("unsubscribe_me".into())));
    let labelled = parse(&from_sheena("wamid.QR2", "button", json!({"text": "Stop promotions"}))).unwrap();
    assert_eq!(only(&labelled).input, Some(Input::Button("Stop promotions".into())));
}

#[test]
fn an_image_with_caption_is_media() {
    let parsed = parse(&from_sheena(
        "wamid.IMG",
        "image",
        json!({
            "caption": "Here is the damage",
            "mime_type": "image/jpeg",
            "sha256": "bcxjOnDYOsrhrS5ScsKg0PGt1g+jO93hBAA7e4/W4Ac=",
            "id": "1003383421387256",
        }),
    ))
    .unwrap();
    let item = only(&parsed);
    assert_eq!(item.event_type, EventType::MediaReceived);
    assert_eq!(
        item.file,
        Some(InboundFile {
            kind: MediaKind::Photo,
            file_id: "1003383421387256".into(),
            file_unique_id: "bcxjOnDYOsrhrS5ScsKg0PGt1g+jO93hBAA7e4/W4Ac=".into(),
            file_name: None,
            mime_type: Some("image/jpeg".into()),
            file_size: None,
            caption: Some("Here is the damage".into()),
        })
    );
    assert_eq!(
        item.input,
        Some(Input::Media(MediaInput {
            kind: MediaKind::Photo,
            media_id: None,
            file_name: None,
            content_type: Some("image/jpeg".into()),
            size: None,
            caption: Some("Here is the damage".into()),
            download_limit_kb: None,
        }))
    );
}

#[test]
fn every_media_kind_maps_to_hookline_s() {
    let cases = [
        (
            "document",
            json!({"id": "1", "filename": "invoice.pdf", "mime_type": "application/pdf"}),
            MediaKind::Document,
        ),
        ("audio", json!({"id": "2", "mime_type": "audio/mpeg"}), MediaKind::Audio),
        (
            "audio",
            json!({"id": "3", "mime_type": "audio/ogg; codecs=opus", "voice": true}),
            MediaKind::Voice,
        ),
        ("voice", json!({"id": "4"}), MediaKind::Voice),
        ("video", json!({"id": "5", "mime_type": "video/mp4"}), MediaKind::Video),
        (
            "sticker",
            json!({"id": "6", "mime_type": "image/webp", "animated": false}),
            MediaKind::Sticker,
        ),
    ];
    for (kind, payload, expected) in cases {
        let id = payload["id"].as_str().unwrap().to_string();
        let parsed = parse(&from_sheena("wamid.M", kind, payload)).unwrap();
        let item = only(&parsed);
        assert_eq!(item.event_type, EventType::MediaReceived, "{kind}");
        let file = item.file.as_ref().unwrap();
        assert_eq!(file.kind, expected, "{kind}");
        assert_eq!(file.file_id, id);
        // Without a sha256 the media id stands in as the unique id.
        assert_eq!(file.file_unique_id, id);
    }
    let document = parse(&from_sheena(
        "wamid.D",
        "document",
        json!({"id": "1", "filename": "invoice.pdf"}),
    ))
    .unwrap();
    assert_eq!(
        only(&document).file.as_ref().unwrap().file_name.as_deref(),
        Some("invoice.pdf")
    );
}

#[test]
fn a_location_is_its_coordinates() {
    let parsed = parse(&from_sheena(
        "wamid.LOC",
        "location",
        json!({"address": "1 Hacker Way, Menlo Park, CA 94025", "latitude": 37.483307, "longitude": -122.148981, "name": "Main Street Beach"}),
    ))
    .unwrap();
    let item = only(&parsed);
    assert_eq!(item.event_type, EventType::MessageReceived);
    assert_eq!(
        item.input,
        Some(Input::Location {
            latitude: 37.483307,
            longitude: -122.148981
        })
    );
}

#[test]
fn a_shared_contact_is_its_first_phone() {
    let parsed = parse(&from_sheena(
        "wamid.CON",
        "contacts",
        json!([{
            "addresses": [{"city": "Menlo Park", "country": "United States"}],
            "name": {"first_name": "Barbara", "formatted_name": "Barbara J. Johnson", "last_name": "Johnson"},
            "phones": [{"phone": "+1 (940) 555-1234", "type": "HOME", "wa_id": "19405551234"}],
        }]),
    ))
    .unwrap();
    let item = only(&parsed);
    assert_eq!(item.event_type, EventType::MessageReceived);
    assert_eq!(
        item.input,
        Some(Input::Contact {
            phone_number: "+1 (940) 555-1234".into(),
            first_name: Some("Barbara".into()),
            user_id: None,
        })
    );
    let formatted_only = parse(&from_sheena(
        "wamid.CON2",
        "contacts",
        json!([{"name": {"formatted_name": "Pizza Place"}, "phones": [{"wa_id": "19405550000"}]}]),
    ))
    .unwrap();
    assert_eq!(
        only(&formatted_only).input,
        Some(Input::Contact {
            phone_number: "19405550000".into(),
            first_name: Some("Pizza Place".into()),
            user_id: None,
        })
    );
}

#[test]
fn reactions_and_other_kinds_are_recorded_not_acted_on() {
    let cases = [
        ("reaction", json!({"message_id": "wamid.BOT", "emoji": "\u{1F44D}"})),
        ("unsupported", json!({})),
        (
            "system",
            json!({"body": "Sheena changed her number", "type": "user_changed_number"}),
        ),
        ("errors", json!(null)),
        ("order", json!({"catalog_id": "1", "product_items": []})),
        ("hologram", json!({"id": "from the future"})),
    ];
    for (kind, payload) in cases {
        let parsed = parse(&from_sheena("wamid.X", kind, payload)).unwrap();
        let item = only(&parsed);
        assert_eq!(item.event_type, EventType::UpdateIgnored, "{kind}");
        assert_eq!(item.input, None, "{kind}");
        assert_eq!(item.parse_error, None, "{kind}");
        // Still the sender's chat, so the record says whose it was.
        assert_eq!(item.chat_id.as_deref(), Some("16505551234"));
        assert_eq!(parsed.origins[0].kind, kind);
    }
    let flow = parse(&from_sheena(
        "wamid.F",
        "interactive",
        json!({"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}),
    ))
    .unwrap();
    assert_eq!(only(&flow).event_type, EventType::UpdateIgnored);
}

#[test]
fn malformed_fields_hookline_reads_make_the_message_unparsed() {
    let cases = [
        ("text", json!({"body": 7}), "message.text.body"),
        ("text", json!(null), "message.text.body"),
        (
            "interactive",
            json!({"type": "button_reply"}),
            "message.interactive.button_reply.id",
        ),
        (
            "interactive",
            json!({"button_reply": {"id": "x"}}),
            "message.interactive.type",
        ),
        ("button", json!({"payload": 1}), "message.button.text"),
        ("image", json!("1003383421387256"), "message.image"),
        ("image", json!({"mime_type": "image/jpeg"}), "message.image.id"),
        (
            "document",
            json!({"id": "1", "filename": ["a"]}),
            "message.document.filename",
        ),
        (
            "location",
            json!({"latitude": "37.4", "longitude": 1.0}),
            "message.location.latitude",
        ),
        (
            "location",
            json!({"latitude": 91.0, "longitude": 1.0}),
            "message.location.latitude",
        ),
        ("location", json!({"latitude": 1.0}), "message.location.longitude"),
        ("contacts", json!([]), "message.contacts"),
        (
            "contacts",
            json!([{"name": {"first_name": "B"}, "phones": []}]),
            "message.contacts[0].phones",
        ),
    ];
    for (kind, payload, field) in cases {
        let parsed = parse(&from_sheena("wamid.BAD", kind, payload.clone())).unwrap();
        let item = only(&parsed);
        assert_eq!(item.event_type, EventType::UpdateUnparsed, "{kind} {payload}");
        assert_eq!(item.input, None);
        assert_eq!(item.file, None);
        assert_eq!(item.choice, None);
        let error = item.parse_error.as_deref().unwrap();
        assert!(error.starts_with(field), "{error} should name {field}");
        // The record still says whose message it was and keeps its key.
        assert_eq!(item.chat_id.as_deref(), Some("16505551234"));
        assert_eq!(item.update_id, update_id_of("wamid.BAD"));
    }
}

#[test]
fn a_message_without_id_sender_or_type_is_unparsed_with_a_stable_key() {
    let messages = json!([
        {"from": "16505551234", "type": "text", "text": {"body": "hi"}},
        {"id": "wamid.NOFROM", "type": "text", "text": {"body": "hi"}},
        {"id": "wamid.NOTYPE", "from": "16505551234"},
        "not an object",
    ]);
    let raw = body(Value::Null, messages, Value::Null);
    let parsed = parse(&raw).unwrap();
    assert_eq!(parsed.items.len(), 4);
    for (item, field) in parsed
        .items
        .iter()
        .zip(["message.id", "message.from", "message.type", "message:"])
    {
        assert_eq!(item.event_type, EventType::UpdateUnparsed);
        assert!(item.parse_error.as_deref().unwrap().starts_with(field), "{item:?}");
        assert!(item.update_id >= 0);
    }
    assert_eq!(parsed.items[1].chat_id, None);
    assert_eq!(parsed.origins[0].message_id, "");
    // A redelivery of the same body gives the same keys.
    assert_eq!(parse(&raw).unwrap().items, parsed.items);
    assert_ne!(parsed.items[0].update_id, parsed.items[3].update_id);
}

#[test]
fn statuses_become_receipts() {
    let statuses = json!([
        {
            "id": "wamid.SENT1", "status": "delivered", "timestamp": "1750263773", "recipient_id": "16505551234",
            "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "service"}},
            "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"},
        },
        {"id": "wamid.SENT2", "status": "read", "timestamp": 1750263800, "recipient_id": "16505551234"},
        {
            "id": "wamid.SENT3", "status": "failed", "timestamp": "1750263900", "recipient_id": "16505559999",
            "errors": [{
                "code": 131047, "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
            }],
        },
        {"id": "wamid.SENT4", "status": "sent", "recipient_id": "16505551234"},
        {"id": "wamid.SENT5", "status": "deleted", "timestamp": "soon", "recipient_id": "16505551234"},
        {"status": "read", "recipient_id": "16505551234"},
        {"id": "wamid.SENT6", "status": "read"},
    ]);
    let parsed = parse(&body(Value::Null, Value::Null, statuses)).unwrap();
    assert!(parsed.items.is_empty());
    assert_eq!(parsed.unreadable_statuses, 2);
    let receipt = |id: &str, recipient: &str, status, timestamp, error_code, error_title: Option<&str>| StatusReceipt {
        message_id: id.into(),
        recipient: recipient.into(),
        status,
        timestamp,
        error_code,
        error_title: error_title.map(str::to_string),
        phone_number_id: Some(PHONE_NUMBER_ID.into()),
    };
    assert_eq!(
        parsed.statuses,
        vec![
            receipt(
                "wamid.SENT1",
                "16505551234",
                ReceiptStatus::Delivered,
                Some(1750263773),
                None,
                None
            ),
            receipt(
                "wamid.SENT2",
                "16505551234",
                ReceiptStatus::Read,
                Some(1750263800),
                None,
                None
            ),
            receipt(
                "wamid.SENT3",
                "16505559999",
                ReceiptStatus::Failed,
                Some(1750263900),
                Some(131047),
                Some("Re-engagement message")
            ),
            receipt("wamid.SENT4", "16505551234", ReceiptStatus::Sent, None, None, None),
            receipt("wamid.SENT5", "16505551234", ReceiptStatus::Other, None, None, None),
        ]
    );
}

#[test]
fn a_batch_keeps_body_order_across_entries_changes_and_senders() {
    let text = |id: &str, from: &str, body: &str| json!({"from": from, "id": id, "timestamp": "1749416383", "type": "text", "text": {"body": body}});
    let value = |contacts: Value, messages: Value, statuses: Value| {
        json!({"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": contacts, "messages": messages, "statuses": statuses,
        }})
    };
    let raw = json!({
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "102290129340398", "changes": [
                value(
                    json!([contact("16505551234", "Sheena Nelson")]),
                    json!([text("wamid.A1", "16505551234", "one"), text("wamid.A2", "16505551234", "two")]),
                    json!([]),
                ),
                {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}},
            ]},
            {"id": "102290129340398", "changes": [value(
                json!([contact("16505550000", "Omar Haddad")]),
                json!([text("wamid.B1", "16505550000", "three")]),
                json!([{"id": "wamid.OUT", "status": "delivered", "timestamp": "1750263773", "recipient_id": "16505551234"}]),
            )]},
        ],
    });
    let parsed = parse(raw.to_string().as_bytes()).unwrap();
    let texts: Vec<_> = parsed.items.iter().map(|i| i.input.clone()).collect();
    assert_eq!(
        texts,
        vec![
            Some(Input::Text("one".into())),
            Some(Input::Text("two".into())),
            Some(Input::Text("three".into()))
        ]
    );
    let ids: Vec<_> = parsed.origins.iter().map(|o| o.message_id.as_str()).collect();
    assert_eq!(ids, ["wamid.A1", "wamid.A2", "wamid.B1"]);
    let names: Vec<_> = parsed
        .items
        .iter()
        .map(|i| i.user.as_ref().unwrap().info.first_name.clone().unwrap())
        .collect();
    assert_eq!(names, ["Sheena Nelson", "Sheena Nelson", "Omar Haddad"]);
    assert_eq!(parsed.items[2].chat_id.as_deref(), Some("16505550000"));
    let keys: std::collections::HashSet<_> = parsed.items.iter().map(|i| i.update_id).collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(parsed.statuses.len(), 1);
    assert_eq!(parsed.statuses[0].message_id, "wamid.OUT");
}

#[test]
fn only_a_body_that_is_not_whatsapp_s_is_refused() {
    let refused = [
        &b"not json"[..],
        b"",
        b"[1,2]",
        b"\"whatsapp_business_account\"",
        br#"{"entry":[]}"#,
        br#"{"object":"page","entry":[]}"#,
        br#"{"object":7}"#,
    ];
    for raw in refused {
        assert!(parse(raw).is_err(), "{}", String::from_utf8_lossy(raw));
    }
    let accepted = [
        &br#"{"object":"whatsapp_business_account"}"#[..],
        br#"{"object":"whatsapp_business_account","entry":{}}"#,
        br#"{"object":"whatsapp_business_account","entry":[1,{"changes":"x"},{"changes":[{"field":"messages","value":[]}]}]}"#,
        br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":{}}}]}]}"#,
    ];
    for raw in accepted {
        assert_eq!(parse(raw), Ok(Parsed::default()), "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn refusals_are_capped() {
    let long = format!(r#"{{"object":"{}"}}"#, "x".repeat(10_000));
    let error = parse(long.as_bytes()).unwrap_err();
    assert!(error.0.starts_with("object: expected"));
    assert_eq!(error.0.chars().count(), MAX_ERROR_CHARS);
    assert!(error.0.ends_with('…'));
}

#[test]
fn deep_bodies_are_refused_before_they_are_read() {
    let nest = |levels: usize| {
        // `levels` levels in all: the root object, the field's arrays, the innermost 1.
        let inner = format!("{}1{}", "[".repeat(levels - 2), "]".repeat(levels - 2));
        format!(r#"{{"object":"whatsapp_business_account","x":{inner}}}"#)
    };
    assert!(parse(nest(MAX_DEPTH).as_bytes()).is_ok());
    let error = parse(nest(MAX_DEPTH + 1).as_bytes()).unwrap_err();
    assert!(error.0.contains("deeper"), "{error}");
    // Past serde_json's own limit it is not JSON at all; still an error, not a crash.
    assert!(parse(nest(10_000).as_bytes()).is_err());
}

#[test]
fn too_many_items_are_refused() {
    let text = json!({"from": "1", "id": "wamid.N", "type": "text", "text": {"body": "x"}});
    let receipt = json!({"id": "wamid.S", "status": "read", "recipient_id": "1"});
    let at_cap = body(
        Value::Null,
        json!(vec![text.clone(); MAX_ITEMS - 1]),
        json!([receipt.clone()]),
    );
    assert_eq!(parse(&at_cap).unwrap().items.len(), MAX_ITEMS - 1);
    let over = body(Value::Null, json!(vec![text; MAX_ITEMS]), json!([receipt]));
    assert!(parse(&over).unwrap_err().0.contains("at most 1000"));
}

#[test]
fn update_ids_are_the_documented_hash() {
    let digest = crate::secrets::sha256(b"wamid.ABC");
    let expected = i64::from_be_bytes(digest[..8].try_into().unwrap()) & i64::MAX;
    assert_eq!(update_id_of("wamid.ABC"), expected);
    assert_ne!(update_id_of("wamid.ABC"), update_id_of("wamid.ABD"));
}

/// Names the parser looks for, so arbitrary values often take the paths it reads.
const WORDS: &[&str] = &[
    "id",
    "from",
    "type",
    "text",
    "body",
    "interactive",
    "button_reply",
    "list_reply",
    "button",
    "payload",
    "image",
    "audio",
    "voice",
    "location",
    "latitude",
    "contacts",
    "phones",
    "context",
    "messages",
    "statuses",
];

/// Arbitrary JSON, up to a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z_./ ]{0,12}".prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        let keys = prop_oneof!["[a-z_]{1,8}", prop::sample::select(WORDS).prop_map(str::to_string)];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(keys, inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&raw);
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        let _ = parse(value.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_messages_and_statuses_never_panic_and_keep_count(
        messages in prop::collection::vec(any_json(), 0..4),
        statuses in prop::collection::vec(any_json(), 0..3),
    ) {
        let raw = body(Value::Null, Value::from(messages.clone()), Value::from(statuses.clone()));
        // Eight levels of envelope and at most seven of arbitrary value: within the depth limit.
        let parsed = parse(&raw).unwrap();
        prop_assert_eq!(parsed.items.len(), messages.len());
        prop_assert_eq!(parsed.origins.len(), messages.len());
        prop_assert_eq!(parsed.statuses.len() + parsed.unreadable_statuses, statuses.len());
        for item in &parsed.items {
            prop_assert!(item.update_id >= 0);
            prop_assert_eq!(item.parse_error.is_some(), item.event_type == EventType::UpdateUnparsed);
        }
    }

    #[test]
    fn update_ids_are_stable_and_non_negative(id in ".{0,64}") {
        let key = update_id_of(&id);
        prop_assert!(key >= 0);
        prop_assert_eq!(key, update_id_of(&id.clone()));
    }
}
