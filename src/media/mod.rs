//! The media library: a bot's files, their aliases, and the platforms' cached file ids.
//!
//! Bytes live in an object store ([`storage::BlobStore`]: `{data_dir}/media` or S3), metadata in
//! the database (`store::media`). The HTTP API (`http::media`) and the platform code use this
//! one type, [`MediaLibrary`], held in `AppState`:
//!
//! | call | for |
//! |---|---|
//! | [`resolve`](MediaLibrary::resolve)`(bot, "welcome_image" \| media id)` | a scenario's media item → the bot's stored media, by alias or id; never another bot's |
//! | [`read`](MediaLibrary::read)`(&media)` | its bytes, to upload to the platform |
//! | [`cached_platform_id`](MediaLibrary::cached_platform_id) / [`cache_platform_id`](MediaLibrary::cache_platform_id) / [`forget_platform_id`](MediaLibrary::forget_platform_id) | send by the platform's `file_id` once it has the bytes; forget it when the platform rejects it |
//! | [`find_incoming`](MediaLibrary::find_incoming)`(bot, file_unique_id)` | skip downloading what a user already sent |
//! | [`store_incoming`](MediaLibrary::store_incoming)`(bot, meta, stream)` | keep what a user sent; deduplicated by `file_unique_id`, bytes by sha256 |
//! | [`record_too_large`](MediaLibrary::record_too_large) / [`record_failed`](MediaLibrary::record_failed) | metadata only, with a status, when the bytes cannot be had |
//! | [`existing_alias_names`](MediaLibrary::existing_alias_names) | warn at scenario upload about aliases that do not exist (yet) |
//!
//! Deleting a media item deletes its blob once no other row of the bot names the same bytes;
//! deleting a bot cascades its rows in the database and [`delete_bot_blobs`](MediaLibrary::delete_bot_blobs)
//! removes its key prefix. Between a row's delete and its blob's, a concurrent upload of the same
//! bytes could lose its blob; that window is one request long and the row then reports
//! `content not found` (404) rather than wrong bytes.

pub mod incoming;
pub mod sniff;
pub mod storage;

use crate::model::ids::BotId;
use std::collections::HashSet;

use bytes::Bytes;
use futures::Stream;
use uuid::Uuid;

use crate::config::Config;
use crate::store::{
    MediaFile, NewMedia, SOURCE_UPLOAD, SOURCE_USER, STATUS_FAILED, STATUS_STORED, STATUS_TOO_LARGE, Store, StoreError,
};
pub use storage::{BlobError, BlobStore};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type MediaResult<T> = Result<T, MediaError>;

/// What a platform tells about a file a user sent.
#[derive(Clone, Debug, Default)]
pub struct IncomingMeta {
    pub chat_id: String,
    pub user_id: Option<String>,
    /// The platform's id that stays the same for the same file (Telegram `file_unique_id`).
    pub file_unique_id: String,
    /// One of [`sniff::KINDS`] (e.g. `voice`, `sticker`); otherwise derived from the bytes.
    pub kind: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub caption: Option<String>,
}

/// The bot's media library. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MediaLibrary {
    store: Store,
    blobs: BlobStore,
    max_bytes: u64,
}

impl MediaLibrary {
    pub fn new(store: Store, config: &Config) -> anyhow::Result<MediaLibrary> {
        Ok(MediaLibrary {
            store,
            blobs: BlobStore::from_config(config)?,
            max_bytes: config.media_max_upload_bytes,
        })
    }

    /// The object store (tests and maintenance list keys through it).
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The bot's stored media that `reference` names: a media id, or an alias of this bot.
    pub async fn resolve(&self, bot_id: BotId, reference: &str) -> MediaResult<Option<MediaFile>> {
        if let Ok(id) = Uuid::parse_str(reference)
            && let Some(m) = self.store.get_media(id).await?.filter(|m| m.bot_id == bot_id)
        {
            return Ok(m.is_stored().then_some(m));
        }
        if !sniff::valid_alias(reference) {
            return Ok(None);
        }
        Ok(self
            .store
            .media_by_alias(bot_id, reference)
            .await?
            .filter(MediaFile::is_stored))
    }

    /// All bytes of a stored media item.
    pub async fn read(&self, media: &MediaFile) -> MediaResult<Bytes> {
        let key = media
            .storage_key
            .as_deref()
            .ok_or(StoreError::Missing("the stored bytes of a media item"))?;
        Ok(self.blobs.read(key).await?)
    }

