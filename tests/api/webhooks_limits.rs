//! Per-endpoint limits at the receiver: the circuit breaker, the rate limit, the in-flight cap;
//! and the Standard Webhooks reference library verifying our signatures.

use std::time::Duration;

use serde_json::json;

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::TestApp;
use crate::webhooks_delivery::eventually;

const WAIT: Duration = Duration::from_secs(30);

crate::webhook_test!(
    circuit_breaker_pauses_then_probes_without_burning_retries,
    |c: &mut hookline::config::Config| {
        c.delivery.breaker_cooldown = Duration::from_millis(800);
    },
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(500)).await;
        let ops = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        let ep = app
        .endpoint(&a, &key, json!({"url": rx.url(), "event_types": ["order.created"], "retry_schedule": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}))
        .await;
        app.endpoint(
            &a,
            &key,
            json!({"url": ops.url(), "event_types": ["endpoint.recovered"]}),
        )
        .await;
        let mut ids = Vec::new();
        for i in 0..3 {
            let ev = app
                .publish(&a, &key, json!({"event_type": "order.created", "payload": {"i": i}}))
                .await;
            ids.push(ev["id"].as_str().unwrap().to_string());
        }
        // Five consecutive failures open the breaker…
        rx.wait_for(5, WAIT).await;
        // Requests already in flight when it opened may still land.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let at_open = rx.count();
        assert!(at_open <= 7, "{at_open}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            rx.count(),
            at_open,
            "the open breaker sends nothing during its cooldown"
        );
        // …then one probe goes out; when it succeeds, deliveries resume.
        rx.set(Answer::Status(200));
        for id in &ids {
            eventually(&app, &format!("/v1/api/webhooks/events/{id}"), &key, |b| {
                b["data"]["deliveries"][0]["status"] == "succeeded"
            })
            .await;
        }
        let total: i64 = {
            let mut n = 0;
            for id in &ids {
                let (_, b) = app.get(&format!("/v1/api/webhooks/events/{id}"), &key).await;
                n += b["data"]["deliveries"][0]["attempts"].as_i64().unwrap();
            }
            n
        };
        assert_eq!(
            total as usize,
            rx.count(),
            "postponed deliveries did not count as attempts"
        );
        // After the breaker opened, each delivery needed exactly one more attempt (the probe is
        // one of them): nothing was spent while paused, however the load timed the opening.
        assert!(
            total as usize <= at_open + ids.len(),
            "paused deliveries kept their retries: {total} attempts, {at_open} before the breaker opened"
        );
        let op = ops.wait_for(1, WAIT).await;
        assert_eq!(op[0].json()["type"], "endpoint.recovered");
        assert_eq!(op[0].json()["data"]["endpoint_id"], ep.as_str());
    }
);

crate::webhook_test!(rate_limit_holds_at_the_receiver, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let (a, key) = app.account_with_key("A").await;
    app.endpoint(&a, &key, json!({"url": rx.url(), "rate_limit": 5})).await;
    let events: Vec<_> = (0..15)
        .map(|i| json!({"event_type": "x", "payload": {"i": i}}))
        .collect();
    let (s, _) = app
        .post(
            &format!("/v1/api/accounts/{a}/webhooks/events/batch"),
            &key,
            json!({ "events": events }),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED);
    let got = rx.wait_for(15, WAIT).await;
    let times: Vec<Duration> = got.iter().map(|r| r.at).collect();
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| **u < *t + Duration::from_millis(1000))
            .count();
        // Starts are 200 ms apart; loopback jitter may pull one arrival into the window edge.
        assert!(
            in_window <= 6,
            "{in_window} requests within one second after #{i}: {times:?}"
        );
    }
    let span = *times.last().unwrap() - times[0];
    assert!(
        span >= Duration::from_millis(2_600),
        "15 at 5/s take ~2.8 s, took {span:?}"
    );
});

