//! Publishing events: idempotency (event_id, Idempotency-Key), fan-out by filters in the same
//! transaction, batches, and hostile event input.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};

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

crate::webhook_test!(
    a_group_with_repeats_and_earlier_events_publishes_each_once,
    |c: &mut hookline::config::Config| {
        c.delivery.enabled = false;
    },
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        app.endpoint(&a, &key, json!({"url": "http://127.0.0.1:9/all"})).await;
        let earlier = app
            .publish(
                &a,
                &key,
                json!({"event_type": "x", "payload": {"n": 0}, "event_id": "d-1"}),
            )
            .await;
        // One group: an id published before, a new id twice, another new id, the old one again.
        let ids = ["d-1", "d-2", "d-2", "d-3", "d-1"];
        let events: Vec<Value> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| json!({"event_type": "x", "payload": {"n": n + 1}, "event_id": id}))
            .collect();
        let path = format!("/v1/api/accounts/{a}/webhooks/events/batch");
        let (s, body) = app.post(&path, &key, json!({ "events": events })).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
        let rows = body["data"].as_array().unwrap();
        let dup: Vec<bool> = rows.iter().map(|r| r["duplicate"].as_bool().unwrap()).collect();
        assert_eq!(dup, [true, false, true, false, true]);
        assert_eq!(rows[0]["id"], earlier["id"]);
        assert_eq!(rows[4]["id"], earlier["id"]);
        assert_eq!(
            rows[2]["id"], rows[1]["id"],
            "a repeat within the group answers the first"
        );
        assert_ne!(rows[1]["id"], rows[3]["id"]);

        let (_, list) = app.get(&format!("/v1/api/accounts/{a}/webhooks/events"), &key).await;
        let mut listed: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        listed.sort();
        assert_eq!(listed, ["d-1", "d-2", "d-3"], "each event_id is stored once");
        for (id, n) in [(&rows[1]["id"], 2), (&rows[3]["id"], 4), (&earlier["id"], 0)] {
            let (_, ev) = app
                .get(&format!("/v1/api/webhooks/events/{}", id.as_str().unwrap()), &key)
                .await;
            assert_eq!(ev["data"]["payload"]["n"], n, "the first publish's payload is kept");
            assert_eq!(
                ev["data"]["deliveries"].as_array().unwrap().len(),
                1,
                "one delivery per event and endpoint, never one per repeat"
            );
        }

        // Concurrent single publishes of one id share groups or not; exactly one is new.
        let one = format!("/v1/api/accounts/{a}/webhooks/events");
        let sends = (0..16).map(|n| {
            app.post(
                &one,
                &key,
                json!({"event_type": "x", "payload": {"n": n}, "event_id": "same"}),
            )
        });
        let answers = futures::future::join_all(sends).await;
        let mut new = 0;
        for (s, b) in &answers {
            assert_eq!(*s, StatusCode::ACCEPTED, "{b}");
            assert_eq!(b["data"]["id"], answers[0].1["data"]["id"]);
            new += usize::from(b["data"]["duplicate"] == false);
        }
        assert_eq!(new, 1);
    }
);

crate::webhook_test!(
    a_group_with_more_rows_than_one_statement_binds_writes_them_all,
    |c: &mut hookline::config::Config| {
        c.delivery.enabled = false;
        c.max_body_bytes = 4 * 1024 * 1024;
    },
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        // 1,000 events x 9 endpoints = 9,000 delivery rows of 7 parameters: far past SQLite's
        // 32,766 per statement, so the writes must be split.
        let mut endpoints = Vec::new();
        for i in 0..9 {
            endpoints.push(
                app.endpoint(&a, &key, json!({"url": format!("http://127.0.0.1:9/{i}")}))
                    .await,
            );
        }
        endpoints.sort();
        let events: Vec<Value> = (0..1000)
            .map(|i| json!({"event_type": "order.created", "payload": {"i": i}, "event_id": format!("m-{i}")}))
            .collect();
        let path = format!("/v1/api/accounts/{a}/webhooks/events/batch");
        let (s, body) = app.post(&path, &key, json!({ "events": events })).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
        let rows = body["data"].as_array().unwrap();
        assert_eq!(rows.len(), 1000);
        assert!(rows.iter().all(|r| r["duplicate"] == false));
        for i in [0, 511, 512, 999] {
            assert_eq!(
                rows[i]["event_id"],
                format!("m-{i}"),
                "answers keep the request's order"
            );
            let (_, ev) = app
                .get(
                    &format!("/v1/api/webhooks/events/{}", rows[i]["id"].as_str().unwrap()),
                    &key,
                )
                .await;
            assert_eq!(ev["data"]["payload"]["i"], i);
            let mut got: Vec<String> = ev["data"]["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["endpoint_id"].as_str().unwrap().to_string())
                .collect();
            got.sort();
            assert_eq!(got, endpoints, "event {i} has a delivery for every endpoint");
        }
        // Publishing the same 1,000 again: all duplicates, resolved in chunks too.
        let events: Vec<Value> = (0..1000)
            .map(|i| json!({"event_type": "order.created", "payload": {}, "event_id": format!("m-{i}")}))
            .collect();
        let (s, again) = app.post(&path, &key, json!({ "events": events })).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{again}");
        for (first, second) in rows.iter().zip(again["data"].as_array().unwrap()) {
            assert_eq!(second["duplicate"], true);
            assert_eq!(second["id"], first["id"]);
        }
    }
);

crate::webhook_test!(
    a_revoked_key_stops_publishing_at_once,
    |c: &mut hookline::config::Config| {
        c.delivery.enabled = false;
    },
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        // Verified (and cached) by a few publishes first.
        for _ in 0..3 {
            app.publish(&a, &key, json!({"event_type": "x", "payload": {}})).await;
        }
        let (_, keys) = app.get(&format!("/v1/api/accounts/{a}/keys"), &app.admin_key).await;
        let key_id = keys["data"][0]["id"].as_str().unwrap().to_string();
        let (s, _) = app
            .delete(&format!("/v1/api/accounts/{a}/keys/{key_id}"), &app.admin_key)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, body) = app
            .post(
                &format!("/v1/api/accounts/{a}/webhooks/events"),
                &key,
                json!({"event_type": "x", "payload": {}}),
            )
            .await;
        assert_error(s, &body, 401, "UNAUTHORIZED");
        assert!(!body.to_string().contains(&key), "the key is never echoed");
        // Other keys are looked up again and keep working.
        let (s, _) = app.get(&format!("/v1/api/accounts/{a}"), &app.admin_key).await;
        assert_eq!(s, StatusCode::OK);
    }
);
