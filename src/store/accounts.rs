//! Accounts (tenants) and their API keys.

use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use super::{Page, Store, StoreError, StoreResult, conflict_on_unique, new_id, now_ms, on_db};
use crate::model::ids::AccountId;

/// `id` is still a plain `Uuid`: the dialog side's test fixtures hand it on as a bot's account
/// (`create_bot`, `BotCtx`). `AccountId::from(account.id)` where a typed id is wanted.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reaches every account.
    Admin,
    /// Reaches only its own account.
    Account,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Account => "account",
        }
    }

    fn parse(s: &str) -> Role {
        if s == "admin" { Role::Admin } else { Role::Account }
    }
}

/// An API key as stored: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub account_id: Option<AccountId>,
    pub role: Role,
    pub name: String,
    pub key_prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    account_id: Option<AccountId>,
    role: String,
    name: String,
    key_prefix: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKeyRecord {
    fn from(r: ApiKeyRow) -> Self {
        ApiKeyRecord {
            id: r.id,
            account_id: r.account_id,
            role: Role::parse(&r.role),
            name: r.name,
            key_prefix: r.key_prefix,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

const KEY_COLUMNS: &str = "id, account_id, role, name, key_prefix, created_at, revoked_at";

/// What a new key is stored with.
pub struct NewKey<'a> {
    pub account_id: Option<AccountId>,
    pub role: Role,
    pub name: &'a str,
    pub hash: &'a [u8; 32],
    pub prefix: &'a str,
}

/// How many keys this process has revoked. Caches of key lookups (the HTTP layer's) remember
/// the count they were filled at and drop what they hold when it moved, so a revocation through
/// this node's API takes effect at once. Process-wide rather than per store: a second store in
/// the same process (tests) only costs its cache a refill.
static REVOCATIONS: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// See [`REVOCATIONS`]: read it *before* looking a key up, so a revocation that commits
    /// while the lookup runs still invalidates what the lookup caches.
    pub fn key_revocations(&self) -> u64 {
        REVOCATIONS.load(Ordering::SeqCst)
    }

    pub async fn create_account(&self, name: &str) -> StoreResult<Account> {
        let now = now_ms();
        let account = Account {
            id: AccountId::new(),
            name: name.to_string(),
            created_at: now,
            updated_at: now,
        };
        on_db!(&self.db, write pool => {
            sqlx::query("INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)")
                .bind(account.id).bind(&account.name).bind(now).bind(now)
                .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(account)
    }

    pub async fn get_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, Account>("SELECT id, name, created_at, updated_at FROM accounts WHERE id = $1")
                .bind(id).fetch_optional(pool).await
        })?)
    }

    /// Accounts oldest first; `only` restricts the list to one account (an account key's view).
    pub async fn list_accounts(&self, only: Option<AccountId>, page: Page) -> StoreResult<Vec<Account>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, Account>(
                "SELECT id, name, created_at, updated_at FROM accounts
                 WHERE id > $1 AND ($2 IS NULL OR id = $2) ORDER BY id LIMIT $3",
            )
            .bind(page.after_or_nil()).bind(only).bind(page.fetch_limit())
            .fetch_all(pool).await
        })?)
    }

    pub async fn create_api_key(&self, key: NewKey<'_>) -> StoreResult<ApiKeyRecord> {
        let record = ApiKeyRecord {
            id: new_id(),
            account_id: key.account_id,
            role: key.role,
            name: key.name.to_string(),
            key_prefix: key.prefix.to_string(),
            created_at: now_ms(),
            revoked_at: None,
        };
        on_db!(&self.db, write pool => {
            sqlx::query(
                "INSERT INTO api_keys (id, account_id, role, name, key_hash, key_prefix, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(record.id).bind(record.account_id).bind(record.role.as_str()).bind(&record.name)
            .bind(&key.hash[..]).bind(&record.key_prefix).bind(record.created_at)
            .execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(conflict_on_unique("API key already exists"))?;
        Ok(record)
    }

    /// Issue the first admin key exactly once per database, even when several nodes start
    /// together: the `meta` row is the arbiter, inserted in the same transaction as the key.
    /// Returns false when a first key was already issued.
    pub async fn bootstrap_admin_key(&self, hash: &[u8; 32], prefix: &str) -> StoreResult<bool> {
        let now = now_ms();
        let id = new_id();
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(
                "INSERT INTO meta (key, value) VALUES ('bootstrap_admin_key', $1) ON CONFLICT (key) DO NOTHING",
            )
            .bind(id.to_string())
            .execute(&mut *tx).await?
            .rows_affected() == 1;
            if claimed {
                sqlx::query(
                    "INSERT INTO api_keys (id, account_id, role, name, key_hash, key_prefix, created_at)
                     VALUES ($1, NULL, 'admin', 'bootstrap', $2, $3, $4)",
                )
                .bind(id).bind(&hash[..]).bind(prefix).bind(now)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<bool, StoreError>(claimed)
        })
    }

    /// The live (not revoked) key with this hash.
    pub async fn find_api_key(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        ));
        let row: Option<ApiKeyRow> = on_db!(&self.db, read pool => {
            sqlx::query_as(sql).bind(&hash[..]).fetch_optional(pool).await
        })?;
        Ok(row.map(Into::into))
    }

    pub async fn get_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"));
        let row: Option<ApiKeyRow> = on_db!(&self.db, read pool => {
            sqlx::query_as(sql).bind(id).fetch_optional(pool).await
        })?;
        Ok(row.map(Into::into))
    }

    /// The keys issued on an account; with `role`, only keys of that role.
    pub async fn list_api_keys(
        &self,
        account_id: AccountId,
        role: Option<Role>,
        page: Page,
    ) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys
             WHERE account_id = $1 AND ($2 IS NULL OR role = $2) AND id > $3 ORDER BY id LIMIT $4"
        ));
        let role = role.map(Role::as_str);
        let rows: Vec<ApiKeyRow> = on_db!(&self.db, read pool => {
            sqlx::query_as(sql).bind(account_id).bind(role).bind(page.after_or_nil()).bind(page.fetch_limit())
                .fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Revoke a key; true if it was live. Revocation is permanent.
    pub async fn revoke_api_key(&self, id: Uuid) -> StoreResult<bool> {
        let done = on_db!(&self.db, write pool => {
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected())
        })?;
        // After the commit, and before the caller answers: the next request sees the new count.
        REVOCATIONS.fetch_add(1, Ordering::SeqCst);
        Ok(done == 1)
    }
}
