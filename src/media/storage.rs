//! Where media bytes live: an object store, either `{data_dir}/media` on local disk or any
//! S3-compatible bucket, behind the `object_store` crate.
//!
//! Keys are content addressed, `{bot_id}/{sha256}`, so one bot's identical bytes are stored once.
//! Since the hash is known only after the last byte, an upload is first streamed (never held in
//! memory) to `staging/{uuid}` while it is hashed and counted, then renamed to its key. Local
//! writes are fsynced (file and directory) before they return, and S3 acknowledges only durable
//! writes, so a blob is durable before the caller commits the row that names it: a crash in
//! between leaves an orphan blob (or a staging object), never a row without bytes. Orphans are
//! harmless; an hourly sweep (`MediaLibrary::sweep_orphans`) removes those older than an hour.

use crate::model::ids::BotId;
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::config::{Config, MediaStoreConfig};

/// Bytes kept for content sniffing (magic numbers sit in the first few hundred bytes).
const SNIFF_BYTES: usize = 8 * 1024;
/// Upload part size for large objects; S3 needs at least 5 MiB per part.
const PART_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading the file failed: {0}")]
    Body(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("object store: {0}")]
    Io(#[from] std::io::Error),
}

/// An upload written to staging: its hash, size and first bytes.
#[derive(Debug)]
pub struct Staged {
    path: Path,
    pub sha256: String,
    pub size: u64,
    pub head: Vec<u8>,
}

/// The object store holding media bytes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    kind: &'static str,
}

impl BlobStore {
    /// The store the configuration names. The local directory is created if missing; an S3
    /// bucket must already exist.
    pub fn from_config(config: &Config) -> anyhow::Result<BlobStore> {
        match &config.media_store {
            MediaStoreConfig::Local => Self::local(&config.data_dir.join("media")),
            MediaStoreConfig::S3(s3) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region);
                if let Some(endpoint) = &s3.endpoint {
                    // Self-hosted S3-compatible stores are addressed path-style, often over plain
                    // HTTP on a private network.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let Some(id) = &s3.access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                let store = builder
                    .build()
                    .map_err(|e| anyhow::anyhow!("invalid media S3 settings: {e}"))?;
                Ok(BlobStore {
                    inner: Arc::new(store),
                    kind: "s3",
                })
            }
        }
    }

    pub fn local(root: &FsPath) -> anyhow::Result<BlobStore> {
        std::fs::create_dir_all(root).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.display()))?;
        let store = LocalFileSystem::new_with_prefix(root)?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(BlobStore {
            inner: Arc::new(store),
            kind: "local",
        })
    }

    /// `local` or `s3`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The key of a bot's bytes with this hash.
    pub fn key(bot_id: BotId, sha256: &str) -> String {
        format!("{bot_id}/{sha256}")
    }

    /// Stream `body` into a staging object, hashing and counting; more than `limit` bytes (or
    /// a failing body) aborts the write and leaves nothing behind.
    pub async fn stage<S, E>(&self, body: S, limit: u64) -> Result<Staged, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let path = Path::from(format!("staging/{}", Uuid::now_v7()));
        let mut writer = BufWriter::with_capacity(self.inner.clone(), path.clone(), PART_BYTES);
        let result = copy_hashing(body, &mut writer, limit).await;
        match result {
            Ok((sha256, size, head)) => match writer.shutdown().await {
                Ok(()) => Ok(Staged {
                    path,
                    sha256,
                    size,
                    head,
                }),
                Err(e) => {
                    self.remove(&path).await;
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = writer.abort().await;
                self.remove(&path).await;
                Err(e)
            }
        }
    }

    /// Move staged bytes to `key`. If the key already holds them (same hash), the staged copy is
    /// just dropped.
    pub async fn publish(&self, staged: Staged, key: &str) -> Result<(), BlobError> {
        let key = Path::from(key);
        if self.inner.head(&key).await.is_ok() {
            self.remove(&staged.path).await;
            return Ok(());
        }
        self.inner.rename(&staged.path, &key).await?;
        Ok(())
    }

    /// Drop a staged upload that will not be kept.
    pub async fn discard(&self, staged: Staged) {
        self.remove(&staged.path).await;
    }

    /// Stream the bytes of `key`, all or `range`.
    pub async fn stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = self.inner.get_opts(&Path::from(key), options).await?;
        Ok(result.into_stream().map_err(BlobError::from).boxed())
    }

    /// All bytes of `key` in memory (for sending to a platform).
    pub async fn read(&self, key: &str) -> Result<Bytes, BlobError> {
        Ok(self.inner.get(&Path::from(key)).await?.bytes().await?)
    }

    /// Delete one blob; a missing one is fine.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete every blob of a bot.
    pub async fn delete_bot(&self, bot_id: BotId) -> Result<(), BlobError> {
        let keys = self.list(&bot_id.to_string()).await?;
        for key in keys {
            self.delete(&key).await?;
        }
        Ok(())
    }

    /// Keys under `prefix` (e.g. a bot id), in no particular order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let prefix = Path::from(prefix);
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await?;
        Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
    }

    /// Every key last written before `before` (for the orphan sweep).
    pub async fn list_written_before(&self, before: std::time::SystemTime) -> Result<Vec<String>, BlobError> {
        let metas: Vec<_> = self.inner.list(None).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter(|m| std::time::SystemTime::from(m.last_modified) < before)
            .map(|m| m.location.to_string())
            .collect())
    }

    async fn remove(&self, path: &Path) {
        if let Err(e) = self.delete(path.as_ref()).await {
            tracing::warn!(error = %e, "could not remove a staging object; it is left as an orphan");
        }
    }
}

async fn copy_hashing<S, E>(body: S, writer: &mut BufWriter, limit: u64) -> Result<(String, u64, Vec<u8>), BlobError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(BlobError::TooLarge { limit });
        }
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(chunk.get(..take).unwrap_or_default());
        }
        hasher.update(&chunk);
        writer.write_all(&chunk).await?;
    }
    Ok((hex::encode(hasher.finalize()), size, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn staging_hashes_publishes_once_and_aborts_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        let staged = blobs.stage(chunks(&[b"hello ", b"world"]), 100).await.unwrap();
        assert_eq!(staged.size, 11);
        assert_eq!(hex::encode(Sha256::digest(b"hello world")), staged.sha256);
        assert_eq!(staged.head, b"hello world");
        let bot = BotId::new();
        let key = BlobStore::key(bot, &staged.sha256);
        blobs.publish(staged, &key).await.unwrap();
        let again = blobs.stage(chunks(&[b"hello world"]), 100).await.unwrap();
        blobs.publish(again, &key).await.unwrap();
        assert_eq!(blobs.list(&bot.to_string()).await.unwrap(), vec![key.clone()]);
        assert_eq!(blobs.read(&key).await.unwrap(), Bytes::from_static(b"hello world"));

        let err = blobs.stage(chunks(&[b"0123456789", b"x"]), 10).await.unwrap_err();
        assert!(matches!(err, BlobError::TooLarge { limit: 10 }));
        assert!(blobs.list("staging").await.unwrap().is_empty(), "nothing left behind");

        blobs.delete_bot(bot).await.unwrap();
        assert!(blobs.list(&bot.to_string()).await.unwrap().is_empty());
    }
}
