//! SQLite WAL checkpoints off the write path.
//!
//! By default SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages: the
//! one writer connection then copies those pages into the database file and fsyncs it before
//! its next transaction, so every few groups one group pays for all of them. Under load that
//! was most commits' worth of extra time on the one resource every write queues for.
//!
//! Here a connection of its own, on its own worker thread, copies pages in the background
//! with `PASSIVE` checkpoints, which never block the writer or the readers. A passive
//! checkpoint cannot start the WAL over while writes keep arriving, so the writer still
//! checkpoints in its commit, but only once the WAL holds [`WRITER_FRAMES`] pages; by then the
//! background has copied nearly all of them, the writer copies the last few, and its next
//! transaction starts the WAL from its beginning again, so the file does not grow without
//! bound. (A background `RESTART` would do the same without the writer; tried, it made some
//! write transactions fail with `SQLITE_BUSY` under load, answered as 500s.)
//!
//! The task stops when the last [`Store`](super::Store) clone is dropped.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio_util::sync::{CancellationToken, DropGuard};

/// How often the background checkpoint runs while the database is written.
const INTERVAL: Duration = Duration::from_millis(50);
/// WAL size (in pages) at which the writer's own commit checkpoints, so that the WAL starts
/// over: 32 MiB with SQLite's default 4 KiB page. Only with the background checkpointer
/// running; without it SQLite's default (1,000) stays.
pub(crate) const WRITER_FRAMES: u32 = 8_192;

/// Stops the checkpointer when dropped (held by every clone of the store through an `Arc`).
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: DropGuard,
}

/// Open the checkpointer's own connection and start it. `None` if the connection cannot be
/// opened; the caller then leaves SQLite's automatic checkpoints on.
pub(crate) async fn start(options: &SqliteConnectOptions) -> Option<Arc<Checkpointer>> {
    let conn = match options.connect().await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the checkpoint connection; SQLite checkpoints in its commits");
            return None;
        }
    };
    let stop = CancellationToken::new();
    tokio::spawn(run(conn, stop.clone()));
    Some(Arc::new(Checkpointer {
        _stop: stop.drop_guard(),
    }))
}

async fn run(mut conn: SqliteConnection, stop: CancellationToken) {
    // Warned once per run of failures, not twenty times a second.
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("background WAL checkpoints work again");
            }
            Ok(_) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "background WAL checkpoint failed; retrying every 50 ms");
            }
            Err(_) => {}
        }
    }
    // A last pass, so a clean shutdown leaves little for the next start to replay.
    let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await;
    let _ = conn.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_in_the_background_and_the_wal_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("c.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let checkpointer = start(&options).await.unwrap();
        let mut writer = options
            .clone()
            .pragma("wal_autocheckpoint", WRITER_FRAMES.to_string())
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v BLOB)")
            .execute(&mut writer)
            .await
            .unwrap();
        let blob = vec![7u8; 64 * 1024];
        let mut write = async |commits: usize| {
            for _ in 0..commits {
                sqlx::query("INSERT INTO t VALUES (?)")
                    .bind(&blob)
                    .execute(&mut writer)
                    .await
                    .unwrap();
            }
            tokio::time::sleep(INTERVAL * 4).await;
        };
        // About 17 pages a commit: 6,800 pages, fewer than make the writer checkpoint, and yet
        // they reach the database file.
        write(400).await;
        // The checkpointer runs on its own schedule; on a loaded machine it may need several
        // rounds, so wait (bounded) for the file to grow rather than trusting one pause.
        let db_file = dir.path().join("c.db");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut file = 0;
        while std::time::Instant::now() < deadline {
            file = std::fs::metadata(&db_file).unwrap().len();
            if file > 24 * 1024 * 1024 {
                break;
            }
            tokio::time::sleep(INTERVAL).await;
        }
        assert!(file > 24 * 1024 * 1024, "database file holds {file} bytes");
        // 17,000 pages in all, twice what the writer lets the WAL hold: it starts over.
        write(600).await;
        let (_, log, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut writer)
            .await
            .unwrap();
        assert!(log < 12_000, "WAL holds {log} pages");
        drop(checkpointer);
    }
}
