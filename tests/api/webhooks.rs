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

crate::webhook_test!(
    publish_is_idempotent_and_fans_out_by_filter,
    |c: &mut hookline::config::Config| {
        c.delivery.enabled = false;
    },
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        let all = app.endpoint(&a, &key, json!({"url": "http://127.0.0.1:9/all"})).await;
        let orders = app
            .endpoint(
                &a,
                &key,
                json!({"url": "http://127.0.0.1:9/o", "event_types": ["order.created"]}),
            )
            .await;
        let vip = app
            .endpoint(
                &a,
                &key,
                json!({"url": "http://127.0.0.1:9/v", "labels": ["vip", "moscow"]}),
            )
            .await;
        let off = app
            .endpoint(&a, &key, json!({"url": "http://127.0.0.1:9/off", "enabled": false}))
            .await;

        let first = app
            .publish(
                &a,
                &key,
                json!({"event_type": "order.created", "payload": {"n": 1}, "labels": ["vip"], "event_id": "o-1"}),
            )
            .await;
        assert_eq!(first["duplicate"], false);
        assert_eq!(first["event_id"], "o-1");
        let again = app
            .publish(
                &a,
                &key,
                json!({"event_type": "order.created", "payload": {"n": 2}, "event_id": "o-1"}),
            )
            .await;
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["id"], first["id"], "a repeated event_id returns the original");

        // Idempotency-Key header.
        let path = format!("/v1/api/accounts/{a}/webhooks/events");
        let send = |k: &'static str| {
            app.client
                .post(app.url(&path))
                .bearer_auth(&key)
                .header("Idempotency-Key", k)
                .json(&json!({"event_type": "dialog.completed", "payload": {}, "labels": ["vip", "moscow"]}))
                .send()
        };
        let r1: Value = send("key-1").await.unwrap().json().await.unwrap();
        let r2: Value = send("key-1").await.unwrap().json().await.unwrap();
        assert_eq!(r1["data"]["id"], r2["data"]["id"]);
        assert_eq!(r2["data"]["duplicate"], true);

        let (s, ev) = app
            .get(
                &format!("/v1/api/webhooks/events/{}", first["id"].as_str().unwrap()),
                &key,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(ev["data"]["payload"], json!({"n": 1}), "the original payload is kept");
        let mut got: Vec<String> = ev["data"]["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["endpoint_id"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        let mut want = vec![all.clone(), orders.clone()];
        want.sort();
        assert_eq!(got, want, "vip needs both labels; disabled endpoints get nothing");
        assert!(
            ev["data"]["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["status"] == "pending")
        );

        let (_, ev) = app
            .get(
                &format!("/v1/api/webhooks/events/{}", r1["data"]["id"].as_str().unwrap()),
                &key,
            )
            .await;
        let mut got: Vec<String> = ev["data"]["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["endpoint_id"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        let mut want = vec![all.clone(), vip.clone()];
        want.sort();
        assert_eq!(got, want);
        let _ = off;

        let (s, list) = app
            .get(&format!("/v1/api/accounts/{a}/webhooks/events?limit=1"), &key)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        assert!(list["page"]["next_cursor"].is_string());
        let (_, list) = app
            .get(
                &format!("/v1/api/accounts/{a}/webhooks/events?event_type=dialog.completed"),
                &key,
            )
            .await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
    }
);

crate::webhook_test!(
    batch_publish_and_hostile_events,
    |c: &mut hookline::config::Config| {
        c.delivery.enabled = false;
        c.max_body_bytes = 4 * 1024 * 1024;
    },
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        let (b, _key_b) = app.account_with_key("B").await;
        let path = format!("/v1/api/accounts/{a}/webhooks/events/batch");
        let events: Vec<Value> = (0..1000)
            .map(|i| json!({"event_type": "order.created", "payload": {"i": i}, "event_id": format!("b-{i}")}))
            .collect();
        let (s, body) = app.post(&path, &key, json!({ "events": events })).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
        let rows = body["data"].as_array().unwrap();
        assert_eq!(rows.len(), 1000);
        assert_eq!(rows[999]["event_id"], "b-999");
        let (s, body) = app
        .post(&path, &key, json!({ "events": [{"event_type": "x", "payload": 1, "event_id": "b-5"}, {"event_type": "x", "payload": 2}] }))
        .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        assert_eq!(body["data"][0]["duplicate"], true);
        assert_eq!(body["data"][1]["duplicate"], false);

        let too_many: Vec<Value> = (0..1001).map(|_| json!({"event_type": "x", "payload": {}})).collect();
        let (s, body) = app.post(&path, &key, json!({ "events": too_many })).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        let (s, body) = app.post(&path, &key, json!({ "events": [] })).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        let (s, body) = app
            .post(
                &path,
                &key,
                json!({ "events": [{"event_type": "ok", "payload": {}}, {"event_type": "no spaces", "payload": {}}] }),
            )
            .await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["field"], "events[1].event_type");

        let one = format!("/v1/api/accounts/{a}/webhooks/events");
        let hostile: &[Value] = &[
            json!({"event_type": "", "payload": {}}),
            json!({"event_type": "a".repeat(101), "payload": {}}),
            json!({"event_type": "x", "payload": {}, "event_id": ""}),
            json!({"event_type": "x", "payload": {}, "event_id": "a\u{0}b"}),
            json!({"event_type": "x", "payload": {}, "labels": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}),
        ];
        for h in hostile {
            let (s, body) = app.post(&one, &key, h.clone()).await;
            assert_error(s, &body, 400, "VALIDATION_ERROR");
        }
        let (s, body) = app.post(&one, &key, json!({"event_type": "x"})).await;
        assert_error(s, &body, 422, "VALIDATION_ERROR");
        let (s, body) = app
            .post(&one, &key, json!({"event_type": "x", "payload": {}, "extra": 1}))
            .await;
        assert_error(s, &body, 422, "VALIDATION_ERROR");
        let (s, _) = app
            .post(
                &format!("/v1/api/accounts/{b}/webhooks/events"),
                &key,
                json!({"event_type": "x", "payload": {}}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let ghost = uuid::Uuid::now_v7();
        let (s, body) = app
            .post(
                &format!("/v1/api/accounts/{ghost}/webhooks/events"),
                &app.admin_key,
                json!({"event_type": "x", "payload": {}}),
            )
            .await;
        assert_error(s, &body, 404, "NOT_FOUND");
        let big = json!({"event_type": "x", "payload": {"s": "x".repeat(5 * 1024 * 1024)}});
        let (s, _) = app.post(&one, &key, big).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        let resp = app
            .client
            .post(app.url(&one))
            .bearer_auth(&key)
            .header("Idempotency-Key", "k")
            .json(&json!({"event_type": "x", "payload": {}, "event_id": "other"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "a key that contradicts event_id is refused");
    }
);
