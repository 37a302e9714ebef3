//! The inbound Telegram webhook end to end, against the fake Telegram Bot API.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fake_telegram::Failure;
use crate::helpers::{TestApp, assert_error};

use crate::telegram_support::{TOKEN, TgBot, echo_scenario, text_update};

both_backends!(success_answer_has_the_seed_shape, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let (s, body) = bot.send(&text_update(1001, 42, "hello")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(body["success"], true);
    assert_eq!(data["update_id"], 1001);
    assert_eq!(data["bot_id"], bot.bot_id.as_str());
    assert_eq!(data["platform_chat_id"], "42");
    assert_eq!(data["event_type"], "message.received");
    assert_eq!(data["response_sent"], true);
    assert!(data["processing_time_ms"].is_u64());
    let at = data["processed_at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.contains('T'), "{at}");
    assert!(data.get("duplicate").is_none());
    assert_eq!(bot.texts_to(42), ["got "]);
});

both_backends!(seed_error_table, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let update = text_update(1, 7, "hi");
    // 404 BOT_NOT_FOUND: unknown, malformed.
    let (s, body) = bot
        .app
        .call(
            reqwest::Method::POST,
            &format!("/v1/api/webhooks/telegram/{}", uuid::Uuid::now_v7()),
            None,
            Some(update.clone()),
        )
        .await;
    assert_error(s, &body, 404, "BOT_NOT_FOUND");
    let (s, body) = bot
        .app
        .call(
            reqwest::Method::POST,
            "/v1/api/webhooks/telegram/not-a-bot",
            None,
            Some(update.clone()),
        )
        .await;
    assert_error(s, &body, 404, "BOT_NOT_FOUND");
    // 401 INVALID_BOT_TOKEN: missing or wrong secret.
    let (s, body) = bot.send_raw(update.to_string(), None).await;
    assert_error(s, &body, 401, "INVALID_BOT_TOKEN");
    let (s, body) = bot.send_raw(update.to_string(), Some("wrong-secret")).await;
    assert_error(s, &body, 401, "INVALID_BOT_TOKEN");
    let almost = format!("{}x", &bot.secret[..bot.secret.len() - 1]);
    let (s, body) = bot.send_raw(update.to_string(), Some(&almost)).await;
    assert_error(s, &body, 401, "INVALID_BOT_TOKEN");
    // 400 INVALID_UPDATE_FORMAT.
    for bad in [
        "not json",
        "",
        "[]",
        r#"{"message": {}}"#,
        r#"{"update_id": "1"}"#,
        r#"{"update_id": -5}"#,
    ] {
        let (s, body) = bot.send_raw(bad.to_string(), Some(&bot.secret)).await;
        assert_error(s, &body, 400, "INVALID_UPDATE_FORMAT");
    }
    // 413 for an oversized body.
    let huge = json!({ "update_id": 3, "message": { "text": "x".repeat(2 * 1024 * 1024) } }).to_string();
    let (s, body) = bot.send_raw(huge, Some(&bot.secret)).await;
    assert_error(s, &body, 413, "PAYLOAD_TOO_LARGE");
    assert!(
        bot.tg.calls_of("sendMessage").is_empty(),
        "no bad request produced a reply"
    );
    // 500 INTERNAL_ERROR: a dialog whose stored state cannot be read; nothing internal leaks.
    bot.send(&text_update(10, 9, "start")).await;
    corrupt_dialog(&bot.app, "9").await;
    let (s, body) = bot.send(&text_update(11, 9, "again")).await;
    assert_error(s, &body, 500, "INTERNAL_ERROR");
    assert!(
        !body.to_string().contains("unreadable"),
        "no internals in a 500: {body}"
    );
    // 404 again for an inactive bot, and for a deleted one.
    let (s, _) = bot
        .app
        .post(&format!("/v1/api/bots/{}/deactivate", bot.bot_id), &bot.key, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = bot.send(&text_update(12, 7, "hi")).await;
    assert_error(s, &body, 404, "BOT_NOT_FOUND");
    bot.app.delete(&format!("/v1/api/bots/{}", bot.bot_id), &bot.key).await;
    let (s, body) = bot.send(&text_update(13, 7, "hi")).await;
    assert_error(s, &body, 404, "BOT_NOT_FOUND");
});

async fn corrupt_dialog(app: &TestApp, chat: &str) {
    use hookline::config::DatabaseConfig;
    // The version moves as with every writer of a dialog, so the snapshot the node keeps of
    // the chat fails its version guard and the next update reads this row back.
    let sql = "UPDATE dialogs SET state = 'garbage', version = version + 1 WHERE chat_id = $1";
    match &app.config.database {
        DatabaseConfig::Sqlite { path } => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(sql).bind(chat).execute(&pool).await.unwrap();
        }
        DatabaseConfig::Postgres { url } => {
            let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
            sqlx::query(sql).bind(chat).execute(&pool).await.unwrap();
        }
    }
}

