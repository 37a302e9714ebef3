//! The inbound flow's shell: an acknowledged update (or a fired timer) is planned by the pure
//! [`plan`] and applied by the store in one transaction; replies then leave from the durable
//! outbox ([`sender`]); timers and retries are driven by [`workers`].
//!
//! Ordering: one chat's inputs are processed one at a time, in arrival order, behind a per-chat
//! lock in this process; across nodes the dialog's version makes a concurrent write fail and be
//! re-planned. Chats never wait for each other.

pub mod committer;
pub mod downloads;
mod emits;
mod error;
pub mod isolate;
pub mod locks;
pub mod plan;
pub mod sender;
pub mod snapshots;
mod window;
pub mod workers;

use crate::model::ids::{AccountId, BotId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::config::Config;
use crate::platforms::{EventType, Inbound, Platform, PlatformCall, Platforms};
use crate::scenario::{Context, DialogState, Scenario};
use crate::secrets::Cipher;
use crate::store::{Applied, Store, StoreError, new_id, now_ms};
pub use error::ProcessError;
use locks::ChatLocks;
use plan::{BotCtx, DialogSnapshot, Item, UpdateResult};

/// Scenario documents compiled once per version and platform (versions are immutable, so
/// entries never go stale; each platform escapes interpolated values for its own markup).
#[derive(Default)]
pub struct ScenarioCache {
    compiled: Mutex<HashMap<(Uuid, &'static str), Arc<Scenario>>>,
    limits: Option<crate::scenario::Limits>,
}

impl ScenarioCache {
    const MAX: usize = 1024;

    /// The bot's active scenario, compiled for `platform`.
    pub async fn active(
        &self,
        store: &Store,
        bot_id: BotId,
        platform: &dyn Platform,
    ) -> Result<Option<Arc<Scenario>>, ProcessError> {
        let Some(id) = store.active_scenario_id(bot_id).await? else {
            return Ok(None);
        };
        let key = (id, platform.name());
        if let Some(hit) = self.compiled.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(Some(hit));
        }
        let Some(record) = store.get_scenario(id).await? else {
            return Ok(None);
        };
        // Parsing and compiling are CPU work (bounded by the scenario limits): off the async workers.
        let compiled = tokio::task::spawn_blocking(move || {
            let doc: serde_json::Value =
                serde_json::from_str(&record.scenario_data).map_err(|e| ProcessError::BadScenario {
                    id,
                    why: format!("not JSON: {e}"),
                })?;
            Ok::<_, ProcessError>(Scenario::compile(&doc))
        })
        .await
        .map_err(|e| ProcessError::BadScenario {
            id,
            why: format!("compiling failed: {e}"),
        })??;
        // Stored versions passed validation at upload; a failure here means the engine changed.
        let scenario = match compiled {
            // Interpolated values are escaped for the platform's markup.
            Ok((s, _)) => Arc::new(
                match &self.limits {
                    Some(limits) => s.with_limits(*limits),
                    None => s,
                }
                .with_text_escape(platform.text_escape())
                .with_typed_choices(platform.typed_choices()),
            ),
            Err(problems) => {
                tracing::error!(scenario_id = %id, problems = problems.len(), "stored scenario no longer compiles");
                return Ok(None);
            }
        };
        if let Ok(mut map) = self.compiled.lock() {
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.insert(key, scenario.clone());
        }
        Ok(Some(scenario))
    }
}

/// What processing one update produced.
#[derive(Debug)]
pub struct Processed {
    pub result: UpdateResult,
    /// True when the update had already been processed (a redelivery).
    pub duplicate: bool,
    /// The replies this update queued, leased to this node to send now, in order.
    pub planned: Vec<(Uuid, PlatformCall)>,
    /// The commit found no older unsent reply in the chat: `planned` can go out at once.
    pub in_order: bool,
}

/// Shared by the webhook handlers and the workers.
pub struct Runtime {
    pub store: Store,
    pub cipher: Cipher,
    /// The platforms bots talk through, by name.
    pub platforms: Platforms,
    pub config: Arc<Config>,
    pub scenarios: ScenarioCache,
    chat_locks: ChatLocks,
    pub(crate) send_locks: ChatLocks,
    /// Wakes the timer worker when a new timer may be due sooner than it planned.
    pub timers_changed: tokio::sync::Notify,
    /// Wakes the download worker when a user's file is waiting.
    pub downloads_waiting: tokio::sync::Notify,
    /// This process's name in leases.
    pub node_id: String,
    /// Bots' files, for scenario media sent by alias.
    pub media: crate::media::MediaLibrary,
    /// Group commit of chat writes.
    committer: committer::Committer,
    /// Dialogs as this node last wrote them (see [`snapshots`]).
    snapshots: snapshots::Snapshots,
}

/// How many times a write is re-planned after another node changed the dialog.
const MAX_REPLANS: usize = 8;

impl Runtime {
    /// The parts registering a platform's webhooks takes; `None` for a platform this process
    /// does not serve.
    pub fn registrar(&self, platform: &str) -> Option<crate::platforms::registration::Registrar<'_>> {
        Some(crate::platforms::registration::Registrar {
            store: &self.store,
            cipher: &self.cipher,
            platform: self.platforms.get(platform)?.as_ref(),
            public_url: self.config.public_url.as_deref(),
            node_id: &self.node_id,
        })
    }

    /// Record the webhook's answer to an update unless one is recorded already (with other
    /// answers and chat writes of the moment, in one commit), and return the recorded one.
    pub async fn record_answer(
        &self,
        bot_id: BotId,
        platform: &str,
        update_id: i64,
        answer: String,
    ) -> Result<Option<String>, ProcessError> {
        self.committer
            .record_answer(crate::store::InboxAnswer {
                bot_id,
                platform: platform.to_string(),
                update_id,
                answer,
            })
            .await?;
        Ok(self.store.inbox_answer(bot_id, platform, update_id).await?)
    }

    /// The adapter of a platform this process serves.
    pub fn platform(&self, name: &str) -> Result<&Arc<dyn Platform>, ProcessError> {
        self.platforms.get(name).ok_or(ProcessError::UnknownPlatform)
    }
}

