//! Platform credentials of bots. Secrets arrive here already sealed by the caller.

use crate::model::ids::{AccountId, BotId};
use uuid::Uuid;

use super::{Store, StoreResult, new_id, now_ms, on_db};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Credential {
    pub id: Uuid,
    pub bot_id: BotId,
    pub platform: String,
    pub token_sealed: Vec<u8>,
    pub token_hint: String,
    pub secret_token_sealed: Option<Vec<u8>>,
    /// Non-secret settings given with the credential (JSON object).
    pub extra: String,
    pub is_active: bool,
    pub webhook_url: Option<String>,
    pub webhook_last_checked: Option<i64>,
    pub webhook_auto_refresh: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// A second secret some platforms sign their webhook bodies with (WhatsApp's app secret).
    pub app_secret_sealed: Option<Vec<u8>>,
    /// When the platform last ran its URL handshake with hookline, and last posted a body
    /// that passed the signature check (at most a minute stale).
    pub handshake_at: Option<i64>,
    pub last_signed_post_at: Option<i64>,
    /// The last error registering or receiving the webhook, cleared by a success.
    pub webhook_error: Option<String>,
}

const COLUMNS: &str = "id, bot_id, platform, token_sealed, token_hint, secret_token_sealed, extra, is_active, \
                       webhook_url, webhook_last_checked, webhook_auto_refresh, created_at, updated_at, \
                       app_secret_sealed, handshake_at, last_signed_post_at, webhook_error";

/// The sealed secrets saved with a credential: its token (and the token's redacted hint), and
/// the others where `None` keeps what is stored.
#[derive(Clone, Debug, Default)]
pub struct CredentialSecrets {
    pub token_sealed: Vec<u8>,
    pub token_hint: String,
    pub app_secret_sealed: Option<Vec<u8>>,
    /// A webhook secret made with the credential (WhatsApp's verify token), kept if one exists.
    pub secret_token_sealed: Option<Vec<u8>>,
}

/// A bot with its credential for one platform, as the webhook handler needs them.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BotWithCredential {
    pub bot_id: BotId,
    pub account_id: AccountId,
    pub bot_active: bool,
    pub credential_active: bool,
    pub token_sealed: Vec<u8>,
    pub secret_token_sealed: Option<Vec<u8>>,
    /// The credential's non-secret settings (JSON object).
    pub extra: String,
    pub app_secret_sealed: Option<Vec<u8>>,
}

