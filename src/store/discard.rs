//! A connection whose transaction did not end cleanly is closed, never reused.
//!
//! sqlx counts a connection's transaction depth itself and only lowers the count when COMMIT
//! or ROLLBACK succeed. When SQLite ends a transaction on its own (it rolls back on a full
//! disk or an I/O error) the COMMIT fails, the ROLLBACK that follows fails too ("no
//! transaction is active"), and the count stays above zero. The next `begin()` on that
//! connection then issues `SAVEPOINT` instead of `BEGIN`, and one rolled-back savepoint later
//! the connection sits inside a transaction that never commits: every later write succeeds
//! from the caller's side and is lost. So a connection still counted inside a transaction when
//! it is given back (or before a held one starts the next) is closed, and the pool opens a
//! fresh one. A COMMIT that fails still fails the write: callers answer an error, never 2xx.

use sqlx::Connection;

/// Whether `conn` is still inside a transaction once the rollbacks sqlx queued have run.
///
/// A transaction dropped without COMMIT queues its ROLLBACK; the ping waits for it, so only
/// a connection whose rollback failed (or that cannot answer) counts as left inside one. The
/// happy path (no transaction open) costs nothing.
pub(crate) async fn left_in_transaction<C: Connection>(conn: &mut C) -> bool {
    if !conn.is_in_transaction() {
        return false;
    }
    conn.ping().await.is_err() || conn.is_in_transaction()
}

/// Whether a connection handed back to the pool may be reused: not when it was left inside a
/// transaction (see above), which is logged and counted.
pub(crate) async fn reusable<C: Connection>(conn: &mut C) -> bool {
    if left_in_transaction(conn).await {
        tracing::warn!("closing a database connection left inside a failed transaction");
        metrics::counter!("db_connections_discarded_total").increment(1);
        return false;
    }
    true
}

/// `options` with the check above run on every connection handed back to the pool.
pub(crate) fn closing_unfinished<DB: sqlx::Database>(
    options: sqlx::pool::PoolOptions<DB>,
) -> sqlx::pool::PoolOptions<DB> {
    options.after_release(|conn, _| Box::pin(async move { Ok(reusable(conn).await) }))
}

#[cfg(test)]
#[path = "discard_tests.rs"]
mod tests;
