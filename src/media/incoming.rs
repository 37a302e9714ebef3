//! Files users send, in two halves: the row recorded with the update (before any byte is
//! fetched) and the bytes stored later by the download worker (`dialogs::downloads`).

use crate::model::ids::BotId;
use bytes::Bytes;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{IncomingMeta, MediaLibrary, MediaResult, incoming_kind, sniff, user_row};
use crate::store::{DownloadEnd, MediaFile, NewMedia, STATUS_PENDING, STATUS_STORED, STATUS_TOO_LARGE};

impl MediaLibrary {
    /// The row for a file a user just sent: `pending` until the worker fetches it, or
    /// `too_large` at once when its declared size is over `limit` (it is never downloaded).
    pub fn incoming_row(&self, bot_id: BotId, meta: IncomingMeta, declared_size: Option<u64>, limit: u64) -> NewMedia {
        let file_name = sniff::safe_file_name(meta.file_name.as_deref());
        let content_type = sniff::content_type(&[], meta.content_type.as_deref(), &file_name);
        let too_large = declared_size.is_some_and(|s| s > limit);
        NewMedia {
            kind: incoming_kind(meta.kind.as_deref(), &content_type),
            file_name,
            content_type,
            size: declared_size.map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX)),
            status: if too_large { STATUS_TOO_LARGE } else { STATUS_PENDING }.into(),
            status_reason: too_large.then(|| format!("over the {limit}-byte download limit")),
            ..user_row(bot_id, meta)
        }
    }

    /// Store the downloaded bytes of a pending row; identical bytes of the bot share one blob.
    pub async fn store_downloaded(&self, media: &MediaFile, data: Bytes) -> MediaResult<DownloadEnd> {
        let body = futures::stream::iter([Ok::<Bytes, std::convert::Infallible>(data)]);
        // The declared type was a guess from the name; the bytes decide now.
        let blob = self
            .put_blob(media.bot_id, body, Some(&media.content_type), &media.file_name)
            .await?;
        Ok(DownloadEnd {
            status: STATUS_STORED,
            reason: None,
            kind: media.kind.clone(),
            file_name: media.file_name.clone(),
            content_type: blob.content_type,
            size: blob.size,
            sha256: Some(blob.sha256),
            storage_key: Some(blob.key),
        })
    }
}

/// A download that ended without bytes (over a limit, or failed for good).
pub fn unstored_end(media: &MediaFile, status: &'static str, reason: String, size: Option<u64>) -> DownloadEnd {
    DownloadEnd {
        status,
        reason: Some(reason),
        kind: media.kind.clone(),
        file_name: media.file_name.clone(),
        content_type: media.content_type.clone(),
        size: size.map_or(media.size, |s| i64::try_from(s).unwrap_or(i64::MAX)),
        sha256: None,
        storage_key: None,
    }
}

/// What `media.received` says of the library's copy.
pub fn announced_fields(
    id: Uuid,
    status: &str,
    reason: Option<&str>,
    content_type: &str,
    size: i64,
    sha256: Option<&str>,
) -> Value {
    json!({
        "media_id": id,
        "status": status,
        "status_reason": reason,
        "content_type": content_type,
        "size": size,
        "sha256": sha256,
    })
}
