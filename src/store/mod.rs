//! The store: everything durable lives here, on SQLite (embedded default) or PostgreSQL
//! (several nodes).
//!
//! One [`Store`] type with two backends behind it. Queries are written once in the SQL both
//! engines share (`$1` placeholders, `RETURNING`, `ON CONFLICT`), and [`on_db!`] runs the same
//! statement on whichever pool is configured, type-checked separately for each driver. Where the
//! engines differ for a reason (claiming work with `FOR UPDATE SKIP LOCKED`, batching commits on
//! SQLite), the code matches on the backend and says why. Each backend has its own migrations
//! folder under `migrations/`, embedded in the binary.
//!
//! Conventions shared by every table: ids are UUIDv7 (time-ordered, so they double as paging
//! cursors), timestamps are Unix milliseconds in `BIGINT` columns, JSON documents are `JSONB` on
//! PostgreSQL and `TEXT` on SQLite (both bound as `sqlx::types::Json`).
//!
//! A body given to `on_db!` must evaluate to the same type on both backends (map a query result
//! to `rows_affected()`, decode rows into shared structs).
//!
//! SQLite runs in WAL mode with one writer connection (SQLite allows one writer at a time;
//! queueing writers in-process avoids `SQLITE_BUSY`) and a small pool of readers.

mod accounts;
mod bots;
pub mod chat_write;
mod chats;
mod chats_group;
#[cfg(test)]
mod chats_paths_tests;
mod chats_retention;
mod checkpoint;
mod config_cache;
mod credentials;
mod deadline;
mod delivery_log;
mod delivery_queue;
mod discard;
#[cfg(test)]
pub(crate) mod faults;
mod health;
mod media;
mod media_downloads;
mod migrations;
mod multi_row;
mod outbound_endpoints;
#[cfg(test)]
mod plans;
pub(crate) mod platform_events;
#[cfg(test)]
mod queue_contract_tests;
mod receipts;
mod scenarios;
pub mod sources;

pub use accounts::{Account, ApiKeyRecord, NewKey, Role};
pub use bots::{Bot, BotPatch};
pub use chats::{Applied, DialogRow, DueTimer, HistoryRow, InboxAnswer, InboxResult, OutboxRow};
pub use credentials::{BotWithCredential, Credential, CredentialSecrets};
pub use delivery_log::{AttemptFilter, AttemptRow, DeliveryRow, EventRow, JobRow};
pub use delivery_queue::{
    AttemptRecord, Claimed, EventBody, EventToWrite, NextState, PublishBatch, PublishedRow, QueueWrite,
};
pub use health::{RETRY_AFTER_FAILURE, Worker, WorkerHealth};
pub use media::{
    MediaAlias, MediaFile, NewMedia, SOURCE_UPLOAD, SOURCE_USER, STATUS_FAILED, STATUS_STORED, STATUS_TOO_LARGE,
};
pub use media_downloads::{DownloadEnd, DownloadJob, IncomingRow, STATUS_PENDING};
pub use outbound_endpoints::{EndpointRow, EventTypeRow, StoredHeader};
pub use receipts::{Receipt, ReceiptOutcome, ReplyRow};
pub use scenarios::{NewScenario, ScenarioPatch, ScenarioRecord};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::config::{DatabaseConfig, SqliteSync};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conflict: {0}")]
    Conflict(String),
    /// Any database error but a full disk (see `From<sqlx::Error>`).
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data that cannot be read back (a bug or manual tampering): retrying cannot help.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A value could not be encoded for storage (a bug: every stored type encodes).
    #[error("cannot encode for storage: {0}")]
    Encode(String),
    /// A row this call wrote or resolved a moment ago is not there (a bug, or a concurrent
    /// delete the caller did not expect).
    #[error("missing: {0}")]
    Missing(&'static str),
    /// The database's folder cannot be created or opened.
    #[error("{0}")]
    Io(String),
    /// The group commit this call waited on failed (its own error was given to the group).
    #[error("{0}")]
    GroupFailed(String),
    /// The disk (or the database's quota) is full: nothing was written, and a retry succeeds
    /// once space returns.
    #[error("storage full: {0}")]
    StorageFull(sqlx::Error),
    /// The database cannot be reached, or did not answer within a call's deadline. Whether
    /// the call's writes landed is unknown: a retry must be idempotent.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// The error to give each of several callers that waited on one failed commit (the error
    /// itself cannot be cloned): its text, and whether the database was unavailable, which
    /// callers answer differently (503).
    pub fn for_each_waiter(&self, context: &str) -> StoreError {
        match self {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("{context}: {m}")),
            StoreError::StorageFull(e) => StoreError::StorageFull(sqlx::Error::Protocol(format!("{context}: {e}"))),
            other => StoreError::GroupFailed(format!("{context}: {other}")),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_storage_full(&e) {
            StoreError::StorageFull(e)
        } else if deadline::means_unreachable(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Database(e)
        }
    }
}

