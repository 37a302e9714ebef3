//! The inbound flow's durable state: dialogs, the inbox of acknowledged updates, the outbox of
//! replies, timers and the events the bots produced. A [`ChatWrite`] (planned purely in
//! `dialogs::plan`) is applied here in one transaction.

use crate::model::ids::{AccountId, BotId, DialogId};
use serde_json::Value;
use uuid::Uuid;

use super::chat_write::{ChatWrite, DialogChange, TimerChange};
use super::platform_events::{PlatformEvent, publish_platform_events};
use super::{Db, Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// How applying a write ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Written and committed. `in_order`: the write's first reply was its chat's oldest unsent
    /// one at the commit, so its replies can go out at once without asking the store again
    /// (false also when that was not checked).
    Done { in_order: bool },
    /// An update in the write was already in the inbox: nothing was written.
    Duplicate,
    /// The dialog changed since it was read (another node): nothing was written; re-plan.
    Conflict,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DialogRow {
    pub id: DialogId,
    pub bot_id: BotId,
    pub platform: String,
    pub chat_id: String,
    pub current_step: String,
    pub status: String,
    pub state: String,
    pub context: String,
    pub version: i64,
    pub last_interaction_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const DIALOG_COLUMNS: &str = "id, bot_id, platform, chat_id, current_step, status, state, context, version, last_interaction_at, created_at, updated_at";

/// A webhook answer to record for an update (see [`Store::record_answers`]).
#[derive(Clone, Debug)]
pub struct InboxAnswer {
    pub bot_id: BotId,
    pub platform: String,
    pub update_id: i64,
    pub answer: String,
}

pub(super) const RECORD_ANSWER: &str =
    "UPDATE inbox SET answer = $1 WHERE bot_id = $2 AND platform = $3 AND update_id = $4 AND answer IS NULL";

/// Record webhook answers on `$tx`, each unless one is recorded already. In the chat writes'
/// own transaction: a commit per answer would cap the webhook at the disk's fsync rate.
macro_rules! record_answers {
    ($tx:ident, $answers:expr) => {
        for a in $answers {
            sqlx::query($crate::store::chats::RECORD_ANSWER)
                .bind(&a.answer)
                .bind(a.bot_id)
                .bind(&a.platform)
                .bind(a.update_id)
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(super) use record_answers;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HistoryRow {
    pub id: Uuid,
    pub dialog_id: DialogId,
    pub direction: String,
    pub message: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InboxResult {
    pub status: String,
    pub result: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    pub bot_id: BotId,
    pub platform: String,
    pub chat_id: String,
    pub call: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub lease_until: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueTimer {
    pub bot_id: BotId,
    pub platform: String,
    pub chat_id: String,
    pub token: i64,
}

// Statements both ways of applying chat writes use (see `chats_group`).
pub(super) const INSERT_MEDIA: &str =
    "INSERT INTO media (id, bot_id, kind, file_name, content_type, size, source, chat_id, user_id, file_unique_id,
                        status, status_reason, caption, created_at, updated_at, attempts, next_attempt_at, announce)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, 0, $15, $16)
     ON CONFLICT (bot_id, file_unique_id) DO NOTHING";
pub(super) const INSERT_MEDIA_PLATFORM_ID: &str =
    "INSERT INTO media_platform_ids (media_id, platform, file_id, updated_at) VALUES ($1, $2, $3, $4)";
/// A chat's oldest unsent reply. Like every query on unsent replies, it names `status =
/// 'pending'` literally, which lets the engines use the pending-only indexes (see
/// `migrations/*/0008_pending_indexes.sql` and the `plans` test).
pub(super) const CHAT_HEAD: &str =
    "SELECT id, bot_id, platform, chat_id, call, status, attempts, next_attempt_at, lease_until FROM outbox
     WHERE bot_id = $1 AND platform = $2 AND chat_id = $3 AND status = 'pending' ORDER BY id LIMIT 1";
/// Chats with a reply due now and not leased.
pub(super) const DUE_CHATS: &str = "SELECT DISTINCT bot_id, platform, chat_id FROM outbox
     WHERE status = 'pending' AND next_attempt_at <= $1 AND lease_until <= $1 LIMIT $2";
pub(super) const DELETE_DIALOG: &str = "DELETE FROM dialogs WHERE id = $1 AND version = $2";
pub(super) const CLEAR_TIMER: &str = "DELETE FROM timers WHERE bot_id = $1 AND platform = $2 AND chat_id = $3";
pub(super) const SET_TIMER: &str =
    "INSERT INTO timers (bot_id, platform, chat_id, token, due_at, lease_until) VALUES ($1, $2, $3, $4, $5, 0)
     ON CONFLICT (bot_id, platform, chat_id) DO UPDATE SET token = excluded.token, due_at = excluded.due_at, lease_until = 0";

pub(super) fn to_json(v: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Encode(format!("a dialog: {e}")))
}

/// Insert a write's inbox rows on `$sp`. `Some` when an update is there already: a duplicate,
/// or this write's own row from a group commit whose answer was lost (then the whole write is in).
macro_rules! insert_inbox_rows {
    ($sp:ident, $write:ident, $now:ident) => {{
        let (write, now) = ($write, $now);
        let sp = &mut $sp;
        let mut early = None;
        for row in &write.inbox {
            let inserted = sqlx::query(
                "INSERT INTO inbox (id, bot_id, platform, update_id, kind, chat_id, body, status, result, received_at, processed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'done', $8, $9, $9)
                 ON CONFLICT (bot_id, platform, update_id) DO NOTHING",
            )
            .bind(row.id).bind(write.bot_id).bind(write.platform).bind(row.update_id).bind(row.kind)
            .bind(&write.chat_id).bind(&row.body).bind(row.result.to_string()).bind(now)
            .execute(&mut **sp).await?.rows_affected();
            if inserted == 0 {
                // The row may be this write's own, committed by a group commit
                // whose answer was lost: then the whole write is in (one
                // transaction), and calling it a duplicate would leave its
                // replies unsent until their lease runs out.
                let existing: Option<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM inbox WHERE bot_id = $1 AND platform = $2 AND update_id = $3",
                )
                .bind(write.bot_id).bind(write.platform).bind(row.update_id)
                .fetch_optional(&mut **sp).await?;
                early = Some(if existing == Some(row.id) {
                    Applied::Done { in_order: false }
                } else {
                    Applied::Duplicate
                });
                break;
            }
        }
        early
    }};
}

/// Insert, update (guarded by its version) or delete a write's dialog row on `$sp`; false when
/// the dialog changed since it was read.
macro_rules! write_dialog_row {
    ($sp:ident, $write:ident, $now:ident) => {{
        let (write, now) = ($write, $now);
        let sp = &mut $sp;
        match &write.dialog {
            DialogChange::Unchanged => true,
            DialogChange::Upsert {
                id,
                expected_version: None,
                state,
                context,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO dialogs (id, bot_id, platform, chat_id, current_step, status, state, context, version,
                                          last_interaction_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $9)
                     ON CONFLICT (bot_id, platform, chat_id) DO NOTHING",
                )
                .bind(id)
                .bind(write.bot_id)
                .bind(write.platform)
                .bind(&write.chat_id)
                .bind(&state.current_step)
                .bind(state.status.as_str())
                .bind(to_json(state)?)
                .bind(to_json(context)?)
                .bind(now)
                .execute(&mut **sp)
                .await?
                .rows_affected()
                    == 1
            }
            DialogChange::Upsert {
                id,
                expected_version: Some(v),
                state,
                context,
                last_interaction,
            } => sqlx::query(
                "UPDATE dialogs SET current_step = $2, status = $3, state = $4, context = $5, version = version + 1,
                            last_interaction_at = CASE WHEN $6 THEN $7 ELSE last_interaction_at END, updated_at = $7
                     WHERE id = $1 AND version = $8",
            )
            .bind(id)
            .bind(&state.current_step)
            .bind(state.status.as_str())
            .bind(to_json(state)?)
            .bind(to_json(context)?)
            .bind(*last_interaction)
            .bind(now)
            .bind(*v)
            .execute(&mut **sp)
            .await?
            .rows_affected()
                == 1,
            DialogChange::Delete { id, expected_version } => {
                sqlx::query(DELETE_DIALOG)
                    .bind(id)
                    .bind(*expected_version)
                    .execute(&mut **sp)
                    .await?
                    .rows_affected()
                    == 1
            }
        }
    }};
}

/// Insert a write's history (when its dialog stays) and its replies on `$sp`.
macro_rules! insert_history_and_outbox {
    ($sp:ident, $write:ident, $now:ident) => {{
        let (write, now) = ($write, $now);
        let sp = &mut $sp;
        let dialog_id = match &write.dialog {
            DialogChange::Upsert { id, .. } => Some(*id),
            _ => None,
        };
        if let Some(dialog_id) = dialog_id {
            for (direction, message) in &write.history {
                sqlx::query("INSERT INTO dialog_history (id, dialog_id, direction, message, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(new_id()).bind(dialog_id).bind(*direction).bind(message.to_string()).bind(now)
                    .execute(&mut **sp).await?;
            }
        }
        for row in &write.outbox {
            let call = serde_json::to_string(&row.call).map_err(|e| StoreError::Encode(e.to_string()))?;
            sqlx::query(
                "INSERT INTO outbox (id, bot_id, platform, chat_id, call, status, next_attempt_at, lease_until, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $6)",
            )
            .bind(row.id).bind(write.bot_id).bind(write.platform).bind(&write.chat_id).bind(call).bind(now)
            .bind(write.lease_outbox_until.unwrap_or(0))
            .execute(&mut **sp).await?;
        }
    }};
}

impl Store {
    pub async fn get_dialog_by_chat(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
    ) -> StoreResult<Option<DialogRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DIALOG_COLUMNS} FROM dialogs WHERE bot_id = $1 AND platform = $2 AND chat_id = $3"
        ));
        // A reader is enough: the write that follows is guarded by the dialog's version, so a
        // stale read is caught there and re-planned (and the writer stays free for commits).
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, DialogRow>(sql).bind(bot_id).bind(platform).bind(chat_id).fetch_optional(pool).await
        })?)
    }

    /// The answer given to an update already in the inbox.
    pub async fn inbox_result(
        &self,
        bot_id: BotId,
        platform: &str,
        update_id: i64,
    ) -> StoreResult<Option<InboxResult>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, InboxResult>(
                "SELECT status, result FROM inbox WHERE bot_id = $1 AND platform = $2 AND update_id = $3",
            )
            .bind(bot_id).bind(platform).bind(update_id).fetch_optional(pool).await
        })?)
    }

    /// The webhook answer recorded for `update_id`, if any.
    pub async fn inbox_answer(&self, bot_id: BotId, platform: &str, update_id: i64) -> StoreResult<Option<String>> {
        let answer: Option<Option<String>> = on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT answer FROM inbox WHERE bot_id = $1 AND platform = $2 AND update_id = $3",
            )
            .bind(bot_id).bind(platform).bind(update_id).fetch_optional(pool).await
        })?;
        Ok(answer.flatten())
    }

    /// The newest reply of the chat that carries a keyboard, as (status, response): what the
    /// user sees as the chat's current keyboard once it is sent. Reads the partial index
    /// `outbox_keyboards` (its expression and this one must stay the same).
    pub async fn newest_keyboard(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
    ) -> StoreResult<Option<(String, Option<String>)>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, (String, Option<String>)>(
                r#"SELECT status, response FROM outbox WHERE bot_id = $1 AND platform = $2 AND chat_id = $3
                   AND call LIKE '{"call":"send_%' AND call LIKE '%"inline_keyboard":[[%'
                   ORDER BY id DESC LIMIT 1"#,
            )
            .bind(bot_id).bind(platform).bind(chat_id).fetch_optional(pool).await
        })?)
    }

    /// Apply a planned write in one transaction: all of it, or nothing.
    pub async fn apply_chat_write<C: serde::Serialize + Sync>(&self, write: &ChatWrite<C>) -> StoreResult<Applied> {
        self.apply_chat_writes(&[write], &[])
            .await?
            .pop()
            .unwrap_or(Ok(Applied::Done { in_order: false }))
    }

    /// Apply several planned writes in one transaction and one commit (group commit): each in
    /// its own savepoint, so a duplicate, a version conflict or an error undoes only its own
    /// write. `sent` marks replies the platform accepted, in the same commit. The outer error is
    /// for the batch as a whole (nothing was written).
    pub async fn apply_chat_writes<C: serde::Serialize + Sync>(
        &self,
        writes: &[&ChatWrite<C>],
        sent: &[(Uuid, String)],
    ) -> StoreResult<Vec<StoreResult<Applied>>> {
        self.apply_chat_writes_on(None, writes, sent, &[]).await
    }

    /// [`Store::apply_chat_writes`] on a connection the committer holds (see [`super::Held`]).
    pub async fn apply_chat_writes_on<C: serde::Serialize + Sync>(
        &self,
        mut held: Option<&mut super::Held>,
        writes: &[&ChatWrite<C>],
        sent: &[(Uuid, String)],
        answers: &[InboxAnswer],
    ) -> StoreResult<Vec<StoreResult<Applied>>> {
        let now = now_ms();
        // Usually the whole group goes through at once (see `chats_group`); otherwise the
        // writes are applied one by one below, which tells each its own answer.
        match self
            .apply_group_at_once(held.as_deref_mut(), writes, sent, answers, now)
            .await
        {
            Ok(Some(behind)) => {
                return Ok(writes
                    .iter()
                    .map(|w| {
                        Ok(Applied::Done {
                            in_order: w.outbox.first().is_some_and(|r| !behind.contains(&r.id)),
                        })
                    })
                    .collect());
            }
            Ok(None) => {
                metrics::counter!("chat_write_groups_split_total", "why" => "duplicate_or_conflict").increment(1)
            }
            Err(e) => {
                tracing::debug!(error = %e, "a chat write group failed as a whole; applying its writes one by one");
                metrics::counter!("chat_write_groups_split_total", "why" => "error").increment(1);
            }
        }
        self.apply_chat_writes_one_by_one(held, writes, sent, answers, now)
            .await
    }

    pub(super) async fn apply_chat_writes_one_by_one<C: serde::Serialize + Sync>(
        &self,
        held: Option<&mut super::Held>,
        writes: &[&ChatWrite<C>],
        sent: &[(Uuid, String)],
        answers: &[InboxAnswer],
        now: i64,
    ) -> StoreResult<Vec<StoreResult<Applied>>> {
        let style = self.db.style();
        on_db!(&self.db, write pool => {
            async {
                let mut tx = super::begin_on(pool, held).await?;
                let mut results = Vec::with_capacity(writes.len());
                let mut deliveries = 0;
                for write in writes {
                    let mut sp = sqlx::Connection::begin(&mut *tx).await?;
                    let mut written = 0;
                    let applied = async {
                        if let Some(early) = insert_inbox_rows!(sp, write, now) {
                            return Ok(early);
                        }
                        if let Some(m) = &write.media {
                            // A file first seen now: its library row comes with the update. Another chat may
                            // have recorded the same file meanwhile; re-planning then references that row.
                            let r = &m.media;
                            let inserted = sqlx::query(INSERT_MEDIA)
                            .bind(m.id).bind(write.bot_id).bind(&r.kind).bind(&r.file_name).bind(&r.content_type).bind(r.size)
                            .bind(&r.source).bind(&r.chat_id).bind(&r.user_id).bind(&r.file_unique_id).bind(&r.status)
                            .bind(&r.status_reason).bind(&r.caption).bind(now)
                            .bind((r.status == super::STATUS_PENDING).then_some(now))
                            .bind(m.announce.as_ref().map(Value::to_string))
                            .execute(&mut *sp).await?.rows_affected();
                            if inserted == 0 {
                                return Ok(Applied::Conflict);
                            }
                            sqlx::query(INSERT_MEDIA_PLATFORM_ID)
                                .bind(m.id).bind(m.platform).bind(&m.platform_file_id).bind(now)
                                .execute(&mut *sp).await?;
                        }
                        let dialog_ok = write_dialog_row!(sp, write, now);
                        if !dialog_ok {
                            return Ok(Applied::Conflict);
                        }
                        insert_history_and_outbox!(sp, write, now);
                        let events: Vec<PlatformEvent> = write.events.iter().map(|e| PlatformEvent {
                            id: new_id(),
                            account_id: write.account_id,
                            event_type: &e.event_type,
                            payload: e.payload.to_string(),
                        }).collect();
                        written = publish_platform_events!(sp, style, &events, now);
                        match write.timer {
                            TimerChange::Unchanged => {}
                            TimerChange::Clear => {
                                sqlx::query(CLEAR_TIMER)
                                    .bind(write.bot_id).bind(write.platform).bind(&write.chat_id).execute(&mut *sp).await?;
                            }
                            TimerChange::Set { token, due_at } => {
                                sqlx::query(SET_TIMER)
                                .bind(write.bot_id).bind(write.platform).bind(&write.chat_id).bind(token as i64).bind(due_at)
                                .execute(&mut *sp).await?;
                            }
                        }
                        Ok::<Applied, StoreError>(Applied::Done { in_order: false })
                    }
                    .await;
                    match &applied {
                        Ok(Applied::Done { .. }) => {
                            sp.commit().await?;
                            deliveries += written;
                        }
                        _ => sp.rollback().await?,
                    }
                    results.push(applied);
                }
                for (id, response) in sent {
                    sqlx::query(
                        "UPDATE outbox SET status = 'sent', sent_at = $2, response = $3, lease_until = 0, attempts = attempts + 1,
                                platform_message_id = $4
                         WHERE id = $1",
                    )
                    .bind(id).bind(now).bind(response).bind(super::receipts::reply_message_id(response)).execute(&mut *tx).await?;
                }
                record_answers!(tx, answers);
                tx.commit().await?;
                self.deliveries_written(deliveries);
                Ok::<_, StoreError>(results)
            }
            .await
        })
    }

    /// A group became a supergroup: its dialog, timer and unsent replies move to the new chat id
    /// (unless the new chat already has a dialog, which then wins). Unsent replies keep their
    /// request bodies; the sender retargets them when Telegram answers `migrate_to_chat_id`.
    pub async fn migrate_chat(&self, bot_id: BotId, platform: &str, from: &str, to: &str) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            async {
                let mut tx = pool.begin().await?;
                // The dialog's version moves too: a node planning from a snapshot of the old
                // chat then fails its version guard instead of writing into the moved dialog.
                for (table, bump) in [("dialogs", ", version = version + 1"), ("timers", "")] {
                    let sql = format!(
                        "UPDATE {table} SET chat_id = $4{bump} WHERE bot_id = $1 AND platform = $2 AND chat_id = $3
                           AND NOT EXISTS (SELECT 1 FROM {table} n WHERE n.bot_id = $1 AND n.platform = $2 AND n.chat_id = $4)"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(bot_id).bind(platform).bind(from).bind(to).execute(&mut *tx).await?;
                }
                sqlx::query("UPDATE outbox SET chat_id = $4 WHERE bot_id = $1 AND platform = $2 AND chat_id = $3 AND status = 'pending'")
                    .bind(bot_id).bind(platform).bind(from).bind(to).execute(&mut *tx).await?;
                tx.commit().await
            }.await
        })?;
        Ok(())
    }

    /// A `media.missing` warning: a history entry on the chat's dialog (when there is one) and
    /// an event for the bot's account, in one transaction.
    pub async fn record_media_missing(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
        refs: &[String],
    ) -> StoreResult<()> {
        let now = now_ms();
        let warning = serde_json::json!({ "type": "warning", "warning": "media.missing", "media": refs });
        let payload = serde_json::json!({
            "bot_id": bot_id, "platform": platform, "chat_id": chat_id, "media": refs,
            "message": "the scenario's media is not in the bot's library and the platform refused it; the text and buttons were sent without it",
        });
        let style = self.db.style();
        let deliveries = on_db!(&self.db, write pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO dialog_history (id, dialog_id, direction, message, created_at)
                     SELECT $1, id, 'bot', $2, $3 FROM dialogs WHERE bot_id = $4 AND platform = $5 AND chat_id = $6",
                )
                .bind(new_id()).bind(warning.to_string()).bind(now).bind(bot_id).bind(platform).bind(chat_id)
                .execute(&mut *tx).await?;
                let account: Option<AccountId> = sqlx::query_scalar("SELECT account_id FROM bots WHERE id = $1")
                    .bind(bot_id).fetch_optional(&mut *tx).await?;
                let events: Vec<PlatformEvent> = account.into_iter().map(|account_id| PlatformEvent {
                    id: new_id(),
                    account_id,
                    event_type: "media.missing",
                    payload: payload.to_string(),
                }).collect();
                let deliveries = publish_platform_events!(tx, style, &events, now);
                tx.commit().await?;
                Ok::<usize, StoreError>(deliveries)
            }.await
        })?;
        self.deliveries_written(deliveries);
        Ok(())
    }

    /// The oldest unsent reply of a chat, leased to the caller for `lease_ms` so no other node
    /// sends it (or anything after it) meanwhile. None when the chat has nothing due, or its
    /// head is leased by someone else.
    pub async fn lease_chat_head(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
        lease_ms: i64,
    ) -> StoreResult<Option<OutboxRow>> {
        let now = now_ms();
        let head: Option<OutboxRow> = on_db!(&self.db, write pool => {
            sqlx::query_as::<_, OutboxRow>(CHAT_HEAD)
            .bind(bot_id).bind(platform).bind(chat_id).fetch_optional(pool).await
        })?;
        let Some(head) = head else { return Ok(None) };
        if head.next_attempt_at > now || head.lease_until > now {
            return Ok(None);
        }
        let leased = on_db!(&self.db, write pool => {
            sqlx::query("UPDATE outbox SET lease_until = $2 WHERE id = $1 AND status = 'pending' AND lease_until <= $3")
                .bind(head.id).bind(now + lease_ms).bind(now).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok((leased == 1).then_some(head))
    }

    pub async fn outbox_sent(&self, id: Uuid, response: &Value) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $2, response = $3, lease_until = 0, attempts = attempts + 1,
                                platform_message_id = $4 WHERE id = $1")
                .bind(id).bind(now_ms()).bind(response.to_string())
                .bind(response.get("message_id").and_then(serde_json::Value::as_str))
                .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Try again at `next_at` (also used to re-address a call after a chat migration).
    pub async fn outbox_retry(&self, id: Uuid, next_at: i64, error: &str, call: Option<&str>) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3, lease_until = 0,
                        call = COALESCE($4, call) WHERE id = $1",
            )
            .bind(id).bind(next_at).bind(error).bind(call).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn outbox_failed(&self, id: Uuid, error: &str) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $2, lease_until = 0 WHERE id = $1")
                .bind(id).bind(error).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The id of the chat's oldest unsent reply.
    pub async fn outbox_head(&self, bot_id: BotId, platform: &str, chat_id: &str) -> StoreResult<Option<Uuid>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, Uuid>(
                "SELECT id FROM outbox WHERE bot_id = $1 AND platform = $2 AND chat_id = $3 AND status = 'pending' ORDER BY id LIMIT 1",
            )
            .bind(bot_id).bind(platform).bind(chat_id).fetch_optional(pool).await
        })?)
    }

    /// Give up the leases of replies this node will not send now (the background sender takes them).
    pub async fn release_outbox(&self, ids: &[Uuid]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        on_db!(&self.db, write pool => {
            async {
                let mut tx = pool.begin().await?;
                for id in ids {
                    sqlx::query("UPDATE outbox SET lease_until = 0 WHERE id = $1 AND status = 'pending'")
                        .bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await
            }.await
        })?;
        Ok(())
    }

    pub async fn outbox_status(&self, id: Uuid) -> StoreResult<Option<String>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, String>("SELECT status FROM outbox WHERE id = $1").bind(id).fetch_optional(pool).await
        })?)
    }

    /// Chats with a reply due now (for the background sender).
    pub async fn chats_with_due_replies(&self, limit: i64) -> StoreResult<Vec<(BotId, String, String)>> {
        let now = now_ms();
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, (BotId, String, String)>(DUE_CHATS)
            .bind(now).bind(limit).fetch_all(pool).await
        })?)
    }

    /// Timers due now, leased to the caller so no other node fires them meanwhile.
    pub async fn claim_due_timers(&self, lease_ms: i64, limit: i64) -> StoreResult<Vec<DueTimer>> {
        let now = now_ms();
        let due: Vec<DueTimer> = on_db!(&self.db, read pool => {
            sqlx::query_as::<_, DueTimer>(
                "SELECT bot_id, platform, chat_id, token FROM timers WHERE due_at <= $1 AND lease_until <= $1 ORDER BY due_at LIMIT $2",
            )
            .bind(now).bind(limit).fetch_all(pool).await
        })?;
        let mut claimed = Vec::with_capacity(due.len());
        for t in due {
            let n = on_db!(&self.db, write pool => {
                sqlx::query(
                    "UPDATE timers SET lease_until = $5 WHERE bot_id = $1 AND platform = $2 AND chat_id = $3 AND token = $4
                       AND lease_until <= $6",
                )
                .bind(t.bot_id).bind(&t.platform).bind(&t.chat_id).bind(t.token).bind(now + lease_ms).bind(now)
                .execute(pool).await.map(|r| r.rows_affected())
            })?;
            if n == 1 {
                claimed.push(t);
            }
        }
        Ok(claimed)
    }

    /// Remove a fired timer unless a newer one (another token) replaced it.
    pub async fn clear_timer_if(&self, bot_id: BotId, platform: &str, chat_id: &str, token: u64) -> StoreResult<()> {
        on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM timers WHERE bot_id = $1 AND platform = $2 AND chat_id = $3 AND token = $4")
                .bind(bot_id).bind(platform).bind(chat_id).bind(token as i64).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The earliest pending timer, to sleep until it.
    pub async fn next_timer_due(&self) -> StoreResult<Option<i64>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(due_at) FROM timers").fetch_one(pool).await
        })?)
    }

    /// The events the bots of `bot_id`'s account published (`bot_…` event ids), oldest first,
    /// as (type, payload); a payload removed by retention reads `null`.
    pub async fn bot_events(&self, bot_id: BotId, limit: i64) -> StoreResult<Vec<(String, String)>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, (String, String)>(
                "SELECT e.event_type, COALESCE(e.payload, 'null') FROM webhook_events e
                 JOIN bots b ON b.account_id = e.account_id
                 WHERE b.id = $1 AND e.event_id LIKE 'bot!_%' ESCAPE '!' ORDER BY e.id LIMIT $2",
            )
            .bind(bot_id).bind(limit).fetch_all(pool).await
        })?)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }
}

