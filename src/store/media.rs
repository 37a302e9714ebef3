//! Media metadata: one row per media item of a bot, its aliases (names scenarios use) and the
//! platforms' cached file ids. The bytes themselves live in the object store (`crate::media`).

use crate::model::ids::BotId;
use uuid::Uuid;

use super::{Page, Store, StoreResult, conflict_on_unique, new_id, now_ms, on_db};

/// A media item of a bot. `storage_key` and `sha256` are set when `status` is `stored`.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MediaFile {
    pub id: Uuid,
    pub bot_id: BotId,
    pub kind: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub storage_key: Option<String>,
    pub source: String,
    pub chat_id: Option<String>,
    pub user_id: Option<String>,
    pub file_unique_id: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub caption: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MediaFile {
    pub fn is_stored(&self) -> bool {
        self.status == STATUS_STORED && self.storage_key.is_some()
    }
}

pub const STATUS_STORED: &str = "stored";
pub const STATUS_TOO_LARGE: &str = "too_large";
pub const STATUS_FAILED: &str = "failed";
pub const SOURCE_UPLOAD: &str = "upload";
pub const SOURCE_USER: &str = "user";

/// Everything but the id and timestamps, which the store assigns.
#[derive(Clone, Debug)]
pub struct NewMedia {
    pub bot_id: BotId,
    pub kind: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub storage_key: Option<String>,
    pub source: String,
    pub chat_id: Option<String>,
    pub user_id: Option<String>,
    pub file_unique_id: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub caption: Option<String>,
}

impl NewMedia {
    /// A row of the bot's with every other field empty, to fill in.
    pub fn for_bot(bot_id: BotId) -> NewMedia {
        NewMedia {
            bot_id,
            kind: String::new(),
            file_name: String::new(),
            content_type: String::new(),
            size: 0,
            sha256: None,
            storage_key: None,
            source: String::new(),
            chat_id: None,
            user_id: None,
            file_unique_id: None,
            status: String::new(),
            status_reason: None,
            caption: None,
        }
    }
}

/// An alias row: `alias` names `media_id` for `platform`.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MediaAlias {
    pub media_id: Uuid,
    pub platform: String,
    pub alias: String,
}

const COLUMNS: &str = "id, bot_id, kind, file_name, content_type, size, sha256, storage_key, source, chat_id, \
     user_id, file_unique_id, status, status_reason, caption, created_at, updated_at";

