//! hookline as a webhook gateway: one Stripe event in, signed Standard Webhooks out to three
//! endpoints — one takes it as is, one's filter drops it, one's transform reshapes it (and the
//! official Standard Webhooks library verifies the reshaped body's signature) — plus a source's
//! own filter and transform.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::TestApp;
use crate::python;
use crate::sources::ingest;

const WAIT: Duration = Duration::from_secs(10);
const STRIPE_SECRET: &str = "whsec_2HnbKV8Q0fVq7cC4XJ9m1sZr0QbE1y9w";

/// `Stripe-Signature` for `body` now, as Stripe computes it (HMAC-SHA256 of `t.body` keyed with
/// the `whsec_…` text).
fn stripe_header(body: &str) -> (&'static str, String) {
    use hmac::{KeyInit, Mac};
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    (
        "stripe-signature",
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes())),
    )
}

fn payment(id: &str, amount: u64) -> String {
    json!({"id": id, "type": "payment_intent.succeeded",
           "data": {"object": {"amount": amount, "currency": "rub", "metadata": {"order_id": "1042"}}}})
    .to_string()
}

crate::webhook_test!(a_stripe_event_fans_out_to_three_endpoints, |app: TestApp| async move {
    let (all, filtered, shaped) = (
        FakeReceiver::start(Answer::Status(200)).await,
        FakeReceiver::start(Answer::Status(200)).await,
        FakeReceiver::start(Answer::Status(200)).await,
    );
    let (a, key) = app.account_with_key("A").await;
    let types = json!(["payment_intent.succeeded"]);
    app.endpoint(&a, &key, json!({"url": all.url(), "event_types": types}))
        .await;
    app.endpoint(
        &a,
        &key,
        json!({"url": filtered.url(), "event_types": types, "filter": ".data.data.object.amount >= 100000"}),
    )
    .await;
    let shaped_id = app
        .endpoint(
            &a,
            &key,
            json!({"url": shaped.url(), "event_types": types,
                   "transform": "{\"$body\": {order: .data.data.object.metadata.order_id, total: .data.data.object.amount}, \"$headers\": {\"x-kind\": .type}}"}),
        )
        .await;
    let src = app
        .source(
            &a,
            &key,
            json!({"name": "Stripe", "verification": {"type": "stripe"}, "secret": STRIPE_SECRET, "event_type": ".body.type"}),
        )
        .await;
    let id = src["id"].as_str().unwrap();
    let small = payment("evt_small", 2_000);
    let (s, b, _) = ingest(
        &app,
        id,
        &[stripe_header(&small), ("content-type", "application/json".into())],
        small.as_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["event_type"], "payment_intent.succeeded");

    let got = all.wait_for(1, WAIT).await;
    assert_eq!(
        got[0].json()["data"]["id"],
        "evt_small",
        "the whole Stripe event, as received"
    );
    let got = shaped.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), json!({"order": "1042", "total": 2000}));
    assert_eq!(got[0].header("x-kind"), "payment_intent.succeeded");

    // The filter's marker: a large payment passes it, and is the only one that endpoint sees.
    let large = payment("evt_large", 250_000);
    let (s, _, _) = ingest(
        &app,
        id,
        &[stripe_header(&large), ("content-type", "application/json".into())],
        large.as_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let got = filtered.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["data"]["id"], "evt_large");
    shaped.wait_for(2, WAIT).await;
    all.wait_for(2, WAIT).await;
    assert_eq!(filtered.count(), 1, "the small payment was filtered out");

    // The transformed body's signature verifies with the reference library.
    let Some(py) = python::python("a_stripe_event_fans_out_to_three_endpoints") else {
        return;
    };
    let (s, b) = app
        .get(&format!("/v1/api/webhooks/endpoints/{shaped_id}/secret"), &key)
        .await;
    assert_eq!(s, StatusCode::OK);
    let secret = b["data"]["secret"].as_str().unwrap();
    let cases: Vec<_> = shaped
        .received()
        .iter()
        .map(|r| {
            json!({"secret": secret, "body": String::from_utf8(r.body.to_vec()).unwrap(), "headers": {
                "webhook-id": r.header("webhook-id"), "webhook-timestamp": r.header("webhook-timestamp"),
                "webhook-signature": r.header("webhook-signature")}})
        })
        .collect();
    assert_eq!(cases.len(), 2);
    crate::webhooks_limits::python_verifies(&py, &cases);
});

crate::webhook_test!(
    a_sources_filter_and_transform_shape_its_events,
    |app: TestApp| async move {
        let rx = FakeReceiver::start(Answer::Status(200)).await;
        let (a, key) = app.account_with_key("A").await;
        app.endpoint(&a, &key, json!({"url": rx.url()})).await;
        let src = app
            .source(
                &a,
                &key,
                json!({"name": "POS", "verification": {"type": "none"}, "event_type": "\"order.\" + .body.status",
                   "filter": ".body.status != \"draft\"", "transform": "{order: .body.id, store: .query.store}"}),
            )
            .await;
        let id = src["id"].as_str().unwrap();
        let post = |body: &'static str| {
            app.client
                .post(app.url(&format!("/v1/api/sources/{id}/ingest?store=12")))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let r: serde_json::Value = post(r#"{"id": 1, "status": "draft"}"#)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["data"]["outcome"], "filtered");
        let r: serde_json::Value = post(r#"{"id": 2, "status": "ready"}"#)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["data"]["outcome"], "routed", "{r}");
        let got = rx.wait_for(1, WAIT).await;
        assert_eq!(got[0].json()["type"], "order.ready");
        assert_eq!(got[0].json()["data"], json!({"order": 2, "store": "12"}));
        assert_eq!(rx.count(), 1, "the draft was filtered out before it became an event");
        let filtered = app.source_log(id, &key, "outcome=filtered").await;
        assert_eq!(filtered.len(), 1);

        // A runaway transform is stopped by its bound; the request is logged as failed, not lost.
        let (s, b) = app
            .patch(
                &format!("/v1/api/sources/{id}"),
                &key,
                json!({"transform": "[range(1e12)] | length"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let r: serde_json::Value = post(r#"{"id": 3, "status": "ready"}"#)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["data"]["outcome"], "failed", "{r}");
        let failed = app.source_log(id, &key, "outcome=failed").await;
        assert!(
            failed[0]["detail"].as_str().unwrap().contains("transform"),
            "{}",
            failed[0]
        );
        // Fixed, the failed request is replayed into an event.
        let (s, _) = app
            .patch(&format!("/v1/api/sources/{id}"), &key, json!({"transform": null}))
            .await;
        assert_eq!(s, StatusCode::OK);
        let rid = failed[0]["id"].as_str().unwrap();
        let (s, b) = app
            .post(&format!("/v1/api/sources/{id}/requests/{rid}/replay"), &key, json!({}))
            .await;
        assert_eq!(
            (s, b["data"]["outcome"].as_str()),
            (StatusCode::OK, Some("routed")),
            "{b}"
        );
        let got = rx.wait_for(2, WAIT).await;
        assert_eq!(got[1].json()["data"], json!({"id": 3, "status": "ready"}));
    }
);