/// SQLite's SQLITE_FULL (13, which it also answers when a write meets ENOSPC), PostgreSQL's
/// `disk_full` (53100), or an I/O error that says so.
fn is_storage_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Extended result codes carry the primary code in their low byte.
                code.parse::<i64>().is_ok_and(|n| n & 0xff == 13)
            } else {
                code == "53100"
            }
        }
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Turn a unique-constraint violation into a `Conflict` with a readable message.
pub(crate) fn conflict_on_unique(message: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message.to_string()),
        _ => StoreError::from(e),
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

impl Db {
    /// How this backend's multi-row statements write placeholders (see `multi_row`).
    pub(crate) fn style(&self) -> multi_row::Style {
        match self {
            Db::Sqlite { .. } => multi_row::Style::Question,
            Db::Postgres(_) => multi_row::Style::Dollar,
        }
    }
}

/// Run `$body` with `$pool` bound to the backend's pool: `read` or `write` picks the SQLite
/// pool (PostgreSQL has one pool for both). The body is compiled once per driver.
///
/// On PostgreSQL the body runs under [`deadline::CALL`]: a server that went silent (a
/// failover, a firewall dropping state) would otherwise keep the call waiting forever. Both
/// arms run the body as an `async` block, so `?` and `return` inside it mean the same on both.
macro_rules! on_db {
    ($db:expr, read $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { read: $pool, .. } => async { $body }.await,
            $crate::store::Db::Postgres($pool) => $crate::store::deadline::within(async { $body }).await,
        }
    };
    ($db:expr, write $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { write: $pool, .. } => async { $body }.await,
            $crate::store::Db::Postgres($pool) => $crate::store::deadline::within(async { $body }).await,
        }
    };
}
pub(crate) use on_db;

/// The write connection a group committer keeps from one group to the next while work is
/// queued. Handing a connection back to sqlx's pool pings it (a round trip to SQLite's worker
/// thread, or to the PostgreSQL server), and taking it again waits for that: under load that
/// was a fifth of a chat group's time. A committer gives the connection back as soon as its
/// queue is empty or it has held it for [`Held::BUDGET`], so other writers (the API, the
/// workers, maintenance) wait at most that long on SQLite's single writer.
pub struct Held {
    conn: HeldConn,
    since: std::time::Instant,
}

enum HeldConn {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl Held {
    /// Longest a committer keeps the connection while others may be waiting for it.
    pub const BUDGET: Duration = Duration::from_millis(20);

    /// Whether the committer should give the connection back now.
    pub fn expired(&self) -> bool {
        self.since.elapsed() >= Self::BUDGET
    }
}

/// The connection of a [`Held`] for the backend whose pool is `DB`'s.
pub(crate) trait HeldFor<DB: sqlx::Database> {
    fn conn(&mut self) -> Option<&mut sqlx::pool::PoolConnection<DB>>;
}

impl HeldFor<sqlx::Sqlite> for Held {
    fn conn(&mut self) -> Option<&mut sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        match &mut self.conn {
            HeldConn::Sqlite(c) => Some(c),
            HeldConn::Postgres(_) => None,
        }
    }
}

impl HeldFor<sqlx::Postgres> for Held {
    fn conn(&mut self) -> Option<&mut sqlx::pool::PoolConnection<sqlx::Postgres>> {
        match &mut self.conn {
            HeldConn::Postgres(c) => Some(c),
            HeldConn::Sqlite(_) => None,
        }
    }
}