both_backends!(unavailable_database_is_503_not_ready, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    bot.app.state.store.close().await;
    let (s, body) = bot.send_once(&text_update(1, 7, "hi")).await;
    // Not 422: the database is gone, and the answer says so, as every other route does.
    assert_error(s, &body, 503, "NOT_READY");
});

both_backends!(every_update_kind_is_accepted, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let cases = [
        (
            json!({ "update_id": 50, "inline_query": { "id": "q", "from": crate::telegram_support::user(5), "query": "x", "offset": "" } }),
            "update.ignored",
        ),
        (
            json!({ "update_id": 51, "channel_post": { "message_id": 1, "date": 1, "chat": { "id": -100, "type": "channel" }, "text": "news" } }),
            "update.ignored",
        ),
        (
            json!({ "update_id": 52, "some_future_kind": { "x": 1 } }),
            "update.ignored",
        ),
        (
            json!({ "update_id": 53, "edited_message": { "message_id": 1, "date": 1, "edit_date": 2, "chat": { "id": 5, "type": "private" }, "from": crate::telegram_support::user(5), "text": "fixed" } }),
            "message.edited",
        ),
        (
            json!({ "update_id": 54, "my_chat_member": { "chat": { "id": 5, "type": "private" }, "from": crate::telegram_support::user(5), "date": 1,
            "old_chat_member": { "status": "member", "user": { "id": 1, "is_bot": true, "first_name": "b" } },
            "new_chat_member": { "status": "kicked", "until_date": 0, "user": { "id": 1, "is_bot": true, "first_name": "b" } } } }),
            "bot.blocked",
        ),
        (text_update(55, 5, "/help"), "command.received"),
    ];
    for (update, event_type) in cases {
        let (s, body) = bot.send(&update).await;
        assert_eq!(s, StatusCode::OK, "{update} → {body}");
        assert_eq!(body["data"]["event_type"], event_type, "{update}");
    }
    let types = bot.event_types().await;
    assert!(
        ["bot.blocked", "update.ignored", "command.received"]
            .iter()
            .all(|want| types.iter().any(|t| t == want)),
        "{types:?}"
    );
});

both_backends!(
    duplicate_update_sent_twice_in_parallel_is_processed_once,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        bot.send(&text_update(1, 77, "first")).await;
        let update = text_update(2, 77, "second");
        let (a, b) = tokio::join!(bot.send(&update), bot.send(&update));
        assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
        let dups = [a.1["data"]["duplicate"].clone(), b.1["data"]["duplicate"].clone()];
        assert_eq!(dups.iter().filter(|d| **d == Value::Bool(true)).count(), 1, "{dups:?}");
        // And once more, sequentially: the original answer again.
        let (s, c) = bot.send(&update).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(c["data"]["duplicate"], true);
        assert_eq!(c["data"]["event_type"], "message.received");
        assert_eq!(c["data"]["response_sent"], true, "the original reply was sent: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            bot.texts_to(77),
            ["got ", "got second"],
            "the scenario ran once for update 2"
        );
    }
);

