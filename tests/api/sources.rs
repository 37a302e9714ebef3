//! Inbound sources over HTTP: CRUD and secrets, the ingest URL (verification, duplicate keys,
//! address list, rate and size limits), the ingest log, and routing into outbound endpoints.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::{TestApp, assert_error};

const WAIT: Duration = Duration::from_secs(10);

/// A request to a source's ingest URL: (status, JSON body or Null, Retry-After).
pub async fn ingest(
    app: &TestApp,
    source: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (StatusCode, Value, Option<String>) {
    let mut req = app
        .client
        .post(app.url(&format!("/v1/api/sources/{source}/ingest")))
        .body(body.to_vec());
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = req.send().await.expect("ingest request");
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        retry_after,
    )
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, as GitHub signs.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl TestApp {
    /// Create a source; returns its answer's `data`.
    pub async fn source(&self, account: &str, key: &str, body: Value) -> Value {
        let (s, b) = self
            .post(&format!("/v1/api/accounts/{account}/sources"), key, body)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["data"].clone()
    }

    pub async fn source_secret(&self, source: &str, key: &str) -> String {
        let (s, b) = self.get(&format!("/v1/api/sources/{source}/secret"), key).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["data"]["secret"].as_str().unwrap().to_string()
    }

    pub async fn source_log(&self, source: &str, key: &str, query: &str) -> Vec<Value> {
        let (s, b) = self
            .get(&format!("/v1/api/sources/{source}/requests?{query}"), key)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["data"].as_array().unwrap().clone()
    }
}

crate::webhook_test!(source_crud_secrets_and_isolation, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let (_b, key_b) = app.account_with_key("B").await;
    let src = app
        .source(
            &a,
            &key,
            json!({"name": "GitHub", "verification": {"type": "github"}, "labels": ["ci"]}),
        )
        .await;
    let id = src["id"].as_str().unwrap();
    assert_eq!(src["ingest_path"], format!("/v1/api/sources/{id}/ingest"));
    assert_eq!(src["has_secret"], true);
    assert_eq!(
        src["dedupe"],
        json!({"header": "x-github-delivery"}),
        "the preset's own duplicate key"
    );
    assert_eq!(src["fallback_type"], "source.received");
    let secret = app.source_secret(id, &key).await;
    assert!(secret.len() >= 16);
    let (_, listed) = app.get(&format!("/v1/api/accounts/{a}/sources"), &key).await;
    assert!(!listed.to_string().contains(&secret), "answers never carry the secret");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let (s, b) = app.get(&format!("/v1/api/sources/{id}"), &key_b).await;
    assert_error(s, &b, 404, "NOT_FOUND");
    let (s, b) = app.get(&format!("/v1/api/sources/{id}/secret"), &key_b).await;
    assert_error(s, &b, 404, "NOT_FOUND");

    // A provider-issued secret is required; `none` has none.
    let (s, b) = app
        .post(
            &format!("/v1/api/accounts/{a}/sources"),
            &key,
            json!({"name": "S", "verification": {"type": "stripe"}}),
        )
        .await;
    assert_error(s, &b, 400, "VALIDATION_ERROR");
    assert_eq!(b["error"]["details"]["field"], "secret");
    let (s, b) = app
        .post(&format!("/v1/api/accounts/{a}/sources"), &key, json!({"name": "S"}))
        .await;
    assert_error(s, &b, 422, "VALIDATION_ERROR");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("verification"),
        "chosen explicitly: {b}"
    );

    let (s, b) = app
        .patch(
            &format!("/v1/api/sources/{id}"),
            &key,
            json!({"name": "GitHub CI", "rate_limit": 5, "dedupe": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["name"], "GitHub CI");
    assert_eq!(b["data"]["dedupe"], Value::Null);

    let (s, b) = app
        .post(
            &format!("/v1/api/sources/{id}/secret/rotate"),
            &key,
            json!({"grace_period_secs": 600}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_ne!(b["data"]["secret"], secret);
    assert!(b["data"]["previous_secret_expires_at"].is_string());

    let (s, _) = app.delete(&format!("/v1/api/sources/{id}"), &key).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b, _) = ingest(&app, id, &[], b"{}").await;
    assert_error(s, &b, 404, "NOT_FOUND");
});

crate::webhook_test!(
    jq_syntax_errors_are_refused_when_saved_with_their_position,
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        for field in ["event_type", "filter", "transform"] {
            let (s, b) = app
                .post(
                    &format!("/v1/api/accounts/{a}/sources"),
                    &key,
                    json!({"name": "S", "verification": {"type": "none"}, field: ".body | {a: }"}),
                )
                .await;
            assert_error(s, &b, 422, "VALIDATION_ERROR");
            assert_eq!(b["error"]["details"]["field"], field, "{b}");
            assert_eq!(b["error"]["details"]["line"], 1, "{b}");
            assert!(b["error"]["details"]["column"].as_u64().unwrap() > 1, "{b}");
        }
        let (s, b) = app
            .post(
                &format!("/v1/api/accounts/{a}/sources"),
                &key,
                json!({"name": "S", "verification": {"type": "none"}, "dedupe": {"jq": ".body.["}}),
            )
            .await;
        assert_error(s, &b, 422, "VALIDATION_ERROR");
        assert_eq!(b["error"]["details"]["field"], "dedupe.jq");
    }
);

crate::webhook_test!(github_push_is_verified_logged_routed_once, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let (a, key) = app.account_with_key("A").await;
    app.endpoint(&a, &key, json!({"url": rx.url(), "event_types": ["push", "ping"]}))
        .await;
    let src = app
        .source(
            &a,
            &key,
            json!({"name": "GitHub", "verification": {"type": "github"}, "event_type": ".headers[\"x-github-event\"]",
                   "labels": ["ci"]}),
        )
        .await;
    let id = src["id"].as_str().unwrap();
    let secret = app.source_secret(id, &key).await;
    let body = br#"{"ref":"refs/heads/main","commits":[{"id":"abc"}]}"#;
    let signed = |delivery: &str, body: &[u8]| {
        vec![
            ("content-type", "application/json".to_string()),
            ("x-github-event", "push".to_string()),
            ("x-github-delivery", delivery.to_string()),
            ("x-hub-signature-256", github_signature(&secret, body)),
        ]
    };
    let (s, b, _) = ingest(&app, id, &signed("d-1", body), body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["outcome"], "routed");
    assert_eq!(b["data"]["event_type"], "push");
    let got = rx.wait_for(1, WAIT).await;
    let delivered = got[0].json();
    assert_eq!(delivered["type"], "push");
    assert_eq!(
        delivered["data"]["commits"][0]["id"], "abc",
        "the body is the event's payload"
    );

    // GitHub redelivers with the same delivery id: acknowledged, logged, not routed again.
    let (s, b, _) = ingest(&app, id, &signed("d-1", body), body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["outcome"], "duplicate");

    // A wrong signature is refused and logged with its reason, never routed.
    let mut forged = signed("d-2", body);
    forged[3].1 = github_signature("not-the-secret", body);
    let (s, b, _) = ingest(&app, id, &forged, body).await;
    assert_error(s, &b, 401, "INVALID_SIGNATURE");
    let mut missing = signed("d-3", body);
    missing.pop();
    let (s, b, _) = ingest(&app, id, &missing, body).await;
    assert_error(s, &b, 401, "INVALID_SIGNATURE");

    // A marker: the next good delivery is the second and last one the receiver sees.
    let ping = br#"{"zen":"Keep it logically awesome."}"#;
    let mut marker = signed("d-4", ping);
    marker[1].1 = "ping".into();
    let (s, b, _) = ingest(&app, id, &marker, ping).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(got[1].json()["type"], "ping");
    assert_eq!(rx.count(), 2, "neither the redelivery nor the forgeries were routed");

    let log = app.source_log(id, &key, "").await;
    let outcomes: Vec<&str> = log.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["routed", "duplicate", "refused", "refused", "routed"]);
    assert_eq!(log[2]["verified"], false);
    assert!(log[2]["detail"].as_str().unwrap().contains("signature"), "{}", log[2]);
    assert_eq!(
        log[0]["headers"]["x-hub-signature-256"], "[redacted]",
        "credentials are not logged"
    );
    assert_eq!(log[0]["headers"]["x-github-event"], "push");
    assert_eq!(
        log[0]["event_id"], log[1]["event_id"],
        "the redelivery names the original event"
    );
    let refused = app.source_log(id, &key, "outcome=refused").await;
    assert_eq!(refused.len(), 2);
    let one = log[0]["id"].as_str().unwrap();
    let (s, b) = app.get(&format!("/v1/api/sources/{id}/requests/{one}"), &key).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["body"], std::str::from_utf8(body).unwrap());
    let event = log[0]["event_id"].as_str().unwrap();
    let (s, b) = app.get(&format!("/v1/api/webhooks/events/{event}"), &key).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["labels"], json!(["ci"]));
});

