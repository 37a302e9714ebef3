//! Durability of outbound webhooks: kill -9 under publish load loses no acknowledged event, and
//! two nodes on one PostgreSQL share the queue without attempting one delivery twice at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::{Backend, TestApp};
use crate::process::start_node;

const NODE_ENV: &[(&str, &str)] = &[
    ("HOOKLINE_DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ("HOOKLINE_RATE_LIMIT_BOT_MANAGEMENT", "0"),
    ("HOOKLINE_RATE_LIMIT_WEBHOOKS", "0"),
    ("HOOKLINE_DELIVERY_POLL_MS", "20"),
    ("HOOKLINE_DELIVERY_LEASE_SECS", "2"),
    (
        "HOOKLINE_DELIVERY_RETRY_SCHEDULE",
        "0,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2",
    ),
];

/// The `seq` of every event the receiver got.
fn seqs(rx: &FakeReceiver) -> HashSet<u64> {
    rx.received()
        .iter()
        .filter_map(|r| r.json()["data"]["seq"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_publish_load_loses_no_acknowledged_event() {
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path(), NODE_ENV).await;
    let admin = node.admin_key.clone().unwrap();
    hookline::app::install_tls_provider();
    let http = reqwest::Client::new();
    let base = format!("http://{}", node.addr);
    let account: serde_json::Value = http
        .post(format!("{base}/v1/api/accounts"))
        .bearer_auth(&admin)
        .json(&json!({"name": "crash"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a = account["data"]["id"].as_str().unwrap().to_string();
    let r = http
        .post(format!("{base}/v1/api/accounts/{a}/webhooks/endpoints"))
        .bearer_auth(&admin)
        .json(&json!({"url": rx.url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // 16 publishers; each remembers what was acknowledged (202) before the kill.
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let mut publishers = Vec::new();
    for p in 0..16u64 {
        let (http, admin, acked, url) = (
            http.clone(),
            admin.clone(),
            acked.clone(),
            format!("{base}/v1/api/accounts/{a}/webhooks/events"),
        );
        publishers.push(tokio::spawn(async move {
            for i in 0.. {
                let seq = p * 1_000_000 + i;
                let sent = http
                    .post(&url)
                    .bearer_auth(&admin)
                    .json(&json!({"event_type": "order.created", "payload": {"seq": seq}}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 202 => acked.lock().unwrap().push(seq),
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => break, // the node died mid-request: not acknowledged
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    node.child.start_kill().unwrap(); // SIGKILL
    node.child.wait().await.unwrap();
    for p in publishers {
        p.await.unwrap();
    }
    let acked: Vec<u64> = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the load ran: {} acknowledged", acked.len());
    let before = seqs(&rx).len();

    let _node = start_node(dir.path(), NODE_ENV).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = seqs(&rx);
        let missing: Vec<_> = acked.iter().filter(|s| !got.contains(s)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged events never arrived (e.g. {:?}); {before} had arrived before the kill",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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
