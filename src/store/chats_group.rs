//! A group of chat writes at once: every write of a group commit in a handful of multi-row
//! statements (inbox rows, dialogs, history, outbox, events, sent marks) instead of about ten
//! single-row statements per write, each a round trip to sqlx's SQLite worker thread. Under
//! load those round trips, not SQLite's own work, were most of the writer's time.
//!
//! All or nothing: when any update of the group is already in the inbox, any dialog changed
//! since it was read, or any statement fails, the transaction is rolled back and the caller
//! applies the group write by write, each in its own savepoint, which gives every write its own
//! answer. Duplicates and conflicts are rare (a redelivery, another node), so that path costs
//! little overall. Rows that are rare in a group (a user's new file, a deleted dialog, a timer)
//! keep their single-row statements here.

use crate::model::ids::DialogId;
use std::collections::HashSet;

use uuid::Uuid;

use super::chat_write::{ChatWrite, DialogChange, TimerChange};
use super::chats::to_json;
use super::multi_row::{self as rows, Style, insert_values, values};
use super::platform_events::{PlatformEvent, publish_platform_events};
use super::{Store, StoreError, StoreResult, new_id, on_db};

/// Most rows in one statement (a power of two, so statement texts stay few and cached).
const ROWS: usize = 64;

/// `items` cut into statements of at most [`ROWS`] rows (padded on SQLite; see
/// [`rows::statement_sizes`]).
fn chunks<T>(style: Style, items: &[T], width: usize, bytes: impl Fn(&T) -> usize) -> Vec<rows::Part<'_, T>> {
    rows::parts(style, items, width, ROWS, bytes)
}

/// Per row: id, bot_id, platform, update_id, kind, chat_id, body, result, now, now.
fn insert_inbox(s: Style, n: usize) -> String {
    insert_values(
        s,
        "INSERT INTO inbox (id, bot_id, platform, update_id, kind, chat_id, body, status, result, received_at, processed_at)",
        n,
        &["?", "?", "?", "?", "?", "?", "?", "'done'", "?", "?", "?"],
        "ON CONFLICT (bot_id, platform, update_id) DO NOTHING",
    )
}

/// Per row: id, bot_id, platform, chat_id, current_step, status, state, context, now, now, now.
fn insert_dialogs(s: Style, n: usize) -> String {
    insert_values(
        s,
        "INSERT INTO dialogs (id, bot_id, platform, chat_id, current_step, status, state, context, version,
                              last_interaction_at, created_at, updated_at)",
        n,
        &["?", "?", "?", "?", "?", "?", "?", "?", "1", "?", "?", "?"],
        "ON CONFLICT (bot_id, platform, chat_id) DO NOTHING",
    )
}

/// Per row: id, current_step, status, state, context, last_interaction (bool), now, expected
/// version. Only dialogs still at their expected version change; their ids come back.
fn update_dialogs(s: Style, n: usize) -> String {
    format!(
        "UPDATE dialogs SET current_step = v.column2, status = v.column3, state = v.column4, context = v.column5,
                version = dialogs.version + 1,
                last_interaction_at = CASE WHEN v.column6 THEN v.column7 ELSE dialogs.last_interaction_at END,
                updated_at = v.column7
         FROM (VALUES {}) AS v
         WHERE dialogs.id = v.column1 AND dialogs.version = v.column8",
        values(s, n, 1, &["?"; 8])
    )
}

/// Per row: id, dialog_id, direction, message, now.
fn insert_history(s: Style, n: usize) -> String {
    insert_values(
        s,
        "INSERT INTO dialog_history (id, dialog_id, direction, message, created_at)",
        n,
        &["?"; 5],
        "",
    )
}

/// Per row: id, bot_id, platform, chat_id, call, now, lease_until, now.
fn insert_outbox(s: Style, n: usize) -> String {
    insert_values(
        s,
        "INSERT INTO outbox (id, bot_id, platform, chat_id, call, status, next_attempt_at, lease_until, created_at)",
        n,
        &["?", "?", "?", "?", "?", "'pending'", "?", "?", "?"],
        "",
    )
}

