use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::platforms::telegram::KNOWN_KINDS;
use crate::scenario::MediaKind;

fn user_json() -> Value {
    json!({"id": 111, "is_bot": false, "first_name": "Ada", "last_name": "L", "username": "ada", "language_code": "en"})
}

fn chat_json() -> Value {
    json!({"id": 111, "type": "private", "first_name": "Ada"})
}

fn message(extra: Value) -> Value {
    let mut m = json!({"message_id": 7, "date": 1_700_000_000, "chat": chat_json(), "from": user_json()});
    if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), extra) {
        m.extend(extra);
    }
    m
}

fn update(kind: &str, value: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"update_id": 42, kind: value})).unwrap()
}

fn parse(kind: &str, value: Value) -> ParsedUpdate {
    parse_update(&update(kind, value)).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

#[test]
fn text_message() {
    let p = parse("message", message(json!({"text": "hello"})));
    assert_eq!(p.update_id, 42);
    assert_eq!(p.event_type, EventType::MessageReceived);
    assert_eq!(p.chat_id, Some(111));
    assert_eq!(p.chat_type, Some(ChatKind::Private));
    assert_eq!(p.message_id, Some(7));
    assert_eq!(p.input, Some(Input::Text("hello".into())));
    let user = p.user.unwrap();
    assert_eq!(user.id, 111);
    assert_eq!(user.info.first_name.as_deref(), Some("Ada"));
    assert_eq!(user.info.username.as_deref(), Some("ada"));
    assert_eq!(p.raw_kind, "message");
    assert!(p.skipped_fields.is_empty());
}

#[test]
fn commands_with_bot_name_and_payload() {
    for (text, name, payload) in [
        ("/start", "start", None),
        ("/start@HooklineBot ref_42", "start", Some("ref_42")),
        ("/HELP", "help", None),
    ] {
        let p = parse("message", message(json!({"text": text})));
        assert_eq!(p.event_type, EventType::CommandReceived, "{text}");
        assert_eq!(
            p.input,
            Some(Input::Command {
                name: name.into(),
                payload: payload.map(String::from)
            })
        );
    }
    // A lone slash is text.
    assert_eq!(
        parse("message", message(json!({"text": "/"}))).event_type,
        EventType::MessageReceived
    );
}

#[test]
fn photo_takes_the_largest_size_and_keeps_the_caption() {
    let sizes = json!([
        {"file_id": "small", "file_unique_id": "u1", "width": 90, "height": 60, "file_size": 1000},
        {"file_id": "large", "file_unique_id": "u3", "width": 1280, "height": 853, "file_size": 90000},
        {"file_id": "medium", "file_unique_id": "u2", "width": 320, "height": 213, "file_size": 9000}
    ]);
    let p = parse("message", message(json!({"photo": sizes, "caption": "my cat"})));
    assert_eq!(p.event_type, EventType::MediaReceived);
    let media = p.media.unwrap();
    assert_eq!(
        (media.kind, media.file_id.as_str(), media.file_size),
        (MediaKind::Photo, "large", Some(90000))
    );
    assert_eq!(media.caption.as_deref(), Some("my cat"));
    match p.input {
        Some(Input::Media(m)) => {
            assert_eq!(m.kind, MediaKind::Photo);
            assert_eq!(m.caption.as_deref(), Some("my cat"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_media_kind() {
    let file = |extra: Value| {
        let mut f = json!({"file_id": "F", "file_unique_id": "U", "file_size": 10});
        f.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        f
    };
    let av = json!({"width": 1, "height": 1, "duration": 1});
    let cases = [
        (
            "document",
            file(json!({"file_name": "cv.pdf", "mime_type": "application/pdf"})),
            MediaKind::Document,
        ),
        ("video", file(av.clone()), MediaKind::Video),
        (
            "audio",
            file(json!({"duration": 3, "mime_type": "audio/mpeg"})),
            MediaKind::Audio,
        ),
        (
            "voice",
            file(json!({"duration": 3, "mime_type": "audio/ogg"})),
            MediaKind::Voice,
        ),
        (
            "video_note",
            file(json!({"length": 240, "duration": 3})),
            MediaKind::VideoNote,
        ),
        (
            "sticker",
            file(json!({"type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false})),
            MediaKind::Sticker,
        ),
    ];
    for (field, value, kind) in cases {
        let p = parse("message", message(json!({ field: value })));
        assert_eq!(p.event_type, EventType::MediaReceived, "{field}");
        assert_eq!(p.media.as_ref().map(|m| m.kind), Some(kind), "{field}");
    }
    // An animation also carries `document`; it is an animation.
    let anim = file(av);
    let p = parse("message", message(json!({"animation": anim.clone(), "document": anim})));
    assert_eq!(p.media.map(|m| m.kind), Some(MediaKind::Animation));
    let p = parse(
        "message",
        message(json!({"document": file(json!({"file_name": "cv.pdf", "mime_type": "application/pdf"}))})),
    );
    let m = p.media.unwrap();
    assert_eq!(
        (m.file_name.as_deref(), m.mime_type.as_deref()),
        (Some("cv.pdf"), Some("application/pdf"))
    );
}

#[test]
fn location_venue_and_contact() {
    let loc = json!({"latitude": 52.5, "longitude": 13.4});
    let p = parse("message", message(json!({"location": loc})));
    assert_eq!(
        p.input,
        Some(Input::Location {
            latitude: 52.5,
            longitude: 13.4
        })
    );
    let venue = json!({"location": loc, "title": "Cafe", "address": "Main St 1"});
    let p = parse("message", message(json!({"venue": venue})));
    assert!(matches!(p.input, Some(Input::Location { .. })));
    let contact = json!({"phone_number": "+4930123", "first_name": "Bob", "user_id": 222});
    let p = parse("message", message(json!({"contact": contact})));
    assert_eq!(
        p.input,
        Some(Input::Contact {
            phone_number: "+4930123".into(),
            first_name: Some("Bob".into()),
            user_id: Some(222)
        })
    );
    assert_eq!(p.event_type, EventType::MessageReceived);
}

#[test]
fn service_messages_are_ignored_and_migration_is_reported() {
    let group = json!({"id": -100, "type": "group", "title": "Team"});
    let p = parse("message", message(json!({"chat": group, "new_chat_title": "New"})));
    assert_eq!(p.event_type, EventType::UpdateIgnored);
    assert_eq!(p.input, None);
    assert_eq!(p.chat_type, Some(ChatKind::Group));
    let p = parse(
        "message",
        message(json!({"chat": group, "migrate_to_chat_id": -1001234567890i64})),
    );
    assert_eq!(p.event_type, EventType::UpdateIgnored);
    assert_eq!(p.migrate_to_chat_id, Some(-1001234567890));
    assert!(p.chat_type.unwrap().is_group());
}

#[test]
fn edited_message() {
    let p = parse(
        "edited_message",
        message(json!({"text": "fixed", "edit_date": 1_700_000_100})),
    );
    assert_eq!(p.event_type, EventType::MessageEdited);
    assert_eq!((p.chat_id, p.message_id, p.input), (Some(111), Some(7), None));
}

#[test]
fn callback_query_with_message() {
    let cb = json!({
        "id": "cbq-1", "from": user_json(), "chat_instance": "ci", "data": "option_1",
        "message": message(json!({"text": "Pick one", "from": {"id": 999, "is_bot": true, "first_name": "Bot"},
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "option_1"}]]}}))
    });
    let p = parse("callback_query", cb);
    assert_eq!(p.event_type, EventType::CallbackReceived);
    assert_eq!(p.callback_query_id.as_deref(), Some("cbq-1"));
    assert_eq!(p.callback_message_id, Some(7));
    assert_eq!(p.chat_id, Some(111));
    assert_eq!(p.user.unwrap().id, 111, "the presser, not the bot");
    assert_eq!(p.input, Some(Input::Button("option_1".into())));
}

#[test]
fn callback_query_variants() {
    // Inaccessible message (date 0), no data (a game), inline message without chat.
    let inaccessible = json!({"chat": chat_json(), "message_id": 9, "date": 0});
    let p = parse(
        "callback_query",
        json!({"id": "c", "from": user_json(), "chat_instance": "ci", "message": inaccessible, "data": "x"}),
    );
    assert_eq!((p.chat_id, p.callback_message_id), (Some(111), Some(9)));
    let p = parse(
        "callback_query",
        json!({"id": "c", "from": user_json(), "chat_instance": "ci", "game_short_name": "g"}),
    );
    assert_eq!(
        (p.event_type, p.input, p.chat_id),
        (EventType::CallbackReceived, None, None)
    );
    let p = parse(
        "callback_query",
        json!({"id": "c", "from": user_json(), "chat_instance": "ci", "inline_message_id": "im", "data": "d"}),
    );
    assert_eq!(p.chat_id, None);
}

#[test]
fn my_chat_member_blocked_and_unblocked() {
    let member = |status: &str| {
        let mut m = json!({"status": status, "user": {"id": 999, "is_bot": true, "first_name": "Bot"}});
        if status == "kicked" || status == "restricted" {
            m["until_date"] = json!(0);
        }
        m
    };
    let upd = |old: &str, new: &str| json!({"chat": chat_json(), "from": user_json(), "date": 1, "old_chat_member": member(old), "new_chat_member": member(new)});
    for (old, new, expected) in [
        ("member", "kicked", EventType::BotBlocked),
        ("member", "left", EventType::BotBlocked),
        ("kicked", "member", EventType::BotUnblocked),
    ] {
        let p = parse("my_chat_member", upd(old, new));
        assert_eq!(p.event_type, expected, "{old}->{new}");
        assert_eq!(p.chat_id, Some(111));
        assert_eq!(p.input, None);
    }
}

/// Realistic bodies of every kind hookline does not act on: all parse, all are ignored.
#[test]
fn every_other_kind_is_ignored() {
    let channel = json!({"id": -1001, "type": "channel", "title": "News"});
    let post = json!({"message_id": 1, "date": 1, "chat": channel, "text": "post"});
    let poll = json!({"id": "p1", "question": "Q?", "options": [{"text": "a", "voter_count": 0, "persistent_id": "o1"}],
        "total_voter_count": 0, "is_closed": false, "is_anonymous": true, "type": "regular", "allows_multiple_answers": false});
    let boost = json!({"boost_id": "b", "add_date": 1, "expiration_date": 2, "source": {"source": "premium", "user": user_json()}});
    let cases: Vec<(&str, Value)> = vec![
        ("channel_post", post.clone()),
        ("edited_channel_post", post),
        (
            "business_message",
            message(json!({"text": "hi", "business_connection_id": "bc"})),
        ),
        (
            "edited_business_message",
            message(json!({"text": "hi", "business_connection_id": "bc"})),
        ),
        (
            "deleted_business_messages",
            json!({"business_connection_id": "bc", "chat": chat_json(), "message_ids": [1, 2]}),
        ),
        (
            "message_reaction",
            json!({"chat": chat_json(), "message_id": 1, "user": user_json(), "date": 1,
            "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}),
        ),
        (
            "message_reaction_count",
            json!({"chat": channel, "message_id": 1, "date": 1,
            "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 3}]}),
        ),
        (
            "inline_query",
            json!({"id": "iq", "from": user_json(), "query": "cats", "offset": ""}),
        ),
        (
            "chosen_inline_result",
            json!({"result_id": "r", "from": user_json(), "query": "cats"}),
        ),
        (
            "shipping_query",
            json!({"id": "s", "from": user_json(), "invoice_payload": "p", "shipping_address":
            {"country_code": "DE", "state": "", "city": "Berlin", "street_line1": "A", "street_line2": "", "post_code": "10115"}}),
        ),
        (
            "pre_checkout_query",
            json!({"id": "pc", "from": user_json(), "currency": "EUR", "total_amount": 100, "invoice_payload": "p"}),
        ),
        (
            "purchased_paid_media",
            json!({"from": user_json(), "paid_media_payload": "p"}),
        ),
        ("poll", poll),
        (
            "poll_answer",
            json!({"poll_id": "p1", "user": user_json(), "option_ids": [0], "option_persistent_ids": ["o1"]}),
        ),
        (
            "chat_join_request",
            json!({"chat": {"id": -100, "type": "supergroup", "title": "G"}, "from": user_json(),
            "user_chat_id": 111, "date": 1}),
        ),
        ("chat_boost", json!({"chat": channel, "boost": boost})),
        (
            "removed_chat_boost",
            json!({"chat": channel, "boost_id": "b", "remove_date": 1, "source": {"source": "premium", "user": user_json()}}),
        ),
    ];
    for (kind, value) in cases {
        let p = parse(kind, value);
        assert_eq!(p.event_type, EventType::UpdateIgnored, "{kind}");
        assert_eq!(p.raw_kind, kind);
        assert_eq!(p.input, None, "{kind}");
    }
    let p = parse(
        "inline_query",
        json!({"id": "iq", "from": user_json(), "query": "cats", "offset": ""}),
    );
    assert_eq!(p.user.map(|u| u.id), Some(111), "ignored kinds still name the sender");
}

#[test]
fn unknown_future_kinds_are_ignored() {
    let p = parse_update(br#"{"update_id": 5, "teleport_request": {"anything": [1, 2]}}"#).unwrap();
    assert_eq!(
        (p.event_type, p.raw_kind.as_str()),
        (EventType::UpdateIgnored, "teleport_request")
    );
    let p = parse_update(br#"{"update_id": 5}"#).unwrap();
    assert_eq!((p.event_type, p.raw_kind.as_str()), (EventType::UpdateIgnored, "none"));
    assert!(KNOWN_KINDS.iter().all(|k| super::kind_of(k).is_some()));
}

#[test]
fn unreadable_decorations_are_skipped_not_fatal() {
    // A reply markup and a forward origin in shapes the crate does not know.
    let p = parse(
        "message",
        message(json!({"text": "hi", "forward_origin": {"type": "hologram", "date": 1}, "reply_markup": "??"})),
    );
    assert_eq!(p.input, Some(Input::Text("hi".into())));
    assert_eq!(
        p.skipped_fields,
        vec!["message.forward_origin".to_string(), "message.reply_markup".to_string()]
    );
    let cb = json!({"id": "c", "from": user_json(), "chat_instance": "ci", "data": "x",
        "message": message(json!({"text": "t", "reply_to_message": {"weird": true}}))});
    let p = parse("callback_query", cb);
    assert_eq!((p.chat_id, p.skipped_fields.len()), (Some(111), 1));
}

#[test]
fn malformed_bodies_are_rejected_with_a_reason() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "not valid JSON"),
        (b"not json".to_vec(), "not valid JSON"),
        (vec![0xff, 0xfe, b'{', b'}'], "not valid JSON"),
        (
            [
                &br#"{"update_id": 1, "message": {"text": ""#[..],
                &[0xff, 0xc3],
                &br#""}}"#[..],
            ]
            .concat(),
            "not valid JSON",
        ),
        (b"[1, 2]".to_vec(), "must be a JSON object"),
        (b"{}".to_vec(), "update_id: missing"),
        (br#"{"update_id": "1"}"#.to_vec(), "update_id"),
        (br#"{"update_id": 1.5}"#.to_vec(), "update_id"),
        (br#"{"update_id": -1}"#.to_vec(), "update_id"),
        (br#"{"update_id": 99999999999999999999999}"#.to_vec(), "update_id"),
    ];
    for (body, want) in cases {
        let err = parse_update(&body).expect_err(want);
        assert!(err.0.contains(want), "{want:?} not in {:?}", err.0);
        assert!(err.0.chars().count() <= MAX_ERROR_LEN + 1, "error messages are capped");
        assert_eq!(classify_update(&body), UpdateClass::Invalid);
    }
}

/// A kind hookline acts on whose fields do not parse is answered, not refused (Telegram would
/// redeliver it and hold the chat behind it): `update.unparsed`, with the reason.
#[test]
fn unreadable_updates_of_acted_kinds_are_unparsed_with_a_reason() {
    let long = "x".repeat(100_000);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            br#"{"update_id": 1, "message": "hi"}"#.to_vec(),
            "message: must be an object",
        ),
        (
            br#"{"update_id": 1, "callback_query": []}"#.to_vec(),
            "callback_query: must be an object",
        ),
        (
            update("message", message(json!({"chat": {"id": "111", "type": "private"}}))),
            "message.chat.id",
        ),
        (
            update("message", message(json!({"chat": {"id": 1e300, "type": "private"}}))),
            "message.chat.id",
        ),
        (
            update(
                "message",
                message(json!({"chat": {"id": 1, "type": "private"}, "message_id": 99999999999i64})),
            ),
            "message.message_id",
        ),
        (
            update(
                "message",
                message(json!({"from": {"id": 18446744073709551615u64, "is_bot": false, "first_name": "A"}})),
            ),
            "from.id",
        ),
        (update("message", message(json!({"text": 5}))), "message.text"),
        (
            update("message", message(json!({"text": long.clone(), "photo": "no"}))),
            "message.photo",
        ),
        (
            update("message", json!({"message_id": 1, "date": 1})),
            "missing field `chat`",
        ),
        (
            update(
                "callback_query",
                json!({"id": 5, "from": user_json(), "chat_instance": "c"}),
            ),
            "callback_query.id",
        ),
        (
            update(
                "callback_query",
                json!({"id": "c", "from": user_json(), "chat_instance": "c", "message": 3}),
            ),
            "callback_query.message",
        ),
        (update("my_chat_member", json!({"chat": chat_json()})), "my_chat_member"),
    ];
    for (body, want) in cases {
        let p = parse_update(&body).unwrap_or_else(|e| panic!("{want}: refused: {e}"));
        assert_eq!(p.event_type, EventType::UpdateUnparsed, "{want}");
        assert_eq!(p.input, None, "{want}");
        assert!([1, 42].contains(&p.update_id), "{want}");
        let err = p.parse_error.expect("a reason");
        assert!(err.contains(want), "{want:?} not in {err:?}");
        assert!(err.chars().count() <= MAX_ERROR_LEN + 1, "error messages are capped");
        assert_eq!(classify_update(&body), UpdateClass::Unparsed);
    }
    // Who and where, when they can be read, so the event can say which chat lost an update.
    let p = parse_update(&update("message", message(json!({"text": 5})))).unwrap();
    assert_eq!(p.chat_id, Some(111));
}

/// Kinds hookline does not act on are not schema-checked: a `poll_answer` missing a field, or
/// an inline query whose sender is a string, is ignored, not refused.
#[test]
fn ignored_kinds_are_not_schema_checked() {
    for (kind, value) in [
        ("poll_answer", json!({"poll_id": "p1", "user": user_json()})),
        (
            "inline_query",
            json!({"id": "iq", "from": "me", "query": "", "offset": ""}),
        ),
        ("poll", json!("not even an object")),
        ("chat_member", json!([1, 2])),
    ] {
        let body = update(kind, value);
        let p = parse_update(&body).unwrap_or_else(|e| panic!("{kind}: refused: {e}"));
        assert_eq!(p.event_type, EventType::UpdateIgnored, "{kind}");
        assert_eq!(classify_update(&body), UpdateClass::Ignored);
    }
}

#[test]
fn hostile_sizes_and_nesting() {
    // 1 MB of text parses.
    let big = "я".repeat(512 * 1024);
    let p = parse("message", message(json!({ "text": big })));
    assert!(matches!(p.input, Some(Input::Text(t)) if t.len() == 1024 * 1024));
    // Deep nesting anywhere is refused before the typed parse.
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH {
        deep = json!({ "a": deep });
    }
    let p = parse_update(&update("message", message(json!({ "text": "x", "extra": deep })))).unwrap();
    assert_eq!(p.event_type, EventType::UpdateUnparsed);
    assert!(p.parse_error.as_deref().is_some_and(|e| e.contains("nested")), "{p:?}");
    // Past serde_json's own recursion limit: an error, not a stack overflow.
    let body = format!(
        "{{\"update_id\":1,\"x\":{}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(parse_update(body.as_bytes()).is_err());
    // Replies nested as deep as allowed still parse on a test thread's stack.
    // Replies nested as deep as the limit allows: levels Telegram never sends are dropped, so
    // the typed parse stays shallow on a test thread's stack, in every kind that holds messages.
    let mut msg = message(json!({"text": "root"}));
    for _ in 0..(MAX_DEPTH - 6) {
        msg = message(json!({"text": "r", "pinned_message": msg}));
    }
    let p = parse("message", msg.clone());
    assert_eq!(
        p.skipped_fields,
        vec!["message.pinned_message.pinned_message".to_string()]
    );
    assert_eq!(parse("channel_post", msg.clone()).event_type, EventType::UpdateIgnored);
    let cb = json!({"id": "c", "from": user_json(), "chat_instance": "ci", "data": "x", "message": msg});
    assert_eq!(parse("callback_query", cb).callback_message_id, Some(7));
    // Deep nesting inside a decoration hookline skips is harmless too.
    let mut rows = json!([]);
    for _ in 0..(MAX_DEPTH - 5) {
        rows = json!([rows]);
    }
    let p = parse(
        "message",
        message(json!({"text": "t", "reply_markup": {"inline_keyboard": rows}})),
    );
    assert_eq!(p.skipped_fields, vec!["message.reply_markup".to_string()]);
}

#[test]
fn serde_names_of_event_types() {
    for e in EventType::ALL {
        assert_eq!(serde_json::to_value(e).unwrap(), json!(e.as_str()));
    }
}

proptest! {
    #[test]
    fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_update(&body);
    }

    /// Whatever shape follows a valid `update_id`, the update is answered: processed, ignored
    /// or unparsed, never refused, and only kinds hookline acts on reach the scenario.
    #[test]
    fn never_panics_on_json(value in arb_json(), kind in proptest::sample::select(KNOWN_KINDS)) {
        let body = update(kind, value.clone());
        let p = parse_update(&body).expect("an update with an update_id is never refused");
        let acted = super::super::update_kinds::DEFAULT_ALLOWED_UPDATES.contains(&kind);
        match classify_update(&body) {
            UpdateClass::Invalid => prop_assert!(false, "refused"),
            UpdateClass::Ignored => prop_assert!(p.input.is_none()),
            UpdateClass::Unparsed => prop_assert!(acted && p.input.is_none() && p.parse_error.is_some()),
            UpdateClass::Processed => prop_assert!(acted),
        }
        if !acted {
            prop_assert_eq!(p.event_type, EventType::UpdateIgnored);
        }
        let _ = parse_update(&serde_json::to_vec(&value).unwrap());
        // The same junk spliced into a valid message's fields.
        for field in ["chat", "from", "text", "photo", "reply_to_message", "entities"] {
            let _ = parse_update(&update("message", message(json!({ field: value.clone() }))));
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("id".to_string()),
                        Just("chat".to_string()),
                        Just("type".to_string()),
                        "[a-z_]{1,8}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}