impl Store {
    /// Create or replace the credential of (bot, platform); GET INN's POST is an upsert.
    pub async fn upsert_credential(
        &self,
        bot_id: BotId,
        platform: &str,
        secrets: &CredentialSecrets,
        extra: &str,
        is_active: bool,
    ) -> StoreResult<Credential> {
        let _fresh = self.invalidates_config();
        let now = now_ms();
        on_db!(&self.db, write pool => {
            sqlx::query(
                "INSERT INTO bot_credentials (id, bot_id, platform, token_sealed, token_hint, extra, is_active, created_at, updated_at,
                                              app_secret_sealed, secret_token_sealed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
                 ON CONFLICT (bot_id, platform) DO UPDATE SET token_sealed = excluded.token_sealed,
                     token_hint = excluded.token_hint, extra = excluded.extra, is_active = excluded.is_active,
                     updated_at = excluded.updated_at,
                     app_secret_sealed = COALESCE(excluded.app_secret_sealed, bot_credentials.app_secret_sealed),
                     secret_token_sealed = COALESCE(bot_credentials.secret_token_sealed, excluded.secret_token_sealed)",
            )
            .bind(new_id()).bind(bot_id).bind(platform).bind(&secrets.token_sealed).bind(&secrets.token_hint).bind(extra).bind(is_active).bind(now)
            .bind(&secrets.app_secret_sealed).bind(&secrets.secret_token_sealed)
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        self.get_credential(bot_id, platform)
            .await?
            .ok_or(super::StoreError::Missing("a credential, right after its upsert"))
    }

    pub async fn get_credential(&self, bot_id: BotId, platform: &str) -> StoreResult<Option<Credential>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bot_credentials WHERE bot_id = $1 AND platform = $2"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, Credential>(sql).bind(bot_id).bind(platform).fetch_optional(pool).await
        })?)
    }

    pub async fn list_credentials(&self, bot_id: BotId) -> StoreResult<Vec<Credential>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bot_credentials WHERE bot_id = $1 ORDER BY id"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, Credential>(sql).bind(bot_id).fetch_all(pool).await
        })?)
    }

    pub async fn update_credential(
        &self,
        bot_id: BotId,
        platform: &str,
        token: Option<(&[u8], &str)>,
        extra: Option<&str>,
        is_active: Option<bool>,
        app_secret_sealed: Option<&[u8]>,
    ) -> StoreResult<Option<Credential>> {
        let _fresh = self.invalidates_config();
        let Some(current) = self.get_credential(bot_id, platform).await? else {
            return Ok(None);
        };
        let (sealed, hint) = token
            .map(|(s, h)| (s.to_vec(), h.to_string()))
            .unwrap_or((current.token_sealed, current.token_hint));
        let extra = extra.map(str::to_string).unwrap_or(current.extra);
        let active = is_active.unwrap_or(current.is_active);
        on_db!(&self.db, write pool => {
            sqlx::query(
                "UPDATE bot_credentials SET token_sealed = $3, token_hint = $4, extra = $5, is_active = $6, updated_at = $7,
                        app_secret_sealed = COALESCE($8, app_secret_sealed)
                 WHERE bot_id = $1 AND platform = $2",
            )
            .bind(bot_id).bind(platform).bind(&sealed).bind(&hint).bind(&extra).bind(active).bind(now_ms()).bind(app_secret_sealed)
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        self.get_credential(bot_id, platform).await
    }

    pub async fn delete_credential(&self, bot_id: BotId, platform: &str) -> StoreResult<bool> {
        let _fresh = self.invalidates_config();
        let n = on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM bot_credentials WHERE bot_id = $1 AND platform = $2")
                .bind(bot_id).bind(platform).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Record a webhook registration (or its removal with `url = None`) and the secret token
    /// Telegram will send back.
    pub async fn set_webhook_state(
        &self,
        bot_id: BotId,
        platform: &str,
        url: Option<&str>,
        secret_sealed: Option<&[u8]>,
    ) -> StoreResult<()> {
        let _fresh = self.invalidates_config();
        on_db!(&self.db, write pool => {
            sqlx::query(
                "UPDATE bot_credentials SET webhook_url = $3, secret_token_sealed = COALESCE($4, secret_token_sealed),
                        webhook_last_checked = $5, updated_at = $5
                 WHERE bot_id = $1 AND platform = $2",
            )
            .bind(bot_id).bind(platform).bind(url).bind(secret_sealed).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn clear_secret_token(&self, bot_id: BotId, platform: &str) -> StoreResult<()> {
        let _fresh = self.invalidates_config();
        on_db!(&self.db, write pool => {
            sqlx::query("UPDATE bot_credentials SET secret_token_sealed = NULL WHERE bot_id = $1 AND platform = $2")
                .bind(bot_id).bind(platform).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Take or renew the named lease for `ttl_ms`; false when another owner holds it.
    pub async fn try_lease(&self, name: &str, owner: &str, ttl_ms: i64) -> StoreResult<bool> {
        let now = now_ms();
        let n = on_db!(&self.db, write pool => {
            sqlx::query(
                "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
                 WHERE leases.until < $4 OR leases.owner = excluded.owner",
            )
            .bind(name).bind(owner).bind(now + ttl_ms).bind(now).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn touch_webhook_checked(&self, bot_id: BotId, platform: &str) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query("UPDATE bot_credentials SET webhook_last_checked = $3 WHERE bot_id = $1 AND platform = $2")
                .bind(bot_id).bind(platform).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The bot and its credential for `platform`, in one read (the webhook's hot path).
    pub async fn bot_for_webhook(&self, bot_id: BotId, platform: &str) -> StoreResult<Option<BotWithCredential>> {
        let generation = self.cache.generation();
        if let Some(hit) = self.cache.bot(bot_id, platform, generation) {
            return Ok(hit);
        }
        let found = on_db!(&self.db, read pool => {
            sqlx::query_as::<_, BotWithCredential>(
                "SELECT b.id AS bot_id, b.account_id, b.is_active AS bot_active, c.is_active AS credential_active,
                        c.token_sealed, c.secret_token_sealed, c.extra, c.app_secret_sealed
                 FROM bots b JOIN bot_credentials c ON c.bot_id = b.id AND c.platform = $2
                 WHERE b.id = $1",
            )
            .bind(bot_id).bind(platform).fetch_optional(pool).await
        })?;
        self.cache.put_bot(bot_id, platform, generation, found.clone());
        Ok(found)
    }

    /// Active Telegram credentials whose webhook should be checked (not checked since `before`).
    pub async fn credentials_to_check(&self, platform: &str, before: i64, limit: i64) -> StoreResult<Vec<Credential>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bot_credentials c
             WHERE platform = $1 AND is_active AND webhook_auto_refresh
               AND EXISTS (SELECT 1 FROM bots b WHERE b.id = c.bot_id AND b.is_active)
               AND (webhook_last_checked IS NULL OR webhook_last_checked < $2)
             ORDER BY id LIMIT $3"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, Credential>(sql).bind(platform).bind(before).bind(limit).fetch_all(pool).await
        })?)
    }

    /// Note that the platform ran its URL handshake (`handshake`) or posted a correctly signed
    /// body with the bot's webhook, and clear the last webhook error.
    pub async fn note_webhook_seen(&self, bot_id: BotId, platform: &str, handshake: bool) -> StoreResult<()> {
        let sql = if handshake {
            "UPDATE bot_credentials SET handshake_at = $3, webhook_error = NULL WHERE bot_id = $1 AND platform = $2"
        } else {
            "UPDATE bot_credentials SET last_signed_post_at = $3, webhook_error = NULL WHERE bot_id = $1 AND platform = $2"
        };
        on_db!(&self.db, write pool => {
            sqlx::query(sql).bind(bot_id).bind(platform).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Record (or clear) the last error registering or receiving the bot's webhook.
    pub async fn set_webhook_error(&self, bot_id: BotId, platform: &str, error: Option<&str>) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query("UPDATE bot_credentials SET webhook_error = $3 WHERE bot_id = $1 AND platform = $2")
                .bind(bot_id).bind(platform).bind(error).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
