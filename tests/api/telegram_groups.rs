//! Where updates may come from, and groups that become supergroups (`migrate_to_chat_id`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fake_telegram::Failure;
use crate::helpers::{TestApp, assert_error};
use crate::telegram_support::{TgBot, echo_scenario, text_update, user};

fn group_update(update_id: i64, chat: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000, "text": text, "from": user(7),
            "chat": { "id": chat, "type": "group", "title": "Kitchen" }
        }
    })
}

both_backends!(updates_only_from_the_configured_networks, |app: TestApp| async move {
    let Some(bot) = TgBot::start_with(app.backend, echo_scenario(), |c| {
        c.telegram_source_networks = vec!["149.154.160.0/20".parse().unwrap()];
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    // Straight from loopback: not Telegram.
    let (s, body) = bot.send(&text_update(1, 5, "hi")).await;
    assert_error(s, &body, 403, "FORBIDDEN");
    let forwarded = |ip: &str, update: i64| {
        bot.app
            .client
            .post(bot.app.url(&bot.webhook_path()))
            .header("content-type", "application/json")
            .header("X-Telegram-Bot-Api-Secret-Token", &bot.secret)
            .header("x-forwarded-for", ip.to_string())
            .body(text_update(update, 5, "hi").to_string())
            .send()
    };
    // Through our trusted proxy, from Telegram's range: accepted.
    let resp = forwarded("149.154.167.99", 2).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Through the proxy, from elsewhere; and a spoofed header behind a hop we do not trust.
    assert_eq!(
        forwarded("203.0.113.9", 3).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        forwarded("149.154.167.99, 203.0.113.9", 4).await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "the rightmost untrusted address decides"
    );
    assert_eq!(
        bot.tg.calls_of("sendMessage").len(),
        1,
        "only the accepted update was answered"
    );
});

both_backends!(a_reply_to_a_migrated_group_follows_it, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    bot.tg.fail_next(
        "sendMessage",
        1,
        Failure::Custom(
            400,
            json!({"ok": false, "error_code": 400,
                   "description": "Bad Request: group chat was upgraded to a supergroup chat",
                   "parameters": {"migrate_to_chat_id": -100777}}),
        ),
    );
    bot.deliver(&group_update(1, -5, "/start")).await;
    let calls = bot.tg.wait_for("sendMessage", 2, Duration::from_secs(10)).await;
    assert_eq!(calls.len(), 2, "sent again after Telegram's answer");
    assert_eq!(calls[0].params["chat_id"], -5);
    assert_eq!(calls[1].params["chat_id"], -100777, "to the supergroup");
    assert_eq!(calls[1].params["text"], calls[0].params["text"]);
});

both_backends!(a_migrated_group_keeps_its_dialog, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    bot.deliver(&group_update(1, -6, "/start")).await;
    bot.deliver(&group_update(2, -6, "pasta")).await;
    // Telegram's service message in the old group.
    bot.deliver(&json!({
        "update_id": 3,
        "message": { "message_id": 3, "date": 1_700_000_000, "from": user(7),
                     "chat": { "id": -6, "type": "group", "title": "Kitchen" },
                     "migrate_to_chat_id": -100888 }
    }))
    .await;
    let (s, body) = bot
        .app
        .get(
            &format!("/v1/api/bots/{}/dialogs/telegram/-100888", bot.bot_id),
            &bot.key,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["collected_data"]["last"], "pasta", "{body}");
    let (s, _) = bot
        .app
        .get(&format!("/v1/api/bots/{}/dialogs/telegram/-6", bot.bot_id), &bot.key)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the old group has no dialog any more");
    // The conversation goes on in the supergroup.
    bot.deliver(&json!({
        "update_id": 4,
        "message": { "message_id": 1, "date": 1_700_000_000, "text": "soup", "from": user(7),
                     "chat": { "id": -100888, "type": "supergroup", "title": "Kitchen" } }
    }))
    .await;
    assert_eq!(
        bot.tg.calls_of("sendMessage").last().unwrap().params["text"],
        "got soup"
    );
});