crate::webhook_test!(address_list_rate_and_size_limits, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let src = app
        .source(
            &a,
            &key,
            json!({"name": "POS", "verification": {"type": "none"}, "allowed_networks": ["10.0.0.0/8"],
                   "max_body_bytes": 64}),
        )
        .await;
    let id = src["id"].as_str().unwrap();
    let (s, b, _) = ingest(&app, id, &[], b"{\"order\":1}").await;
    assert_error(s, &b, 403, "FORBIDDEN");
    assert_eq!(app.source_log(id, &key, "outcome=refused").await.len(), 1);

    let (s, b) = app
        .patch(
            &format!("/v1/api/sources/{id}"),
            &key,
            json!({"allowed_networks": ["127.0.0.1"], "rate_limit": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["allowed_networks"], json!(["127.0.0.1/32"]));
    let (s, b, _) = ingest(&app, id, &[], &[b'x'; 65]).await;
    assert_error(s, &b, 413, "PAYLOAD_TOO_LARGE");
    // A burst over the rate: the first two pass, then 429 with Retry-After.
    let mut answers = Vec::new();
    for i in 0..4 {
        let (s, _, retry) = ingest(&app, id, &[], format!("{{\"order\":{i}}}").as_bytes()).await;
        answers.push((s, retry));
    }
    let limited: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(!limited.is_empty(), "{answers:?}");
    assert!(
        limited
            .iter()
            .all(|(_, r)| r.as_deref().is_some_and(|r| r.parse::<u64>().unwrap() >= 1))
    );
    assert_eq!(answers[0].0, StatusCode::OK);

    let (s, b) = app
        .post(
            &format!("/v1/api/accounts/{a}/sources"),
            &key,
            json!({"name": "S", "verification": {"type": "none"},
            "allowed_networks": ["not-a-net"]}),
        )
        .await;
    assert_error(s, &b, 400, "VALIDATION_ERROR");
    assert_eq!(b["error"]["details"]["field"], "allowed_networks[0]");
});

crate::webhook_test!(
    forms_text_and_bytes_are_accepted_and_logged,
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        app.endpoint(&a, &key, json!({"url": rx.url()})).await;
        let src = app
            .source(
                &a,
                &key,
                json!({"name": "Legacy POS", "verification": {"type": "none"}, "fallback_type": "pos.update"}),
            )
            .await;
        let id = src["id"].as_str().unwrap();
        let form = [("content-type", "application/x-www-form-urlencoded".to_string())];
        let (s, b, _) = ingest(&app, id, &form, b"order=42&status=ready").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let bytes = [("content-type", "application/octet-stream".to_string())];
        let (s, _, _) = ingest(&app, id, &bytes, &[0xff, 0x00, 0x01]).await;
        assert_eq!(s, StatusCode::OK);
        let got = rx.wait_for(2, WAIT).await;
        let mut datas: Vec<Value> = got.iter().map(|r| r.json()["data"].clone()).collect();
        datas.sort_by_key(|d| d.to_string());
        assert!(datas.contains(&json!({"order": "42", "status": "ready"})), "{datas:?}");
        assert!(datas.contains(&json!({"base64": "/wAB"})), "{datas:?}");
        assert!(got.iter().all(|r| r.json()["type"] == "pos.update"));
        let log = app.source_log(id, &key, "verified=true").await;
        assert_eq!(log.len(), 2);
        let binary = log
            .iter()
            .find(|r| r["content_type"] == "application/octet-stream")
            .unwrap();
        let (_, one) = app
            .get(
                &format!("/v1/api/sources/{id}/requests/{}", binary["id"].as_str().unwrap()),
                &key,
            )
            .await;
        assert_eq!(one["data"]["body_encoding"], "base64");
        assert_eq!(one["data"]["body"], "/wAB");
    }
);

