//! Delivery against fake receivers: signing, retries on a scaled schedule, 410, Retry-After,
//! the circuit breaker, rate limit and in-flight cap, rotation, replay, and the attempt log.

use std::time::Duration;

use hookline::delivery::signing::WebhookSecret;
use hookline::model::ids::EndpointId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::TestApp;

const WAIT: Duration = Duration::from_secs(20);

/// Poll `GET path` until `done(body)` holds.
pub async fn eventually(app: &TestApp, path: &str, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (s, body) = app.get(path, key).await;
        if s == StatusCode::OK && done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached on {path}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn verify(secret: &str, r: &crate::fake_receiver::Received) -> bool {
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    WebhookSecret::parse(secret)
        .unwrap()
        .verify(r.header("webhook-id"), ts, &r.body, r.header("webhook-signature"))
}

async fn secret_of(app: &TestApp, key: &str, endpoint: &str) -> String {
    let (_, b) = app
        .get(&format!("/v1/api/webhooks/endpoints/{endpoint}/secret"), key)
        .await;
    b["data"]["secret"].as_str().unwrap().to_string()
}

crate::webhook_test!(delivers_signed_and_logs_the_attempt, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let (a, key) = app.account_with_key("A").await;
    let ep = app
        .endpoint(&a, &key, json!({"url": rx.url(), "headers": {"x-token": "t0ken"}}))
        .await;
    let secret = secret_of(&app, &key, &ep).await;
    let ev = app
        .publish(
            &a,
            &key,
            json!({"event_type": "order.created", "payload": {"total": 980, "items": ["ramen"]}}),
        )
        .await;
    let got = rx.wait_for(1, WAIT).await;
    let r = &got[0];
    assert_eq!(r.header("webhook-id"), ev["id"].as_str().unwrap());
    assert_eq!(r.header("x-token"), "t0ken", "custom headers are sent");
    assert_eq!(r.header("content-type"), "application/json");
    assert!(verify(&secret, r), "signature verifies");
    let body = r.json();
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["data"], json!({"total": 980, "items": ["ramen"]}));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let id = ev["id"].as_str().unwrap();
    let event = eventually(&app, &format!("/v1/api/webhooks/events/{id}"), &key, |b| {
        b["data"]["deliveries"][0]["status"] == "succeeded"
    })
    .await;
    assert_eq!(event["data"]["deliveries"][0]["attempts"], 1);
    let (s, attempts) = app
        .get(&format!("/v1/api/webhooks/endpoints/{ep}/attempts"), &key)
        .await;
    assert_eq!(s, StatusCode::OK);
    let list = attempts["data"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["response_status"], 200);
    assert_eq!(list[0]["succeeded"], true);
    let attempt_id = list[0]["id"].as_str().unwrap();
    let (_, full) = app.get(&format!("/v1/api/webhooks/attempts/{attempt_id}"), &key).await;
    assert_eq!(full["data"]["response_body"], "answer body");
    assert_eq!(full["data"]["request_headers"]["webhook-signature"], "v1,****");
    assert_eq!(full["data"]["request_headers"]["x-token"], "****");
    assert!(!full.to_string().contains(&secret) && !full.to_string().contains("t0ken"));
    let (_, by_event) = app.get(&format!("/v1/api/webhooks/events/{id}/attempts"), &key).await;
    assert_eq!(by_event["data"].as_array().unwrap().len(), 1);
    let (_, failed) = app
        .get(&format!("/v1/api/webhooks/endpoints/{ep}/attempts?status=failed"), &key)
        .await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 0);
    let (s, _) = app
        .get(&format!("/v1/api/webhooks/endpoints/{ep}/attempts?status=maybe"), &key)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app
        .get(
            &format!("/v1/api/webhooks/endpoints/{ep}/attempts?since=yesterday"),
            &key,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, stats) = app.get(&format!("/v1/api/webhooks/endpoints/{ep}/stats"), &key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stats["data"]["last_1h"]["attempts"], 1);
    assert_eq!(stats["data"]["last_7d"]["success_rate"], 1.0);
    assert!(stats["data"]["last_24h"]["latency_p99_ms"].is_i64());
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hookline_webhook_delivery_attempts_total"),
        "{metrics}"
    );
});

