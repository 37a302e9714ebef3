//! Files users send to bots. While an update is processed, its file is looked up in the bot's
//! library ([`Runtime::prepare_media`]): a file seen before is referenced, a new one gets a
//! `pending` row written with the update. The bytes are fetched afterwards, off the request path,
//! by [`download_due`]: `getFile`, then the download, then the object store; the row's final
//! status and its `media.received` event are written together. A pending row is the job itself,
//! so downloads survive restarts and a dead node's claim runs out.

use crate::model::ids::BotId;
use std::sync::Arc;

use serde_json::Value;

use super::Runtime;
use super::plan::UpdateMedia;
use crate::media::IncomingMeta;
use crate::media::incoming::{announced_fields, unstored_end};
use crate::platforms::{CallError, FetchError, Inbound};
use crate::scenario::Input;
use crate::store::{
    DownloadEnd, DownloadJob, IncomingRow, STATUS_FAILED, STATUS_TOO_LARGE, StoreError, new_id, now_ms,
};

/// Attempts before a download that keeps failing transiently is given up.
const MAX_ATTEMPTS: i64 = 10;
/// How long a claimed download is ours (a download is bounded by the request timeout).
const CLAIM_MS: i64 = 120_000;

impl Runtime {
    /// The largest file fetched from a platform: the configured download limit and the
    /// library's, whichever is lower.
    pub fn download_limit(&self) -> u64 {
        self.config
            .telegram_download_max_bytes
            .min(self.config.media_max_upload_bytes)
    }

    /// Look up (or prepare) the library row of the file in `parsed`, and tell the scenario engine
    /// which row it is and what can be fetched.
    pub(crate) async fn prepare_media(
        &self,
        bot_id: BotId,
        platform: &'static str,
        parsed: &mut Inbound,
    ) -> Result<Option<UpdateMedia>, StoreError> {
        let (Some(file), Some(chat)) = (parsed.file.clone(), parsed.chat_id.clone()) else {
            return Ok(None);
        };
        let limit = self.download_limit();
        let (id, fields, insert) = match self.store.find_media_by_unique_id(bot_id, &file.file_unique_id).await? {
            Some(row) => {
                let fields = announced_fields(
                    row.id,
                    &row.status,
                    row.status_reason.as_deref(),
                    &row.content_type,
                    row.size,
                    row.sha256.as_deref(),
                );
                (row.id, fields, None)
            }
            None => {
                let meta = IncomingMeta {
                    chat_id: chat,
                    user_id: parsed.user.as_ref().map(|u| u.id.to_string()),
                    file_unique_id: file.file_unique_id.clone(),
                    kind: Some(file.kind.as_str().to_string()),
                    file_name: file.file_name.clone(),
                    content_type: file.mime_type.clone(),
                    caption: file.caption.clone(),
                };
                let row = self.media.incoming_row(bot_id, meta, file.file_size, limit);
                let id = new_id();
                let fields = announced_fields(
                    id,
                    &row.status,
                    row.status_reason.as_deref(),
                    &row.content_type,
                    row.size,
                    None,
                );
                let insert = IncomingRow {
                    id,
                    media: row,
                    platform,
                    platform_file_id: file.file_id.clone(),
                    announce: None,
                };
                (id, fields, Some(insert))
            }
        };
        if let Some(Input::Media(m)) = &mut parsed.input {
            m.media_id = Some(id.to_string());
            m.download_limit_kb = Some(limit / 1024);
        }
        Ok(Some(UpdateMedia { insert, fields }))
    }

    /// Fetch one claimed file and record how it ended.
    async fn download(&self, job: DownloadJob) -> Result<(), StoreError> {
        let media = &job.media;
        let end = match self.fetch(&job).await {
            Ok(end) => end,
            Err(Retry(reason)) if job.attempts < MAX_ATTEMPTS => {
                let next = now_ms() + super::sender::backoff_ms(job.attempts as i32);
                tracing::info!(media_id = %media.id, attempt = job.attempts, %reason, "download failed; will retry");
                return self.store.retry_media_download(media.id, next, &reason).await;
            }
            Err(Retry(reason)) => unstored_end(media, STATUS_FAILED, reason, None),
        };
        let payload = job
            .announce
            .as_deref()
            .and_then(|a| serde_json::from_str::<Value>(a).ok());
        let payload = payload.map(|mut p| {
            if let Some(Value::Object(m)) = p.get_mut("media")
                && let Value::Object(fields) = announced_fields(
                    media.id,
                    end.status,
                    end.reason.as_deref(),
                    &end.content_type,
                    end.size,
                    end.sha256.as_deref(),
                )
            {
                m.extend(fields);
            }
            p
        });
        let event = payload.as_ref().map(|p| (job.account_id, media.bot_id, p));
        self.store.finish_media_download(media.id, &end, event).await?;
        metrics::counter!("media_downloads_total", "status" => end.status).increment(1);
        Ok(())
    }

    async fn fetch(&self, job: &DownloadJob) -> Result<DownloadEnd, Retry> {
        let media = &job.media;
        let failed = |reason: String| Ok(unstored_end(media, STATUS_FAILED, reason, None));
        let Some(file_id) = job.platform_file_id.as_deref() else {
            return failed("the platform's file id is missing".into());
        };
        let Ok(adapter) = self.platform(&job.platform) else {
            return failed(format!("no adapter for the platform {}", job.platform));
        };
        let access = match self.bot_access(media.bot_id, &job.platform).await {
            Ok(Some(t)) => t,
            Ok(None) => return failed(format!("the bot has no {} credentials", job.platform)),
            Err(e) => return Err(Retry(e.to_string())),
        };
        let limit = self.download_limit();
        let data = match adapter.fetch_file(&access, file_id, limit).await {
            Ok(d) => d,
            Err(e) => return classify(media, e),
        };
        match self.media.store_downloaded(media, data).await {
            Ok(end) => Ok(end),
            Err(e) => Err(Retry(format!("cannot store the file: {e}"))),
        }
    }
}

/// A failure worth another attempt.
struct Retry(String);

fn classify(media: &crate::store::MediaFile, e: FetchError) -> Result<DownloadEnd, Retry> {
    match e {
        FetchError::TooLarge { size, .. } => Ok(unstored_end(media, STATUS_TOO_LARGE, e.to_string(), size)),
        FetchError::Unavailable(reason) => Ok(unstored_end(media, STATUS_FAILED, reason, None)),
        FetchError::Call(e @ (CallError::Permanent { .. } | CallError::Blocked(_))) => {
            Ok(unstored_end(media, STATUS_FAILED, e.to_string(), None))
        }
        FetchError::Call(other) => Err(Retry(other.to_string())),
    }
}

/// Claim due downloads and run them (a few at a time). The number done, or 0 when none was due.
pub async fn download_due(rt: &Arc<Runtime>) -> usize {
    let jobs = match rt.store.claim_media_downloads(CLAIM_MS, 8).await {
        Ok(jobs) => {
            rt.store.workers().succeeded(crate::store::Worker::Downloads);
            jobs
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read pending downloads");
            rt.store.workers().failed(crate::store::Worker::Downloads);
            return 0;
        }
    };
    let n = jobs.len();
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let rt = rt.clone();
        tasks.spawn(async move {
            let id = job.media.id;
            if let Err(e) = rt.download(job).await {
                tracing::warn!(media_id = %id, error = %e, "cannot record a download; it is retried after its claim");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    n
}