crate::webhook_test!(
    replay_one_request_and_a_range_routes_them_again,
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        let src = app
            .source(
                &a,
                &key,
                json!({"name": "POS", "verification": {"type": "none"}, "fallback_type": "order.ready",
                   "dedupe": {"header": "x-order"}}),
            )
            .await;
        let id = src["id"].as_str().unwrap();
        // Received before any endpoint exists: routed, but delivered nowhere.
        for n in 1..=3 {
            let (s, b, _) = ingest(
                &app,
                id,
                &[("x-order", n.to_string())],
                format!("{{\"order\":{n}}}").as_bytes(),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        let (s, b, _) = ingest(&app, id, &[("x-order", "3".into())], b"{\"order\":3}").await;
        assert_eq!((s, b["data"]["outcome"].as_str()), (StatusCode::OK, Some("duplicate")));
        app.endpoint(&a, &key, json!({"url": rx.url()})).await;

        let log = app.source_log(id, &key, "").await;
        let first = log[0]["id"].as_str().unwrap();
        let (s, b) = app
            .post(
                &format!("/v1/api/sources/{id}/requests/{first}/replay"),
                &key,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["data"]["outcome"], "routed");
        assert_ne!(
            b["data"]["event_id"], log[0]["event_id"],
            "a replay is a new event, delivered again"
        );
        let got = rx.wait_for(1, WAIT).await;
        assert_eq!(got[0].json()["data"], json!({"order": 1}));

        // The range: the three originals (not the provider's redelivery, not the replay above).
        let (s, b) = app
            .post(
                &format!("/v1/api/sources/{id}/replay"),
                &key,
                json!({"since": "2020-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        assert_eq!(b["data"]["kind"], "source_replay");
        assert_eq!(b["data"]["source_id"], id);
        assert_eq!(b["data"]["total"], 3);
        let job = b["data"]["id"].as_str().unwrap().to_string();
        let got = rx.wait_for(4, WAIT).await;
        let mut orders: Vec<i64> = got[1..]
            .iter()
            .map(|r| r.json()["data"]["order"].as_i64().unwrap())
            .collect();
        orders.sort_unstable();
        assert_eq!(orders, [1, 2, 3]);
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let (_, j) = app.get(&format!("/v1/api/webhooks/jobs/{job}"), &key).await;
            if j["data"]["status"] == "completed" {
                assert_eq!(j["data"]["done"], 3, "{j}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the job did not finish: {j}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let replays = app.source_log(id, &key, "").await;
        assert_eq!(replays.iter().filter(|r| r["method"] == "REPLAY").count(), 4);

        // A refused request cannot be replayed into routing.
        let (s, b) = app
            .patch(
                &format!("/v1/api/sources/{id}"),
                &key,
                json!({"allowed_networks": ["10.0.0.0/8"]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, _, _) = ingest(&app, id, &[], b"{}").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let refused = app.source_log(id, &key, "outcome=refused").await;
        let rid = refused[0]["id"].as_str().unwrap();
        let (s, b) = app
            .post(&format!("/v1/api/sources/{id}/requests/{rid}/replay"), &key, json!({}))
            .await;
        assert_error(s, &b, 409, "CONFLICT");
    }
);

crate::webhook_test!(
    retention_removes_old_ingest_log_rows,
    |c: &mut hookline::config::Config| {
        c.delivery.retention = Duration::from_secs(1);
    },
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        let src = app
            .source(&a, &key, json!({"name": "POS", "verification": {"type": "none"}}))
            .await;
        let id = src["id"].as_str().unwrap();
        let (s, _, _) = ingest(&app, id, &[], b"{\"old\":true}").await;
        assert_eq!(s, StatusCode::OK);
        // Ages the first row past the one-second retention.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let (s, _, _) = ingest(&app, id, &[], b"{\"old\":false}").await;
        assert_eq!(s, StatusCode::OK);
        let removed = hookline::delivery::maintenance::retention_step(&app.state.outbound)
            .await
            .unwrap();
        assert_eq!(removed.source_requests, 1, "{removed:?}");
        let log = app.source_log(id, &key, "").await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["body_bytes"], 13);
    }
);

crate::webhook_test!(
    the_address_list_honours_trusted_proxies,
    |c: &mut hookline::config::Config| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    },
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        let src = app
            .source(
                &a,
                &key,
                json!({"name": "POS", "verification": {"type": "none"}, "allowed_networks": ["10.0.0.0/8"]}),
            )
            .await;
        let id = src["id"].as_str().unwrap();
        let (s, b, _) = ingest(&app, id, &[("x-forwarded-for", "10.1.2.3".into())], b"{}").await;
        assert_eq!(
            s,
            StatusCode::OK,
            "the client a trusted proxy names is on the list: {b}"
        );
        let (s, b, _) = ingest(&app, id, &[("x-forwarded-for", "192.0.2.7".into())], b"{}").await;
        assert_error(s, &b, 403, "FORBIDDEN");
        let log = app.source_log(id, &key, "").await;
        assert_eq!(log[0]["remote_addr"], "10.1.2.3");
        assert_eq!(log[1]["remote_addr"], "192.0.2.7");
    }
);