/// Per row: outbox id, now, response, the platform's message id.
fn mark_sent(s: Style, n: usize) -> String {
    format!(
        "UPDATE outbox SET status = 'sent', sent_at = v.column2, response = v.column3, lease_until = 0,
                attempts = outbox.attempts + 1, platform_message_id = v.column4
         FROM (VALUES {}) AS v WHERE outbox.id = v.column1",
        values(s, n, 1, &["?"; 4])
    )
}

/// Per row: bot_id, platform, chat_id, the write's first reply. Answers the first replies
/// that are not their chat's oldest unsent one.
fn replies_behind(s: Style, n: usize) -> String {
    format!(
        "SELECT DISTINCT v.column4 FROM (VALUES {}) AS v
         JOIN outbox o ON o.bot_id = v.column1 AND o.platform = v.column2 AND o.chat_id = v.column3
                      AND o.status = 'pending' AND o.id < v.column4",
        values(s, n, 1, &["?"; 4])
    )
}

/// A dialog row to insert or update, encoded.
struct DialogRow<'a, C> {
    id: DialogId,
    write: &'a ChatWrite<C>,
    step: &'a str,
    status: &'static str,
    state: String,
    context: String,
    last_interaction: bool,
    expected: i64,
}

/// A group's rows, encoded before the writer is taken.
struct Encoded<'a, C> {
    inbox: Vec<(&'a ChatWrite<C>, &'a super::chat_write::NewInbox, String)>,
    inserts: Vec<DialogRow<'a, C>>,
    updates: Vec<DialogRow<'a, C>>,
    history: Vec<(Uuid, DialogId, &'a str, String)>,
    outbox: Vec<(Uuid, &'a ChatWrite<C>, String, i64)>,
    events: Vec<PlatformEvent<'a>>,
    /// Each write's first reply: whether it waits behind an older one is asked last.
    firsts: Vec<(&'a ChatWrite<C>, Uuid)>,
}

/// Encode a group's rows. `None` when two writes concern one chat: the one-by-one path orders
/// them.
fn encode<'a, C: serde::Serialize>(writes: &[&'a ChatWrite<C>]) -> StoreResult<Option<Encoded<'a, C>>> {
    let inbox: Vec<(&ChatWrite<C>, &super::chat_write::NewInbox, String)> = writes
        .iter()
        .flat_map(|w| w.inbox.iter().map(move |r| (*w, r, r.result.to_string())))
        .collect();
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    for w in writes {
        if let DialogChange::Upsert {
            id,
            expected_version,
            state,
            context,
            last_interaction,
        } = &w.dialog
        {
            let row = DialogRow {
                id: *id,
                write: w,
                step: &state.current_step,
                status: state.status.as_str(),
                state: to_json(state)?,
                context: to_json(context)?,
                last_interaction: *last_interaction,
                expected: expected_version.unwrap_or(0),
            };
            match expected_version {
                None => inserts.push(row),
                Some(_) => updates.push(row),
            }
        }
    }
    let mut ids = std::collections::HashSet::new();
    if !updates
        .iter()
        .chain(&inserts)
        .all(|d| ids.insert((d.write.bot_id, d.write.platform, &d.write.chat_id)))
    {
        return Ok(None);
    }
    let history: Vec<(Uuid, DialogId, &str, String)> = writes
        .iter()
        .filter_map(|w| match &w.dialog {
            DialogChange::Upsert { id, .. } => Some((*id, w)),
            _ => None,
        })
        .flat_map(|(dialog_id, w)| {
            w.history
                .iter()
                .map(move |(dir, m)| (new_id(), dialog_id, *dir, m.to_string()))
        })
        .collect();
    let mut outbox = Vec::new();
    for w in writes {
        for row in &w.outbox {
            let call = serde_json::to_string(&row.call).map_err(|e| StoreError::Encode(e.to_string()))?;
            outbox.push((row.id, *w, call, w.lease_outbox_until.unwrap_or(0)));
        }
    }
    let events: Vec<PlatformEvent> = writes
        .iter()
        .flat_map(|w| {
            w.events.iter().map(move |e| PlatformEvent {
                id: new_id(),
                account_id: w.account_id,
                event_type: &e.event_type,
                payload: e.payload.to_string(),
            })
        })
        .collect();
    let firsts: Vec<(&ChatWrite<C>, Uuid)> = writes
        .iter()
        .filter_map(|w| w.outbox.first().map(|r| (*w, r.id)))
        .collect();
    Ok(Some(Encoded {
        inbox,
        inserts,
        updates,
        history,
        outbox,
        events,
        firsts,
    }))
}

