//! Webhook endpoints and the account's own event types.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::types::Json;

use super::{Page, Store, StoreError, StoreResult, conflict_on_unique, now_ms, on_db};
use crate::model::ids::{AccountId, EndpointId};

/// An endpoint as stored. `secret`/`previous_secret` are sealed with the master key.
#[derive(Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: EndpointId,
    pub account_id: AccountId,
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<i64>,
    pub event_types: Option<Json<Vec<String>>>,
    pub labels: Json<Vec<String>>,
    /// Custom header values, sealed (see `delivery::endpoint_headers`).
    pub headers: Json<BTreeMap<String, StoredHeader>>,
    pub timeout_ms: i64,
    pub rate_limit: Option<i64>,
    pub max_in_flight: Option<i64>,
    pub retry_schedule: Option<Json<Vec<f64>>>,
    pub metadata: Json<Value>,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<i64>,
    pub failing_since: Option<i64>,
    /// jq: deliver only events for which this yields `true` (checked when saved).
    #[sqlx(rename = "jq_filter")]
    pub filter: Option<String>,
    /// jq: the body sent, and headers to add (checked when saved).
    #[sqlx(rename = "jq_transform")]
    pub transform: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for EndpointRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRow")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A custom header value as stored: `{"sealed": base64}` sealed with the master key, or a plain
/// string in rows written before values were sealed (still read, and sealed at startup).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum StoredHeader {
    Sealed { sealed: String },
    Clear(String),
}

impl std::fmt::Debug for StoredHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHeader(****)")
    }
}

/// One page of endpoints' stored headers: (id, updated_at, headers).
pub type StoredHeadersPage = Vec<(EndpointId, i64, BTreeMap<String, StoredHeader>)>;

const ENDPOINT_COLUMNS: &str = "id, account_id, url, description, enabled, disabled_reason, disabled_at, event_types, \
     labels, headers, timeout_ms, rate_limit, max_in_flight, retry_schedule, metadata, secret, previous_secret, \
     previous_secret_until, failing_since, jq_filter, jq_transform, created_at, updated_at";

/// An event type an account declared. `account_id` is still a plain `Uuid`: the dialog side
/// (`dialogs::emits`) builds and looks these up with one.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventTypeRow {
    pub account_id: AccountId,
    pub name: String,
    pub description: String,
    pub schema: Option<Json<Value>>,
    pub deprecated: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An endpoint's id, `updated_at` and stored headers, as the resealing pass reads them.
type HeadersRow = (EndpointId, i64, Json<BTreeMap<String, StoredHeader>>);

