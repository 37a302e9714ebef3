//! Users' files on their way into the media library. The row is written with the update that
//! carried the file (status `pending`, see `apply_chat_write`), so an acknowledged update's file
//! is never forgotten; the download worker claims due rows here, and finishes each with its final
//! status and its `media.received` event in one transaction.

use crate::model::ids::{AccountId, BotId};
use serde_json::Value;
use uuid::Uuid;

use super::platform_events::{PlatformEvent, publish_platform_events};
use super::{MediaFile, NewMedia, Store, StoreResult, new_id, now_ms, on_db};

/// Waiting for its bytes.
pub const STATUS_PENDING: &str = "pending";

/// The library row for a file a user sent, inserted with the update that carried it.
#[derive(Clone, Debug)]
pub struct IncomingRow {
    pub id: Uuid,
    pub media: NewMedia,
    pub platform: &'static str,
    /// The platform's id to fetch the bytes with (Telegram `file_id`); kept as the media's
    /// platform id too, so the file can be sent back without an upload.
    pub platform_file_id: String,
    /// The `media.received` payload, when the event waits for the download.
    pub announce: Option<Value>,
}

/// A claimed download.
#[derive(Clone, Debug)]
pub struct DownloadJob {
    pub media: MediaFile,
    /// The platform the file came from (`""` when its reference is lost).
    pub platform: String,
    pub platform_file_id: Option<String>,
    pub attempts: i64,
    pub announce: Option<String>,
    pub account_id: AccountId,
}

/// How a download ended.
#[derive(Clone, Debug)]
pub struct DownloadEnd {
    pub status: &'static str,
    pub reason: Option<String>,
    pub kind: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub storage_key: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Claimable {
    id: Uuid,
    next_attempt_at: i64,
}

impl Store {
    /// Claim up to `limit` due downloads for `lease_ms` (a crashed node's claim runs out and the
    /// row is taken again). Each row is claimed by a compare-and-set on its due time, so two
    /// nodes never work on the same file at once.
    pub async fn claim_media_downloads(&self, lease_ms: i64, limit: i64) -> StoreResult<Vec<DownloadJob>> {
        let now = now_ms();
        let due: Vec<Claimable> = on_db!(&self.db, read pool => {
            sqlx::query_as::<_, Claimable>(
                "SELECT id, next_attempt_at FROM media WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $2",
            )
            .bind(now).bind(limit).fetch_all(pool).await
        })?;
        let mut jobs = Vec::with_capacity(due.len());
        for row in due {
            let n = on_db!(&self.db, write pool => {
                sqlx::query(
                    "UPDATE media SET next_attempt_at = $3, attempts = attempts + 1
                     WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2",
                )
                .bind(row.id).bind(row.next_attempt_at).bind(now + lease_ms)
                .execute(pool).await.map(|r| r.rows_affected())
            })?;
            if n == 1
                && let Some(job) = self.download_job(row.id).await?
            {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    async fn download_job(&self, id: Uuid) -> StoreResult<Option<DownloadJob>> {
        let Some(media) = self.get_media(id).await? else {
            return Ok(None);
        };
        let extra: Option<(i64, Option<String>, AccountId)> = on_db!(&self.db, read pool => {
            sqlx::query_as::<_, (i64, Option<String>, AccountId)>(
                "SELECT m.attempts, m.announce, b.account_id FROM media m JOIN bots b ON b.id = m.bot_id WHERE m.id = $1",
            )
            .bind(id).fetch_optional(pool).await
        })?;
        let Some((attempts, announce, account_id)) = extra else {
            return Ok(None);
        };
        // A file waiting for its bytes has one platform reference: the one it arrived with.
        let source: Option<(String, String)> = on_db!(&self.db, read pool => {
            sqlx::query_as::<_, (String, String)>(
                "SELECT platform, file_id FROM media_platform_ids WHERE media_id = $1 ORDER BY updated_at LIMIT 1",
            )
            .bind(id).fetch_optional(pool).await
        })?;
        let (platform, platform_file_id) = source.map_or((String::new(), None), |(p, f)| (p, Some(f)));
        Ok(Some(DownloadJob {
            media,
            platform,
            platform_file_id,
            attempts,
            announce,
            account_id,
        }))
    }

    /// Try again at `next_at`, remembering why this attempt failed.
    pub async fn retry_media_download(&self, id: Uuid, next_at: i64, reason: &str) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query("UPDATE media SET next_attempt_at = $2, status_reason = $3, updated_at = $4 WHERE id = $1 AND status = 'pending'")
                .bind(id).bind(next_at).bind(reason).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Set the final status and, when the update's event waited for it, record `media.received`
    /// in the same transaction. False when the row is gone or was finished already.
    pub async fn finish_media_download(
        &self,
        id: Uuid,
        end: &DownloadEnd,
        event: Option<(AccountId, BotId, &Value)>,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let style = self.db.style();
        let (finished, deliveries) = on_db!(&self.db, write pool => {
            async {
                let mut tx = pool.begin().await?;
                let n = sqlx::query(
                    "UPDATE media SET status = $2, status_reason = $3, kind = $4, file_name = $5, content_type = $6,
                            size = $7, sha256 = $8, storage_key = $9, announce = NULL, next_attempt_at = NULL, updated_at = $10
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(id).bind(end.status).bind(&end.reason).bind(&end.kind).bind(&end.file_name)
                .bind(&end.content_type).bind(end.size).bind(&end.sha256).bind(&end.storage_key).bind(now)
                .execute(&mut *tx).await?.rows_affected();
                let events: Vec<PlatformEvent> = event.filter(|_| n == 1).map(|(account_id, _bot, payload)| PlatformEvent {
                    id: new_id(),
                    account_id,
                    event_type: "media.received",
                    payload: payload.to_string(),
                }).into_iter().collect();
                let deliveries = publish_platform_events!(tx, style, &events, now);
                tx.commit().await?;
                Ok::<(bool, usize), sqlx::Error>((n == 1, deliveries))
            }.await
        })?;
        self.deliveries_written(deliveries);
        Ok(finished)
    }

    /// When the next pending download is due, to sleep until then.
    pub async fn next_download_due(&self) -> StoreResult<Option<i64>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(next_attempt_at) FROM media WHERE status = 'pending'")
                .fetch_one(pool).await
        })?)
    }
}
