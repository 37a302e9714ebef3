//! Source presets at the ingest URL, with requests signed by the providers' own libraries:
//! good, tampered, stale and replayed signatures; Slack's URL check and Meta's handshake;
//! credentials in a query string kept out of the log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};
use crate::python;
use crate::sources::ingest;

/// Signs `{"body", "at", "secret"}` cases from stdin with each provider's library; prints the
/// headers of each, in order.
const SIGNER: &str = r#"
import json, sys
from datetime import datetime, timezone
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

out = []
for c in json.load(sys.stdin):
    body, at, secret = c["body"], c["at"], c["secret"]
    if c["kind"] == "stripe":
        out.append({"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=at)})
    elif c["kind"] == "slack":
        sig = SignatureVerifier(secret).generate_signature(timestamp=str(at), body=body)
        out.append({"X-Slack-Request-Timestamp": str(at), "X-Slack-Signature": sig})
    elif c["kind"] == "standard-webhooks":
        sig = Webhook(secret).sign(c["id"], datetime.fromtimestamp(at, tz=timezone.utc), body)
        out.append({"webhook-id": c["id"], "webhook-timestamp": str(at), "webhook-signature": sig})
json.dump(out, sys.stdout)
"#;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(python: &str, cases: Value) -> Vec<Vec<(&'static str, String)>> {
    let signed = python::run(python, SIGNER, &[], &cases);
    signed
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            h.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (&*k.clone().leak(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .collect()
}

fn with_json(mut headers: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    headers.push(("content-type", "application/json".into()));
    headers
}

crate::webhook_test!(stripe_signatures_made_by_stripes_library, |app: TestApp| async move {
    let Some(py) = python::python("stripe_signatures_made_by_stripes_library") else {
        return;
    };
    let (a, key) = app.account_with_key("A").await;
    let secret = "whsec_2HnbKV8Q0fVq7cC4XJ9m1sZr0QbE1y9w";
    let src = app
        .source(
            &a,
            &key,
            json!({"name": "Stripe", "verification": {"type": "stripe"}, "secret": secret, "event_type": ".body.type"}),
        )
        .await;
    let id = src["id"].as_str().unwrap();
    let body = r#"{"id":"evt_1Q2w3E","type":"payment_intent.succeeded","data":{"object":{"amount":2000}}}"#;
    let now = now_secs();
    let signed = sign(
        &py,
        json!([
            {"kind": "stripe", "body": body, "at": now, "secret": secret},
            {"kind": "stripe", "body": body, "at": now - 400, "secret": secret},
        ]),
    );
    let (s, b, _) = ingest(&app, id, &with_json(signed[0].clone()), body.as_bytes()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["outcome"], "routed");
    // The same captured request again: acknowledged, not routed a second time.
    let (s, b, _) = ingest(&app, id, &with_json(signed[0].clone()), body.as_bytes()).await;
    assert_eq!(
        (s, b["data"]["outcome"].as_str()),
        (StatusCode::OK, Some("duplicate")),
        "{b}"
    );
    let (s, b, _) = ingest(&app, id, &with_json(signed[1].clone()), body.as_bytes()).await;
    assert_error(s, &b, 401, "INVALID_SIGNATURE");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("stale_timestamp"),
        "{b}"
    );
    let tampered = body.replace("2000", "2");
    let (s, b, _) = ingest(&app, id, &with_json(signed[0].clone()), tampered.as_bytes()).await;
    assert_error(s, &b, 401, "INVALID_SIGNATURE");
    let log = app.source_log(id, &key, "outcome=refused").await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["headers"]["stripe-signature"], "[redacted]");
});

crate::webhook_test!(
    standard_webhooks_signed_by_the_reference_library,
    |app: TestApp| async move {
        let Some(py) = python::python("standard_webhooks_signed_by_the_reference_library") else {
            return;
        };
        let (a, key) = app.account_with_key("A").await;
        let src = app
            .source(
                &a,
                &key,
                json!({"name": "Partner", "verification": {"type": "standard-webhooks"}}),
            )
            .await;
        let id = src["id"].as_str().unwrap();
        let secret = app.source_secret(id, &key).await;
        assert!(secret.starts_with("whsec_"), "a generated Standard Webhooks secret");
        let body = r#"{"type":"menu.updated","data":{"items":12}}"#;
        let now = now_secs();
        let signed = sign(
            &py,
            json!([
                {"kind": "standard-webhooks", "id": "msg_1", "body": body, "at": now, "secret": secret},
                {"kind": "standard-webhooks", "id": "msg_2", "body": body, "at": now + 400, "secret": secret},
            ]),
        );
        let (s, b, _) = ingest(&app, id, &with_json(signed[0].clone()), body.as_bytes()).await;
        assert_eq!(
            (s, b["data"]["outcome"].as_str()),
            (StatusCode::OK, Some("routed")),
            "{b}"
        );
        let (s, b, _) = ingest(&app, id, &with_json(signed[0].clone()), body.as_bytes()).await;
        assert_eq!(b["data"]["outcome"], "duplicate", "{s} {b}");
        let (s, b, _) = ingest(&app, id, &with_json(signed[1].clone()), body.as_bytes()).await;
        assert_error(s, &b, 401, "INVALID_SIGNATURE");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("future_timestamp"),
            "{b}"
        );

        // During a rotation's grace period the previous secret verifies too.
        let (s, b) = app
            .post(
                &format!("/v1/api/sources/{id}/secret/rotate"),
                &key,
                json!({"grace_period_secs": 600}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let new_secret = b["data"]["secret"].as_str().unwrap().to_string();
        let signed = sign(
            &py,
            json!([
                {"kind": "standard-webhooks", "id": "msg_3", "body": body, "at": now, "secret": secret},
                {"kind": "standard-webhooks", "id": "msg_4", "body": body, "at": now, "secret": new_secret},
            ]),
        );
        for headers in signed {
            let (s, b, _) = ingest(&app, id, &with_json(headers), body.as_bytes()).await;
            assert_eq!(
                (s, b["data"]["outcome"].as_str()),
                (StatusCode::OK, Some("routed")),
                "{b}"
            );
        }
    }
);

crate::webhook_test!(
    slacks_url_check_is_answered_and_its_events_verified,
    |app: TestApp| async move {
        let Some(py) = python::python("slacks_url_check_is_answered_and_its_events_verified") else {
            return;
        };
        let (a, key) = app.account_with_key("A").await;
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let src = app
        .source(&a, &key, json!({"name": "Slack", "verification": {"type": "slack"}, "secret": secret, "event_type": ".body.event.type"}))
        .await;
        let id = src["id"].as_str().unwrap();
        let check = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let event = r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","text":"menu?"}}"#;
        let now = now_secs();
        let signed = sign(
            &py,
            json!([
                {"kind": "slack", "body": check, "at": now, "secret": secret},
                {"kind": "slack", "body": event, "at": now, "secret": secret},
            ]),
        );
        let resp = app
            .client
            .post(app.url(&format!("/v1/api/sources/{id}/ingest")))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", &signed[0][0].1)
            .header("x-slack-signature", &signed[0][1].1)
            .body(check)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(
            resp.text().await.unwrap(),
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        );
        // Unsigned, the same check is an unverified request.
        let (s, b, _) = ingest(
            &app,
            id,
            &[("content-type", "application/json".into())],
            check.as_bytes(),
        )
        .await;
        assert_error(s, &b, 401, "INVALID_SIGNATURE");
        let (s, b, _) = ingest(&app, id, &with_json(signed[1].clone()), event.as_bytes()).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["data"]["event_type"], "app_mention");
    }
);

crate::webhook_test!(
    metas_handshake_and_credentials_in_a_query_string,
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        let src = app
        .source(&a, &key, json!({"name": "Meta", "verification": {"type": "meta"}, "secret": "meta-app-secret", "verify_token": "tok-1234"}))
        .await;
        let id = src["id"].as_str().unwrap();
        let (s, b) = app.get(&format!("/v1/api/sources/{id}/secret"), &key).await;
        assert_eq!(
            (s, b["data"]["verify_token"].as_str()),
            (StatusCode::OK, Some("tok-1234"))
        );
        let hand = |token: &str| {
            app.client.get(app.url(&format!(
                "/v1/api/sources/{id}/ingest?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
            )))
        };
        let resp = hand("tok-1234").send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text().await.unwrap(), "1158201444");
        assert_eq!(hand("wrong").send().await.unwrap().status(), StatusCode::FORBIDDEN);

        let api = app
        .source(&a, &key, json!({"name": "POS", "verification": {"type": "api_key", "query": "key"}, "secret": "pos-key-0123456789"}))
        .await;
        let api_id = api["id"].as_str().unwrap();
        let post = |query: &str| {
            app.client
                .post(app.url(&format!("/v1/api/sources/{api_id}/ingest?{query}")))
                .header("content-type", "application/json")
                .body(r#"{"order":7}"#)
        };
        assert_eq!(
            post("key=pos-key-0123456789&store=12").send().await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            post("key=guess&store=12").send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
        let log = app.source_log(api_id, &key, "").await;
        let all = Value::Array(log.clone()).to_string();
        assert!(!all.contains("pos-key-0123456789"), "the key is not logged: {all}");
        assert_eq!(log[0]["query"], "key=%5Bredacted%5D&store=12");

        let basic = app
        .source(&a, &key, json!({"name": "Legacy", "verification": {"type": "basic", "username": "pos"}, "secret": "pw-0123456789"}))
        .await;
        let basic_id = basic["id"].as_str().unwrap();
        let call = |user: &str, pw: &str| {
            app.client
                .post(app.url(&format!("/v1/api/sources/{basic_id}/ingest")))
                .basic_auth(user, Some(pw))
                .body("{}")
        };
        assert_eq!(
            call("pos", "pw-0123456789").send().await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            call("pos", "nope").send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call("admin", "pw-0123456789").send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
);
