//! jq filters and transforms: `POST /v1/api/jq/test`, expressions checked when an endpoint is
//! saved, a filter that declines an event, a transform whose signed body the reference library
//! verifies, and runaway expressions stopped by their bounds without harm to anything else.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::{TestApp, assert_error};
use crate::webhooks_delivery::eventually;
use crate::webhooks_limits::python_verifies;

const WAIT: Duration = Duration::from_secs(30);

impl TestApp {
    /// `POST /v1/api/jq/test`: (status, body).
    async fn jq(&self, key: &str, expression: &str, input: Value) -> (StatusCode, Value) {
        self.post(
            "/v1/api/jq/test",
            key,
            json!({"expression": expression, "input": input}),
        )
        .await
    }
}

crate::webhook_test!(jq_test_answers_outputs_and_errors, |app: TestApp| async move {
    let (_, key) = app.account_with_key("A").await;
    let (s, b) = app.jq(&key, ".a[] | . * 2", json!({"a": [1, 2]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"], json!({"outputs": [2, 4], "error": null}));
    let (_, b) = app
        .jq(&key, ".headers[\"x-github-event\"] // \"none\"", json!({}))
        .await;
    assert_eq!(
        b["data"]["outputs"],
        json!(["none"]),
        "a plain path, evaluated in process"
    );
    let (_, b) = app
        .jq(
            &key,
            "if .n > 1 then error(\"too many: \\(.n)\") else . end",
            json!({"n": 3}),
        )
        .await;
    assert_eq!(b["data"]["outputs"], json!([]));
    assert_eq!(b["data"]["error"], json!({"kind": "failed", "message": "too many: 3"}));
    let (_, b) = app.jq(&key, "\"ab\" * 600000", Value::Null).await;
    assert_eq!(b["data"]["error"]["kind"], "too_large", "{b}");

    let (s, b) = app.jq(&key, ".data |\n  {a: }", Value::Null).await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("expression: line 2, column 7:"),
        "{b}"
    );
    assert_eq!(
        (
            b["error"]["details"]["line"].clone(),
            b["error"]["details"]["column"].clone()
        ),
        (json!(2), json!(7))
    );
    for refused in [
        "env",
        "$ENV",
        "input",
        "debug",
        "halt_error",
        "import \"x\" as x; .",
        "$__loc__",
    ] {
        let (s, b) = app.jq(&key, refused, Value::Null).await;
        assert_error(s, &b, 422, "VALIDATION_ERROR");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("not available"),
            "{refused}: {b}"
        );
    }
    let (s, b) = app.jq(&key, &"[".repeat(10_000), Value::Null).await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    let (s, _) = app
        .call(
            reqwest::Method::POST,
            "/v1/api/jq/test",
            None,
            Some(json!({"expression": "."})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
});

crate::webhook_test!(
    runaway_expressions_are_stopped_and_the_server_goes_on,
    |app: TestApp| async move {
        let (_, key) = app.account_with_key("A").await;
        for runaway in [
            "def f: f; f",
            "last(repeat(1))",
            "[range(1e12)] | length",
            "def f: [f]; f",
        ] {
            let started = Instant::now();
            let (s, b) = app.jq(&key, runaway, Value::Null).await;
            assert_eq!(s, StatusCode::OK, "{runaway}: {b}");
            let kind = b["data"]["error"]["kind"].as_str().unwrap_or_default();
            // The time bound stops it, unless its memory or stack ran out first (then the child died).
            assert!(kind == "timeout" || kind == "failed", "{runaway}: {b}");
            assert!(
                started.elapsed() < Duration::from_millis(1_500),
                "{runaway} took {:?}",
                started.elapsed()
            );
            let (_, b) = app.jq(&key, "[.[] | . + 1]", json!([1, 2])).await;
            assert_eq!(
                b["data"]["outputs"],
                json!([[2, 3]]),
                "a fresh evaluator answers after {runaway}"
            );
        }
        let (_, b) = app.jq(&key, "last(repeat(1))", Value::Null).await;
        assert_eq!(b["data"]["error"]["kind"], "timeout", "{b}");
        assert!(
            b["data"]["error"]["message"].as_str().unwrap().contains("100 ms"),
            "{b}"
        );
        let metrics = app.metrics().await;
        assert!(
            metrics.contains("jq_evaluations_total{outcome=\"timeout\"}"),
            "{metrics}"
        );
    }
);

crate::webhook_test!(endpoint_expressions_are_checked_when_saved, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let create = |body: Value| {
        let app = &app;
        let (a, key) = (a.clone(), key.clone());
        async move {
            app.post(&format!("/v1/api/accounts/{a}/webhooks/endpoints"), &key, body)
                .await
        }
    };
    let (s, b) = create(json!({"url": "http://127.0.0.1:9/h", "filter": ".data | .total >"})).await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("filter: line 1, column 17:"),
        "{b}"
    );
    assert_eq!(b["error"]["details"]["field"], "filter");
    let (s, b) = create(json!({"url": "http://127.0.0.1:9/h", "transform": "{secret: env.HOOKLINE_MASTER_KEY}"})).await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("transform: line 1, column 10:"),
        "{b}"
    );

    let ep = app
        .endpoint(
            &a,
            &key,
            json!({"url": "http://127.0.0.1:9/h", "filter": ".type == \"a\"", "transform": ".data"}),
        )
        .await;
    let path = format!("/v1/api/webhooks/endpoints/{ep}");
    let (_, got) = app.get(&path, &key).await;
    assert_eq!(
        (got["data"]["filter"].clone(), got["data"]["transform"].clone()),
        (json!(".type == \"a\""), json!(".data"))
    );
    let (s, b) = app.patch(&path, &key, json!({"transform": "nosuch(1)"})).await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    assert!(b["error"]["message"].as_str().unwrap().contains("nosuch"), "{b}");
    let (s, b) = app.patch(&path, &key, json!({"filter": null})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["data"]["filter"].clone(), b["data"]["transform"].clone()),
        (Value::Null, json!(".data"))
    );
});

