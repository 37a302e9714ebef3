//! Scenario versions. A version's document never changes after insert; at most one version per
//! bot is active (a partial unique index holds that even under concurrent activations).

use crate::model::ids::BotId;
use uuid::Uuid;

use super::{Db, Store, StoreError, StoreResult, new_id, now_ms, on_db};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ScenarioRecord {
    pub id: Uuid,
    pub bot_id: BotId,
    pub version_number: i32,
    pub name: String,
    pub description: Option<String>,
    pub version: String,
    /// The document exactly as uploaded (JSON text, key order kept).
    pub scenario_data: String,
    /// JSON array of validation warnings found at upload.
    pub warnings: String,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub struct NewScenario<'a> {
    pub bot_id: BotId,
    pub name: &'a str,
    pub description: Option<&'a str>,
    /// The author's label; `None` uses the version number.
    pub version: Option<&'a str>,
    pub data: &'a str,
    pub warnings: &'a str,
    pub activate: bool,
}

#[derive(Debug, Default)]
pub struct ScenarioPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub version: Option<String>,
}

const COLUMNS: &str = "id, bot_id, version_number, name, description, version, scenario_data, warnings, is_active, created_at, updated_at";

impl Store {
    /// Insert a new version (numbered after the bot's latest) and, if asked, make it the active one.
    pub async fn create_scenario(&self, new: NewScenario<'_>) -> StoreResult<ScenarioRecord> {
        let _fresh = self.invalidates_config();
        let now = now_ms();
        let id = new_id();
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            // Serialise version numbering per bot. SQLite already has a single writer;
            // PostgreSQL takes the bot row's lock.
            if matches!(self.db, Db::Postgres(_)) {
                sqlx::query(sqlx::AssertSqlSafe("SELECT id FROM bots WHERE id = $1 FOR UPDATE".to_string()))
                    .bind(new.bot_id).execute(&mut *tx).await?;
            }
            let number: i32 = sqlx::query_scalar("SELECT COALESCE(MAX(version_number), 0) + 1 FROM scenarios WHERE bot_id = $1")
                .bind(new.bot_id).fetch_one(&mut *tx).await?;
            if new.activate {
                sqlx::query("UPDATE scenarios SET is_active = FALSE, updated_at = $2 WHERE bot_id = $1 AND is_active")
                    .bind(new.bot_id).bind(now).execute(&mut *tx).await?;
            }
            let label = new.version.map(str::to_string).unwrap_or_else(|| number.to_string());
            sqlx::query(
                "INSERT INTO scenarios (id, bot_id, version_number, name, description, version, scenario_data, warnings,
                                        is_active, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(id).bind(new.bot_id).bind(number).bind(new.name).bind(new.description).bind(label)
            .bind(new.data).bind(new.warnings).bind(new.activate).bind(now)
            .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
        self.get_scenario(id)
            .await?
            .ok_or(StoreError::Missing("a scenario, right after its insert"))
    }

    pub async fn get_scenario(&self, id: Uuid) -> StoreResult<Option<ScenarioRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM scenarios WHERE id = $1"));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, ScenarioRecord>(sql).bind(id).fetch_optional(pool).await
        })?)
    }

    /// Versions newest first; `before` is the cursor (the last id of the previous page).
    pub async fn list_scenarios(
        &self,
        bot_id: BotId,
        active_only: bool,
        before: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<ScenarioRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM scenarios
             WHERE bot_id = $1 AND ($2 = FALSE OR is_active) AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, ScenarioRecord>(sql).bind(bot_id).bind(active_only).bind(before).bind(limit)
                .fetch_all(pool).await
        })?)
    }

    /// The id of the bot's active version, if any (the compiled document is cached by id).
    pub async fn active_scenario_id(&self, bot_id: BotId) -> StoreResult<Option<Uuid>> {
        let generation = self.cache.generation();
        if let Some(hit) = self.cache.active_scenario(bot_id, generation) {
            return Ok(hit);
        }
        let found = on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, Uuid>("SELECT id FROM scenarios WHERE bot_id = $1 AND is_active")
                .bind(bot_id).fetch_optional(pool).await
        })?;
        self.cache.put_active_scenario(bot_id, generation, found);
        Ok(found)
    }

    /// Change a version's labels (its document is immutable).
    pub async fn update_scenario_meta(&self, id: Uuid, patch: ScenarioPatch) -> StoreResult<Option<ScenarioRecord>> {
        let _fresh = self.invalidates_config();
        let Some(mut s) = self.get_scenario(id).await? else {
            return Ok(None);
        };
        if let Some(name) = patch.name {
            s.name = name;
        }
        if let Some(description) = patch.description {
            s.description = description;
        }
        if let Some(version) = patch.version {
            s.version = version;
        }
        s.updated_at = now_ms();
        on_db!(&self.db, write pool => {
            sqlx::query("UPDATE scenarios SET name = $2, description = $3, version = $4, updated_at = $5 WHERE id = $1")
                .bind(id).bind(&s.name).bind(&s.description).bind(&s.version).bind(s.updated_at)
                .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(Some(s))
    }

    /// Make this version the bot's active one (others are deactivated in the same transaction),
    /// or deactivate it. Returns the updated version.
    pub async fn set_scenario_active(&self, id: Uuid, active: bool) -> StoreResult<Option<ScenarioRecord>> {
        let _fresh = self.invalidates_config();
        let Some(current) = self.get_scenario(id).await? else {
            return Ok(None);
        };
        let now = now_ms();
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            if active {
                sqlx::query("UPDATE scenarios SET is_active = FALSE, updated_at = $3 WHERE bot_id = $1 AND is_active AND id <> $2")
                    .bind(current.bot_id).bind(id).bind(now).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE scenarios SET is_active = $2, updated_at = $3 WHERE id = $1")
                .bind(id).bind(active).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })
        .map_err(|e| match e {
            StoreError::Database(ref db) if db.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                StoreError::Conflict("another version of this bot was activated at the same time; retry".into())
            }
            other => other,
        })?;
        self.get_scenario(id).await
    }

    pub async fn delete_scenario(&self, id: Uuid) -> StoreResult<bool> {
        let _fresh = self.invalidates_config();
        let n = on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM scenarios WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}
