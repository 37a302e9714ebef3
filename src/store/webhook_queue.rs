//! The outbound queue's writes: publishing events with their deliveries, claiming due
//! deliveries under a lease, and recording attempts. Publishes and outcomes arrive in groups
//! from the delivery writer (group commit) and are committed in one transaction per group.

use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, Store, StoreError, StoreResult, new_id, on_db};
use crate::delivery::filter::Subscription;

/// One event to publish; `payload` is the JSON text as it will be delivered.
#[derive(Clone, Debug)]
pub struct EventToWrite {
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub labels: Vec<String>,
}

/// Events of one account published by one request.
#[derive(Clone, Debug)]
pub struct PublishBatch {
    pub account_id: Uuid,
    pub events: Vec<EventToWrite>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedRow {
    pub id: Uuid,
    pub event_id: String,
    pub duplicate: bool,
}

/// What one attempt answered; stored in `webhook_attempts`.
#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub account_id: Uuid,
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub attempt: i64,
    pub cause: String,
    pub succeeded: bool,
    pub response_status: Option<i64>,
    pub response_headers: serde_json::Value,
    pub response_body: String,
    pub request_headers: serde_json::Value,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub latency_ms: i64,
    pub created_at: i64,
}

/// A delivery's next state after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextState {
    /// Try again at this time.
    Retry(i64),
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
pub enum QueueWrite {
    /// Record an attempt and move the delivery on, only while `owner` still holds the lease.
    Outcome {
        owner: Uuid,
        next: NextState,
        record: Box<AttemptRecord>,
    },
    /// Give a claimed delivery back without an attempt (rate limit, in-flight cap, open breaker).
    Postpone { delivery_id: Uuid, owner: Uuid, at: i64 },
}

/// A claimed delivery with what sending it needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub account_id: Uuid,
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub attempts: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventBody {
    pub id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub payload: Option<String>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct SubRow {
    id: Uuid,
    event_types: Option<Json<Vec<String>>>,
    labels: Json<Vec<String>>,
}

const INSERT_EVENT: &str =
    "INSERT INTO webhook_events (id, account_id, event_id, event_type, payload, labels, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, event_id) DO NOTHING RETURNING id";
const FIND_EVENT: &str = "SELECT id FROM webhook_events WHERE account_id = $1 AND event_id = $2";
const MATCHING: &str = "SELECT id, event_types, labels FROM webhook_endpoints WHERE account_id = $1 AND enabled";
const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (id, account_id, event_id, endpoint_id, status, attempts,
       next_attempt_at, lease_until, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, 0, $5, $5)";
const RECORD_OUTCOME: &str = "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4,
       lease_owner = NULL, lease_until = 0, last_status = $5, last_error = $6, updated_at = $7
     WHERE id = $1 AND lease_owner = $2";
const INSERT_ATTEMPT: &str =
    "INSERT INTO webhook_attempts (id, delivery_id, account_id, event_id, endpoint_id, attempt,
       cause, succeeded, response_status, response_headers, response_body, request_headers, error_class, error_message,
       latency_ms, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)";
const POSTPONE: &str = "UPDATE webhook_deliveries SET next_attempt_at = $3, lease_owner = NULL, lease_until = 0
     WHERE id = $1 AND lease_owner = $2";
const ENDPOINT_OK: &str =
    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL";
const ENDPOINT_FAILING: &str =
    "UPDATE webhook_endpoints SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL";

