//! The real binary killed mid-conversation: the acknowledged update's reply still reaches
//! Telegram after a restart; and neither the bot token nor the webhook secret is ever logged.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_telegram::{Failure, FakeTelegram};
use crate::process::{client, start_node_logged};
use crate::telegram_support::{TOKEN, echo_scenario, text_update};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_conversation_the_reply_is_sent_after_restart_and_no_secret_is_logged() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hookline.log");
    let api = tg.base_url();
    let env = [
        ("HOOKLINE_TELEGRAM_API_URL", api.as_str()),
        ("HOOKLINE_PUBLIC_URL", "https://hooks.example.com"),
        ("HOOKLINE_TELEGRAM_REPLY_DEADLINE_MS", "200"),
        ("HOOKLINE_TELEGRAM_REQUEST_TIMEOUT_MS", "1500"),
        ("HOOKLINE_TELEGRAM_OUTBOUND_RATE_LIMIT", "false"),
        ("HOOKLINE_LOG_LEVEL", "debug"),
    ];
    let mut node = start_node_logged(dir.path(), &env, Some(&log)).await;
    let admin = node.admin_key.clone().unwrap();
    let http = client();
    let base = format!("http://{}", node.addr);
    let post = |path: String, body: Value| {
        let req = http.post(format!("{base}{path}")).bearer_auth(&admin).json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let account = post("/v1/api/accounts".into(), json!({ "name": "A" })).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = post(format!("/v1/api/accounts/{account}/bots"), json!({ "name": "B" })).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    post(
        format!("/v1/api/bots/{bot}/platforms"),
        json!({ "platform": "telegram", "credentials": { "token": TOKEN } }),
    )
    .await;
    post(
        format!("/v1/api/bots/{bot}/scenarios"),
        json!({ "name": "S", "scenario_data": echo_scenario() }),
    )
    .await;
    post(format!("/v1/api/bots/{bot}/activate"), json!({})).await;
    let secret = tg.webhook()["secret_token"].as_str().unwrap().to_string();
    let send = |update: Value, base: String| {
        let req = http
            .post(format!("{base}/v1/api/webhooks/telegram/{bot}"))
            .header("X-Telegram-Bot-Api-Secret-Token", secret.clone())
            .json(&update);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    send(text_update(1, 21, "first"), base.clone()).await;
    assert_eq!(tg.calls_of("sendMessage").len(), 1);

    // Telegram hangs on the next reply; the update is acknowledged, the reply is in flight.
    tg.fail_next("sendMessage", 1, Failure::Slow(Duration::from_secs(60)));
    let ack = send(text_update(2, 21, "second"), base.clone()).await;
    assert_eq!(ack["success"], true, "{ack}");
    assert_eq!(ack["data"]["response_sent"], false);
    node.child.start_kill().unwrap(); // SIGKILL mid-send
    node.child.wait().await.unwrap();

    let node = start_node_logged(dir.path(), &env, Some(&log)).await;
    let calls = tg.wait_for("sendMessage", 3, Duration::from_secs(30)).await;
    let texts: Vec<&str> = calls.iter().map(|c| c.params["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts.last(),
        Some(&"got second"),
        "the interrupted reply completed after restart: {texts:?}"
    );
    // A redelivery of the update after the crash is answered from the inbox, not run again.
    let again = send(text_update(2, 21, "second"), format!("http://{}", node.addr)).await;
    assert_eq!(again["data"]["duplicate"], true, "{again}");

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.len() > 1000, "the node logged at debug level");
    let token_secret = TOKEN.split(':').nth(1).unwrap();
    assert!(!logged.contains(token_secret), "the bot token leaked into the log");
    assert!(!logged.contains(&secret), "the webhook secret leaked into the log");
    assert!(!logged.contains(&admin), "the admin key leaked into the log");
}
