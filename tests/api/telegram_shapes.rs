//! What reaches hookline in odd shapes: updates it cannot read are answered (never left for
//! Telegram to redeliver while the chat waits), and users' text cannot break a reply's HTML.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both_backends;
use crate::fake_telegram::Failure;
use crate::helpers::{TestApp, assert_error};
use crate::telegram_support::{TgBot, echo_scenario, text_update, user};

both_backends!(
    only_a_body_without_json_or_update_id_is_refused,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        for bad in ["not json", "[]", r#"{"message": {}}"#, r#"{"update_id": 1.5}"#] {
            let (s, body) = bot.send_raw(bad.to_string(), Some(&bot.secret)).await;
            assert_error(s, &body, 400, "INVALID_UPDATE_FORMAT");
        }
        // A kind hookline does not act on, missing a field the Bot API always sends: ignored.
        let poll_answer = json!({ "update_id": 1, "poll_answer": { "poll_id": "p1", "user": user(51) } });
        let body = bot.deliver(&poll_answer).await;
        assert_eq!(body["data"]["event_type"], "update.ignored", "{body}");
        // A kind hookline acts on whose chat id is not a number: answered, recorded as unparsed.
        let broken = json!({ "update_id": 2, "message": {
            "message_id": 1, "date": 1, "chat": { "id": "abc", "type": "private" }, "text": "<x>" } });
        let body = bot.deliver(&broken).await;
        assert_eq!(body["data"]["event_type"], "update.unparsed", "{body}");
        let events = bot.events().await;
        let (_, payload) = events
            .iter()
            .find(|(t, _)| t == "update.unparsed")
            .expect("an update.unparsed event");
        let payload: Value = serde_json::from_str(payload).unwrap();
        assert!(
            payload["error"].as_str().unwrap().contains("message.chat.id"),
            "{payload}"
        );
        assert_eq!(payload["body"], broken, "the body is kept for inspection");
        assert_eq!(payload["update_id"], 2);
        // A redelivery is a duplicate like any other, and the chat goes on.
        let again = bot.deliver(&broken).await;
        assert_eq!(again["data"]["duplicate"], true, "{again}");
        bot.deliver(&text_update(3, 51, "hello")).await;
        bot.tg.wait_for("sendMessage", 1, Duration::from_secs(10)).await;
        assert_eq!(bot.texts_to(51).len(), 1, "the chat is not held up");
    }
);

both_backends!(
    an_unreadable_huge_update_keeps_only_an_excerpt,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        let broken = json!({ "update_id": 4, "message": {
            "message_id": 1, "date": 1, "chat": { "id": 52, "type": "private" }, "text": 5,
            "padding": "x".repeat(100_000) } });
        let body = bot.deliver(&broken).await;
        assert_eq!(body["data"]["event_type"], "update.unparsed", "{body}");
        let events = bot.events().await;
        let (_, payload) = events.iter().find(|(t, _)| t == "update.unparsed").unwrap();
        assert!(payload.len() < 20_000, "the event is bounded: {} bytes", payload.len());
        let payload: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(payload["chat_id"], "52");
        assert!(payload["body_bytes"].as_u64().unwrap() > 100_000);
        assert!(payload["body_excerpt"].as_str().unwrap().starts_with('{'));
    }
);

fn bold_echo() -> Value {
    let mut scenario = echo_scenario();
    scenario["steps"]["echo"]["message"]["text"] = json!("<b>got</b> {{last}}, {{user.first_name}}");
    scenario
}

both_backends!(
    users_text_is_escaped_the_authors_markup_stays,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, bold_echo()).await else {
            return;
        };
        bot.deliver(&text_update(1, 53, "start")).await;
        let mut update = text_update(2, 53, "<b>x</b> & \"y\"");
        update["message"]["from"]["first_name"] = json!("Iv<an");
        bot.deliver(&update).await;
        let calls = bot.tg.wait_for("sendMessage", 2, Duration::from_secs(10)).await;
        assert_eq!(
            calls[1].params["text"],
            "<b>got</b> &lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;, Iv&lt;an"
        );
        assert_eq!(calls[1].params["parse_mode"], "HTML");
    }
);

both_backends!(
    a_reply_telegram_cannot_parse_goes_again_as_plain_text,
    |app: TestApp| async move {
        let mut scenario = echo_scenario();
        scenario["steps"]["echo"]["message"]["text"] = json!("a <b unclosed {{last}}");
        let Some(bot) = TgBot::start(app.backend, scenario).await else {
            return;
        };
        let refusal = json!({ "ok": false, "error_code": 400,
            "description": "Bad Request: can't parse entities: Unclosed start tag at byte offset 2" });
        bot.tg.fail_next("sendMessage", 1, Failure::Custom(400, refusal));
        let body = bot.deliver(&text_update(1, 54, "hi")).await;
        let calls = bot.tg.wait_for("sendMessage", 2, Duration::from_secs(10)).await;
        assert_eq!(calls.len(), 2, "resent once");
        assert_eq!(calls[0].params["parse_mode"], "HTML");
        assert_eq!(calls[1].params["text"], calls[0].params["text"], "the same text");
        assert!(
            calls[1].params.get("parse_mode").is_none_or(Value::is_null),
            "{:?}",
            calls[1].params
        );
        assert_eq!(body["data"]["response_sent"], true, "recorded as sent: {body}");
    }
);
