//! The NUL character (`\u0000`): PostgreSQL cannot store it in text or JSON, SQLite can. Both
//! backends refuse it alike on the API (400 naming where it is), and a Telegram update that
//! carries one is still taken (a refusal would be redelivered forever), NUL replaced by U+FFFD.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};
use crate::telegram_support::{TgBot, echo_scenario, text_update};

#[track_caller]
fn assert_nul_refused(s: StatusCode, body: &Value, field: &str) {
    assert_error(s, body, 400, "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], field, "{body}");
}

crate::webhook_test!(
    nul_in_api_bodies_is_refused_naming_the_field,
    |app: TestApp| async move {
        let (s, body) = app
            .post("/v1/api/accounts", &app.admin_key, json!({ "name": "a\u{0}b" }))
            .await;
        assert_nul_refused(s, &body, "/name");
        let (a, key) = app.account_with_key("A").await;
        let publish = format!("/v1/api/accounts/{a}/webhooks/events");
        let (s, body) = app
            .post(
                &publish,
                &key,
                json!({ "event_type": "order.created", "payload": {"note": "x\u{0}"} }),
            )
            .await;
        assert_nul_refused(s, &body, "/payload/note");
        let (s, body) = app
            .post(
                &publish,
                &key,
                json!({ "event_type": "order.created", "payload": {"a\u{0}": [1]} }),
            )
            .await;
        assert_nul_refused(s, &body, "/payload/a\u{FFFD}");
        let (s, body) = app
            .post(
                &publish,
                &key,
                json!({ "event_type": "order\u{0}.created", "payload": {} }),
            )
            .await;
        assert_nul_refused(s, &body, "/event_type");
        let (s, body) = app
        .post(
            &format!("{publish}/batch"),
            &key,
            json!({ "events": [{"event_type": "a.b", "payload": {}}, {"event_type": "a.b", "payload": {"l": ["\u{0}"]}}] }),
        )
        .await;
        assert_nul_refused(s, &body, "/events/1/payload/l/0");
        let (s, body) = app
            .post(
                &format!("/v1/api/accounts/{a}/webhooks/event-types"),
                &key,
                json!({ "name": "a.b", "description": "d\u{0}" }),
            )
            .await;
        assert_nul_refused(s, &body, "/description");
        let (s, body) = app
            .post(
                &format!("/v1/api/accounts/{a}/webhooks/endpoints"),
                &key,
                json!({ "url": "http://127.0.0.1:9/hook", "headers": {"x-tag": "v\u{0}"} }),
            )
            .await;
        assert_nul_refused(s, &body, "/headers/x-tag");

        // Paths and queries name things that are looked up: a NUL there is refused the same way.
        let (s, body) = app.get("/v1/api/webhooks/event-types/a%00b", &key).await;
        assert_nul_refused(s, &body, "path");
        let (s, body) = app.get("/v1/api/webhooks/event-types/a.b?account_id=%00", &key).await;
        assert_nul_refused(s, &body, "query");

        // Nothing was stored, and the server is fine.
        let (s, body) = app.get(&format!("{publish}?limit=10"), &key).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["data"].as_array().map(Vec::len), Some(0), "{body}");
    }
);

mod telegram_update_with_nul {
    use super::*;
    use crate::helpers::Backend;

    async fn run(backend: Backend) {
        let Some(bot) = TgBot::start(backend, echo_scenario()).await else {
            return;
        };
        bot.deliver(&text_update(1, 42, "start")).await;
        let (s, body) = bot.send_once(&text_update(2, 42, "hi\u{0}there")).await;
        assert_eq!(s, StatusCode::OK, "Telegram must not be made to redeliver: {body}");
        bot.tg
            .wait_for("sendMessage", 2, std::time::Duration::from_secs(20))
            .await;
        assert_eq!(bot.texts_to(42).last().map(String::as_str), Some("got hi\u{FFFD}there"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}
