//! A failed transaction on SQLite's writer never leaves later writes inside it.

use crate::store::{Db, Store, StoreError, test_sqlite};

fn pools(store: &Store) -> (&sqlx::SqlitePool, &sqlx::SqlitePool) {
    match &store.db {
        Db::Sqlite { write, read } => (write, read),
        Db::Postgres(_) => unreachable!("an SQLite test store"),
    }
}

/// A transaction that fails part-way and is dropped, as a request that meets an error does.
async fn fail_a_transaction(store: &Store) {
    let (write, _) = pools(store);
    let mut tx = write.begin().await.unwrap();
    let insert = "INSERT INTO meta (key, value) VALUES ('discard-test', '1')";
    sqlx::query(insert).execute(&mut *tx).await.unwrap();
    assert!(
        sqlx::query(insert).execute(&mut *tx).await.is_err(),
        "a duplicate key fails"
    );
}

/// Whether an account of that name is visible to another connection (that is, committed).
async fn committed(store: &Store, name: &str) -> bool {
    let (_, read) = pools(store);
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM accounts WHERE name = $1")
        .bind(name)
        .fetch_one(read)
        .await
        .unwrap()
        == 1
}

/// A write SQLite refuses for a full database is `StorageFull`; once there is room again each
/// later write is committed (seen from another connection), also after another transaction
/// failed on the same writer.
#[tokio::test]
async fn a_full_database_is_storage_full_and_later_writes_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_sqlite(&dir).await;
    let (write, _) = pools(&store);
    // The writer's database may not grow past its size now: SQLite answers SQLITE_FULL as
    // it does on a full disk.
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(write).await.unwrap();
    let cap = format!("PRAGMA max_page_count = {pages}");
    sqlx::query(sqlx::AssertSqlSafe(cap)).execute(write).await.unwrap();
    let padding = "x".repeat(2000);
    let mut refused = None;
    for i in 0..10_000 {
        if let Err(e) = store.create_account(&format!("filler {i} {padding}")).await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("a capped database fills up");
    assert!(matches!(refused, StoreError::StorageFull(_)), "{refused:?}");

    // Room again (on this connection if it is still the writer's; a fresh one has no cap).
    sqlx::query("PRAGMA max_page_count = 1073741823")
        .execute(write)
        .await
        .unwrap();
    store.create_account("after the full disk").await.unwrap();
    assert!(committed(&store, "after the full disk").await);
    fail_a_transaction(&store).await;
    store.create_account("after a failed transaction").await.unwrap();
    assert!(committed(&store, "after a failed transaction").await);
}

/// The state a full disk leaves behind, made directly: SQLite ends the transaction on its own
/// (as it does on SQLITE_FULL or an I/O error), so the ROLLBACK of the dropped transaction
/// fails and sqlx still counts the connection inside it.
#[tokio::test]
async fn a_transaction_sqlite_ended_itself_does_not_swallow_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_sqlite(&dir).await;
    let (write, _) = pools(&store);
    {
        let mut tx = write.begin().await.unwrap();
        sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
    }
    store.create_account("first").await.unwrap();
    fail_a_transaction(&store).await;
    store.create_account("second").await.unwrap();
    assert!(committed(&store, "first").await);
    assert!(committed(&store, "second").await);
}

/// The held connection of a group committer is checked before each transaction: one left
/// inside a failed transaction is refused (and closed), never written through.
#[tokio::test]
async fn a_held_connection_left_in_a_transaction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_sqlite(&dir).await;
    let (write, _) = pools(&store);
    let mut held = store.hold_writer().await.unwrap();
    {
        let mut tx = crate::store::begin_on(write, Some(&mut held)).await.unwrap();
        sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
    }
    assert!(crate::store::begin_on(write, Some(&mut held)).await.is_err());
    drop(held);
    store.create_account("after the held connection").await.unwrap();
    assert!(committed(&store, "after the held connection").await);
}