impl Runtime {
    pub fn new(
        store: Store,
        cipher: Cipher,
        config: Arc<Config>,
        media: crate::media::MediaLibrary,
        platforms: Platforms,
    ) -> anyhow::Result<Arc<Runtime>> {
        let limits = crate::scenario::Limits {
            duplicate_window_ms: config.dialog_duplicate_window_ms,
            rate_max: config.dialog_inputs_per_minute,
            ..crate::scenario::Limits::default()
        };
        let committer =
            committer::Committer::start(&store).map_err(|e| anyhow::anyhow!("cannot start the chat committer: {e}"))?;
        Ok(Arc::new(Runtime {
            store,
            cipher,
            platforms,
            config,
            scenarios: ScenarioCache {
                compiled: Mutex::default(),
                limits: Some(limits),
            },
            chat_locks: ChatLocks::default(),
            send_locks: ChatLocks::default(),
            timers_changed: tokio::sync::Notify::new(),
            downloads_waiting: tokio::sync::Notify::new(),
            node_id: new_id().to_string(),
            media,
            committer,
            snapshots: snapshots::Snapshots::default(),
        }))
    }

    async fn bot_ctx(&self, bot_id: BotId, account_id: AccountId, platform: &str) -> Result<BotCtx, ProcessError> {
        let platform = self.platform(platform)?.clone();
        Ok(BotCtx {
            bot_id,
            account_id,
            scenario: self.scenarios.active(&self.store, bot_id, platform.as_ref()).await?,
            platform,
        })
    }

    /// Process one acknowledged-to-be update: plan and apply it under the chat's lock.
    /// The store's unique inbox key makes a redelivered update a no-op that returns the
    /// original answer.
    pub async fn process_update(
        &self,
        bot_id: BotId,
        account_id: AccountId,
        platform: &str,
        parsed: Inbound,
        body: Vec<u8>,
    ) -> Result<Processed, ProcessError> {
        let ctx = self.bot_ctx(bot_id, account_id, platform).await?;
        let platform = ctx.platform.name();
        let chat_id = parsed.chat().to_string();
        let _guard = self.chat_locks.lock(bot_id, &chat_id).await;
        if let Some(to) = parsed.moved_to_chat.as_deref().filter(|_| !chat_id.is_empty()) {
            // The chat moved (a group became a supergroup): the conversation continues there.
            let _new_chat = self.chat_locks.lock(bot_id, to).await;
            self.snapshots.forget(bot_id, platform, &chat_id);
            self.snapshots.forget(bot_id, platform, to);
            self.store.migrate_chat(bot_id, platform, &chat_id, to).await?;
        }
        let mut parsed = parsed;
        if self.is_old_keyboard(bot_id, platform, &chat_id, &parsed).await? {
            parsed.event_type = EventType::CallbackStale;
        }
        let inbox_id = new_id();
        for _ in 0..MAX_REPLANS {
            // Inside the loop: another chat may record the same file meanwhile (a conflict).
            let mut this = parsed.clone();
            let media = self.prepare_media(bot_id, platform, &mut this).await?.map(Box::new);
            let item = Item::Update {
                inbox_id,
                body: body.clone(),
                parsed: Box::new(this),
                media,
            };
            let snapshot = self.current(bot_id, platform, &chat_id).await?;
            let mut write = isolate::plan_or_skip(&ctx, &chat_id, snapshot, item, now_ms());
            emits::drop_refused(&self.store, account_id, &mut write.events).await?;
            let after = snapshots::after(&write.dialog);
            // This request sends the replies itself right after the commit (see `send_planned`).
            write.lease_outbox_until = Some(now_ms() + self.reply_lease_ms());
            let planned: Vec<(Uuid, PlatformCall)> = write.outbox.iter().map(|o| (o.id, o.call.clone())).collect();
            let timer_set = matches!(write.timer, plan::TimerChange::Set { .. });
            let has_media = write.media.is_some();
            let result = write
                .inbox
                .first()
                .and_then(|r| serde_json::from_value::<UpdateResult>(r.result.clone()).ok())
                .ok_or(ProcessError::Inconsistent("a planned write lost its result"))?;
            match self.committer.apply(write).await? {
                Applied::Done { in_order } => {
                    if let Some(after) = after {
                        self.snapshots.put(bot_id, platform, &chat_id, after);
                    }
                    if timer_set {
                        self.timers_changed.notify_one();
                    }
                    if has_media {
                        self.downloads_waiting.notify_one();
                    }
                    return Ok(Processed {
                        result,
                        duplicate: false,
                        planned,
                        in_order,
                    });
                }
                Applied::Duplicate => {
                    let previous = self.previous_result(bot_id, platform, parsed.update_id).await?;
                    let result = previous.ok_or(ProcessError::Inconsistent(
                        "a duplicate update without its first answer",
                    ))?;
                    return Ok(Processed {
                        result,
                        duplicate: true,
                        planned: Vec::new(),
                        in_order: false,
                    });
                }
                Applied::Conflict => continue,
            }
        }
        Err(ProcessError::Contention)
    }