crate::webhook_test!(
    a_filter_declines_an_event_and_the_log_says_so,
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        let ep = app
            .endpoint(
                &a,
                &key,
                json!({"url": rx.url(), "filter": ".data.total > 100 and .type == \"order.created\""}),
            )
            .await;
        let small = app
            .publish(
                &a,
                &key,
                json!({"event_type": "order.created", "payload": {"total": 5}}),
            )
            .await;
        let big = app
            .publish(
                &a,
                &key,
                json!({"event_type": "order.created", "payload": {"total": 500}}),
            )
            .await;
        // The declined event's delivery is done once its attempt is logged; only then is "it never
        // arrived" a fact rather than a race.
        let small_id = small["id"].as_str().unwrap();
        eventually(&app, &format!("/v1/api/webhooks/events/{small_id}"), &key, |b| {
            b["data"]["deliveries"][0]["status"] == "succeeded"
        })
        .await;
        let got = rx.wait_for(1, WAIT).await;
        assert_eq!(got[0].header("webhook-id"), big["id"].as_str().unwrap());
        assert_eq!(rx.count(), 1, "the declined event was never sent");
        let (_, log) = app
            .get(&format!("/v1/api/webhooks/events/{small_id}/attempts"), &key)
            .await;
        let attempt = &log["data"][0];
        assert_eq!(attempt["cause"], "filtered", "{log}");
        assert_eq!(attempt["response_status"], Value::Null);
        assert_eq!(
            attempt["error_message"],
            "not sent: the endpoint's filter yielded false"
        );
        // The receiver answers before the attempt is recorded: wait for the record.
        let big_id = big["id"].as_str().unwrap();
        eventually(&app, &format!("/v1/api/webhooks/events/{big_id}"), &key, |b| {
            b["data"]["deliveries"][0]["status"] == "succeeded"
        })
        .await;
        let (_, stats) = app.get(&format!("/v1/api/webhooks/endpoints/{ep}/stats"), &key).await;
        assert_eq!(
            stats["data"]["last_1h"]["attempts"], 1,
            "a declined event is not a request: {stats}"
        );
    }
);

crate::webhook_test!(
    a_transform_shapes_the_signed_body_and_adds_headers,
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        let transform =
            r#"{"$body": {order: .data.id, total: .data.total, event: .id}, "$headers": {"X-Kind": .type}}"#;
        let ep = app
            .endpoint(&a, &key, json!({"url": rx.url(), "transform": transform}))
            .await;
        let ev = app
            .publish(
                &a,
                &key,
                json!({"event_type": "order.created", "payload": {"id": "A-1", "total": 9.5, "note": "Привет"}}),
            )
            .await;
        let got = rx.wait_for(1, WAIT).await;
        let r = &got[0];
        assert_eq!(r.json(), json!({"order": "A-1", "total": 9.5, "event": ev["id"]}));
        assert_eq!(r.header("x-kind"), "order.created");
        assert_eq!(r.header("content-type"), "application/json");
        let (_, b) = app.get(&format!("/v1/api/webhooks/endpoints/{ep}/secret"), &key).await;
        let secret = b["data"]["secret"].as_str().unwrap().to_string();
        let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
        let ours = hookline::delivery::signing::WebhookSecret::parse(&secret).unwrap();
        assert!(ours.verify(r.header("webhook-id"), ts, &r.body, r.header("webhook-signature")));
        let Some(python) = crate::python::python("a_transform_shapes_the_signed_body_and_adds_headers") else {
            return;
        };
        let headers = json!({
            "webhook-id": r.header("webhook-id"),
            "webhook-timestamp": r.header("webhook-timestamp"),
            "webhook-signature": r.header("webhook-signature"),
        });
        let body = String::from_utf8(r.body.to_vec()).unwrap();
        python_verifies(&python, &[json!({"secret": secret, "headers": headers, "body": body})]);
    }
);

crate::webhook_test!(
    a_runaway_transform_fails_its_attempt_and_others_still_deliver,
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(200)).await;
        let other = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        let ep = app
            .endpoint(
                &a,
                &key,
                json!({"url": rx.url(), "transform": "last(repeat(.))", "retry_schedule": [0]}),
            )
            .await;
        app.endpoint(&a, &key, json!({"url": other.url(), "event_types": ["x"]}))
            .await;
        let first = app
            .publish(&a, &key, json!({"event_type": "x", "payload": {"n": 1}}))
            .await;
        let log = eventually(&app, &format!("/v1/api/webhooks/endpoints/{ep}/attempts"), &key, |b| {
            b["data"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
        let attempt = &log["data"][0];
        assert_eq!(attempt["succeeded"], false);
        assert_eq!(attempt["error_class"], "transform", "{log}");
        let message = attempt["error_message"].as_str().unwrap();
        assert!(
            message.starts_with("transform: ") && message.contains("100 ms"),
            "{message}"
        );
        let id = first["id"].as_str().unwrap();
        eventually(&app, &format!("/v1/api/webhooks/events/{id}"), &key, |b| {
            b["data"]["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["status"] == "failed")
        })
        .await;
        app.publish(&a, &key, json!({"event_type": "x", "payload": {"n": 2}}))
            .await;
        let got = other.wait_for(2, WAIT).await;
        assert_eq!(
            got[1].json()["data"]["n"],
            2,
            "the next event reached the other endpoint"
        );
        assert_eq!(rx.count(), 0, "nothing was sent for the failed transform");
    }
);
