//! Outbound webhooks API: endpoints, secrets, event types, events (idempotent publish, batch,
//! fan-out), with hostile input. Delivery behaviour is in `webhooks_delivery.rs`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error};

/// A server configured for webhook tests: loopback receivers allowed, no API rate limits, a
/// retry schedule in fractions of a second, a short breaker cooldown, fast polling.
pub async fn webhook_app(backend: Backend, extra: impl FnOnce(&mut hookline::config::Config)) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        c.delivery_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
        c.rate_limits.bot_management_per_minute = 0;
        c.rate_limits.webhooks_per_minute = 0;
        c.delivery.retry_schedule_secs = vec![0.0, 0.2, 0.4];
        c.delivery.breaker_cooldown = std::time::Duration::from_millis(500);
        c.delivery.poll = std::time::Duration::from_millis(20);
        extra(c);
    })
    .await
}

/// Like `both_backends!`, on the webhook test configuration (`$tweak` adjusts it further).
#[macro_export]
macro_rules! webhook_test {
    ($name:ident, $body:expr) => {
        $crate::webhook_test!($name, |_c: &mut hookline::config::Config| {}, $body);
    };
    ($name:ident, $tweak:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::webhooks::webhook_app($crate::helpers::Backend::Sqlite, $tweak)
                    .await
                    .expect("sqlite app");
                ($body)(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::webhooks::webhook_app($crate::helpers::Backend::Postgres, $tweak).await {
                    ($body)(app).await;
                }
            }
        }
    };
}

impl TestApp {
    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    /// Create an endpoint; returns its id.
    pub async fn endpoint(&self, account: &str, key: &str, body: Value) -> String {
        let (s, b) = self
            .post(&format!("/v1/api/accounts/{account}/webhooks/endpoints"), key, body)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["data"]["id"].as_str().unwrap().to_string()
    }

    /// Publish one event; returns the 202 body's data.
    pub async fn publish(&self, account: &str, key: &str, body: Value) -> Value {
        let (s, b) = self
            .post(&format!("/v1/api/accounts/{account}/webhooks/events"), key, body)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        b["data"].clone()
    }
}

