//! The outbound queue's contract, at the store level and on both backends: what a claim takes,
//! that two claims never share a delivery, that an expired lease is taken again, that only the
//! lease holder records an outcome, that a group with a repeated `event_id` stores one event,
//! and what retention removes.

use std::collections::HashSet;

use uuid::Uuid;

use super::delivery_queue::{AttemptRecord, EventToWrite, NextState, PublishBatch, QueueWrite};
use super::{Store, new_id, now_ms};
use crate::config::{DatabaseConfig, SqliteSync};
use crate::model::ids::{AccountId, AttemptId, DeliveryId, EventId};

const LEASE_MS: i64 = 10_000;

/// An account with one enabled endpoint that takes every event.
async fn account_with_endpoint(store: &Store) -> AccountId {
    let account = store.create_account("A").await.unwrap().id;
    store.create_endpoint(&super::test_endpoint(account)).await.unwrap();
    account
}

fn event(event_id: &str) -> EventToWrite {
    EventToWrite {
        id: EventId::new(),
        event_id: event_id.into(),
        event_type: "order.created".into(),
        payload: "{}".into(),
        labels: Vec::new(),
    }
}

async fn publish(store: &Store, account_id: AccountId, ids: &[&str]) {
    let batch = PublishBatch {
        account_id,
        events: ids.iter().map(|id| event(id)).collect(),
        ingest: None,
    };
    store.write_group(&[batch], &[], now_ms()).await.unwrap();
}

fn outcome(owner: Uuid, claimed: &super::delivery_queue::Claimed, next: NextState) -> QueueWrite {
    QueueWrite::Outcome {
        owner,
        next,
        record: Box::new(AttemptRecord {
            id: AttemptId::new(),
            delivery_id: claimed.id,
            account_id: claimed.account_id,
            event_id: claimed.event_id,
            endpoint_id: claimed.endpoint_id,
            attempt: claimed.attempts + 1,
            cause: "scheduled".into(),
            succeeded: next == NextState::Succeeded,
            response_status: Some(200),
            response_headers: serde_json::json!({}),
            response_body: String::new(),
            request_headers: serde_json::json!({}),
            error_class: None,
            error_message: None,
            latency_ms: 1,
            created_at: now_ms(),
        }),
    }
}

async fn contract(store: Store) {
    let account = account_with_endpoint(&store).await;
    let (a, b) = (new_id(), new_id());

    // Claims: at most `limit`, and two claims never share a delivery, even at once.
    publish(&store, account, &["e1", "e2", "e3", "e4", "e5", "e6"]).await;
    let now = now_ms();
    let first = store.claim_due(a, now, LEASE_MS, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let (x, y) = tokio::join!(
        store.claim_due(a, now, LEASE_MS, 2),
        store.claim_due(b, now, LEASE_MS, 2)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let ids = |c: &[super::delivery_queue::Claimed]| c.iter().map(|c| c.id).collect::<HashSet<_>>();
    let all: Vec<DeliveryId> = first.iter().chain(&x).chain(&y).map(|c| c.id).collect();
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        all.len(),
        "a delivery was claimed twice"
    );
    assert_eq!(all.len(), 6);
    assert!(store.claim_due(b, now, LEASE_MS, 10).await.unwrap().is_empty());

    // Only the lease holder records an outcome; the others' are ignored, with no attempt row.
    let mine = &first[0];
    store
        .write_group(&[], &[outcome(b, mine, NextState::Succeeded)], now)
        .await
        .unwrap();
    assert_eq!(
        store.event_deliveries(mine.event_id).await.unwrap()[0].status,
        "pending"
    );
    store
        .write_group(&[], &[outcome(a, mine, NextState::Succeeded)], now)
        .await
        .unwrap();
    let delivery = &store.event_deliveries(mine.event_id).await.unwrap()[0];
    assert_eq!(delivery.status, "succeeded");
    let failed = &first[1];
    store
        .write_group(&[], &[outcome(a, failed, NextState::Failed)], now)
        .await
        .unwrap();
    assert_eq!(
        store.event_deliveries(failed.event_id).await.unwrap()[0].status,
        "failed"
    );

    // An expired lease is due again, to anyone; a finished delivery is not.
    let later = now + LEASE_MS + 1;
    let again = store.claim_due(b, later, LEASE_MS, 10).await.unwrap();
    assert_eq!(
        ids(&again),
        ids(&x).union(&ids(&y)).copied().collect(),
        "only the unfinished ones"
    );

    // A group holding one event_id twice stores one event with one delivery.
    let batch = |id: &str| PublishBatch {
        account_id: account,
        events: vec![event(id)],
        ingest: None,
    };
    let rows = store
        .write_group(&[batch("twice"), batch("twice")], &[], now)
        .await
        .unwrap();
    assert!(!rows[0][0].duplicate);
    assert!(rows[1][0].duplicate);
    assert_eq!(rows[0][0].id, rows[1][0].id);
    assert_eq!(store.event_deliveries(rows[0][0].id).await.unwrap().len(), 1);

    // Retention: old events go with their finished deliveries; one still pending stays.
    let (events_removed, _) = store.remove_older_than(now_ms() + 1, 100).await.unwrap();
    assert_eq!(events_removed, 2, "the succeeded and the failed one");
    assert!(store.get_event(mine.event_id).await.unwrap().is_none());
    assert!(store.get_event(x[0].event_id).await.unwrap().is_some(), "pending: kept");
}

#[tokio::test]
async fn the_queue_keeps_its_contract_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    contract(super::test_sqlite(&dir).await).await;
}

#[tokio::test]
async fn the_queue_keeps_its_contract_postgres() {
    let Ok(base) = std::env::var("HOOKLINE_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("HOOKLINE_REQUIRE_POSTGRES").is_err(),
            "HOOKLINE_REQUIRE_POSTGRES is set but HOOKLINE_TEST_DATABASE_URL is not"
        );
        eprintln!("SKIPPED (PostgreSQL): queue contract — set HOOKLINE_TEST_DATABASE_URL to run it");
        return;
    };
    let schema = format!("t_{}", new_id().simple());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = crate::secrets::Secret::new(format!("{base}{sep}options=-c%20search_path%3D{schema}"));
    let store = Store::connect(&DatabaseConfig::Postgres { url }, SqliteSync::Normal)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    contract(store).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}
