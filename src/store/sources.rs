//! Inbound sources and their ingest log. Ingest rows are written by the delivery writer's group
//! commit, in the transaction of the event they became (see `write_group`); this file reads them
//! and keeps the sources themselves.

use serde_json::Value;
use sqlx::types::Json;

use super::{Page, Store, StoreError, StoreResult, now_ms, on_db};
use crate::model::ids::{AccountId, EventId, SourceId, SourceRequestId};

/// A source as stored. The secrets are sealed with the master key.
#[derive(Clone, sqlx::FromRow)]
pub struct SourceRow {
    pub id: SourceId,
    pub account_id: AccountId,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// The verification preset and its options, without secrets.
    pub scheme: Json<Value>,
    pub secret: Option<Vec<u8>>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<i64>,
    pub verify_token: Option<Vec<u8>>,
    pub allowed_networks: Json<Vec<String>>,
    pub max_body_bytes: i64,
    pub rate_limit: Option<i64>,
    pub dedupe: Option<Json<Value>>,
    pub event_type: Option<String>,
    pub fallback_type: String,
    pub filter: Option<String>,
    pub transform: Option<String>,
    pub labels: Json<Vec<String>>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for SourceRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

const SOURCE_COLUMNS: &str = "id, account_id, name, description, enabled, scheme, secret, previous_secret,
    previous_secret_until, verify_token, allowed_networks, max_body_bytes, rate_limit, dedupe, event_type,
    fallback_type, filter, transform, labels, created_at, updated_at";

/// What became of an ingested request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Published as an event.
    Routed,
    /// Its duplicate key was seen before: acknowledged, not routed again.
    Duplicate,
    /// The source's filter did not yield `true`.
    Filtered,
    /// Verification (or the address list) refused it.
    Refused,
    /// Verified, but it could not be shaped into an event (a jq error, a bad event type).
    Failed,
}

impl IngestOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            IngestOutcome::Routed => "routed",
            IngestOutcome::Duplicate => "duplicate",
            IngestOutcome::Filtered => "filtered",
            IngestOutcome::Refused => "refused",
            IngestOutcome::Failed => "failed",
        }
    }
}

/// One received request, as the ingest log keeps it. Written with the event it became; when
/// it became one, the store fills in `event_id` and turns `Routed` into `Duplicate` if the
/// event existed already.
#[derive(Clone)]
pub struct IngestRow {
    pub id: SourceRequestId,
    pub source_id: SourceId,
    pub account_id: AccountId,
    pub received_at: i64,
    pub remote_addr: String,
    pub method: String,
    pub content_type: Option<String>,
    /// Credential headers already redacted.
    pub headers: Value,
    pub query: Option<String>,
    pub body: Vec<u8>,
    pub verified: bool,
    pub outcome: IngestOutcome,
    pub detail: Option<String>,
    pub dedupe_key: Option<String>,
    pub event_type: Option<String>,
}

impl std::fmt::Debug for IngestRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestRow")
            .field("id", &self.id)
            .field("source_id", &self.source_id)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// An ingest log row as read back.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct IngestRecord {
    pub id: SourceRequestId,
    pub source_id: SourceId,
    pub account_id: AccountId,
    pub received_at: i64,
    pub remote_addr: String,
    pub method: String,
    pub content_type: Option<String>,
    pub headers: Json<Value>,
    pub query: Option<String>,
    pub body: Vec<u8>,
    pub verified: bool,
    pub outcome: String,
    pub detail: Option<String>,
    pub dedupe_key: Option<String>,
    pub event_type: Option<String>,
    pub event_id: Option<EventId>,
}

const INGEST_COLUMNS: &str = "id, source_id, account_id, received_at, remote_addr, method, content_type, headers,
    query, body, verified, outcome, detail, dedupe_key, event_type, event_id";

