//! kill -9 under publish load: every event answered 202 before the kill reaches the endpoint
//! after a restart on the same store; a publish cut off by the kill is resent with its
//! `event_id` and never becomes a second event. Duplicate deliveries are allowed after a crash:
//! they are counted and printed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Backend, FAST_NODE, NodeSpec, Receiver, client, create_account, create_endpoint, fresh_postgres, one_event_per_seq,
    seq_event, wait_until,
};

const PUBLISHERS: u64 = 12;
/// Acknowledged publishes before the kill: enough that deliveries are in flight and publishes
/// are mid-commit when it lands.
const KILL_AFTER: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_publish_load_sqlite_loses_no_acknowledged_event() {
    kill_9_under_publish_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_publish_load_postgres_loses_no_acknowledged_event() {
    if let Some(backend) = fresh_postgres("faults::publish_kill::postgres").await {
        kill_9_under_publish_load(backend).await;
    }
}

/// What the publishers saw: events answered 202, and events whose publish got no answer.
#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<u64>,
    in_doubt: Vec<u64>,
}

async fn kill_9_under_publish_load(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Duration::from_millis(2)).await;
    let spec = NodeSpec::new(root.path(), "node", &backend, FAST_NODE);
    let node = spec.start().await;
    let admin = node.admin_key.clone().expect("a fresh store prints the admin key");
    let http = client();
    let account = create_account(&http, &node.base, &admin, "faults").await;
    create_endpoint(&http, &node.base, &admin, &account, &rx.url, 64).await;
    let events_url = |base: &str| format!("{base}/v1/api/accounts/{account}/webhooks/events");

    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (http, admin, outcomes, url) = (http.clone(), admin.clone(), outcomes.clone(), events_url(&node.base));
        publishers.push(tokio::spawn(async move {
            for i in 0.. {
                let seq = p * 1_000_000 + i;
                let status = http
                    .post(&url)
                    .bearer_auth(&admin)
                    .json(&seq_event(seq))
                    .send()
                    .await
                    .map(|r| r.status());
                let mut out = outcomes.lock().unwrap();
                match status {
                    Ok(s) if s == 202 => out.acknowledged.push(seq),
                    Ok(s) if s.is_client_error() => panic!("publish {seq} refused with {s}"),
                    // A 5xx or no answer at all: maybe stored, to be resent with its event_id.
                    _ => {
                        out.in_doubt.push(seq);
                        return;
                    }
                }
            }
        }));
    }
    let count = || outcomes.lock().unwrap().acknowledged.len();
    wait_until(
        Duration::from_secs(60),
        || count() >= KILL_AFTER,
        || format!("{} acknowledged", count()),
    )
    .await;
    node.kill_9().await;
    for p in publishers {
        p.await.expect("publisher");
    }
    let delivered_before_kill = rx.deliveries().len();

    let node = spec.start().await;
    let Outcomes {
        mut acknowledged,
        in_doubt,
    } = std::mem::take(&mut *outcomes.lock().unwrap());
    let before_resend = acknowledged.len();
    let mut already_stored = 0;
    for seq in &in_doubt {
        let resp = http
            .post(events_url(&node.base))
            .bearer_auth(&admin)
            .json(&seq_event(*seq))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202, "resending in-doubt event {seq} after the restart");
        let answer: Value = resp.json().await.unwrap();
        if answer["data"]["duplicate"] == true {
            already_stored += 1;
        }
        acknowledged.push(*seq);
    }

    let want: HashSet<u64> = acknowledged.iter().copied().collect();
    rx.wait_for_seqs(&want, Duration::from_secs(60)).await;

    let (delivered, duplicates) = one_event_per_seq(&rx.deliveries());
    println!(
        "faults: publish_kill backend={} acknowledged={before_resend} in_doubt={} in_doubt_already_stored={already_stored} \
         delivered_before_kill={delivered_before_kill} delivered={delivered} lost=0 duplicates={duplicates}",
        backend.name(),
        in_doubt.len(),
    );
    node.kill_9().await;
}