/// Insert the users' files first seen in the group, each with its platform file id; on `$tx`.
/// False when another chat recorded the same file meanwhile (the writes are planned again).
macro_rules! insert_media {
    ($tx:ident, $writes:ident, $now:ident) => {{
        let (now, writes) = ($now, $writes);
        let tx = &mut $tx;
        let mut all = true;
        for w in writes {
            let Some(m) = &w.media else { continue };
            let r = &m.media;
            let inserted = sqlx::query(super::chats::INSERT_MEDIA)
                .bind(m.id)
                .bind(w.bot_id)
                .bind(&r.kind)
                .bind(&r.file_name)
                .bind(&r.content_type)
                .bind(r.size)
                .bind(&r.source)
                .bind(&r.chat_id)
                .bind(&r.user_id)
                .bind(&r.file_unique_id)
                .bind(&r.status)
                .bind(&r.status_reason)
                .bind(&r.caption)
                .bind(now)
                .bind((r.status == super::STATUS_PENDING).then_some(now))
                .bind(m.announce.as_ref().map(serde_json::Value::to_string))
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                all = false;
                break;
            }
            sqlx::query(super::chats::INSERT_MEDIA_PLATFORM_ID)
                .bind(m.id)
                .bind(m.platform)
                .bind(&m.platform_file_id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
        all
    }};
}

/// Set or clear each chat's pending-transition timer as its write says; on `$tx`.
macro_rules! write_timers {
    ($tx:ident, $writes:ident) => {{
        let writes = $writes;
        let tx = &mut $tx;
        for w in writes {
            match w.timer {
                TimerChange::Unchanged => {}
                TimerChange::Clear => {
                    sqlx::query(super::chats::CLEAR_TIMER)
                        .bind(w.bot_id)
                        .bind(w.platform)
                        .bind(&w.chat_id)
                        .execute(&mut **tx)
                        .await?;
                }
                TimerChange::Set { token, due_at } => {
                    sqlx::query(super::chats::SET_TIMER)
                        .bind(w.bot_id)
                        .bind(w.platform)
                        .bind(&w.chat_id)
                        .bind(token as i64)
                        .bind(due_at)
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
    }};
}

/// Insert and update the group's dialog rows (each update guarded by its version), then delete
/// those the writes end; on `$tx`. True when every row was written as read.
macro_rules! write_dialogs {
    ($tx:ident, $style:ident, $writes:ident, $inserts:ident, $updates:ident, $now:ident) => {{
        let (style, now, writes, inserts, updates) = ($style, $now, $writes, &$inserts, &$updates);
        let tx = &mut $tx;
        let dialog_bytes = |d: &DialogRow<C>| d.state.len() + d.context.len() + d.write.chat_id.len() + 100;
        let mut changed = 0;
        for part in chunks(style, &inserts, 11, dialog_bytes) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_dialogs(style, part.rows)));
            for d in part.items {
                q = q
                    .bind(d.id)
                    .bind(d.write.bot_id)
                    .bind(d.write.platform)
                    .bind(&d.write.chat_id)
                    .bind(d.step)
                    .bind(d.status)
                    .bind(&d.state)
                    .bind(&d.context)
                    .bind(now)
                    .bind(now)
                    .bind(now);
            }
            for _ in 0..part.padding(11) {
                q = q.bind(None::<String>);
            }
            changed += q.execute(&mut **tx).await?.rows_affected();
        }
        for part in chunks(style, &updates, 8, dialog_bytes) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(update_dialogs(style, part.rows)));
            for d in part.items {
                q = q
                    .bind(d.id)
                    .bind(d.step)
                    .bind(d.status)
                    .bind(&d.state)
                    .bind(&d.context)
                    .bind(d.last_interaction)
                    .bind(now)
                    .bind(d.expected);
            }
            for _ in 0..part.padding(8) {
                q = q.bind(None::<String>);
            }
            changed += q.execute(&mut **tx).await?.rows_affected();
        }
        let mut all = changed as usize == inserts.len() + updates.len();
        for w in writes {
            if let DialogChange::Delete { id, expected_version } = &w.dialog {
                let deleted = sqlx::query(super::chats::DELETE_DIALOG)
                    .bind(id)
                    .bind(*expected_version)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                all &= deleted == 1;
            }
        }
        all
    }};
}