    /// Fire a timer: an auto transition of the chat's dialog.
    pub async fn process_tick(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
        token: u64,
    ) -> Result<(), ProcessError> {
        let Some(bot) = self.store.get_bot(bot_id).await? else {
            return Ok(());
        };
        let _guard = self.chat_locks.lock(bot_id, chat_id).await;
        let ctx = self.bot_ctx(bot_id, bot.account_id, platform).await?;
        for _ in 0..MAX_REPLANS {
            let snapshot = self.current(bot_id, platform, chat_id).await?;
            let item = Item::Tick {
                inbox_id: new_id(),
                token,
            };
            let mut write = isolate::plan_or_skip(&ctx, chat_id, snapshot, item, now_ms());
            emits::drop_refused(&self.store, bot.account_id, &mut write.events).await?;
            let after = snapshots::after(&write.dialog);
            let applied = self.committer.apply(write).await?;
            if let (Applied::Done { .. }, Some(after)) = (&applied, after) {
                self.snapshots.put(bot_id, platform, chat_id, after);
            }
            match applied {
                Applied::Done { .. } | Applied::Duplicate => {
                    // A stale tick leaves its timer row behind; remove it unless a newer one replaced it.
                    self.store.clear_timer_if(bot_id, platform, chat_id, token).await?;
                    return Ok(());
                }
                Applied::Conflict => continue,
            }
        }
        Err(ProcessError::Contention)
    }

    /// A button pressed on a keyboard that is not the chat's newest one sent: the dialog has
    /// moved on since (or the same keyboard was pressed twice), so acting on it would advance
    /// the dialog from the wrong step. With no keyboard on record, or the newest not yet marked
    /// sent, the engine decides.
    async fn is_old_keyboard(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
        parsed: &Inbound,
    ) -> Result<bool, StoreError> {
        let pressed = parsed.choice.as_ref().and_then(|c| c.message_id.as_deref());
        let (EventType::CallbackReceived, Some(pressed)) = (parsed.event_type, pressed) else {
            return Ok(false);
        };
        let Some((status, response)) = self.store.newest_keyboard(bot_id, platform, chat_id).await? else {
            return Ok(false);
        };
        if status != "sent" {
            // Not known to be sent (the platform may have accepted it a moment ago and its mark not
            // be committed yet): its message id is unknown, so nothing can be told apart.
            return Ok(false);
        }
        // Message ids as the platform gave them: numbers (Telegram) or strings.
        let ids: Vec<serde_json::Value> = response
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
            .and_then(|r| serde_json::from_value(r["message_ids"].clone()).ok())
            .unwrap_or_default();
        Ok(!ids.iter().any(|id| match id {
            serde_json::Value::String(s) => s == pressed,
            other => other.as_i64().is_some_and(|n| pressed.parse() == Ok(n)),
        }))
    }

    async fn previous_result(
        &self,
        bot_id: BotId,
        platform: &str,
        update_id: i64,
    ) -> Result<Option<UpdateResult>, StoreError> {
        Ok(self
            .store
            .inbox_result(bot_id, platform, update_id)
            .await?
            .and_then(|r| r.result)
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// The chat's dialog: the snapshot this node committed last, or the store's.
    async fn current(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
    ) -> Result<Option<DialogSnapshot>, StoreError> {
        match self.snapshots.take(bot_id, platform, chat_id) {
            Some(hit) => Ok(Some(hit)),
            None => self.snapshot(bot_id, platform, chat_id).await,
        }
    }

    async fn snapshot(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
    ) -> Result<Option<DialogSnapshot>, StoreError> {
        if chat_id.is_empty() {
            return Ok(None);
        }
        let Some(row) = self.store.get_dialog_by_chat(bot_id, platform, chat_id).await? else {
            return Ok(None);
        };
        let state: DialogState = serde_json::from_str(&row.state)
            .map_err(|e| StoreError::Corrupt(format!("dialog {} has an unreadable state: {e}", row.id)))?;
        let context: Context = serde_json::from_str(&row.context).unwrap_or_default();
        Ok(Some(DialogSnapshot {
            id: row.id,
            state,
            context,
            version: row.version,
        }))
    }
}
