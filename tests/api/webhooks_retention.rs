//! Retention: old events and attempts are removed, events still waiting for delivery are kept;
//! queue gauges reach the metrics endpoint.

use std::time::Duration;

use serde_json::json;

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::TestApp;
use crate::webhooks_delivery::eventually;

crate::webhook_test!(
    retention_removes_old_events_but_keeps_pending_ones,
    |c: &mut hookline::config::Config| {
        c.delivery.retention = Duration::from_secs(1);
    },
    |app: TestApp| async move {
        let ok = FakeReceiver::start(Answer::Status(200)).await;
        let down = FakeReceiver::start(Answer::Status(500)).await;
        let (a, key) = app.account_with_key("A").await;
        app.endpoint(&a, &key, json!({"url": ok.url(), "event_types": ["done"]}))
            .await;
        app.endpoint(
            &a,
            &key,
            json!({"url": down.url(), "event_types": ["waiting"], "retry_schedule": [0, 3600]}),
        )
        .await;
        let done = app
            .publish(&a, &key, json!({"event_type": "done", "payload": {}}))
            .await;
        let waiting = app
            .publish(&a, &key, json!({"event_type": "waiting", "payload": {}}))
            .await;
        let done_id = done["id"].as_str().unwrap();
        let waiting_id = waiting["id"].as_str().unwrap();
        eventually(&app, &format!("/v1/api/webhooks/events/{done_id}"), &key, |b| {
            b["data"]["deliveries"][0]["status"] == "succeeded"
        })
        .await;
        down.wait_for(1, Duration::from_secs(20)).await;
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        // Delivered too, but younger than the retention: kept.
        let fresh = app
            .publish(&a, &key, json!({"event_type": "done", "payload": {}}))
            .await;
        let fresh_id = fresh["id"].as_str().unwrap();
        eventually(&app, &format!("/v1/api/webhooks/events/{fresh_id}"), &key, |b| {
            b["data"]["deliveries"][0]["status"] == "succeeded"
        })
        .await;

        let removed = hookline::delivery::maintenance::retention_step(&app.state.outbound)
            .await
            .unwrap();
        assert!(removed.events >= 1, "{removed:?}");
        let (s, _) = app.get(&format!("/v1/api/webhooks/events/{done_id}"), &key).await;
        assert_eq!(s, reqwest::StatusCode::NOT_FOUND, "delivered and old: removed");
        let (s, b) = app.get(&format!("/v1/api/webhooks/events/{waiting_id}"), &key).await;
        assert_eq!(s, reqwest::StatusCode::OK, "still pending: kept");
        assert_eq!(b["data"]["deliveries"][0]["status"], "pending");
        let (s, _) = app.get(&format!("/v1/api/webhooks/events/{fresh_id}"), &key).await;
        assert_eq!(s, reqwest::StatusCode::OK, "delivered but recent: kept");

        hookline::delivery::maintenance::update_gauges(&app.state.outbound).await;
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("hookline_webhook_queue_depth"), "{metrics}");
        assert!(metrics.contains("hookline_webhook_oldest_pending_age_seconds"));
    }
);