impl Store {
    /// Commit a group of publishes and queue writes in ONE transaction (group commit). Each
    /// publish gets its rows back in order. An event whose `(account, event_id)` exists already
    /// is answered with the original's id and `duplicate: true`, and gets no new deliveries.
    pub async fn write_group(
        &self,
        publishes: &[PublishBatch],
        queue: &[QueueWrite],
        now: i64,
    ) -> StoreResult<Vec<Vec<PublishedRow>>> {
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            let mut out = Vec::with_capacity(publishes.len());
            // Subscriptions are read inside the transaction, so an endpoint created before this
            // commit is matched, and the cache lives only as long as the group.
            let mut subs: Vec<(Uuid, Vec<(Uuid, Subscription)>)> = Vec::new();
            for batch in publishes {
                if !subs.iter().any(|(a, _)| *a == batch.account_id) {
                    let rows: Vec<SubRow> = sqlx::query_as(MATCHING).bind(batch.account_id).fetch_all(&mut *tx).await?;
                    let list = rows.into_iter().map(|r| (r.id, Subscription {
                        event_types: r.event_types.map(|j| j.0),
                        labels: r.labels.0,
                    })).collect();
                    subs.push((batch.account_id, list));
                }
                let endpoints = subs.iter().find(|(a, _)| *a == batch.account_id).map(|(_, l)| l.as_slice()).unwrap_or(&[]);
                let mut rows = Vec::with_capacity(batch.events.len());
                for ev in &batch.events {
                    let id = new_id();
                    let inserted: Option<Uuid> = sqlx::query_scalar(INSERT_EVENT)
                        .bind(id).bind(batch.account_id).bind(&ev.event_id).bind(&ev.event_type)
                        .bind(&ev.payload).bind(Json(&ev.labels)).bind(now)
                        .fetch_optional(&mut *tx).await?;
                    let Some(id) = inserted else {
                        let original: Uuid = sqlx::query_scalar(FIND_EVENT)
                            .bind(batch.account_id).bind(&ev.event_id).fetch_one(&mut *tx).await?;
                        rows.push(PublishedRow { id: original, event_id: ev.event_id.clone(), duplicate: true });
                        continue;
                    };
                    for (endpoint_id, sub) in endpoints {
                        if sub.matches(&ev.event_type, &ev.labels) {
                            sqlx::query(INSERT_DELIVERY)
                                .bind(new_id()).bind(batch.account_id).bind(id).bind(*endpoint_id).bind(now)
                                .execute(&mut *tx).await?;
                        }
                    }
                    rows.push(PublishedRow { id, event_id: ev.event_id.clone(), duplicate: false });
                }
                out.push(rows);
            }
            // Endpoint health is written last and in id order, so concurrent groups (several
            // writers on PostgreSQL) and endpoint disabling lock rows in one order and cannot
            // deadlock. Only the last outcome per endpoint in the group matters.
            let mut health: std::collections::BTreeMap<Uuid, bool> = std::collections::BTreeMap::new();
            for w in queue {
                match w {
                    QueueWrite::Postpone { delivery_id, owner, at } => {
                        sqlx::query(POSTPONE).bind(*delivery_id).bind(*owner).bind(*at).execute(&mut *tx).await?;
                    }
                    QueueWrite::Outcome { owner, next, record } => {
                        let (status, at) = match next {
                            NextState::Retry(at) => ("pending", *at),
                            NextState::Succeeded => ("succeeded", now),
                            NextState::Failed => ("failed", now),
                        };
                        let moved = sqlx::query(RECORD_OUTCOME)
                            .bind(record.delivery_id).bind(*owner).bind(status).bind(at)
                            .bind(record.response_status).bind(&record.error_class).bind(now)
                            .execute(&mut *tx).await?.rows_affected();
                        // A node whose lease expired does not overwrite the node that took over.
                        if moved == 0 {
                            continue;
                        }
                        let r = record;
                        sqlx::query(INSERT_ATTEMPT)
                            .bind(r.id).bind(r.delivery_id).bind(r.account_id).bind(r.event_id).bind(r.endpoint_id)
                            .bind(r.attempt).bind(&r.cause).bind(r.succeeded).bind(r.response_status)
                            .bind(Json(&r.response_headers)).bind(&r.response_body).bind(Json(&r.request_headers))
                            .bind(&r.error_class).bind(&r.error_message).bind(r.latency_ms).bind(r.created_at)
                            .execute(&mut *tx).await?;
                        health.insert(r.endpoint_id, r.succeeded);
                    }
                }
            }
            for (endpoint_id, ok) in health {
                if ok {
                    sqlx::query(ENDPOINT_OK).bind(endpoint_id).execute(&mut *tx).await?;
                } else {
                    sqlx::query(ENDPOINT_FAILING).bind(endpoint_id).bind(now).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(out)
        })
    }

    /// Lease up to `limit` due deliveries to `owner` until `now + lease_ms`. Rows whose lease
    /// expired (a crashed node) are due again.
    pub async fn claim_due(&self, owner: Uuid, now: i64, lease_ms: i64, limit: i64) -> StoreResult<Vec<Claimed>> {
        let rows = match &self.db {
            // SQLite has one writer, so the UPDATE is already exclusive; no row locks exist.
            Db::Sqlite { write, .. } => {
                sqlx::query_as::<_, Claimed>(
                    "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
                     WHERE id IN (SELECT id FROM webhook_deliveries
                                  WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until < $3
                                  ORDER BY next_attempt_at LIMIT $4)
                     RETURNING id, account_id, event_id, endpoint_id, attempts",
                )
                .bind(owner)
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .fetch_all(write)
                .await?
            }
            // Several nodes claim at once: SKIP LOCKED lets each take different rows without
            // waiting, and the lease columns keep them away after commit.
            Db::Postgres(pool) => {
                sqlx::query_as::<_, Claimed>(
                    "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
                     WHERE id IN (SELECT id FROM webhook_deliveries
                                  WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until < $3
                                  ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
                     RETURNING id, account_id, event_id, endpoint_id, attempts",
                )
                .bind(owner)
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows)
    }

    /// The bodies of the given events (read pool: no writer held while reading payloads).
    pub async fn event_bodies(&self, ids: &[Uuid]) -> StoreResult<Vec<EventBody>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, event_id, event_type, payload, created_at FROM webhook_events WHERE id IN ({})",
            placeholders.join(",")
        );
        let rows = on_db!(&self.db, read pool => {
            let mut q = sqlx::query_as::<_, EventBody>(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// Pending deliveries and the age of the oldest due one (for metrics).
    pub async fn queue_depth(&self, now: i64) -> StoreResult<(i64, i64)> {
        let (count, oldest): (i64, Option<i64>) = on_db!(&self.db, read pool => {
            sqlx::query_as("SELECT COUNT(*), MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(pool).await
        })?;
        Ok((count, oldest.map(|t| (now - t).max(0)).unwrap_or(0)))
    }
}
