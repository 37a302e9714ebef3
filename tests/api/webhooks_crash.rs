//! Two nodes on one PostgreSQL share the delivery queue without attempting one delivery twice at
//! once. (Killing nodes under load is the fault suite's part: `tests/faults/`.)

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::{Backend, TestApp};

/// Two in-process nodes on one PostgreSQL schema; each event must reach the receiver exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_queue_without_concurrent_double_attempts() {
    let Some(url) = crate::helpers::postgres_url("webhooks_crash::two_nodes_share_the_queue").await else {
        return;
    };
    let rx = FakeReceiver::start(Answer::Slow(Duration::from_millis(20))).await;
    let config = |dir: &tempfile::TempDir| {
        let mut c = hookline::config::Config::for_data_dir(dir.path());
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.database = hookline::config::DatabaseConfig::Postgres {
            url: hookline::secrets::Secret::new(url.clone()),
        };
        c.master_key = Some(hookline::secrets::Secret::new([42u8; 32]));
        c.delivery_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
        c.rate_limits.bot_management_per_minute = 0;
        c.rate_limits.webhooks_per_minute = 0;
        c.delivery.poll = Duration::from_millis(10);
        c.delivery.lease = Duration::from_secs(5);
        c
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let c1 = config(&d1);
    let c2 = config(&d2);
    let one = TestApp::start(c1, Backend::Postgres, d1).await;
    let mut two = TestApp::start(c2, Backend::Postgres, d2).await;
    two.admin_key = one.admin_key.clone();
    let (a, key) = one.account_with_key("A").await;
    one.endpoint(&a, &key, json!({"url": rx.url(), "max_in_flight": 50}))
        .await;
    let n = 400;
    for chunk in 0..(n / 100) {
        let events: Vec<_> = (0..100)
            .map(|i| json!({"event_type": "x", "payload": {"seq": chunk * 100 + i}}))
            .collect();
        let target = if chunk % 2 == 0 { &one } else { &two };
        let (s, _) = target
            .post(
                &format!("/v1/api/accounts/{a}/webhooks/events/batch"),
                &key,
                json!({ "events": events }),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::ACCEPTED);
    }
    let got = rx.wait_for(n as usize, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_after = rx.received();
    let mut per_event: HashMap<String, usize> = HashMap::new();
    for r in &got_after {
        *per_event.entry(r.header("webhook-id").to_string()).or_default() += 1;
    }
    assert_eq!(per_event.len(), n as usize, "every event arrived");
    let doubles: Vec<_> = per_event.iter().filter(|(_, c)| **c > 1).collect();
    assert!(doubles.is_empty(), "attempted twice: {doubles:?}");
    assert!(got.len() >= n as usize);
}