crate::webhook_test!(
    retries_on_schedule_then_fails_and_can_be_replayed,
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(500)).await;
        let ops = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        let ep = app
            .endpoint(&a, &key, json!({"url": rx.url(), "event_types": ["order.created"]}))
            .await;
        app.endpoint(&a, &key, json!({"url": ops.url(), "event_types": ["delivery.failed"]}))
            .await;
        let ev = app
            .publish(&a, &key, json!({"event_type": "order.created", "payload": {}}))
            .await;
        let id = ev["id"].as_str().unwrap();
        let got = rx.wait_for(3, WAIT).await;
        // Schedule 0, 0.2 s, 0.4 s with ±20% jitter.
        let gap1 = got[1].at - got[0].at;
        let gap2 = got[2].at - got[1].at;
        assert!(gap1 >= Duration::from_millis(150), "{gap1:?}");
        assert!(gap2 >= Duration::from_millis(310), "{gap2:?}");
        let event = eventually(&app, &format!("/v1/api/webhooks/events/{id}"), &key, |b| {
            b["data"]["deliveries"][0]["status"] == "failed"
        })
        .await;
        assert_eq!(event["data"]["deliveries"][0]["attempts"], 3);
        assert_eq!(event["data"]["deliveries"][0]["last_status"], 500);
        let op = ops.wait_for(1, WAIT).await;
        assert_eq!(op[0].json()["type"], "delivery.failed");
        assert_eq!(op[0].json()["data"]["event_id"], id);
        assert_eq!(rx.count(), 3, "no attempt after the last one");

        // Replay: resend the event…
        rx.set(Answer::Status(200));
        let (s, b) = app
            .post(
                &format!("/v1/api/webhooks/events/{id}/resend"),
                &key,
                json!({"endpoint_id": ep}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        assert_eq!(b["data"]["queued"], 1);
        eventually(&app, &format!("/v1/api/webhooks/events/{id}"), &key, |b| {
            b["data"]["deliveries"][0]["status"] == "succeeded"
        })
        .await;

        // …or recover everything that failed in a time range, as a job.
        rx.set(Answer::Status(500));
        let ev2 = app
            .publish(&a, &key, json!({"event_type": "order.created", "payload": {"n": 2}}))
            .await;
        let id2 = ev2["id"].as_str().unwrap();
        eventually(&app, &format!("/v1/api/webhooks/events/{id2}"), &key, |b| {
            b["data"]["deliveries"][0]["status"] == "failed"
        })
        .await;
        rx.set(Answer::Status(200));
        let (s, job) = app
            .post(
                &format!("/v1/api/webhooks/endpoints/{ep}/recover"),
                &key,
                json!({"since": "2020-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        assert_eq!(job["data"]["total"], 1);
        let job_id = job["data"]["id"].as_str().unwrap();
        let done = eventually(&app, &format!("/v1/api/webhooks/jobs/{job_id}"), &key, |b| {
            b["data"]["status"] == "completed"
        })
        .await;
        assert_eq!(done["data"]["done"], 1);
        eventually(&app, &format!("/v1/api/webhooks/events/{id2}"), &key, |b| {
            b["data"]["deliveries"][0]["status"] == "succeeded"
        })
        .await;
        let (s, _) = app
            .post(
                &format!("/v1/api/webhooks/endpoints/{ep}/recover"),
                &key,
                json!({"since": "nope"}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (_, other) = app.account_with_key("B").await;
        let (s, _) = app.get(&format!("/v1/api/webhooks/jobs/{job_id}"), &other).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
);

crate::webhook_test!(gone_disables_the_endpoint_at_once, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::Status(410)).await;
    let ops = FakeReceiver::start(Answer::Status(200)).await;
    let (a, key) = app.account_with_key("A").await;
    let ep = app
        .endpoint(&a, &key, json!({"url": rx.url(), "event_types": ["order.created"]}))
        .await;
    app.endpoint(
        &a,
        &key,
        json!({"url": ops.url(), "event_types": ["endpoint.disabled"]}),
    )
    .await;
    app.publish(&a, &key, json!({"event_type": "order.created", "payload": {}}))
        .await;
    let e = eventually(&app, &format!("/v1/api/webhooks/endpoints/{ep}"), &key, |b| {
        b["data"]["enabled"] == false
    })
    .await;
    assert_eq!(e["data"]["disabled_reason"], "receiver answered 410 Gone");
    let op = ops.wait_for(1, WAIT).await;
    assert_eq!(op[0].json()["data"]["endpoint_id"], ep.as_str());
    // Nothing more goes to a disabled endpoint.
    app.publish(&a, &key, json!({"event_type": "order.created", "payload": {}}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1);
});

crate::webhook_test!(retry_after_is_honoured, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::TooMany(1)).await;
    let (a, key) = app.account_with_key("A").await;
    app.endpoint(&a, &key, json!({"url": rx.url()})).await;
    app.publish(&a, &key, json!({"event_type": "x", "payload": {}})).await;
    let got = rx.wait_for(2, WAIT).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 beats the 0.2 s schedule: {gap:?}"
    );
});

crate::webhook_test!(transport_failures_are_classified, |app: TestApp| async move {
    let reset = FakeReceiver::start(Answer::Reset).await;
    let slow = FakeReceiver::start(Answer::Slow(Duration::from_secs(3))).await;
    let (a, key) = app.account_with_key("A").await;
    let e1 = app
        .endpoint(&a, &key, json!({"url": reset.url(), "retry_schedule": [0]}))
        .await;
    let e2 = app
        .endpoint(
            &a,
            &key,
            json!({"url": slow.url(), "retry_schedule": [0], "timeout_ms": 200}),
        )
        .await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e3 = app
        .endpoint(
            &a,
            &key,
            json!({"url": format!("http://{closed}/x"), "retry_schedule": [0]}),
        )
        .await;
    app.publish(&a, &key, json!({"event_type": "x", "payload": {}})).await;
    for (ep, class) in [(e1, "connect"), (e2, "timeout"), (e3, "connect")] {
        let b = eventually(&app, &format!("/v1/api/webhooks/endpoints/{ep}/attempts"), &key, |b| {
            !b["data"].as_array().unwrap().is_empty()
        })
        .await;
        assert_eq!(b["data"][0]["error_class"], class, "{b}");
        assert_eq!(b["data"][0]["succeeded"], false);
    }
});

crate::webhook_test!(
    ssrf_guard_refuses_at_connect_time,
    |c: &mut hookline::config::Config| {
        c.delivery_allowed_networks = vec![];
    },
    |app: TestApp| async move {
        // An endpoint that passed the creation check (e.g. its name resolved elsewhere then) but
        // now points at loopback: written straight to the store.
        let rx = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        let account: hookline::model::ids::AccountId = a.parse().unwrap();
        let now = hookline::store::now_ms();
        let secret = WebhookSecret::generate();
        let id = EndpointId::new();
        for url in [rx.url(), format!("http://localhost:{}/hook", rx.addr.port())] {
            let row = hookline::store::EndpointRow {
                id: if url.contains("localhost") {
                    EndpointId::new()
                } else {
                    id
                },
                account_id: account,
                url,
                description: String::new(),
                enabled: true,
                disabled_reason: None,
                disabled_at: None,
                event_types: None,
                labels: sqlx::types::Json(vec![]),
                headers: sqlx::types::Json(Default::default()),
                timeout_ms: 2000,
                rate_limit: None,
                max_in_flight: None,
                retry_schedule: Some(sqlx::types::Json(vec![0.0])),
                metadata: sqlx::types::Json(json!({})),
                secret: app.state.cipher.seal(
                    hookline::delivery::worker::SECRET_PURPOSE,
                    secret.expose_text().as_bytes(),
                ),
                previous_secret: None,
                previous_secret_until: None,
                failing_since: None,
                filter: None,
                transform: None,
                created_at: now,
                updated_at: now,
            };
            app.state.store.create_endpoint(&row).await.unwrap();
        }
        app.publish(&a, &key, json!({"event_type": "x", "payload": {}})).await;
        let b = eventually(&app, &format!("/v1/api/webhooks/endpoints/{id}/attempts"), &key, |b| {
            !b["data"].as_array().unwrap().is_empty()
        })
        .await;
        assert_eq!(b["data"][0]["error_class"], "refused", "{b}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rx.count(), 0, "nothing reached the loopback receiver");
    }
);

crate::webhook_test!(rotation_signs_with_both_secrets, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let (a, key) = app.account_with_key("A").await;
    let ep = app.endpoint(&a, &key, json!({"url": rx.url()})).await;
    let old = secret_of(&app, &key, &ep).await;
    let (_, b) = app
        .post(
            &format!("/v1/api/webhooks/endpoints/{ep}/secret/rotate"),
            &key,
            json!({"grace_period_secs": 3600}),
        )
        .await;
    let new = b["data"]["secret"].as_str().unwrap().to_string();
    app.publish(&a, &key, json!({"event_type": "x", "payload": {}})).await;
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2);
    assert!(verify(&old, &got[0]) && verify(&new, &got[0]));
    // Without a grace period only the new secret signs.
    let (_, b) = app
        .post(
            &format!("/v1/api/webhooks/endpoints/{ep}/secret/rotate"),
            &key,
            json!({"grace_period_secs": 0}),
        )
        .await;
    let newest = b["data"]["secret"].as_str().unwrap().to_string();
    app.publish(&a, &key, json!({"event_type": "x", "payload": {}})).await;
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(got[1].header("webhook-signature").split(' ').count(), 1);
    assert!(verify(&newest, &got[1]) && !verify(&new, &got[1]));
});

crate::webhook_test!(test_endpoint_sends_an_example_now, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let (a, key) = app.account_with_key("A").await;
    let ep = app.endpoint(&a, &key, json!({"url": rx.url()})).await;
    let (s, b) = app
        .post(
            &format!("/v1/api/webhooks/endpoints/{ep}/test"),
            &key,
            json!({"event_type": "dialog.completed"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["succeeded"], true);
    assert_eq!(b["data"]["response_status"], 200);
    assert_eq!(b["data"]["response_body"], "answer body");
    let got = rx.received();
    assert_eq!(got[0].json()["type"], "dialog.completed");
    assert!(got[0].json()["data"]["answers"].is_object(), "the documented example");
    let (s, _) = app
        .post(
            &format!("/v1/api/webhooks/endpoints/{ep}/test"),
            &key,
            json!({"event_type": "no spaces"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
});