/// Which ingest rows to list.
#[derive(Clone, Debug, Default)]
pub struct IngestQuery {
    pub outcome: Option<String>,
    pub verified: Option<bool>,
    pub event_type: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// The insert statement of `n` ingest rows (16 parameters each, both engines).
pub(super) fn insert_ingest_rows(style: super::multi_row::Style, n: usize) -> String {
    super::multi_row::insert_values(
        style,
        "INSERT INTO source_requests (id, source_id, account_id, received_at, remote_addr, method, content_type,
           headers, query, body, verified, outcome, detail, dedupe_key, event_type, event_id)",
        n,
        &["?"; 16],
        "",
    )
}

/// Insert `$rows` (`&[(&IngestRow, Option<EventId>, IngestOutcome)]`: a row, the event it
/// became and its final outcome) on `$conn` with multi-row statements.
macro_rules! insert_ingest {
    ($conn:expr, $style:expr, $rows:expr) => {{
        let style = $style;
        let rows: &[(
            &$crate::store::sources::IngestRow,
            Option<$crate::model::ids::EventId>,
            $crate::store::sources::IngestOutcome,
        )] = $rows;
        let parts = $crate::store::multi_row::parts(style, rows, 16, 256, |(r, _, _)| {
            300 + r.body.len() + r.headers.to_string().len()
        });
        for part in parts {
            let sql = $crate::store::sources::insert_ingest_rows(style, part.rows);
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (r, event_id, outcome) in part.items {
                q = q
                    .bind(r.id)
                    .bind(r.source_id)
                    .bind(r.account_id)
                    .bind(r.received_at)
                    .bind(&r.remote_addr)
                    .bind(&r.method)
                    .bind(&r.content_type)
                    .bind(sqlx::types::Json(&r.headers))
                    .bind(&r.query)
                    .bind(&r.body)
                    .bind(r.verified)
                    .bind(outcome.as_str())
                    .bind(&r.detail)
                    .bind(&r.dedupe_key)
                    .bind(&r.event_type)
                    .bind(*event_id);
            }
            for _ in 0..part.padding(16) {
                q = q.bind(None::<String>);
            }
            q.execute(&mut *$conn).await?;
        }
    }};
}
pub(crate) use insert_ingest;