crate::webhook_test!(in_flight_cap_holds_at_the_receiver, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::Slow(Duration::from_millis(150))).await;
    let (a, key) = app.account_with_key("A").await;
    app.endpoint(&a, &key, json!({"url": rx.url(), "max_in_flight": 2}))
        .await;
    let events: Vec<_> = (0..8)
        .map(|i| json!({"event_type": "x", "payload": {"i": i}}))
        .collect();
    app.post(
        &format!("/v1/api/accounts/{a}/webhooks/events/batch"),
        &key,
        json!({ "events": events }),
    )
    .await;
    rx.wait_for(8, WAIT).await;
    assert!(rx.max_in_flight() <= 2, "at most 2 at once, saw {}", rx.max_in_flight());
    assert!(rx.max_in_flight() >= 1);
});

crate::webhook_test!(
    endpoint_failing_too_long_is_disabled,
    |c: &mut hookline::config::Config| {
        c.delivery.disable_after = Duration::from_secs(1);
        c.delivery.retry_schedule_secs = vec![0.0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3];
        c.delivery.breaker_cooldown = Duration::from_millis(100);
    },
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(503)).await;
        let (a, key) = app.account_with_key("A").await;
        let ep = app.endpoint(&a, &key, json!({"url": rx.url()})).await;
        app.publish(&a, &key, json!({"event_type": "x", "payload": {}})).await;
        let e = eventually(&app, &format!("/v1/api/webhooks/endpoints/{ep}"), &key, |b| {
            b["data"]["enabled"] == false
        })
        .await;
        assert!(
            e["data"]["disabled_reason"]
                .as_str()
                .unwrap()
                .starts_with("failing continuously"),
            "{e}"
        );
        // The state is in the database: a restarted node sees it.
        let app = app.restart().await;
        let (_, e) = app.get(&format!("/v1/api/webhooks/endpoints/{ep}"), &key).await;
        assert_eq!(e["data"]["enabled"], false);
    }
);

// The reference Standard Webhooks library (Python) verifies what hookline sent.
crate::webhook_test!(reference_library_verifies_signatures, |app: TestApp| async move {
    let Some(python) = crate::python::python("reference_library_verifies_signatures") else {
        return;
    };
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let (a, key) = app.account_with_key("A").await;
    let ep = app.endpoint(&a, &key, json!({"url": rx.url()})).await;
    let (_, b) = app.get(&format!("/v1/api/webhooks/endpoints/{ep}/secret"), &key).await;
    let old = b["data"]["secret"].as_str().unwrap().to_string();
    app.publish(
        &a,
        &key,
        json!({"event_type": "order.created", "payload": {"text": "Привет, мир", "n": 1.5}}),
    )
    .await;
    rx.wait_for(1, WAIT).await;
    let (_, b) = app
        .post(
            &format!("/v1/api/webhooks/endpoints/{ep}/secret/rotate"),
            &key,
            json!({"grace_period_secs": 600}),
        )
        .await;
    let new = b["data"]["secret"].as_str().unwrap().to_string();
    app.publish(&a, &key, json!({"event_type": "x", "payload": [1, 2]}))
        .await;
    let got = rx.wait_for(2, WAIT).await;
    let cases: Vec<serde_json::Value> = got
        .iter()
        .flat_map(|r| {
            let headers = json!({
                "webhook-id": r.header("webhook-id"),
                "webhook-timestamp": r.header("webhook-timestamp"),
                "webhook-signature": r.header("webhook-signature"),
            });
            let body = String::from_utf8(r.body.to_vec()).unwrap();
            let secrets = if r.header("webhook-signature").contains(' ') {
                vec![old.clone(), new.clone()]
            } else {
                vec![old.clone()]
            };
            secrets
                .into_iter()
                .map(move |s| json!({"secret": s, "headers": headers.clone(), "body": body.clone()}))
        })
        .collect();
    assert_eq!(cases.len(), 3);
    python_verifies(&python, &cases);
});

/// Assert that the reference library verifies every case (`{secret, headers, body}`) and
/// refuses each with its body tampered.
pub fn python_verifies(python: &str, cases: &[serde_json::Value]) {
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
cases = json.load(sys.stdin)
for c in cases:
    Webhook(c["secret"]).verify(c["body"], c["headers"])
    try:
        Webhook(c["secret"]).verify(c["body"] + " ", c["headers"])
        sys.exit("a tampered body verified")
    except Exception:
        pass
print("verified", len(cases))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the python verifier");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(cases).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("verified {}", cases.len())),
        "standardwebhooks rejected hookline's signature: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