impl Store {
    pub async fn create_endpoint(&self, e: &EndpointRow) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, account_id, url, description, enabled, disabled_reason, disabled_at,
                   event_types, labels, headers, timeout_ms, rate_limit, max_in_flight, retry_schedule, metadata,
                   secret, previous_secret, previous_secret_until, failing_since, jq_filter, jq_transform,
                   created_at, updated_at)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23)",
            )
            .bind(e.id).bind(e.account_id).bind(&e.url).bind(&e.description).bind(e.enabled)
            .bind(&e.disabled_reason).bind(e.disabled_at).bind(&e.event_types).bind(&e.labels).bind(&e.headers)
            .bind(e.timeout_ms).bind(e.rate_limit).bind(e.max_in_flight).bind(&e.retry_schedule).bind(&e.metadata)
            .bind(&e.secret).bind(&e.previous_secret).bind(e.previous_secret_until).bind(e.failing_since)
            .bind(&e.filter).bind(&e.transform).bind(e.created_at).bind(e.updated_at)
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Stored headers of the endpoints after `after` (by id) that have any.
    pub async fn endpoint_headers_after(&self, after: EndpointId, limit: i64) -> StoreResult<StoredHeadersPage> {
        let sql = "SELECT id, updated_at, headers FROM webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2";
        let rows: Vec<HeadersRow> = on_db!(&self.db, read pool => {
            sqlx::query_as(sql).bind(after).bind(limit).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(id, at, h)| (id, at, h.0)).collect())
    }

    /// Replace an endpoint's stored headers if it was not updated since `updated_at`; the
    /// values are the same, only their form changes, so `updated_at` stays.
    pub async fn reseal_endpoint_headers(
        &self,
        id: EndpointId,
        updated_at: i64,
        headers: &BTreeMap<String, StoredHeader>,
    ) -> StoreResult<bool> {
        let sql = "UPDATE webhook_endpoints SET headers = $3 WHERE id = $1 AND updated_at = $2";
        let n = on_db!(&self.db, write pool => {
            sqlx::query(sql).bind(id).bind(updated_at).bind(Json(headers)).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn get_endpoint(&self, id: EndpointId) -> StoreResult<Option<EndpointRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, EndpointRow>(sql).bind(id).fetch_optional(pool).await
        })?)
    }

    pub async fn list_endpoints(&self, account_id: AccountId, page: Page) -> StoreResult<Vec<EndpointRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, EndpointRow>(sql).bind(account_id).bind(page.after_or_nil()).bind(page.fetch_limit())
                .fetch_all(pool).await
        })?)
    }

    /// Write every mutable column of `e` (the handler read, patched and validated it).
    /// A disabled endpoint's pending deliveries fail in the same transaction: they become
    /// failed deliveries that `recover` can replay once the endpoint is enabled again.
    pub async fn update_endpoint(&self, e: &EndpointRow) -> StoreResult<bool> {
        let now = now_ms();
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            if !e.enabled {
                sqlx::query(FAIL_PENDING).bind(e.id).bind(now).execute(&mut *tx).await?;
            }
            let n = sqlx::query(
                "UPDATE webhook_endpoints SET url = $2, description = $3, enabled = $4, disabled_reason = $5,
                   disabled_at = $6, event_types = $7, labels = $8, headers = $9, timeout_ms = $10, rate_limit = $11,
                   max_in_flight = $12, retry_schedule = $13, metadata = $14, secret = $15, previous_secret = $16,
                   previous_secret_until = $17, failing_since = $18, updated_at = $19, jq_filter = $20,
                   jq_transform = $21
                 WHERE id = $1",
            )
            .bind(e.id).bind(&e.url).bind(&e.description).bind(e.enabled).bind(&e.disabled_reason)
            .bind(e.disabled_at).bind(&e.event_types).bind(&e.labels).bind(&e.headers).bind(e.timeout_ms)
            .bind(e.rate_limit).bind(e.max_in_flight).bind(&e.retry_schedule).bind(&e.metadata).bind(&e.secret)
            .bind(&e.previous_secret).bind(e.previous_secret_until).bind(e.failing_since).bind(now)
            .bind(&e.filter).bind(&e.transform)
            .execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<bool, StoreError>(n == 1)
        })
    }

    /// Disable an enabled endpoint (410 Gone, failing too long); false if it already was.
    pub async fn disable_endpoint(&self, id: EndpointId, reason: &str) -> StoreResult<bool> {
        let now = now_ms();
        // Deliveries first, then the endpoint row: the order the delivery writer locks them in.
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(FAIL_PENDING).bind(id).bind(now).execute(&mut *tx).await?;
            let n = sqlx::query(
                "UPDATE webhook_endpoints SET enabled = $2, disabled_reason = $3, disabled_at = $4, updated_at = $4
                 WHERE id = $1 AND enabled",
            )
            .bind(id).bind(false).bind(reason).bind(now)
            .execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok::<bool, StoreError>(n == 1)
        })
    }

    pub async fn delete_endpoint(&self, id: EndpointId) -> StoreResult<bool> {
        let n = on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn create_event_type(&self, t: &EventTypeRow) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query(
                "INSERT INTO webhook_event_types (account_id, name, description, schema, deprecated, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(t.account_id).bind(&t.name).bind(&t.description).bind(&t.schema).bind(t.deprecated)
            .bind(t.created_at).bind(t.updated_at)
            .execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(conflict_on_unique("an event type with this name already exists"))?;
        Ok(())
    }

    pub async fn get_event_type(&self, account_id: AccountId, name: &str) -> StoreResult<Option<EventTypeRow>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, EventTypeRow>(
                "SELECT account_id, name, description, schema, deprecated, created_at, updated_at
                 FROM webhook_event_types WHERE account_id = $1 AND name = $2",
            )
            .bind(account_id).bind(name).fetch_optional(pool).await
        })?)
    }

    /// An account's own types, by name (at most 1,000 per account are listed).
    pub async fn list_event_types(&self, account_id: AccountId) -> StoreResult<Vec<EventTypeRow>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, EventTypeRow>(
                "SELECT account_id, name, description, schema, deprecated, created_at, updated_at
                 FROM webhook_event_types WHERE account_id = $1 ORDER BY name LIMIT 1000",
            )
            .bind(account_id).fetch_all(pool).await
        })?)
    }

    pub async fn update_event_type(&self, t: &EventTypeRow) -> StoreResult<bool> {
        let n = on_db!(&self.db, write pool => {
            sqlx::query(
                "UPDATE webhook_event_types SET description = $3, schema = $4, deprecated = $5, updated_at = $6
                 WHERE account_id = $1 AND name = $2",
            )
            .bind(t.account_id).bind(&t.name).bind(&t.description).bind(&t.schema).bind(t.deprecated).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn delete_event_type(&self, account_id: AccountId, name: &str) -> StoreResult<bool> {
        let n = on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM webhook_event_types WHERE account_id = $1 AND name = $2")
                .bind(account_id).bind(name).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}

/// Pending deliveries of a disabled endpoint become failed (replayable with `recover`), so the
/// queue does not carry work nobody will do. Binds: endpoint id, now.
pub(crate) const FAIL_PENDING: &str =
    "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled',
   lease_owner = NULL, lease_until = 0, updated_at = $2 WHERE endpoint_id = $1 AND status = 'pending'";
