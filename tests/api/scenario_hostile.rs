//! Hostile scenario documents over HTTP: each is refused with a 4xx naming what is wrong, and
//! the server keeps answering the bot's updates and other tenants' requests.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_error};
use crate::telegram_support::{TgBot, echo_scenario, text_update};

/// A one-step scenario whose `next_step` condition is `x and x and …` with `terms` tests.
fn flat_chain(terms: usize) -> Value {
    json!({ "version": "1.0", "steps": { "a": {
        "message": { "text": "hi" },
        "expected_input": { "type": "text", "variable": "x" },
        "next_step": { "type": "conditional", "conditions": [
            { "if": vec!["x"; terms].join(" and "), "then": "a" }
        ], "else": "a" }
    } } })
}

async fn create(bot: &TgBot, doc: Value) -> (StatusCode, Value) {
    bot.app
        .post(
            &format!("/v1/api/bots/{}/scenarios", bot.bot_id),
            &bot.key,
            json!({ "name": "hostile", "scenario_data": doc }),
        )
        .await
}

/// The bot still answers an update, and another tenant is still served.
async fn still_serving(bot: &TgBot, update_id: i64) {
    let chat = 7000 + update_id;
    bot.deliver(&text_update(update_id, chat, "hello")).await;
    bot.tg
        .wait_for("sendMessage", 1, std::time::Duration::from_secs(20))
        .await;
    assert!(!bot.texts_to(chat).is_empty(), "the bot answered");
    let (account, key) = bot.app.account_with_key("Other tenant").await;
    let (s, body) = bot.app.get(&format!("/v1/api/accounts/{account}/bots"), &key).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

both_backends!(long_flat_conditions_are_refused, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    // ~100,000 terms once overflowed the stack while uploading; ~10,000 uploaded and then aborted
    // the process on the bot's next update.
    for terms in [100_000, 10_000] {
        let (s, body) = create(&bot, flat_chain(terms)).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        let problems = body["error"]["details"]["problems"].to_string();
        assert!(problems.contains("next_step.conditions[0].if"), "{body}");
        assert!(problems.contains("characters long"), "{body}");
    }
    still_serving(&bot, 1).await;
});

both_backends!(huge_templates_and_deep_yaml_are_refused, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    // 400,000 `{{` in one text once stalled every tenant for minutes while rendering.
    let doc = json!({ "steps": { "a": { "message": { "text": "{{".repeat(400_000) } } } });
    let (s, body) = create(&bot, doc).await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    assert!(
        body["error"]["details"]["problems"]
            .to_string()
            .contains("message.text"),
        "{body}"
    );

    // 40 KB of `[` once took the YAML parser seconds before it refused.
    let resp = bot
        .app
        .client
        .post(bot.app.url(&format!("/v1/api/bots/{}/scenarios/upload", bot.bot_id)))
        .bearer_auth(&bot.key)
        .header("content-type", "application/yaml")
        .body("[".repeat(40_000))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(status, &body, 400, "VALIDATION_ERROR");
    assert!(
        body["error"]["message"].to_string().contains("nests too many"),
        "{body}"
    );
    still_serving(&bot, 2).await;
});

both_backends!(the_active_scenario_cannot_be_deleted, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let (_, list) = bot
        .app
        .get(
            &format!("/v1/api/bots/{}/scenarios?active_only=true", bot.bot_id),
            &bot.key,
        )
        .await;
    let id = list["data"][0]["id"].as_str().expect("an active version").to_string();
    let path = format!("/v1/api/scenarios/{id}");
    let (s, body) = bot.app.delete(&path, &bot.key).await;
    assert_error(s, &body, 409, "CONFLICT");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("activate another"),
        "{body}"
    );
    // Still active, still answering.
    still_serving(&bot, 3).await;
    let (s, body) = bot
        .app
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&bot.key),
            Some(json!({ "is_active": false })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = bot.app.delete(&path, &bot.key).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
});