impl Store {
    pub async fn get_dialog(&self, id: DialogId) -> StoreResult<Option<DialogRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {DIALOG_COLUMNS} FROM dialogs WHERE id = $1"));
        Ok(on_db!(&self.db, read pool => sqlx::query_as::<_, DialogRow>(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// A bot's dialogs, oldest first, optionally filtered by platform and status.
    pub async fn list_dialogs(
        &self,
        bot_id: BotId,
        platform: Option<&str>,
        status: Option<&str>,
        page: super::Page,
    ) -> StoreResult<Vec<DialogRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DIALOG_COLUMNS} FROM dialogs WHERE bot_id = $1 AND id > $2
               AND ($3 IS NULL OR platform = $3) AND ($4 IS NULL OR status = $4) ORDER BY id LIMIT $5"
        ));
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, DialogRow>(sql).bind(bot_id).bind(page.after_or_nil()).bind(platform).bind(status)
                .bind(page.fetch_limit()).fetch_all(pool).await
        })?)
    }

    /// An operator's change: the whole state, guarded by the version read.
    pub async fn replace_dialog_state(
        &self,
        id: DialogId,
        version: i64,
        state: &crate::model::dialog::DialogState,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let encoded = to_json(state)?;
        let n = on_db!(&self.db, write pool => {
            sqlx::query(
                "UPDATE dialogs SET current_step = $3, status = $4, state = $5, version = version + 1, updated_at = $6
                 WHERE id = $1 AND version = $2",
            )
            .bind(id).bind(version).bind(&state.current_step).bind(state.status.as_str())
            .bind(&encoded).bind(now).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn delete_dialog(&self, id: DialogId) -> StoreResult<bool> {
        let n = on_db!(&self.db, write pool => {
            sqlx::query("DELETE FROM dialogs WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// A dialog's history in order (user inputs and bot messages interleaved as they happened).
    pub async fn dialog_history(&self, dialog_id: DialogId, page: super::Page) -> StoreResult<Vec<HistoryRow>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, HistoryRow>(
                "SELECT id, dialog_id, direction, message, created_at FROM dialog_history
                 WHERE dialog_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(dialog_id).bind(page.after_or_nil()).bind(page.fetch_limit()).fetch_all(pool).await
        })?)
    }
}
