use serde_json::json;

use super::*;
use crate::platforms::EventType;
use crate::scenario::{Button, Context, MediaItem};

fn adapter(per_second: u32, mark_read: bool) -> WhatsApp {
    WhatsApp::new(&WhatsAppConfig {
        api_url: "http://127.0.0.1:9".into(),
        api_version: "v21.0".into(),
        request_timeout: Duration::from_secs(1),
        messages_per_second: per_second,
        mark_read,
    })
    .expect("a client")
}

fn access(settings: serde_json::Value) -> Access {
    Access {
        token: Secret::new("EAAG-test-token".into()),
        settings: settings.as_object().cloned().unwrap_or_default(),
    }
}

fn bot() -> BotId {
    BotId::from_uuid(uuid::Uuid::nil())
}

fn signed(secret: &str, body: &[u8]) -> http::HeaderMap {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let mut headers = http::HeaderMap::new();
    let value = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    headers.insert(SIGNATURE_HEADER, value.parse().unwrap());
    headers
}

#[test]
fn verify_wants_the_app_secrets_signature_of_the_exact_body() {
    let wa = adapter(0, true);
    let secret = Secret::new("app-secret-123".to_string());
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    assert!(wa.verify(&signed("app-secret-123", body), body, &secret));
    assert!(!wa.verify(&signed("app-secret-124", body), body, &secret));
    assert!(!wa.verify(&signed("app-secret-123", body), b"{}", &secret));
    assert!(!wa.verify(&http::HeaderMap::new(), body, &secret));
}

#[test]
fn scenario_html_reaches_whatsapp_as_its_own_marks() {
    let wa = adapter(0, true);
    let msg = OutMessage {
        text: "<b>Welcome</b>, Tom &amp; Jerry".into(),
        media: vec![MediaItem {
            kind: "photo".into(),
            file_id: "https://cdn.example/menu.png".into(),
            caption: Some("<i>today</i>".into()),
        }],
        buttons: vec![],
    };
    let calls = wa.render("15551234567", &msg);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].json()["image"]["caption"], "*Welcome*, Tom & Jerry\n\n_today_");
    // An interpolated value is escaped on the way in and restored on the way out.
    assert_eq!((wa.text_escape())("a<b"), "a&lt;b");
}

#[test]
fn typed_choices_and_a_kept_verify_token_are_whatsapps_rules() {
    let wa = adapter(0, true);
    assert!(wa.typed_choices());
    assert!(wa.keeps_webhook_secret());
    assert_eq!(wa.reply_window(), Some(Duration::from_secs(24 * 3600)));
    let choice = Choice {
        id: None,
        message_id: Some("wamid.X".into()),
    };
    assert!(wa.acknowledge(&choice, None).is_none());
    assert!(wa.retire_keyboard("1", &choice).is_none());
}

#[test]
fn a_users_message_is_marked_read_unless_turned_off() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": "555"},
        "messages": [{"id": "wamid.IN1", "from": "15551234567", "timestamp": "1", "type": "text", "text": {"body": "hi"}}]}}]}]});
    let wa = adapter(0, true);
    let items = wa.parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(items[0].event_type, EventType::MessageReceived);
    let call = wa.mark_seen(&items[0]).expect("a read receipt");
    assert_eq!(*call.json(), mark_read("wamid.IN1"));
    assert!(adapter(0, false).mark_seen(&items[0]).is_none());
}

#[test]
fn replies_are_paced_per_number_but_read_receipts_are_not() {
    let wa = adapter(2, true);
    let text = PlatformCall::new(json!({"type": "text", "to": "1", "text": {"body": "x"}}));
    let read = PlatformCall::new(mark_read("wamid.1"));
    assert_eq!(wa.reserve(bot(), &text, 0, 0), Ok(0));
    assert_eq!(wa.reserve(bot(), &text, 0, 0), Ok(0));
    assert!(
        wa.reserve(bot(), &text, 0, 0).is_err(),
        "a third within the second waits"
    );
    assert_eq!(wa.reserve(bot(), &read, 0, 0), Ok(0));
    assert_eq!(
        adapter(0, true).reserve(bot(), &text, 7, 0),
        Ok(7),
        "0 turns pacing off"
    );
}

fn closed<'a>(
    data: &'a serde_json::Map<String, serde_json::Value>,
    ctx: &'a Context,
    last: Option<i64>,
) -> ClosedWindow<'a> {
    ClosedWindow {
        chat_id: "15551234567",
        last_user_message_ms: last,
        data,
        context: ctx,
    }
}

#[test]
fn a_closed_window_sends_the_template_once_then_refuses() {
    let wa = adapter(0, true);
    let data = json!({"name": "Ann"}).as_object().cloned().unwrap();
    let ctx = Context {
        platform: "whatsapp".into(),
        chat_id: "15551234567".into(),
        user: Default::default(),
    };
    let text = PlatformCall::new(json!({"type": "text", "to": "15551234567", "text": {"body": "late"}}));
    let with_template = access(json!({"phone_number_id": "555",
        "template": {"name": "come_back", "language": "en", "parameters": ["{{name}}"]}}));
    match wa.outside_window(bot(), &with_template, &text, &closed(&data, &ctx, Some(1))) {
        OutsideWindow::Replace(call) => {
            assert_eq!(call.json()["template"]["name"], "come_back");
            assert_eq!(call.json()["template"]["components"][0]["parameters"][0]["text"], "Ann");
            assert_eq!(call.json()["to"], "15551234567");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            wa.outside_window(bot(), &with_template, &text, &closed(&data, &ctx, Some(1))),
            OutsideWindow::Refuse(_)
        ),
        "one template per closed window"
    );
    let without = access(json!({"phone_number_id": "555"}));
    match wa.outside_window(bot(), &without, &text, &closed(&data, &ctx, None)) {
        OutsideWindow::Refuse(why) => assert!(why.contains("24 hours"), "{why}"),
        other => panic!("{other:?}"),
    }
    let read = PlatformCall::new(mark_read("wamid.1"));
    assert_eq!(
        wa.outside_window(bot(), &without, &read, &closed(&data, &ctx, None)),
        OutsideWindow::Keep
    );
}

#[test]
fn buttons_render_by_count() {
    let wa = adapter(0, true);
    let msg = |n: usize| OutMessage {
        text: "Pick".into(),
        media: vec![],
        buttons: (1..=n)
            .map(|i| Button {
                text: format!("B{i}"),
                value: format!("v{i}"),
            })
            .collect(),
    };
    let kind = |n| wa.render("1", &msg(n))[0].json()["interactive"]["type"].clone();
    assert_eq!(kind(2), "button");
    assert_eq!(kind(5), "list");
    let numbered = wa.render("1", &msg(12));
    assert_eq!(numbered[0].json()["type"], "text");
    assert!(numbered[0].json()["text"]["body"].as_str().unwrap().contains("12. B12"));
}
