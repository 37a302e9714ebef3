//! Reading what happened: events, their deliveries, attempts; and the writes that replay them
//! (resend, recover) and forget them (retention).

use sqlx::types::Json;
use uuid::Uuid;

use super::{Page, Store, StoreError, StoreResult, new_id, now_ms, on_db};
use crate::model::ids::{AccountId, AttemptId, DeliveryId, EndpointId, EventId};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: EventId,
    pub account_id: AccountId,
    pub event_id: String,
    pub event_type: String,
    pub payload: Option<String>,
    pub labels: Json<Vec<String>>,
    pub created_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub account_id: AccountId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub attempt: i64,
    pub cause: String,
    pub succeeded: bool,
    pub response_status: Option<i64>,
    pub response_headers: Json<serde_json::Value>,
    pub response_body: String,
    pub request_headers: Json<serde_json::Value>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub latency_ms: i64,
    pub created_at: i64,
}

const ATTEMPT_COLUMNS: &str = "id, delivery_id, account_id, event_id, endpoint_id, attempt, cause, succeeded, \
     response_status, response_headers, response_body, request_headers, error_class, error_message, latency_ms, created_at";

/// Filters of an attempts list.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttemptFilter {
    pub succeeded: Option<bool>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A recover job as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub account_id: AccountId,
    /// The nil id for a job of a source.
    pub endpoint_id: EndpointId,
    pub source_id: Option<crate::model::ids::SourceId>,
    pub kind: String,
    pub status: String,
    pub params: Json<serde_json::Value>,
    pub total: i64,
    pub done: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    pub async fn list_events(
        &self,
        account_id: AccountId,
        event_type: Option<&str>,
        page: Page,
    ) -> StoreResult<Vec<EventRow>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, EventRow>(
                "SELECT id, account_id, event_id, event_type, payload, labels, created_at FROM webhook_events
                 WHERE account_id = $1 AND id > $2 AND ($3 IS NULL OR event_type = $3) ORDER BY id LIMIT $4",
            )
            .bind(account_id).bind(page.after_or_nil()).bind(event_type).bind(page.fetch_limit())
            .fetch_all(pool).await
        })?)
    }

    pub async fn get_event(&self, id: EventId) -> StoreResult<Option<EventRow>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, EventRow>(
                "SELECT id, account_id, event_id, event_type, payload, labels, created_at FROM webhook_events WHERE id = $1",
            )
            .bind(id).fetch_optional(pool).await
        })?)
    }

    pub async fn event_deliveries(&self, event_id: EventId) -> StoreResult<Vec<DeliveryRow>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, DeliveryRow>(
                "SELECT id, endpoint_id, status, attempts, next_attempt_at, last_status, last_error, updated_at
                 FROM webhook_deliveries WHERE event_id = $1 ORDER BY id LIMIT 1000",
            )
            .bind(event_id).fetch_all(pool).await
        })?)
    }

    /// Attempts of one endpoint or of one event (exactly one of the two is given), newest ids last.
    pub async fn list_attempts(
        &self,
        endpoint_id: Option<EndpointId>,
        event_id: Option<EventId>,
        filter: AttemptFilter,
        page: Page,
    ) -> StoreResult<Vec<AttemptRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts
             WHERE ($1 IS NULL OR endpoint_id = $1) AND ($2 IS NULL OR event_id = $2) AND id > $3
               AND ($4 IS NULL OR succeeded = $4) AND ($5 IS NULL OR created_at >= $5) AND ($6 IS NULL OR created_at < $6)
             ORDER BY id LIMIT $7"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, AttemptRow>(sql)
                .bind(endpoint_id).bind(event_id).bind(page.after_or_nil()).bind(filter.succeeded)
                .bind(filter.since).bind(filter.until).bind(page.fetch_limit())
                .fetch_all(pool).await
        })?)
    }

    pub async fn get_attempt(&self, id: AttemptId) -> StoreResult<Option<AttemptRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE id = $1"));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, AttemptRow>(sql).bind(id).fetch_optional(pool).await
        })?)
    }

    /// Deliver an event again to the given endpoints (each enabled and of the event's account):
    /// existing deliveries start over, endpoints that had none get one. Returns how many.
    pub async fn resend(&self, account_id: AccountId, event_id: EventId, endpoints: &[EndpointId]) -> StoreResult<u64> {
        let now = now_ms();
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            let mut n = 0;
            for endpoint_id in endpoints {
                let moved = sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3,
                       lease_owner = NULL, lease_until = 0, updated_at = $3
                     WHERE event_id = $1 AND endpoint_id = $2",
                )
                .bind(event_id).bind(*endpoint_id).bind(now)
                .execute(&mut *tx).await?.rows_affected();
                if moved == 0 {
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (id, account_id, event_id, endpoint_id, status, attempts,
                           next_attempt_at, lease_until, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, 0, $5, $5)",
                    )
                    .bind(new_id()).bind(account_id).bind(event_id).bind(*endpoint_id).bind(now)
                    .execute(&mut *tx).await?;
                }
                n += 1;
            }
            tx.commit().await?;
            Ok::<u64, StoreError>(n)
        })
    }

    pub async fn create_job(&self, job: &JobRow) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query(
                "INSERT INTO webhook_jobs (id, account_id, endpoint_id, kind, status, params, total, done, error, created_at,
                   updated_at, source_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(job.id).bind(job.account_id).bind(job.endpoint_id).bind(&job.kind).bind(&job.status)
            .bind(&job.params).bind(job.total).bind(job.done).bind(&job.error).bind(job.created_at).bind(job.updated_at)
            .bind(job.source_id)
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn get_job(&self, id: Uuid) -> StoreResult<Option<JobRow>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, JobRow>(
                "SELECT id, account_id, endpoint_id, source_id, kind, status, params, total, done, error, created_at,
                   updated_at
                 FROM webhook_jobs WHERE id = $1",
            )
            .bind(id).fetch_optional(pool).await
        })?)
    }

    pub async fn update_job(
        &self,
        id: Uuid,
        status: &str,
        total: i64,
        done: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query("UPDATE webhook_jobs SET status = $2, total = $3, done = $4, error = $5, updated_at = $6 WHERE id = $1")
                .bind(id).bind(status).bind(total).bind(done).bind(error).bind(now_ms())
                .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// How many failed deliveries of an endpoint changed state in [since, until).
    pub async fn count_failed(&self, endpoint_id: EndpointId, since: i64, until: i64) -> StoreResult<i64> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM webhook_deliveries
                 WHERE endpoint_id = $1 AND status = 'failed' AND updated_at >= $2 AND updated_at < $3",
            )
            .bind(endpoint_id).bind(since).bind(until).fetch_one(pool).await
        })?)
    }

    /// Put up to `limit` failed deliveries of an endpoint from [since, until) back in the queue.
    pub async fn requeue_failed(
        &self,
        endpoint_id: EndpointId,
        since: i64,
        until: i64,
        limit: i64,
    ) -> StoreResult<u64> {
        let now = now_ms();
        Ok(on_db!(&self.db, write pool => {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $4, lease_owner = NULL,
                   lease_until = 0, updated_at = $4
                 WHERE id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'failed'
                              AND updated_at >= $2 AND updated_at < $3 LIMIT $5)",
            )
            .bind(endpoint_id).bind(since).bind(until).bind(now).bind(limit)
            .execute(pool).await.map(|r| r.rows_affected())
        })?)
    }

    /// Latencies (ms) and success flags of an endpoint's attempts since `since`, at most `cap`
    /// of the newest. Deliveries its filter declined sent nothing and are left out.
    pub async fn attempt_samples(
        &self,
        endpoint_id: EndpointId,
        since: i64,
        cap: i64,
    ) -> StoreResult<Vec<(i64, bool)>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, (i64, bool)>(
                "SELECT latency_ms, succeeded FROM webhook_attempts WHERE endpoint_id = $1 AND created_at >= $2
                   AND cause <> 'filtered' ORDER BY id DESC LIMIT $3",
            )
            .bind(endpoint_id).bind(since).bind(cap).fetch_all(pool).await
        })?)
    }

    /// One retention chunk: events older than `cutoff` without pending deliveries (their
    /// deliveries and attempts go with them), then old attempts. Returns (events, attempts).
    pub async fn remove_older_than(&self, cutoff: i64, chunk: i64) -> StoreResult<(u64, u64)> {
        // Event ids are UUIDv7: created before `cutoff` is below the first id of `cutoff`.
        let below = first_id_at(cutoff);
        let events = on_db!(&self.db, write pool => {
            sqlx::query(
                "DELETE FROM webhook_events WHERE id IN (
                   SELECT e.id FROM webhook_events e WHERE e.id < $1 AND NOT EXISTS (
                     SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
                   LIMIT $2)",
            )
            .bind(below).bind(chunk).execute(pool).await.map(|r| r.rows_affected())
        })?;
        let attempts = on_db!(&self.db, write pool => {
            sqlx::query(
                "DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts WHERE created_at < $1 LIMIT $2)",
            )
            .bind(cutoff).bind(chunk).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok((events, attempts))
    }
}

/// The smallest UUIDv7 of millisecond `ms` (its random bits all zero): every id
/// [`new_id`](super::new_id) made earlier is below it, every one made at or after it is not
/// (both backends compare UUIDs bytewise).
pub(crate) fn first_id_at(ms: i64) -> Uuid {
    let ms = ms.clamp(0, (1 << 48) - 1) as u64;
    uuid::Builder::from_unix_timestamp_millis(ms, &[0; 10]).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_id_at_splits_ids_by_their_time() {
        let before = now_ms();
        let id = new_id();
        let after = now_ms();
        assert!(
            first_id_at(before) <= id,
            "an id made at or after `before` is not below it"
        );
        assert!(id < first_id_at(after + 1), "an id made before `after + 1` is below it");
        assert_eq!(first_id_at(-5), first_id_at(0));
        assert!(first_id_at(1) > first_id_at(0));
    }

    proptest::proptest! {
        #[test]
        fn first_id_at_orders_like_time(a in 0i64..(1 << 48), b in 0i64..(1 << 48)) {
            proptest::prop_assert_eq!(a.cmp(&b), first_id_at(a).cmp(&first_id_at(b)));
        }
    }
}