/// A transaction on the held connection when there is one, else on one from `pool`.
pub(crate) async fn begin_on<'a, DB: sqlx::Database>(
    pool: &'a sqlx::Pool<DB>,
    held: Option<&'a mut Held>,
) -> Result<sqlx::Transaction<'a, DB>, sqlx::Error>
where
    Held: HeldFor<DB>,
{
    match held.and_then(|h| HeldFor::<DB>::conn(h)) {
        Some(conn) => {
            // A held connection is not handed back between groups, so the pool's check (see
            // `discard`) must be made here: refuse it, and have it closed when dropped.
            if discard::left_in_transaction(&mut **conn).await {
                conn.close_on_drop();
                return Err(sqlx::Error::Protocol(
                    "the held write connection was left inside a failed transaction".into(),
                ));
            }
            sqlx::Connection::begin(&mut **conn).await
        }
        None => pool.begin().await,
    }
}

/// The store handle: cheap to clone, shared by the HTTP handlers and the workers.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    /// Bots and active scenarios as webhook updates read them; invalidated by this store's writes.
    pub(crate) cache: std::sync::Arc<config_cache::ConfigCache>,
    /// SQLite's background checkpoints; stopped when the last clone is dropped.
    _checkpoints: Option<std::sync::Arc<checkpoint::Checkpointer>>,
    /// Notified when a commit wrote pending webhook deliveries (the delivery workers wait on it).
    deliveries: std::sync::Arc<tokio::sync::Notify>,
    /// The background workers' health (see [`health`]).
    workers: std::sync::Arc<WorkerHealth>,
    /// Faults injected by tests (see [`faults`]).
    #[cfg(test)]
    pub(crate) faults: std::sync::Arc<faults::Faults>,
}

impl Store {
    /// What is notified when a commit wrote pending webhook deliveries.
    pub fn deliveries_notify(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.deliveries.clone()
    }

    /// Where the background workers report whether their steps succeed.
    pub fn workers(&self) -> &WorkerHealth {
        &self.workers
    }

    /// After a commit: wake a delivery worker if it wrote `n` deliveries.
    pub(crate) fn deliveries_written(&self, n: usize) {
        if n > 0 {
            self.deliveries.notify_one();
        }
    }

