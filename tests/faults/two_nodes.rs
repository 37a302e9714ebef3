//! Two nodes on one PostgreSQL database, one killed with SIGKILL while deliveries are in flight:
//! the survivor takes over the killed node's claims once their leases run out, every event
//! reaches the endpoint, and no delivery is ever attempted twice at the same time.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::support::{
    FAST_NODE, NodeSpec, Receiver, client, create_account, create_endpoint, fresh_postgres, post_ok, wait_until,
};

const EVENTS: u64 = 1_000;
const BATCH: u64 = 100;
/// Requests open at once per node: few enough that publishing ends with most of the queue ahead.
const MAX_IN_FLIGHT: u32 = 16;
/// Deliveries received before the kill: the first node is well into its share, most of the
/// queue still ahead.
const KILL_AFTER: usize = 300;
/// Receiving is slow so that each attempt stays open long enough for a second, concurrent
/// attempt of the same delivery to be seen; well inside the attempt deadline the 3 s lease gives.
const RECEIVE_TIME: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_one_killed_mid_delivery_lose_nothing_and_never_overlap() {
    let Some(backend) = fresh_postgres("faults::two_nodes").await else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let rx = Receiver::start(RECEIVE_TIME).await;
    let (spec_a, spec_b) = (
        NodeSpec::new(root.path(), "a", &backend, FAST_NODE),
        NodeSpec::new(root.path(), "b", &backend, FAST_NODE),
    );
    let a = spec_a.start().await;
    let b = spec_b.start().await;
    let admin = a
        .admin_key
        .clone()
        .expect("the first node on a fresh database prints the admin key");
    let http = client();
    let account = create_account(&http, &a.base, &admin, "faults").await;
    create_endpoint(&http, &a.base, &admin, &account, &rx.url, MAX_IN_FLIGHT).await;

    for chunk in 0..EVENTS / BATCH {
        let events: Vec<_> = (0..BATCH)
            .map(|i| json!({ "event_type": "order.created", "payload": { "seq": chunk * BATCH + i } }))
            .collect();
        let node = if chunk % 2 == 0 { &a } else { &b };
        let url = format!("{}/v1/api/accounts/{account}/webhooks/events/batch", node.base);
        post_ok(&http, &url, &admin, json!({ "events": events }), 202).await;
    }
    wait_until(
        Duration::from_secs(60),
        || rx.deliveries().len() >= KILL_AFTER,
        || format!("{} deliveries before the kill", rx.deliveries().len()),
    )
    .await;
    a.kill_9().await;
    let delivered_before_kill = rx.deliveries().len();

    rx.wait_for_seqs(&(0..EVENTS).collect(), Duration::from_secs(60)).await;

    let overlaps = rx.overlaps();
    let deliveries = rx.deliveries();
    let distinct: HashSet<&str> = deliveries.iter().map(|d| d.webhook_id.as_str()).collect();
    println!(
        "faults: two_nodes backend=postgres acknowledged={EVENTS} delivered_before_kill={delivered_before_kill} \
         delivered={} lost=0 duplicates={} concurrent_attempts={}",
        distinct.len(),
        deliveries.len() - distinct.len(),
        overlaps.len()
    );
    assert!(
        overlaps.is_empty(),
        "one delivery was attempted twice at the same time: {overlaps:?}"
    );
    b.kill_9().await;
}