both_backends!(
    many_chats_in_parallel_keep_each_chats_order,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        let bot = std::sync::Arc::new(bot);
        let mut chats = tokio::task::JoinSet::new();
        for chat in 0..50i64 {
            let bot = bot.clone();
            chats.spawn(async move {
                for i in 0..20i64 {
                    let (s, body) = bot
                        .send(&text_update(chat * 1000 + i + 1, 1000 + chat, &i.to_string()))
                        .await;
                    assert_eq!(s, StatusCode::OK, "{body}");
                }
            });
        }
        while let Some(r) = chats.join_next().await {
            r.unwrap();
        }
        // A reply not accepted within the webhook's deadline still goes out, right after.
        bot.tg.wait_for("sendMessage", 50 * 20, Duration::from_secs(30)).await;
        for chat in 0..50i64 {
            let mut want = vec!["got ".to_string()];
            want.extend((1..20).map(|i| format!("got {i}")));
            assert_eq!(bot.texts_to(1000 + chat), want, "chat {chat}");
        }
    }
);

both_backends!(
    telegram_429_is_honoured_and_no_reply_is_lost,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        bot.tg.fail_next("sendMessage", 1, Failure::RetryAfter(1));
        let (s, body) = bot.send(&text_update(1, 5, "hi")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            body["data"]["response_sent"], false,
            "Telegram refused within the request: {body}"
        );
        let calls = bot.tg.wait_for("sendMessage", 2, Duration::from_secs(10)).await;
        assert_eq!(calls.len(), 2, "retried after retry_after");
        let gap = calls[1].at.duration_since(calls[0].at);
        assert!(
            gap >= Duration::from_millis(950),
            "waited retry_after (1 s), got {gap:?}"
        );
        assert_eq!(calls[1].params["text"], "got ");
    }
);

both_backends!(server_errors_are_retried_in_order, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    bot.tg.fail_next("sendMessage", 1, Failure::ServerError);
    bot.send(&text_update(1, 6, "a")).await;
    bot.send(&text_update(2, 6, "b")).await;
    bot.tg.wait_for("sendMessage", 3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        bot.texts_to(6)[1..],
        ["got ", "got b"],
        "the failed reply went first, then the next one"
    );
});

both_backends!(slow_telegram_does_not_hold_the_webhook, |app: TestApp| async move {
    let Some(bot) = TgBot::start_with(app.backend, echo_scenario(), |c| {
        c.telegram_reply_deadline = Duration::from_millis(300);
    })
    .await
    else {
        return;
    };
    bot.tg
        .fail_next("sendMessage", 1, Failure::Slow(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let (s, body) = bot.send(&text_update(1, 8, "hi")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered within the deadline"
    );
    assert_eq!(body["data"]["response_sent"], false);
    // Another chat is not delayed by the slow one.
    let (s, body) = bot.send(&text_update(2, 9, "hi")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"]["response_sent"], true, "{body}");
});

both_backends!(secrets_never_appear_in_api_answers, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let secret_part = TOKEN.split(':').nth(1).unwrap();
    for path in [
        format!("/v1/api/bots/{}/platforms", bot.bot_id),
        format!("/v1/api/bots/{}/platforms/telegram", bot.bot_id),
        format!("/v1/api/bots/{}", bot.bot_id),
    ] {
        let (_, body) = bot.app.get(&path, &bot.key).await;
        let text = body.to_string();
        assert!(
            !text.contains(secret_part) && !text.contains(&bot.secret),
            "{path}: {text}"
        );
    }
    let (_, body) = bot
        .app
        .get(&format!("/v1/api/bots/{}/platforms/telegram", bot.bot_id), &bot.key)
        .await;
    assert_eq!(body["data"]["credentials"]["token"], "123456789:****");
    let (_, status) = bot
        .app
        .get(&format!("/v1/api/webhooks/telegram/{}/status", bot.bot_id), &bot.key)
        .await;
    assert!(!status.to_string().contains(&bot.secret), "{status}");
    let dbg = format!("{:?} {:?}", bot.app.config, bot.app.state.runtime.platforms);
    assert!(!dbg.contains(secret_part));
});