    /// Hold for the length of a write that changes what [`config_cache`] keeps.
    pub(crate) fn invalidates_config(&self) -> config_cache::InvalidateOnDrop<'_> {
        config_cache::InvalidateOnDrop(&self.cache)
    }

    /// Open the database (creating the SQLite file and its folder if needed). Does not migrate.
    pub async fn connect(config: &DatabaseConfig, sync: SqliteSync) -> StoreResult<Store> {
        match config {
            DatabaseConfig::Sqlite { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", parent.display())))?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit is on disk before we acknowledge it, even across power loss.
                    // NORMAL: in WAL mode a commit survives a process crash but the last few may
                    // be lost if the machine loses power. See the README's durability section.
                    .synchronous(match sync {
                        SqliteSync::Full => SqliteSynchronous::Full,
                        SqliteSync::Normal => SqliteSynchronous::Normal,
                    })
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .pragma("temp_store", "memory")
                    .pragma("cache_size", "-16000")
                    // A WAL that grew in a burst is cut back to 64 MiB when it starts over.
                    .pragma("journal_size_limit", "67108864");
                // Checkpoints run on a connection of their own (see `checkpoint`); only if
                // it opened does the writer checkpoint less often in its commits.
                let checkpoints = checkpoint::start(&options).await;
                let options = match checkpoints {
                    Some(_) => options.pragma("wal_autocheckpoint", checkpoint::WRITER_FRAMES.to_string()),
                    None => options,
                };
                // No ping before handing out a connection: the database is a file in this
                // process, and each ping is a round trip to the connection's worker thread
                // (under load a good part of a group commit's time).
                let write = discard::closing_unfinished(SqlitePoolOptions::new())
                    .test_before_acquire(false)
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.clone())
                    .await?;
                let read = discard::closing_unfinished(SqlitePoolOptions::new())
                    .test_before_acquire(false)
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                Ok(Store {
                    db: Db::Sqlite { read, write },
                    cache: Default::default(),
                    _checkpoints: checkpoints,
                    deliveries: Default::default(),
                    workers: Default::default(),
                    #[cfg(test)]
                    faults: Default::default(),
                })
            }
            DatabaseConfig::Postgres { url } => {
                let options = PgConnectOptions::from_str(url.expose())?;
                let pool = deadline::pool_options()
                    .max_connections(16)
                    .connect_with(options)
                    .await?;
                Ok(Store {
                    db: Db::Postgres(pool),
                    cache: Default::default(),
                    _checkpoints: None,
                    deliveries: Default::default(),
                    workers: Default::default(),
                    #[cfg(test)]
                    faults: Default::default(),
                })
            }
        }
    }

    /// Take the write connection for a run of group commits (see [`Held`]).
    pub async fn hold_writer(&self) -> StoreResult<Held> {
        let conn = match &self.db {
            Db::Sqlite { write, .. } => HeldConn::Sqlite(write.acquire().await?),
            Db::Postgres(pool) => HeldConn::Postgres(deadline::within(pool.acquire()).await?),
        };
        Ok(Held {
            conn,
            since: std::time::Instant::now(),
        })
    }

    /// Whether every write goes through one connection (SQLite's single writer). Writers then
    /// gain nothing from running in parallel; on PostgreSQL several commit at once.
    pub fn single_writer(&self) -> bool {
        matches!(self.db, Db::Sqlite { .. })
    }

    /// The backend's name, for people: logs, `/ready`, the CLI. Code asks what the backend can
    /// do ([`Store::single_writer`]) rather than comparing names.
    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Apply pending migrations. On PostgreSQL the migrator holds an advisory lock, so several
    /// nodes starting together migrate once and the others wait.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite { write, .. } => migrations::sqlite().run(write).await?,
            Db::Postgres(pool) => migrations::postgres().run(pool).await?,
        }
        Ok(())
    }

    /// True when the database answers within [`deadline::READY`] and every embedded migration
    /// is applied. Its own short deadline: a load balancer asks often and must learn quickly
    /// that the database went away.
    pub async fn ready(&self) -> bool {
        let applied: Result<i64, sqlx::Error> = deadline::within_ready(async {
            on_db!(&self.db, read pool => {
                sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success").fetch_one(pool).await
            })
        })
        .await;
        let expected = match self.db {
            Db::Sqlite { .. } => migrations::sqlite().iter().count(),
            Db::Postgres(_) => migrations::postgres().iter().count(),
        };
        matches!(applied, Ok(n) if n as usize >= expected)
    }

    /// Close the pools, flushing SQLite's WAL.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Milliseconds since the Unix epoch, the store's time unit.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A new time-ordered id.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// RFC 3339 UTC rendering of a stored millisecond timestamp, for API responses.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Paging: at most `limit` rows after the `after` cursor (an id), oldest first.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub limit: u32,
    pub after: Option<uuid::Uuid>,
}

impl Page {
    /// SQLite and PostgreSQL both compare UUIDs bytewise, and UUIDv7 bytes sort by time, so
    /// `id > after` is "created after". A nil UUID means "from the start".
    pub fn after_or_nil(&self) -> uuid::Uuid {
        self.after.unwrap_or(uuid::Uuid::nil())
    }
    /// One extra row tells the caller whether there is a next page.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// A migrated SQLite store in `dir` (which must outlive it), for unit tests.
/// An enabled endpoint of `account_id` that takes every event (its URL is never called).
#[cfg(test)]
pub(crate) fn test_endpoint(account_id: crate::model::ids::AccountId) -> EndpointRow {
    let now = now_ms();
    EndpointRow {
        id: crate::model::ids::EndpointId::new(),
        account_id,
        url: "http://127.0.0.1:9/".into(),
        description: String::new(),
        enabled: true,
        disabled_reason: None,
        disabled_at: None,
        event_types: None,
        labels: sqlx::types::Json(Vec::new()),
        headers: sqlx::types::Json(Default::default()),
        timeout_ms: 1_000,
        rate_limit: None,
        max_in_flight: None,
        retry_schedule: None,
        metadata: sqlx::types::Json(serde_json::json!({})),
        secret: vec![0; 32],
        previous_secret: None,
        previous_secret_until: None,
        failing_since: None,
        filter: None,
        transform: None,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
pub(crate) async fn test_sqlite(dir: &tempfile::TempDir) -> Store {
    let config = DatabaseConfig::Sqlite {
        path: dir.path().join("t.db"),
    };
    let store = Store::connect(&config, SqliteSync::Normal).await.unwrap();
    store.migrate().await.unwrap();
    store
}