/// Mark the replies the platform accepted as sent, then find whose first reply waits behind an
/// older unsent one (after the marks, so that they count); on `$tx`.
macro_rules! mark_sent_and_find_behind {
    ($tx:ident, $style:ident, $sent_runs:ident, $firsts:ident, $now:ident) => {{
        let (style, now, sent_runs, firsts) = ($style, $now, &$sent_runs, &$firsts);
        let tx = &mut $tx;
        for run in sent_runs {
            for part in chunks(style, run, 4, |s| 2 * s.1.len() + 40) {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(mark_sent(style, part.rows)));
                for (id, response) in part.items {
                    q = q
                        .bind(*id)
                        .bind(now)
                        .bind(response)
                        .bind(super::receipts::reply_message_id(response));
                }
                for _ in 0..part.padding(4) {
                    q = q.bind(None::<String>);
                }
                q.execute(&mut **tx).await?;
            }
        }
        // Last, so that the sent marks above count: whose replies wait behind older ones.
        let mut behind = HashSet::new();
        for part in chunks(style, &firsts, 4, |f| f.0.chat_id.len() + 60) {
            let mut q = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(replies_behind(style, part.rows)));
            for (w, first) in part.items {
                q = q.bind(w.bot_id).bind(w.platform).bind(&w.chat_id).bind(*first);
            }
            for _ in 0..part.padding(4) {
                q = q.bind(None::<String>);
            }
            behind.extend(q.fetch_all(&mut **tx).await?);
        }
        behind
    }};
}