crate::webhook_test!(endpoint_crud_and_isolation, |app: TestApp| async move {
    let (a, key_a) = app.account_with_key("A").await;
    let (_b, key_b) = app.account_with_key("B").await;
    let (s, body) = app
        .post(
            &format!("/v1/api/accounts/{a}/webhooks/endpoints"),
            &key_a,
            json!({
                "url": "http://127.0.0.1:9/hook", "description": "orders", "event_types": ["order.created"],
                "labels": ["moscow"], "headers": {"X-Token": "s3cret"}, "rate_limit": 5, "max_in_flight": 2,
                "retry_schedule": [0, 1], "metadata": {"team": "pos"}, "timeout_ms": 2000
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let e = &body["data"];
    assert_eq!(e["enabled"], true);
    assert_eq!(e["event_types"], json!(["order.created"]));
    assert_eq!(e["headers"]["x-token"], "****", "header values are write-only");
    assert!(!body.to_string().contains("s3cret") && !body.to_string().contains("whsec_"));
    let id = e["id"].as_str().unwrap();

    let (s, got) = app.get(&format!("/v1/api/webhooks/endpoints/{id}"), &key_a).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["data"]["metadata"]["team"], "pos");
    let (s, got) = app.get(&format!("/v1/api/webhooks/endpoints/{id}"), &key_b).await;
    assert_error(s, &got, 404, "NOT_FOUND");
    let (s, got) = app
        .get(&format!("/v1/api/accounts/{a}/webhooks/endpoints"), &key_b)
        .await;
    assert_error(s, &got, 403, "FORBIDDEN");
    let (s, list) = app
        .get(&format!("/v1/api/accounts/{a}/webhooks/endpoints"), &key_a)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let (s, got) = app
        .patch(
            &format!("/v1/api/webhooks/endpoints/{id}"),
            &key_a,
            json!({"event_types": null, "rate_limit": null, "enabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["data"]["event_types"], Value::Null);
    assert_eq!(got["data"]["rate_limit"], Value::Null);
    assert_eq!(got["data"]["enabled"], false);
    assert_eq!(got["data"]["disabled_reason"], "disabled by the account");
    assert_eq!(got["data"]["max_in_flight"], 2, "absent fields are kept");
    let (s, got) = app
        .patch(
            &format!("/v1/api/webhooks/endpoints/{id}"),
            &key_a,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["data"]["disabled_reason"], Value::Null);

    let (s, _) = app.delete(&format!("/v1/api/webhooks/endpoints/{id}"), &key_b).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.delete(&format!("/v1/api/webhooks/endpoints/{id}"), &key_a).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get(&format!("/v1/api/webhooks/endpoints/{id}"), &key_a).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});

crate::webhook_test!(endpoint_input_is_validated, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let path = format!("/v1/api/accounts/{a}/webhooks/endpoints");
    let bad: &[(Value, &str)] = &[
        (json!({"url": "ftp://127.0.0.1/x"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "http://user:pw@127.0.0.1/x"}), "url"),
        (json!({"url": format!("http://127.0.0.1/{}", "a".repeat(3000))}), "url"),
        (json!({"url": "http://127.0.0.1/x", "timeout_ms": 5}), "timeout_ms"),
        (json!({"url": "http://127.0.0.1/x", "rate_limit": 0}), "rate_limit"),
        (
            json!({"url": "http://127.0.0.1/x", "max_in_flight": 5000}),
            "max_in_flight",
        ),
        (
            json!({"url": "http://127.0.0.1/x", "retry_schedule": []}),
            "retry_schedule",
        ),
        (
            json!({"url": "http://127.0.0.1/x", "retry_schedule": [-1]}),
            "retry_schedule",
        ),
        (
            json!({"url": "http://127.0.0.1/x", "event_types": ["bad type"]}),
            "event_types",
        ),
        (json!({"url": "http://127.0.0.1/x", "labels": ["a,b"]}), "labels"),
        (
            json!({"url": "http://127.0.0.1/x", "headers": {"webhook-id": "x"}}),
            "headers",
        ),
        (
            json!({"url": "http://127.0.0.1/x", "headers": {"Host": "x"}}),
            "headers",
        ),
        (
            json!({"url": "http://127.0.0.1/x", "headers": {"bad name": "x"}}),
            "headers",
        ),
        (
            json!({"url": "http://127.0.0.1/x", "headers": {"x-a": "line\nbreak"}}),
            "headers",
        ),
        (json!({"url": "http://127.0.0.1/x", "metadata": [1]}), "metadata"),
        (
            json!({"url": "http://127.0.0.1/x", "metadata": {"k": "v".repeat(5000)}}),
            "metadata",
        ),
        (json!({"url": "http://127.0.0.1/x", "secret": "whsec_short"}), "secret"),
        (json!({"url": "http://127.0.0.1/x", "secret": "plain"}), "secret"),
    ];
    for (body, field) in bad {
        let (s, b) = app.post(&path, &key, body.clone()).await;
        assert_error(s, &b, 400, "VALIDATION_ERROR");
        assert_eq!(b["error"]["details"]["field"], *field, "{body} → {b}");
    }
    let (s, b) = app
        .post(&path, &key, json!({"url": "http://127.0.0.1/x", "unknown": 1}))
        .await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    let (s, b) = app.post(&path, &key, json!({})).await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    let (s, b) = app.post(&path, &key, json!({"url": 5})).await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    let resp = app
        .client
        .post(app.url(&path))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"url\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (s, _) = app.get("/v1/api/webhooks/endpoints/not-a-uuid", &key).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/v1/api/accounts/{a}/webhooks/endpoints"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
});

crate::webhook_test!(
    ssrf_guard_refuses_private_addresses_at_creation,
    |c: &mut hookline::config::Config| {
        c.delivery_allowed_networks = vec![];
    },
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        let path = format!("/v1/api/accounts/{a}/webhooks/endpoints");
        for url in [
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://10.0.0.5/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://192.168.1.1/x",
            "http://0.0.0.0/x",
        ] {
            let (s, b) = app.post(&path, &key, json!({ "url": url })).await;
            assert_error(s, &b, 400, "VALIDATION_ERROR");
            assert_eq!(b["error"]["details"]["field"], "url", "{url}: {b}");
        }
        let (s, b) = app
            .post(&path, &key, json!({ "url": "https://93.184.216.34/hook" }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "a public address is fine: {b}");
    }
);

crate::webhook_test!(secret_read_and_rotate, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let supplied = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let id = app
        .endpoint(&a, &key, json!({"url": "http://127.0.0.1:9/x", "secret": supplied}))
        .await;
    let (s, b) = app.get(&format!("/v1/api/webhooks/endpoints/{id}/secret"), &key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["data"]["secret"], supplied);
    assert_eq!(b["data"]["previous_secret_expires_at"], Value::Null);
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/api/webhooks/endpoints/{id}/secret/rotate"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let new = b["data"]["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_") && new != supplied);
    assert!(b["data"]["previous_secret_expires_at"].is_string());
    let (s, b) = app
        .post(
            &format!("/v1/api/webhooks/endpoints/{id}/secret/rotate"),
            &key,
            json!({"grace_period_secs": 999999999}),
        )
        .await;
    assert_error(s, &b, 400, "VALIDATION_ERROR");
    let (_other, other_key) = app.account_with_key("B").await;
    let (s, _) = app
        .get(&format!("/v1/api/webhooks/endpoints/{id}/secret"), &other_key)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});

crate::webhook_test!(event_types_catalogue_and_schema, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let (s, list) = app
        .get(&format!("/v1/api/accounts/{a}/webhooks/event-types"), &key)
        .await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for n in [
        "message.received",
        "dialog.completed",
        "order.created",
        "endpoint.disabled",
        "delivery.failed",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let (s, t) = app.get("/v1/api/webhooks/event-types/order.created", &key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["data"]["platform"], true);
    assert!(t["data"]["example"].is_object());
    let (s, b) = app
        .patch(
            "/v1/api/webhooks/event-types/order.created",
            &key,
            json!({"deprecated": true}),
        )
        .await;
    assert_error(s, &b, 403, "FORBIDDEN");
    let (s, b) = app
        .post(
            &format!("/v1/api/accounts/{a}/webhooks/event-types"),
            &key,
            json!({"name": "order.created"}),
        )
        .await;
    assert_error(s, &b, 409, "CONFLICT");

    let schema = json!({"type": "object", "required": ["points"], "properties": {"points": {"type": "integer"}}});
    let (s, b) = app
        .post(
            &format!("/v1/api/accounts/{a}/webhooks/event-types"),
            &key,
            json!({"name": "loyalty.points", "description": "points added", "schema": schema}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app
        .post(
            &format!("/v1/api/accounts/{a}/webhooks/event-types"),
            &key,
            json!({"name": "loyalty.points"}),
        )
        .await;
    assert_error(s, &b, 409, "CONFLICT");
    let (s, b) = app
        .post(
            &format!("/v1/api/accounts/{a}/webhooks/event-types"),
            &key,
            json!({"name": "bad name"}),
        )
        .await;
    assert_error(s, &b, 400, "VALIDATION_ERROR");
    let (s, b) = app
        .post(
            &format!("/v1/api/accounts/{a}/webhooks/event-types"),
            &key,
            json!({"name": "x.y", "schema": 5}),
        )
        .await;
    assert_error(s, &b, 400, "VALIDATION_ERROR");

    // The schema is enforced on publish.
    let (s, b) = app
        .post(
            &format!("/v1/api/accounts/{a}/webhooks/events"),
            &key,
            json!({"event_type": "loyalty.points", "payload": {"points": "many"}}),
        )
        .await;
    assert_error(s, &b, 400, "VALIDATION_ERROR");
    assert_eq!(b["error"]["details"]["field"], "payload");
    app.publish(
        &a,
        &key,
        json!({"event_type": "loyalty.points", "payload": {"points": 5}}),
    )
    .await;

    let (s, b) = app
        .patch(
            "/v1/api/webhooks/event-types/loyalty.points",
            &key,
            json!({"schema": null, "deprecated": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["deprecated"], true);
    app.publish(
        &a,
        &key,
        json!({"event_type": "loyalty.points", "payload": {"points": "many"}}),
    )
    .await;
    let (s, _) = app
        .get("/v1/api/webhooks/event-types/loyalty.points", &app.admin_key)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an admin must say which account");
    let (s, _) = app
        .get(
            &format!("/v1/api/webhooks/event-types/loyalty.points?account_id={a}"),
            &app.admin_key,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.delete("/v1/api/webhooks/event-types/loyalty.points", &key).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get("/v1/api/webhooks/event-types/loyalty.points", &key).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});