impl Store {
    /// Insert a media row. A second row with the same `(bot_id, file_unique_id)` is a conflict.
    pub async fn insert_media(&self, m: NewMedia) -> StoreResult<MediaFile> {
        let now = now_ms();
        let row = MediaFile {
            id: new_id(),
            bot_id: m.bot_id,
            kind: m.kind,
            file_name: m.file_name,
            content_type: m.content_type,
            size: m.size,
            sha256: m.sha256,
            storage_key: m.storage_key,
            source: m.source,
            chat_id: m.chat_id,
            user_id: m.user_id,
            file_unique_id: m.file_unique_id,
            status: m.status,
            status_reason: m.status_reason,
            caption: m.caption,
            created_at: now,
            updated_at: now,
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO media ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ));
        let r = &row;
        on_db!(&self.db, write pool => {
            sqlx::query(sql)
                .bind(r.id).bind(r.bot_id).bind(&r.kind).bind(&r.file_name).bind(&r.content_type).bind(r.size)
                .bind(&r.sha256).bind(&r.storage_key).bind(&r.source).bind(&r.chat_id).bind(&r.user_id)
                .bind(&r.file_unique_id).bind(&r.status).bind(&r.status_reason).bind(&r.caption)
                .bind(r.created_at).bind(r.updated_at)
                .execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(conflict_on_unique("this file was already recorded for the bot"))?;
        Ok(row)
    }

    pub async fn get_media(&self, id: Uuid) -> StoreResult<Option<MediaFile>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM media WHERE id = $1"));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, MediaFile>(sql).bind(id).fetch_optional(pool).await
        })?)
    }

    /// The bot's oldest stored media with these bytes, from `source`.
    pub async fn find_media_by_sha(&self, bot_id: BotId, sha256: &str, source: &str) -> StoreResult<Option<MediaFile>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM media WHERE bot_id = $1 AND sha256 = $2 AND source = $3 AND status = 'stored'
             ORDER BY id LIMIT 1"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, MediaFile>(sql).bind(bot_id).bind(sha256).bind(source).fetch_optional(pool).await
        })?)
    }

    pub async fn find_media_by_unique_id(&self, bot_id: BotId, file_unique_id: &str) -> StoreResult<Option<MediaFile>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM media WHERE bot_id = $1 AND file_unique_id = $2"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, MediaFile>(sql).bind(bot_id).bind(file_unique_id).fetch_optional(pool).await
        })?)
    }

    /// The bot's media oldest first, optionally of one kind.
    pub async fn list_media(&self, bot_id: BotId, kind: Option<&str>, page: Page) -> StoreResult<Vec<MediaFile>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM media WHERE bot_id = $1 AND id > $2 AND ($3 IS NULL OR kind = $3)
             ORDER BY id LIMIT $4"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, MediaFile>(sql)
                .bind(bot_id).bind(page.after_or_nil()).bind(kind).bind(page.fetch_limit())
                .fetch_all(pool).await
        })?)
    }

    /// Delete a media row (its aliases and cached ids go with it). True if it existed.
    pub async fn delete_media(&self, id: Uuid) -> StoreResult<bool> {
        let deleted = on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM media WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(deleted == 1)
    }

    /// How many rows still name this blob.
    pub async fn count_media_with_key(&self, storage_key: &str) -> StoreResult<i64> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM media WHERE storage_key = $1")
                .bind(storage_key).fetch_one(pool).await
        })?)
    }

    /// The media a bot's alias names, if any. Platform file ids are never matched here.
    pub async fn media_by_alias(&self, bot_id: BotId, alias: &str) -> StoreResult<Option<MediaFile>> {
        let cols = COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {cols} FROM media_aliases a JOIN media m ON m.id = a.media_id
             WHERE a.bot_id = $1 AND a.alias = $2"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, MediaFile>(sql).bind(bot_id).bind(alias).fetch_optional(pool).await
        })?)
    }

    /// Every alias of a bot (a bot has few), for rendering media and for scenario checks.
    pub async fn bot_media_aliases(&self, bot_id: BotId) -> StoreResult<Vec<MediaAlias>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, MediaAlias>(
                "SELECT media_id, platform, alias FROM media_aliases WHERE bot_id = $1 ORDER BY alias",
            )
            .bind(bot_id).fetch_all(pool).await
        })?)
    }

    /// Set the media's alias for `platform`, replacing its previous one. An alias another media
    /// of the same bot holds is a conflict.
    pub async fn set_media_alias(&self, bot_id: BotId, media_id: Uuid, platform: &str, alias: &str) -> StoreResult<()> {
        let now = now_ms();
        on_db!(&self.db, write pool => {
            async {
                let mut tx = pool.begin().await?;
                // The same media may move an alias between platforms or replace its own.
                sqlx::query("DELETE FROM media_aliases WHERE media_id = $1 AND (platform = $2 OR alias = $3)")
                    .bind(media_id).bind(platform).bind(alias).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO media_aliases (bot_id, alias, media_id, platform, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(bot_id).bind(alias).bind(media_id).bind(platform).bind(now)
                .execute(&mut *tx).await?;
                sqlx::query("UPDATE media SET updated_at = $2 WHERE id = $1")
                    .bind(media_id).bind(now).execute(&mut *tx).await?;
                tx.commit().await
            }.await
        })
        .map_err(conflict_on_unique("another media of this bot already has that alias"))
    }

    pub async fn platform_file_id(&self, media_id: Uuid, platform: &str) -> StoreResult<Option<String>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, String>(
                "SELECT file_id FROM media_platform_ids WHERE media_id = $1 AND platform = $2",
            )
            .bind(media_id).bind(platform).fetch_optional(pool).await
        })?)
    }

    /// Remember (or replace) the platform's id for these bytes.
    pub async fn set_platform_file_id(&self, media_id: Uuid, platform: &str, file_id: &str) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query(
                "INSERT INTO media_platform_ids (media_id, platform, file_id, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (media_id, platform) DO UPDATE SET file_id = excluded.file_id, updated_at = excluded.updated_at",
            )
            .bind(media_id).bind(platform).bind(file_id).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn forget_platform_file_id(&self, media_id: Uuid, platform: &str) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM media_platform_ids WHERE media_id = $1 AND platform = $2")
                .bind(media_id).bind(platform).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