impl Store {
    /// Apply the whole group in one transaction with multi-row statements. `Ok(Some(behind))`:
    /// every write is done and committed; `behind` holds the first replies of writes whose
    /// chat still had an older unsent reply at the commit (the others' replies can be sent at
    /// once, in order). `Ok(None)`: a duplicate or a conflict was found and nothing was
    /// written; apply the writes one by one to tell them apart.
    pub(super) async fn apply_group_at_once<C: serde::Serialize + Sync>(
        &self,
        held: Option<&mut super::Held>,
        writes: &[&ChatWrite<C>],
        sent: &[(Uuid, String)],
        answers: &[super::InboxAnswer],
        now: i64,
    ) -> StoreResult<Option<HashSet<Uuid>>> {
        let style = self.db.style();
        // Encode everything before taking the writer.
        let Some(Encoded {
            inbox,
            inserts,
            updates,
            history,
            outbox,
            events,
            firsts,
        }) = encode(writes)?
        else {
            return Ok(None); // two writes of one chat: the one-by-one path orders them
        };
        let sent_runs = rows::runs_of_unique(sent, |s| s.0);

        on_db!(&self.db, write pool => {
            async {
                let mut tx = super::begin_on(pool, held).await?;
                let mut deliveries = 0;
                let all_done = async {
                let mut added = 0;
                for part in chunks(style, &inbox, 10, |r| r.1.body.len() + r.2.len() + r.0.chat_id.len() + 80) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_inbox(style, part.rows)));
                    for (w, r, result) in part.items {
                        q = q.bind(r.id).bind(w.bot_id).bind(w.platform).bind(r.update_id).bind(r.kind)
                            .bind(&w.chat_id).bind(&r.body).bind(result).bind(now).bind(now);
                    }
                    for _ in 0..part.padding(10) {
                        q = q.bind(None::<String>);
                    }
                    added += q.execute(&mut *tx).await?.rows_affected();
                }
                if added as usize != inbox.len() {
                    return Ok(None); // a duplicate update
                }
                if !insert_media!(tx, writes, now) {
                    return Ok(None); // another chat recorded the same file: re-plan
                }
                if !write_dialogs!(tx, style, writes, inserts, updates, now) {
                    return Ok(None); // a dialog changed since it was read
                }
                for part in chunks(style, &history, 5, |h| h.3.len() + 60) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_history(style, part.rows)));
                    for (id, dialog_id, direction, message) in part.items {
                        q = q.bind(*id).bind(*dialog_id).bind(*direction).bind(message).bind(now);
                    }
                    for _ in 0..part.padding(5) {
                        q = q.bind(None::<String>);
                    }
                    q.execute(&mut *tx).await?;
                }
                for part in chunks(style, &outbox, 8, |o| o.2.len() + o.1.chat_id.len() + 80) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_outbox(style, part.rows)));
                    for (id, w, call, lease) in part.items {
                        q = q.bind(*id).bind(w.bot_id).bind(w.platform).bind(&w.chat_id).bind(call).bind(now)
                            .bind(*lease).bind(now);
                    }
                    for _ in 0..part.padding(8) {
                        q = q.bind(None::<String>);
                    }
                    q.execute(&mut *tx).await?;
                }
                deliveries = publish_platform_events!(tx, style, &events, now);
                write_timers!(tx, writes);
                let behind = mark_sent_and_find_behind!(tx, style, sent_runs, firsts, now);
                super::chats::record_answers!(tx, answers);
                Ok::<Option<HashSet<Uuid>>, StoreError>(Some(behind))
                }
                .await;
                match all_done {
                    Ok(Some(behind)) => {
                        tx.commit().await?;
                        self.deliveries_written(deliveries);
                        #[cfg(test)]
                        self.faults.after_commit()?;
                        Ok(Some(behind))
                    }
                    other => {
                        tx.rollback().await?;
                        other
                    }
                }
            }
            .await
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::{DatabaseConfig, SqliteSync};
    use crate::dialogs::plan::{BotCtx, ChatWrite, DialogSnapshot, Item, plan};
    use crate::platforms::telegram::update::parse_update;
    use crate::store::{Applied, Page, now_ms};
    use std::sync::Arc;

    pub(in crate::store) fn echo_update(chat: i64, update_id: i64) -> Item {
        let body = serde_json::json!({"update_id": update_id, "message": {"message_id": update_id, "date": 0,
            "text": format!("m{update_id}"), "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": false, "first_name": "A"}}})
        .to_string()
        .into_bytes();
        let parsed = parse_update(&body).unwrap();
        Item::Update {
            inbox_id: new_id(),
            body,
            parsed: Box::new(parsed.into()),
            media: None,
        }
    }

    pub(in crate::store) async fn snapshot(store: &Store, ctx: &BotCtx, chat: i64) -> Option<DialogSnapshot> {
        let row = store
            .get_dialog_by_chat(ctx.bot_id, "telegram", &chat.to_string())
            .await
            .unwrap()?;
        Some(DialogSnapshot {
            id: row.id,
            state: serde_json::from_str(&row.state).unwrap(),
            context: serde_json::from_str(&row.context).unwrap(),
            version: row.version,
        })
    }

    async fn write(store: &Store, ctx: &BotCtx, chat: i64, update_id: i64) -> ChatWrite {
        let dialog = snapshot(store, ctx, chat).await;
        plan(
            ctx,
            &chat.to_string(),
            dialog,
            vec![echo_update(chat, update_id)],
            now_ms(),
            &mut new_id,
        )
    }

    mod a_group_writes_every_row_at_once_or_nothing {
        use super::*;

        #[tokio::test]
        async fn sqlite() {
            let dir = tempfile::tempdir().unwrap();
            check(crate::store::test_sqlite(&dir).await).await;
        }

        /// The statements differ by backend (placeholders, statement sizes): run on both.
        #[tokio::test]
        async fn postgres() {
            let Ok(base) = std::env::var("HOOKLINE_TEST_DATABASE_URL") else {
                assert!(
                    std::env::var("HOOKLINE_REQUIRE_POSTGRES").is_err(),
                    "HOOKLINE_REQUIRE_POSTGRES is set but HOOKLINE_TEST_DATABASE_URL is not"
                );
                eprintln!("SKIPPED (PostgreSQL): chats_group — set HOOKLINE_TEST_DATABASE_URL to run it");
                return;
            };
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&base).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = crate::secrets::Secret::new(format!("{base}{sep}options=-c%20search_path%3D{schema}"));
            let store = Store::connect(&DatabaseConfig::Postgres { url }, SqliteSync::Normal)
                .await
                .unwrap();
            check(store).await;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
        }
    }

    /// One account with one bot that echoes every text.
    pub(in crate::store) async fn echo_bot(store: &Store) -> BotCtx {
        let account = store.create_account("A").await.unwrap();
        let bot = store.create_bot(account.id, "B", None, true).await.unwrap();
        let doc = serde_json::json!({"start_step": "echo", "steps": {"echo": {"message": {"text": "got {{last}}"},
            "expected_input": {"type": "text", "variable": "last"}, "next_step": "echo"}}});
        BotCtx {
            bot_id: bot.id,
            account_id: account.id,
            platform: crate::platforms::telegram::offline(),
            scenario: Some(Arc::new(crate::scenario::Scenario::compile(&doc).unwrap().0)),
        }
    }

    async fn check(store: Store) {
        store.migrate().await.unwrap();
        let ctx = echo_bot(&store).await;
        let first = first_group_writes_and_publishes(&store, &ctx).await;
        sent_marks_alone(&store, &first).await;
        stale_versions_and_repeats_fall_back_one_by_one(&store, &ctx).await;
        let (sent, unsent) = replies_wait_behind_older_ones(&store, &ctx).await;
        retention_keeps_what_is_pending(&store, &ctx, &sent, unsent).await;
    }

    /// Five new dialogs in one group, on a held connection; their events are published in the
    /// same commit.
    async fn first_group_writes_and_publishes(store: &Store, ctx: &BotCtx) -> Vec<ChatWrite> {
        let (store, ctx) = (store.clone(), ctx.clone());
        let (account, bot) = (ctx.account_id, ctx.bot_id);
        // An endpoint of the account that subscribes to one of the events the bot publishes.
        let endpoint = new_id();
        on_db!(&store.db, write pool => {
            sqlx::query("INSERT INTO webhook_endpoints (id, account_id, url, event_types, labels, headers, timeout_ms, metadata,
                                                        secret, created_at, updated_at)
                         VALUES ($1, $2, 'https://example.com/', $3, $4, $5, 1000, $5, $6, 0, 0)")
                .bind(endpoint).bind(account).bind(sqlx::types::Json(["message.received"]))
                .bind(sqlx::types::Json(Vec::<String>::new())).bind(sqlx::types::Json(serde_json::json!({})))
                .bind(vec![0u8]).execute(pool).await.map(|_| ())
        })
        .unwrap();

        let mut first = Vec::new();
        for chat in 1..=5 {
            first.push(write(&store, &ctx, chat, chat).await);
        }
        let refs: Vec<&ChatWrite> = first.iter().collect();
        // On a held connection, as the committer runs it; given back before the reads below.
        let mut held = store.hold_writer().await.unwrap();
        let behind = store
            .apply_group_at_once(Some(&mut held), &refs, &[], &[], now_ms())
            .await
            .unwrap();
        assert_eq!(behind, Some(HashSet::new()), "new chats: no reply waits behind another");
        drop(held);
        for (chat, w) in (1..=5).zip(&first) {
            let dialog = snapshot(&store, &ctx, chat).await.expect("dialog written");
            assert_eq!(dialog.version, 1);
            let history = store
                .dialog_history(dialog.id, Page { limit: 10, after: None })
                .await
                .unwrap();
            assert_eq!(history.len(), w.history.len(), "chat {chat}");
            assert!(!w.outbox.is_empty());
            for o in &w.outbox {
                assert_eq!(store.outbox_status(o.id).await.unwrap().as_deref(), Some("pending"));
            }
            assert!(store.inbox_result(bot, "telegram", chat).await.unwrap().is_some());
        }
        // Their events were published in the same commit, with a delivery each to the endpoint
        // that subscribes, and the delivery workers were told.
        let events = store.bot_events(bot, 100).await.unwrap();
        assert_eq!(events.len(), first.iter().map(|w| w.events.len()).sum::<usize>());
        let received = events.iter().filter(|(t, _)| t == "message.received").count();
        assert!(received >= 5 && received < events.len(), "{events:?}");
        let deliveries: i64 = on_db!(&store.db, read pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'")
                .bind(endpoint).fetch_one(pool).await
        })
        .unwrap();
        assert_eq!(deliveries as usize, received);
        let woken = store.deliveries_notify();
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(100), woken.notified())
                .await
                .is_ok(),
            "the commit woke the delivery workers"
        );

        first
    }

    async fn sent_marks_alone(store: &Store, first: &[ChatWrite]) {
        let sent = first[0].outbox[0].id;
        assert!(
            store
                .apply_group_at_once::<crate::platforms::PlatformCall>(None, &[], &[(sent, "{}".into())], &[], now_ms())
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.outbox_status(sent).await.unwrap().as_deref(), Some("sent"));
    }

    async fn stale_versions_and_repeats_fall_back_one_by_one(store: &Store, ctx: &BotCtx) {
        let (store, ctx, bot) = (store.clone(), ctx.clone(), ctx.bot_id);
        // A group with one stale dialog version writes nothing at all...
        let mut second = Vec::new();
        for chat in 1..=4 {
            second.push(write(&store, &ctx, chat, 100 + chat).await);
        }
        store
            .apply_chat_write(&write(&store, &ctx, 4, 200).await)
            .await
            .unwrap(); // chat 4 moves on
        let refs: Vec<&ChatWrite> = second.iter().collect();
        assert!(
            store
                .apply_group_at_once(None, &refs, &[], &[], now_ms())
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(snapshot(&store, &ctx, 1).await.unwrap().version, 1, "rolled back");
        assert!(store.inbox_result(bot, "telegram", 101).await.unwrap().is_none());
        // ...and the one-by-one path then tells each write its answer.
        let results = store.apply_chat_writes(&refs, &[]).await.unwrap();
        let answers: Vec<_> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, vec![done(), done(), done(), Applied::Conflict]);
        assert_eq!(snapshot(&store, &ctx, 1).await.unwrap().version, 2);

        // A repeated update in a group is found the same way.
        let again = write(&store, &ctx, 5, 5).await;
        let fresh = write(&store, &ctx, 6, 6).await;
        assert!(
            store
                .apply_group_at_once(None, &[&fresh, &again], &[], &[], now_ms())
                .await
                .unwrap()
                .is_none()
        );
        let answers: Vec<_> = store
            .apply_chat_writes(&[&fresh, &again], &[])
            .await
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(answers, vec![done(), Applied::Duplicate]);
    }

    /// Returns chat 7's sent replies and chat 8's unsent one.
    async fn replies_wait_behind_older_ones(store: &Store, ctx: &BotCtx) -> (Vec<(Uuid, String)>, Uuid) {
        let (store, ctx) = (store.clone(), ctx.clone());
        // Chats 7 and 8 get replies; chat 7's are sent, chat 8's are not. In the next group,
        // chat 7's new replies head its chat, chat 8's wait behind the older one.
        let (seven, eight) = (write(&store, &ctx, 7, 7).await, write(&store, &ctx, 8, 8).await);
        let answers = store.apply_chat_writes(&[&seven, &eight], &[]).await.unwrap();
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Ok(Applied::Done { in_order: true }))),
            "{answers:?}"
        );
        let sent: Vec<(Uuid, String)> = seven.outbox.iter().map(|o| (o.id, "{}".to_string())).collect();
        let unsent = eight.outbox[0].id;
        let (seven, eight) = (write(&store, &ctx, 7, 17).await, write(&store, &ctx, 8, 18).await);
        let answers: Vec<_> = store
            .apply_chat_writes(&[&seven, &eight], &sent)
            .await
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            answers,
            vec![Applied::Done { in_order: true }, Applied::Done { in_order: false }],
            "the sent marks of the same group count"
        );

        (sent, unsent)
    }

    async fn retention_keeps_what_is_pending(store: &Store, ctx: &BotCtx, sent: &[(Uuid, String)], unsent: Uuid) {
        let (store, ctx, bot) = (store.clone(), ctx.clone(), ctx.bot_id);
        // Retention: finished rows made before the cutoff go (in chunks); a reply not yet sent
        // stays however old, and younger rows stay.
        let cutoff = now_ms() + 1;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store.apply_chat_write(&write(&store, &ctx, 9, 9).await).await.unwrap();
        let mut removed = 0;
        loop {
            let n = store.remove_chat_rows_older_than(cutoff, 2).await.unwrap();
            assert!(n <= 4, "at most a chunk per table, got {n}");
            if n == 0 {
                break;
            }
            removed += n;
        }
        assert!(removed > 10, "{removed}");
        assert!(
            store.inbox_result(bot, "telegram", 1).await.unwrap().is_none(),
            "old: removed"
        );
        assert!(
            store.inbox_result(bot, "telegram", 9).await.unwrap().is_some(),
            "young: kept"
        );
        assert_eq!(
            store.outbox_status(sent[0].0).await.unwrap(),
            None,
            "sent and old: removed"
        );
        assert_eq!(store.outbox_status(unsent).await.unwrap().as_deref(), Some("pending"));
    }

    /// What the one-by-one path answers for a write it applied (it does not check the order).
    fn done() -> Applied {
        Applied::Done { in_order: false }
    }

    #[test]
    fn statements_take_as_many_parameters_as_their_rows_bind() {
        for (sql, per_row) in [
            (insert_inbox(Style::Question, 3), 10),
            (insert_dialogs(Style::Question, 3), 11),
            (update_dialogs(Style::Question, 3), 8),
            (insert_history(Style::Question, 3), 5),
            (insert_outbox(Style::Question, 3), 8),
            (mark_sent(Style::Question, 3), 4),
            (replies_behind(Style::Question, 3), 4),
        ] {
            assert_eq!(sql.matches('?').count(), 3 * per_row, "{sql}");
        }
        let d = update_dialogs(Style::Dollar, 2);
        assert!(
            d.contains("($1,$2,$3,$4,$5,$6,$7,$8),($9,$10,$11,$12,$13,$14,$15,$16)"),
            "{d}"
        );
        assert!(!d.contains("$17"));
    }

    #[test]
    fn chunks_cover_every_row_in_order() {
        let items: Vec<usize> = (0..150).collect();
        let joined = |parts: &[rows::Part<'_, usize>]| parts.iter().flat_map(|p| p.items.to_vec()).collect::<Vec<_>>();
        // SQLite: full statements, then the rest in one statement padded to a power of two.
        let parts = chunks(Style::Question, &items, 10, |_| 10);
        assert_eq!(
            parts.iter().map(|p| (p.items.len(), p.rows)).collect::<Vec<_>>(),
            vec![(64, 64), (64, 64), (22, 32)]
        );
        assert_eq!(parts[2].padding(10), 100, "ten NULL rows of ten parameters");
        assert_eq!(joined(&parts), items);
        // PostgreSQL: no padding; large rows go in small statements.
        let parts = chunks(Style::Dollar, &items, 10, |_| 4_000);
        assert!(
            parts.iter().all(|p| p.items.len() <= 2 && p.rows == p.items.len()),
            "{:?}",
            parts.iter().map(|p| p.items.len()).collect::<Vec<_>>()
        );
        assert_eq!(joined(&parts), items);
        assert!(chunks(Style::Question, &[] as &[u8], 3, |_| 1).is_empty());
    }

    /// A group whose commit landed but whose answer was lost is applied again write by write:
    /// each write must find its own rows and answer done, not "duplicate" (which would leave
    /// its replies unsent until their lease runs out).
    #[tokio::test]
    async fn a_group_retried_after_a_lost_commit_answer_finds_its_own_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::test_sqlite(&dir).await;
        let ctx = echo_bot(&store).await;
        let bot = ctx.bot_id;
        let (a, b) = (write(&store, &ctx, 1, 10).await, write(&store, &ctx, 2, 11).await);
        store.faults.lose_commit_confirmations(1);
        let answers = store.apply_chat_writes(&[&a, &b], &[]).await.unwrap();
        let answers: Vec<Applied> = answers.into_iter().map(Result::unwrap).collect();
        assert!(
            answers.iter().all(|a| matches!(a, Applied::Done { .. })),
            "its own commit read as a duplicate: {answers:?}"
        );
        // Written once: one reply per update.
        for chat in ["1", "2"] {
            assert!(store.outbox_head(bot, "telegram", chat).await.unwrap().is_some());
        }
        let crate::store::Db::Sqlite { read, .. } = &store.db else {
            unreachable!()
        };
        let replies: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(read)
            .await
            .unwrap();
        assert_eq!(replies, 2);
    }
}