    pub async fn cached_platform_id(&self, media_id: Uuid, platform: &str) -> MediaResult<Option<String>> {
        Ok(self.store.platform_file_id(media_id, platform).await?)
    }

    pub async fn cache_platform_id(&self, media_id: Uuid, platform: &str, file_id: &str) -> MediaResult<()> {
        Ok(self.store.set_platform_file_id(media_id, platform, file_id).await?)
    }

    pub async fn forget_platform_id(&self, media_id: Uuid, platform: &str) -> MediaResult<()> {
        Ok(self.store.forget_platform_file_id(media_id, platform).await?)
    }

    /// What the bot already holds for this platform file (stored, or recorded with a status).
    pub async fn find_incoming(&self, bot_id: BotId, file_unique_id: &str) -> MediaResult<Option<MediaFile>> {
        Ok(self.store.find_media_by_unique_id(bot_id, file_unique_id).await?)
    }

    /// Keep a file a user sent. The same `file_unique_id` twice gives the first row back without
    /// reading `body`; identical bytes share one blob. Over `media_max_upload_bytes` is
    /// `BlobError::TooLarge` (then call [`record_too_large`](Self::record_too_large)).
    #[tracing::instrument(skip_all, fields(%bot_id))]
    pub async fn store_incoming<S, E>(&self, bot_id: BotId, meta: IncomingMeta, body: S) -> MediaResult<MediaFile>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        if let Some(existing) = self.find_incoming(bot_id, &meta.file_unique_id).await? {
            return Ok(existing);
        }
        let file_name = sniff::safe_file_name(meta.file_name.as_deref());
        let blob = self
            .put_blob(bot_id, body, meta.content_type.as_deref(), &file_name)
            .await?;
        let row = NewMedia {
            bot_id,
            kind: incoming_kind(meta.kind.as_deref(), &blob.content_type),
            file_name,
            content_type: blob.content_type,
            size: blob.size,
            sha256: Some(blob.sha256),
            storage_key: Some(blob.key),
            status: STATUS_STORED.into(),
            ..user_row(bot_id, meta.clone())
        };
        self.insert_incoming(row, bot_id, &meta.file_unique_id).await
    }

    /// Stream `body` into the object store under the bot's content key (identical bytes share
    /// one blob), its type sniffed from the first bytes, then `declared`, then the name.
    pub(crate) async fn put_blob<S, E>(
        &self,
        bot_id: BotId,
        body: S,
        declared: Option<&str>,
        file_name: &str,
    ) -> MediaResult<PutBlob>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let staged = self.blobs.stage(body, self.max_bytes).await?;
        let key = BlobStore::key(bot_id, &staged.sha256);
        let content_type = sniff::content_type(&staged.head, declared, file_name);
        let (sha256, size) = (staged.sha256.clone(), staged.size);
        self.blobs.publish(staged, &key).await?;
        Ok(PutBlob {
            key,
            sha256,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            content_type,
        })
    }

    /// Record a user's file that was not downloaded because it is over the limit.
    pub async fn record_too_large(&self, bot_id: BotId, meta: IncomingMeta, size: u64) -> MediaResult<MediaFile> {
        let reason = format!("{size} bytes is over the download limit");
        self.record_unstored(bot_id, meta, size, STATUS_TOO_LARGE, reason).await
    }

    /// Record a user's file whose download failed for good.
    pub async fn record_failed(&self, bot_id: BotId, meta: IncomingMeta, reason: &str) -> MediaResult<MediaFile> {
        self.record_unstored(bot_id, meta, 0, STATUS_FAILED, reason.to_string())
            .await
    }

    async fn record_unstored(
        &self,
        bot_id: BotId,
        meta: IncomingMeta,
        size: u64,
        status: &str,
        reason: String,
    ) -> MediaResult<MediaFile> {
        if let Some(existing) = self.find_incoming(bot_id, &meta.file_unique_id).await? {
            return Ok(existing);
        }
        let file_name = sniff::safe_file_name(meta.file_name.as_deref());
        let content_type = sniff::content_type(&[], meta.content_type.as_deref(), &file_name);
        let unique = meta.file_unique_id.clone();
        let row = NewMedia {
            kind: incoming_kind(meta.kind.as_deref(), &content_type),
            file_name,
            content_type,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            status: status.into(),
            status_reason: Some(reason),
            ..user_row(bot_id, meta)
        };
        self.insert_incoming(row, bot_id, &unique).await
    }

    /// Insert; if the same platform file raced in meanwhile, return that row.
    async fn insert_incoming(&self, row: NewMedia, bot_id: BotId, unique: &str) -> MediaResult<MediaFile> {
        match self.store.insert_media(row).await {
            Ok(m) => Ok(m),
            Err(StoreError::Conflict(msg)) => self
                .find_incoming(bot_id, unique)
                .await?
                .ok_or_else(|| StoreError::Conflict(msg).into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Aliases of the bot's media, for scenario checks.
    pub async fn existing_alias_names(&self, bot_id: BotId) -> MediaResult<HashSet<String>> {
        let aliases = self.store.bot_media_aliases(bot_id).await?;
        Ok(aliases.into_iter().map(|a| a.alias).collect())
    }

    /// An upload through the API. Identical bytes uploaded before for the same bot give that
    /// media back: `(media, false)`; new bytes give `(media, true)`.
    #[tracing::instrument(skip_all, fields(%bot_id))]
    pub async fn upload<S, E>(
        &self,
        bot_id: BotId,
        file_name: Option<&str>,
        declared_type: Option<&str>,
        body: S,
    ) -> MediaResult<(MediaFile, bool)>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let staged = self.blobs.stage(body, self.max_bytes).await?;
        if let Some(existing) = self
            .store
            .find_media_by_sha(bot_id, &staged.sha256, SOURCE_UPLOAD)
            .await?
        {
            self.blobs.discard(staged).await;
            return Ok((existing, false));
        }
        let key = BlobStore::key(bot_id, &staged.sha256);
        let file_name = sniff::safe_file_name(file_name);
        let content_type = sniff::content_type(&staged.head, declared_type, &file_name);
        let (sha256, size) = (staged.sha256.clone(), staged.size);
        self.blobs.publish(staged, &key).await?;
        let row = NewMedia {
            kind: sniff::kind_of(&content_type).into(),
            file_name,
            content_type,
            size: size as i64,
            sha256: Some(sha256),
            storage_key: Some(key),
            source: SOURCE_UPLOAD.into(),
            status: STATUS_STORED.into(),
            ..NewMedia::for_bot(bot_id)
        };
        Ok((self.store.insert_media(row).await?, true))
    }

    /// Delete a media item, and its blob when no other row of the bot names the same bytes.
    pub async fn delete(&self, media: &MediaFile) -> MediaResult<bool> {
        if !self.store.delete_media(media.id).await? {
            return Ok(false);
        }
        if let Some(key) = &media.storage_key
            && self.store.count_media_with_key(key).await? == 0
        {
            self.blobs.delete(key).await?;
        }
        Ok(true)
    }

    /// Delete blobs no media row names, written more than `min_age` ago (younger ones may belong
    /// to an upload whose row is about to commit): leftovers of a crash between a blob's write
    /// and its row's commit, and abandoned staging objects. Returns how many were deleted.
    pub async fn sweep_orphans(&self, min_age: std::time::Duration) -> MediaResult<usize> {
        let before = std::time::SystemTime::now() - min_age;
        let mut deleted = 0;
        for key in self.blobs.list_written_before(before).await? {
            let orphan = key.starts_with("staging/") || self.store.count_media_with_key(&key).await? == 0;
            if orphan {
                self.blobs.delete(&key).await?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "removed media blobs no row names");
        }
        Ok(deleted)
    }

    /// Remove every blob of a bot whose rows are gone (call after the bot's delete commits).
    pub async fn delete_bot_blobs(&self, bot_id: BotId) -> MediaResult<()> {
        Ok(self.blobs.delete_bot(bot_id).await?)
    }
}

/// Where [`MediaLibrary::put_blob`] put the bytes.
pub(crate) struct PutBlob {
    pub key: String,
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
}

fn user_row(bot_id: BotId, meta: IncomingMeta) -> NewMedia {
    NewMedia {
        source: SOURCE_USER.into(),
        chat_id: Some(meta.chat_id),
        user_id: meta.user_id,
        file_unique_id: Some(meta.file_unique_id),
        caption: meta.caption,
        ..NewMedia::for_bot(bot_id)
    }
}

fn incoming_kind(declared: Option<&str>, content_type: &str) -> String {
    match declared {
        Some(k) if sniff::KINDS.contains(&k) => k.to_string(),
        Some("photo") => "image".to_string(),
        _ => sniff::kind_of(content_type).to_string(),
    }
}