impl Store {
    pub async fn create_source(&self, s: &SourceRow) -> StoreResult<()> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO sources ({SOURCE_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
        ));
        on_db!(&self.db, write pool => {
            sqlx::query(sql)
                .bind(s.id).bind(s.account_id).bind(&s.name).bind(&s.description).bind(s.enabled).bind(&s.scheme)
                .bind(&s.secret).bind(&s.previous_secret).bind(s.previous_secret_until).bind(&s.verify_token)
                .bind(&s.allowed_networks).bind(s.max_body_bytes).bind(s.rate_limit).bind(&s.dedupe)
                .bind(&s.event_type).bind(&s.fallback_type).bind(&s.filter).bind(&s.transform).bind(&s.labels)
                .bind(s.created_at).bind(s.updated_at)
                .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn get_source(&self, id: SourceId) -> StoreResult<Option<SourceRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1"));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, SourceRow>(sql).bind(id).fetch_optional(pool).await
        })?)
    }

    pub async fn list_sources(&self, account_id: AccountId, page: Page) -> StoreResult<Vec<SourceRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, SourceRow>(sql).bind(account_id).bind(page.after_or_nil()).bind(page.fetch_limit())
                .fetch_all(pool).await
        })?)
    }

    /// Write every mutable column of `s` (the handler read, patched and validated it).
    pub async fn update_source(&self, s: &SourceRow) -> StoreResult<bool> {
        let n = on_db!(&self.db, write pool => {
            sqlx::query(
                "UPDATE sources SET name = $2, description = $3, enabled = $4, scheme = $5, secret = $6,
                   previous_secret = $7, previous_secret_until = $8, verify_token = $9, allowed_networks = $10,
                   max_body_bytes = $11, rate_limit = $12, dedupe = $13, event_type = $14, fallback_type = $15,
                   filter = $16, transform = $17, labels = $18, updated_at = $19
                 WHERE id = $1",
            )
            .bind(s.id).bind(&s.name).bind(&s.description).bind(s.enabled).bind(&s.scheme).bind(&s.secret)
            .bind(&s.previous_secret).bind(s.previous_secret_until).bind(&s.verify_token).bind(&s.allowed_networks)
            .bind(s.max_body_bytes).bind(s.rate_limit).bind(&s.dedupe).bind(&s.event_type).bind(&s.fallback_type)
            .bind(&s.filter).bind(&s.transform).bind(&s.labels).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Delete a source and its ingest log (the log has no foreign key; see the migration).
    pub async fn delete_source(&self, id: SourceId) -> StoreResult<bool> {
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM source_requests WHERE source_id = $1").bind(id).execute(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM sources WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<bool, StoreError>(n == 1)
        })
    }

    /// A source's ingest log, oldest first after the cursor, filtered.
    pub async fn list_ingest(
        &self,
        source_id: SourceId,
        q: &IngestQuery,
        page: Page,
    ) -> StoreResult<Vec<IngestRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {INGEST_COLUMNS} FROM source_requests
             WHERE source_id = $1 AND id > $2
               AND ($3 IS NULL OR outcome = $3) AND ($4 IS NULL OR verified = $4)
               AND ($5 IS NULL OR event_type = $5) AND received_at >= $6 AND received_at < $7
             ORDER BY id LIMIT $8"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, IngestRecord>(sql)
                .bind(source_id).bind(page.after_or_nil()).bind(&q.outcome).bind(q.verified).bind(&q.event_type)
                .bind(q.since.unwrap_or(0)).bind(q.until.unwrap_or(i64::MAX)).bind(page.fetch_limit())
                .fetch_all(pool).await
        })?)
    }

    pub async fn get_ingest(&self, id: SourceRequestId) -> StoreResult<Option<IngestRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {INGEST_COLUMNS} FROM source_requests WHERE id = $1"));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, IngestRecord>(sql).bind(id).fetch_optional(pool).await
        })?)
    }

    /// Verified requests of a source received in [since, until) that a replay routes again:
    /// not the provider's redeliveries (duplicates) and not earlier replays. Oldest first after
    /// `after`.
    pub async fn replayable_ingest(
        &self,
        source_id: SourceId,
        since: i64,
        until: i64,
        after: SourceRequestId,
        limit: i64,
    ) -> StoreResult<Vec<IngestRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {INGEST_COLUMNS} FROM source_requests
             WHERE source_id = $1 AND id > $2 AND received_at >= $3 AND received_at < $4 AND {REPLAYABLE}
             ORDER BY id LIMIT $5"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, IngestRecord>(sql)
                .bind(source_id).bind(after).bind(since).bind(until).bind(limit)
                .fetch_all(pool).await
        })?)
    }

    /// One retention chunk of the ingest log: rows received before `cutoff` (ids are UUIDv7).
    pub async fn remove_ingest_older_than(&self, cutoff: i64, chunk: i64) -> StoreResult<u64> {
        let below = super::delivery_log::first_id_at(cutoff);
        Ok(on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM source_requests WHERE id IN (SELECT id FROM source_requests WHERE id < $1 LIMIT $2)")
                .bind(below).bind(chunk).execute(pool).await.map(|r| r.rows_affected())
        })?)
    }

    pub async fn count_replayable_ingest(&self, source_id: SourceId, since: i64, until: i64) -> StoreResult<i64> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM source_requests
             WHERE source_id = $1 AND received_at >= $2 AND received_at < $3 AND {REPLAYABLE}"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, i64>(sql).bind(source_id).bind(since).bind(until).fetch_one(pool).await
        })?)
    }
}

/// The condition of a request a range replay takes.
const REPLAYABLE: &str = "verified AND outcome <> 'duplicate' AND method <> 'REPLAY'";
