//! Bots: the owners of scenarios, credentials, dialogs and media.

use crate::model::ids::{AccountId, BotId};

use super::{Page, Store, StoreResult, now_ms, on_db};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Bot {
    pub id: BotId,
    pub account_id: AccountId,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A partial update; `None` leaves a field as it is. `description: Some(None)` clears it.
#[derive(Debug, Default)]
pub struct BotPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub is_active: Option<bool>,
}

const COLUMNS: &str = "id, account_id, name, description, is_active, created_at, updated_at";

impl Store {
    pub async fn create_bot(
        &self,
        account_id: AccountId,
        name: &str,
        description: Option<&str>,
        is_active: bool,
    ) -> StoreResult<Bot> {
        let _fresh = self.invalidates_config();
        let now = now_ms();
        let bot = Bot {
            id: BotId::new(),
            account_id,
            name: name.to_string(),
            description: description.map(str::to_string),
            is_active,
            created_at: now,
            updated_at: now,
        };
        on_db!(&self.db, write pool => {
            sqlx::query(
                "INSERT INTO bots (id, account_id, name, description, is_active, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(bot.id).bind(bot.account_id).bind(&bot.name).bind(&bot.description).bind(bot.is_active)
            .bind(now).bind(now)
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(bot)
    }

    pub async fn get_bot(&self, id: BotId) -> StoreResult<Option<Bot>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM bots WHERE id = $1"));
        Ok(on_db!(&self.db, read pool => sqlx::query_as::<_, Bot>(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Bots oldest first; `account_id` None lists every account's (admin view).
    pub async fn list_bots(&self, account_id: Option<AccountId>, page: Page) -> StoreResult<Vec<Bot>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bots WHERE id > $1 AND ($2 IS NULL OR account_id = $2) ORDER BY id LIMIT $3"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, Bot>(sql).bind(page.after_or_nil()).bind(account_id).bind(page.fetch_limit())
                .fetch_all(pool).await
        })?)
    }

    pub async fn update_bot(&self, id: BotId, patch: BotPatch) -> StoreResult<Option<Bot>> {
        let _fresh = self.invalidates_config();
        let Some(mut bot) = self.get_bot(id).await? else {
            return Ok(None);
        };
        if let Some(name) = patch.name {
            bot.name = name;
        }
        if let Some(description) = patch.description {
            bot.description = description;
        }
        if let Some(active) = patch.is_active {
            bot.is_active = active;
        }
        bot.updated_at = now_ms();
        let updated = on_db!(&self.db, write pool => {
            sqlx::query("UPDATE bots SET name = $2, description = $3, is_active = $4, updated_at = $5 WHERE id = $1")
                .bind(id).bind(&bot.name).bind(&bot.description).bind(bot.is_active).bind(bot.updated_at)
                .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok((updated == 1).then_some(bot))
    }

    /// Delete a bot and, by cascade, everything it owns. True if it existed.
    pub async fn delete_bot(&self, id: BotId) -> StoreResult<bool> {
        let _fresh = self.invalidates_config();
        let deleted = on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM bots WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(deleted == 1)
    }
}
