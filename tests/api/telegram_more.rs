//! Auto transitions from the durable timer, the dialogs API, webhook management, and bot
//! deletion removing the webhook.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_error};
use crate::telegram_support::{TgBot, echo_scenario, text_update};

fn auto_scenario() -> serde_json::Value {
    json!({
        "version": "1.0",
        "start_step": "hello",
        "steps": {
            "hello": { "message": { "text": "Hello {{user.first_name}}" }, "auto_next": true, "auto_next_delay": 0.2, "next_step": "two" },
            "two": { "message": { "text": "Step two" }, "auto_next": true, "auto_next_delay": 0.1, "next_step": "ask" },
            "ask": { "message": { "text": "Your name?" }, "expected_input": { "type": "text", "variable": "name" }, "next_step": "done" },
            "done": { "type": "action", "action": { "emit": "order.created", "data": { "item": "{{name}}" } }, "message": { "text": "Thanks {{name}}" } }
        }
    })
}

both_backends!(
    auto_transitions_fire_from_the_durable_timer,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, auto_scenario()).await else {
            return;
        };
        let (s, body) = bot.send(&text_update(1, 31, "/start")).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        bot.tg.wait_for("sendMessage", 3, Duration::from_secs(10)).await;
        assert_eq!(bot.texts_to(31), ["Hello Ivan", "Step two", "Your name?"]);
        bot.send(&text_update(2, 31, "Olga")).await;
        assert_eq!(bot.texts_to(31).last().unwrap(), "Thanks Olga");
        let events = bot.events().await;
        let order = events
            .iter()
            .find(|(t, _)| t == "order.created")
            .expect("the action step emitted");
        let payload: serde_json::Value = serde_json::from_str(&order.1).unwrap();
        assert_eq!(payload["data"]["item"], "Olga");
        assert!(events.iter().any(|(t, _)| t == "dialog.completed"), "{events:?}");
    }
);

both_backends!(user_input_cancels_a_pending_chain, |app: TestApp| async move {
    let mut scenario = auto_scenario();
    scenario["steps"]["hello"]["auto_next_delay"] = json!(1.0);
    let Some(bot) = TgBot::start(app.backend, scenario).await else {
        return;
    };
    bot.send(&text_update(1, 32, "/start")).await;
    bot.send(&text_update(2, 32, "/help")).await;
    bot.send(&text_update(3, 32, "interrupt")).await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    // The input moved the dialog on by itself (a step without expected input advances on any
    // input), so the timer of the cancelled chain must not move it a second time.
    let texts = bot.texts_to(32);
    assert_eq!(texts.iter().filter(|t| *t == "Step two").count(), 1, "{texts:?}");
    assert_eq!(texts.last().unwrap(), "Your name?");
    assert_eq!(texts.len(), 4, "{texts:?}");
});

both_backends!(dialogs_api_lists_reads_updates_and_deletes, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    bot.deliver(&text_update(1, 41, "a")).await;
    bot.deliver(&text_update(2, 41, "b")).await;
    bot.deliver(&text_update(3, 42, "c")).await;
    let (s, list) = bot
        .app
        .get(&format!("/v1/api/bots/{}/dialogs", bot.bot_id), &bot.key)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let (_, filtered) = bot
        .app
        .get(
            &format!("/v1/api/bots/{}/dialogs?platform=whatsapp", bot.bot_id),
            &bot.key,
        )
        .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 0);
    let (s, body) = bot
        .app
        .get(&format!("/v1/api/bots/{}/dialogs?status=weird", bot.bot_id), &bot.key)
        .await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");

    let (s, by_chat) = bot
        .app
        .get(&format!("/v1/api/bots/{}/dialogs/telegram/41", bot.bot_id), &bot.key)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(by_chat["data"]["collected_data"]["last"], "b");
    let id = by_chat["data"]["id"].as_str().unwrap().to_string();

    let (s, history) = bot.app.get(&format!("/v1/api/dialogs/{id}/history"), &bot.key).await;
    assert_eq!(s, StatusCode::OK);
    let kinds: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["user", "bot", "user", "bot"]);

    let dialog_url = format!("/v1/api/dialogs/{id}");
    let put = |body: Value| bot.app.call(Method::PUT, &dialog_url, Some(&bot.key), Some(body));
    let (s, body) = put(json!({ "current_step": "nope" })).await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let (s, body) = put(json!({ "collected_data": { "last": "operator" } })).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["collected_data"]["last"], "operator");
    // The chat goes on from the operator's state, not from what the node wrote before it.
    let (s, body) = put(json!({ "collected_data": { "last": "operator", "note": "vip" } })).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    bot.deliver(&text_update(5, 41, "d")).await;
    let (_, after) = bot.app.get(&format!("/v1/api/dialogs/{id}"), &bot.key).await;
    assert_eq!(after["data"]["collected_data"]["note"], "vip", "{after}");
    assert_eq!(after["data"]["collected_data"]["last"], "d", "{after}");

    let (_, other_key) = bot.app.account_with_key("Other").await;
    let (s, body) = bot.app.get(&format!("/v1/api/dialogs/{id}"), &other_key).await;
    assert_error(s, &body, 404, "NOT_FOUND");

    let (s, _) = bot.app.delete(&format!("/v1/api/dialogs/{id}"), &bot.key).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = bot.app.get(&format!("/v1/api/dialogs/{id}"), &bot.key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    // The chat starts anew.
    bot.send(&text_update(4, 41, "again")).await;
    assert_eq!(bot.texts_to(41).last().unwrap(), "got ");
});

