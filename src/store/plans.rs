//! The queue queries run under load use the pending-only indexes (`0008_pending_indexes.sql`).
//! A partial index serves a query only when the query's own WHERE implies the index's, so a
//! query that bound its status as a parameter, say, would quietly scan every reply ever sent.

use super::chats::{CHAT_HEAD, DUE_CHATS};
use super::delivery_queue::CLAIM_SQLITE;
use super::{Db, Store};

/// SQLite's plan for `sql`, its steps' details joined.
async fn plan(store: &Store, sql: &str) -> String {
    let Db::Sqlite { write, .. } = &store.db else {
        unreachable!("SQLite store")
    };
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
        .fetch_all(write)
        .await
        .unwrap();
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join(" | ")
}

#[tokio::test]
async fn queue_queries_use_the_pending_only_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = super::test_sqlite(&dir).await;
    // Scanning a pending-only index (for DISTINCT chats, say) reads only what is pending.
    for (sql, indexes) in [
        (CHAT_HEAD, &["outbox_chat"][..]),
        (DUE_CHATS, &["outbox_due", "outbox_chat"][..]),
        (CLAIM_SQLITE, &["webhook_deliveries_due"][..]),
    ] {
        let plan = plan(&store, sql).await;
        assert!(
            indexes.iter().any(|i| plan.contains(&format!("INDEX {i}"))),
            "{indexes:?}: {plan}"
        );
        for index in indexes {
            let Db::Sqlite { write, .. } = &store.db else {
                unreachable!()
            };
            let def: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1")
                .bind(index)
                .fetch_one(write)
                .await
                .unwrap();
            assert!(def.contains(" WHERE "), "{index} is not pending-only: {def}");
        }
        for step in plan.split(" | ") {
            assert!(
                !step.starts_with("SCAN ") || step.contains(" USING "),
                "a table scan: {plan}"
            );
        }
    }
}
