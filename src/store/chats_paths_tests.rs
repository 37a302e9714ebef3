//! The two ways a group of chat writes is applied — all at once with multi-row statements
//! (`chats_group`, the usual path) and one by one, each in its own savepoint (`chats`, taken when
//! a group holds a duplicate or a conflict) — implement every write twice. This property test
//! applies random rounds of writes both ways, to two stores holding the same bot, and checks
//! that they answer alike and leave the same rows.

use std::path::Path;

use proptest::prelude::*;

use super::chats::Applied;
use super::chats_group::tests::{echo_bot, echo_update, snapshot};
use super::{Db, Store, new_id, now_ms};
use crate::dialogs::plan::{ChatWrite, plan};

/// Columns whose values depend on when a path ran, not on what it wrote.
fn timing_column(name: &str) -> bool {
    name.ends_with("_at") || name == "lease_until"
}

/// Tables a chat write touches, and the columns that differ between two stores by
/// construction (ids the store itself generates).
const TABLES: [(&str, &[&str]); 7] = [
    ("inbox", &[]),
    ("dialogs", &[]),
    ("dialog_history", &["id"]),
    ("outbox", &[]),
    ("timers", &[]),
    ("webhook_events", &["id", "event_id"]),
    ("webhook_deliveries", &["id", "event_id"]),
];

async fn dump(store: &Store, table: &str, skip: &[&str]) -> Vec<String> {
    let Db::Sqlite { write, .. } = &store.db else {
        unreachable!("SQLite stores")
    };
    let columns: Vec<(i64, String, String, i64, Option<String>, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("PRAGMA table_info({table})")))
            .fetch_all(write)
            .await
            .unwrap();
    let kept: Vec<String> = columns
        .into_iter()
        .map(|c| c.1)
        .filter(|c| !timing_column(c) && !skip.contains(&c.as_str()))
        .map(|c| format!("quote({c})"))
        .collect();
    assert!(!kept.is_empty(), "{table} has columns");
    let sql = format!("SELECT {} FROM {table}", kept.join(" || '|' || "));
    let mut rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(write)
        .await
        .unwrap();
    rows.sort();
    rows
}

/// A second store holding the same account and bot (same ids) as `first`.
async fn twin(first_path: &Path, dir: &tempfile::TempDir) -> Store {
    let config = crate::config::DatabaseConfig::Sqlite {
        path: dir.path().join("twin.db"),
    };
    let store = Store::connect(&config, crate::config::SqliteSync::Normal)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let Db::Sqlite { write, .. } = &store.db else {
        unreachable!()
    };
    let mut conn = write.acquire().await.unwrap();
    sqlx::query("ATTACH DATABASE $1 AS first")
        .bind(first_path.to_string_lossy().to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    for table in ["accounts", "bots"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO main.{table} SELECT * FROM first.{table}"
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    sqlx::query("DETACH DATABASE first").execute(&mut *conn).await.unwrap();
    drop(conn);
    store
}

/// One update of a round: its chat, and whether it repeats the chat's last update id (a
/// redelivery).
type Step = (i64, bool);

/// What a write's answer says, without the order flag only the group path computes.
fn outcome(answer: &super::StoreResult<Applied>) -> &'static str {
    match answer {
        Ok(Applied::Done { .. }) => "done",
        Ok(Applied::Duplicate) => "duplicate",
        Ok(Applied::Conflict) => "conflict",
        Err(_) => "error",
    }
}

async fn both_paths_agree(rounds: Vec<Vec<Step>>) {
    let dir = tempfile::tempdir().unwrap();
    let grouped = super::test_sqlite(&dir).await;
    let ctx = echo_bot(&grouped).await;
    let single = twin(&dir.path().join("t.db"), &dir).await;
    let mut last_update: std::collections::HashMap<i64, i64> = Default::default();
    let mut next_update = 1;
    for round in rounds {
        let mut writes: Vec<ChatWrite> = Vec::new();
        for (chat, repeat) in round {
            let update_id = match (repeat, last_update.get(&chat)) {
                (true, Some(id)) => *id,
                _ => {
                    next_update += 1;
                    next_update
                }
            };
            last_update.insert(chat, update_id);
            let item = echo_update(chat, update_id);
            let dialog = snapshot(&grouped, &ctx, chat).await;
            writes.push(plan(&ctx, &chat.to_string(), dialog, vec![item], now_ms(), &mut new_id));
        }
        let refs: Vec<&ChatWrite> = writes.iter().collect();
        let a = grouped.apply_chat_writes(&refs, &[]).await.unwrap();
        let b = single
            .apply_chat_writes_one_by_one(None, &refs, &[], &[], now_ms())
            .await
            .unwrap();
        let (a, b): (Vec<_>, Vec<_>) = (a.iter().map(outcome).collect(), b.iter().map(outcome).collect());
        assert_eq!(a, b, "the two paths answered differently");
    }
    for (table, skip) in TABLES {
        assert_eq!(
            dump(&grouped, table, skip).await,
            dump(&single, table, skip).await,
            "{table} differs between the two paths"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_group_path_and_the_one_by_one_path_write_the_same_rows(
        rounds in prop::collection::vec(
            prop::collection::vec((1i64..4, prop::bool::weighted(0.2)), 1..6),
            1..5,
        ),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(both_paths_agree(rounds));
    }
}