both_backends!(webhook_management_set_status_delete, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let registered = bot.tg.webhook();
    assert_eq!(
        registered["url"],
        format!("https://hooks.example.com/v1/api/webhooks/telegram/{}", bot.bot_id)
    );
    let path = format!("/v1/api/webhooks/telegram/{}", bot.bot_id);
    let (s, body) = bot
        .app
        .post(&format!("{path}/set"), &bot.key, json!({ "drop_pending_updates": true, "max_connections": 40, "allowed_updates": ["message", "callback_query"], "secret_token": "my_secret-1" }))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["max_connections"], 40);
    let set = bot.tg.calls_of("setWebhook").pop().unwrap();
    assert_eq!(set.params["allowed_updates"], json!(["message", "callback_query"]));
    // The new secret is the one checked now.
    let (s, _) = bot
        .send_raw(text_update(1, 5, "x").to_string(), Some("my_secret-1"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = bot
        .send_raw(text_update(2, 5, "x").to_string(), Some(&bot.secret))
        .await;
    assert_error(s, &body, 401, "INVALID_BOT_TOKEN");

    let (s, status) = bot.app.get(&format!("{path}/status"), &bot.key).await;
    assert_eq!(s, StatusCode::OK);
    assert!(status["data"]["url"].as_str().unwrap().ends_with(&bot.bot_id));
    for bad in [
        json!({ "max_connections": 0 }),
        json!({ "secret_token": "has space" }),
        json!({ "colour": 1 }),
    ] {
        let (s, _) = bot.app.post(&format!("{path}/set"), &bot.key, bad).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{s}"
        );
    }
    let (_, other_key) = bot.app.account_with_key("Other").await;
    let (s, body) = bot.app.get(&format!("{path}/status"), &other_key).await;
    assert_error(s, &body, 404, "NOT_FOUND");

    let (s, _) = bot
        .app
        .call(Method::POST, &format!("{path}/delete"), Some(&bot.key), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, status) = bot.app.get(&format!("{path}/status"), &bot.key).await;
    assert_eq!(status["data"]["url"], "");
    let (s, body) = bot
        .send_raw(text_update(3, 5, "x").to_string(), Some("my_secret-1"))
        .await;
    assert_error(s, &body, 401, "INVALID_BOT_TOKEN");
});

both_backends!(deleting_a_bot_removes_its_webhook, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let (s, _) = bot.app.delete(&format!("/v1/api/bots/{}", bot.bot_id), &bot.key).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(bot.tg.calls_of("deleteWebhook").len(), 1);
});

both_backends!(credentials_are_validated, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let path = format!("/v1/api/bots/{}/platforms", bot.bot_id);
    for bad in [
        json!({ "platform": "telegram", "credentials": { "token": "nope" } }),
        json!({ "platform": "telegram", "credentials": {} }),
        json!({ "platform": "telegram", "credentials": { "token": 5 } }),
        json!({ "platform": "icq", "credentials": { "token": crate::telegram_support::TOKEN } }),
        json!({ "platform": "telegram", "credentials": { "token": crate::telegram_support::TOKEN, "client_secret": "x" } }),
    ] {
        let (s, body) = bot.app.post(&path, &bot.key, bad.clone()).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
    }
    let (s, body) = bot
        .app
        .post(
            &path,
            &bot.key,
            json!({ "platform": "telegram", "credentials": { "api_token": "987:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "api_token is an alias: {body}");
    assert_eq!(body["data"]["credentials"]["token"], "987:****");
});

both_backends!(bot_events_reach_outbound_endpoints, |app: TestApp| async move {
    use crate::fake_receiver::{Answer, FakeReceiver};
    let Some(bot) = TgBot::start(app.backend, auto_scenario()).await else {
        return;
    };
    let receiver = FakeReceiver::start(Answer::Status(200)).await;
    bot.subscribe(&receiver.url(), &["order.created", "dialog.completed"])
        .await;
    bot.send(&text_update(1, 61, "/start")).await;
    bot.tg.wait_for("sendMessage", 3, Duration::from_secs(10)).await;
    bot.send(&text_update(2, 61, "Olga")).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        types.contains(&"order.created".to_string()),
        "{types:?} {:?}",
        got.iter().map(|r| r.json()).collect::<Vec<_>>()
    );
    let order = got.iter().find(|r| r.json()["type"] == "order.created").unwrap();
    assert!(order.json().to_string().contains("Olga"), "{}", order.json());
    assert!(order.header("webhook-signature").starts_with("v1,"), "signed");
});

both_backends!(
    an_emitted_event_that_breaks_its_types_schema_is_dropped_and_the_dialog_goes_on,
    |app: TestApp| async move {
        let scenario = json!({
            "version": "1.0",
            "start_step": "ask",
            "steps": {
                "ask": { "message": { "text": "Your card?" }, "expected_input": { "type": "text", "variable": "card" }, "next_step": "done" },
                "done": { "type": "action", "action": { "emit": "loyalty.joined", "data": { "card": "{{card}}" } }, "message": { "text": "Welcome {{card}}" } }
            }
        });
        let Some(bot) = TgBot::start(app.backend, scenario).await else {
            return;
        };
        // The account's own type wants a number of points the scenario never sends.
        let (s, body) = bot
            .app
            .post(
                &format!("/v1/api/accounts/{}/webhooks/event-types", bot.account),
                &bot.key,
                json!({"name": "loyalty.joined", "schema": {"type": "object", "required": ["points"]}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        bot.send(&text_update(1, 41, "/start")).await;
        let (s, body) = bot.send(&text_update(2, 41, "A-7")).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(bot.texts_to(41).last().unwrap(), "Welcome A-7", "the dialog went on");
        let types = bot.event_types().await;
        assert!(types.iter().any(|t| t == "message.received"), "{types:?}");
        assert!(
            !types.iter().any(|t| t == "loyalty.joined"),
            "refused by its schema: {types:?}"
        );
    }
);
