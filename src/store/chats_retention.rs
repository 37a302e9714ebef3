//! Retention of the chat flow's bookkeeping: the inbox (which answers a repeated update as a
//! duplicate) and replies already sent or given up on. Neither is read once done, except the
//! inbox while the platform may still redeliver an update; without retention they grow with
//! every update for as long as hookline runs.
//!
//! Rows still to do (a pending reply) are never removed, however old.

use super::delivery_log::first_id_at;
use super::{Store, StoreResult, on_db};

/// The chat tables' finished rows, oldest first, each removed in chunks of `chunk`.
const TABLES: [(&str, &str); 2] = [("inbox", "status <> 'pending'"), ("outbox", "status <> 'pending'")];

impl Store {
    /// One retention chunk per chat table: finished rows created before `cutoff` (ms). Ids
    /// are UUIDv7, so "created before" is an id range on the primary key. Returns how many
    /// rows went.
    pub async fn remove_chat_rows_older_than(&self, cutoff: i64, chunk: i64) -> StoreResult<u64> {
        let below = first_id_at(cutoff);
        let mut removed = 0;
        for (table, done) in TABLES {
            let sql = format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE id < $1 AND {done} ORDER BY id LIMIT $2)"
            );
            removed += on_db!(&self.db, write pool => {
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(below).bind(chunk).execute(pool).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(removed)
    }
}
