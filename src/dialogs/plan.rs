//! The pure middle of the inbound flow: given a chat's dialog as stored and the inputs that
//! arrived (a platform update, or a timer tick), run the scenario engine and describe every
//! durable effect as data — one [`ChatWrite`] the store applies in a single transaction.
//!
//! No I/O and no clock here: the shell passes `now` and ids in, so the same snapshot and inputs
//! always plan the same write.

use crate::model::ids::{AccountId, BotId, DialogId};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::platforms::{Choice, EventType, Inbound, Platform, PlatformCall};
use crate::scenario::{Action, Context, DialogState, Input, OutMessage, OutcomeKind, Scenario, step};
use crate::store::{IncomingRow, STATUS_PENDING};

/// The bot whose chat is being processed, and the platform the chat is on (whose pure
/// rendering the planner uses).
#[derive(Clone)]
pub struct BotCtx {
    pub bot_id: BotId,
    pub account_id: AccountId,
    pub platform: Arc<dyn Platform>,
    /// The active scenario; `None` when the bot has none (updates are recorded, nothing sent).
    pub scenario: Option<Arc<Scenario>>,
}

/// A dialog as stored.
#[derive(Clone, Debug)]
pub struct DialogSnapshot {
    pub id: DialogId,
    pub state: DialogState,
    pub context: Context,
    pub version: i64,
}

/// One input to process.
#[derive(Clone, Debug)]
pub enum Item {
    /// A platform update; its inbox row is inserted by this write.
    Update {
        inbox_id: Uuid,
        body: Vec<u8>,
        parsed: Box<Inbound>,
        /// The library's record of the file the update carries, if any.
        media: Option<Box<UpdateMedia>>,
    },
    /// A durable timer fired for the chat's pending auto transition.
    Tick { inbox_id: Uuid, token: u64 },
}

/// The library's record of a file an update carries, looked up by the shell before planning.
#[derive(Clone, Debug)]
pub struct UpdateMedia {
    /// The row to insert with the update when the file is new to the bot.
    pub insert: Option<IncomingRow>,
    /// What `media.received` tells of the library's copy (`media_id`, `status`, …).
    pub fields: Value,
}

pub use crate::store::chat_write::{DialogChange, NewEvent, NewInbox, TimerChange};
/// A chat write whose replies are the platform's calls.
pub type ChatWrite = crate::store::chat_write::ChatWrite<PlatformCall>;
pub type NewOutbox = crate::store::chat_write::NewOutbox<PlatformCall>;

/// What the webhook answers for an update (the success answer's `data`, less timing).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UpdateResult {
    pub update_id: i64,
    pub bot_id: BotId,
    pub platform_chat_id: Option<String>,
    pub event_type: String,
    /// Outbox rows this update produced, in send order.
    #[serde(default)]
    pub outbox: Vec<Uuid>,
    /// Why nothing was sent when that is notable (no active scenario, duplicate input, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Ids the planner needs; passed in so planning stays deterministic.
pub trait IdSource {
    fn next_id(&mut self) -> Uuid;
}

impl<F: FnMut() -> Uuid> IdSource for F {
    fn next_id(&mut self) -> Uuid {
        self()
    }
}

/// Plan the write for `items` (in order) on the chat whose dialog is `dialog`.
pub fn plan(
    bot: &BotCtx,
    chat_id: &str,
    dialog: Option<DialogSnapshot>,
    items: Vec<Item>,
    now_ms: i64,
    ids: &mut impl IdSource,
) -> ChatWrite {
    let mut write = ChatWrite {
        bot_id: bot.bot_id,
        account_id: bot.account_id,
        platform: bot.platform.name(),
        chat_id: chat_id.to_string(),
        inbox: Vec::new(),
        dialog: DialogChange::Unchanged,
        history: Vec::new(),
        outbox: Vec::new(),
        events: Vec::new(),
        timer: TimerChange::Unchanged,
        media: None,
        lease_outbox_until: None,
        scheduled_at: None,
    };
    let original = dialog.clone();
    let mut progress = Progress {
        current: dialog.map(|d| (d.id, d.state, d.context)),
        touched: false,
        interacted: false,
    };
    for item in items {
        match item {
            Item::Update {
                inbox_id,
                body,
                parsed,
                media,
            } => {
                let update = Update {
                    inbox_id,
                    body,
                    parsed: *parsed,
                    media,
                };
                plan_update(bot, chat_id, update, &mut progress, &mut write, now_ms, ids);
            }
            Item::Tick { inbox_id, token } => {
                plan_tick(bot, chat_id, inbox_id, token, &mut progress, &mut write, now_ms, ids);
            }
        }
    }
    if progress.touched {
        settle_dialog(&mut write, original.as_ref(), progress);
    }
    write
}

/// The dialog as planning goes through a chat's inputs.
struct Progress {
    current: Option<(DialogId, DialogState, Context)>,
    /// The engine ran at least once: the dialog row is written.
    touched: bool,
    /// A user's input (not only a timer) reached the engine.
    interacted: bool,
}

/// One platform update, taken apart.
struct Update {
    inbox_id: Uuid,
    body: Vec<u8>,
    parsed: Inbound,
    media: Option<Box<UpdateMedia>>,
}

/// An update: its event, then (for an input the engine takes) the step, then its inbox row
/// with the answer.
fn plan_update(
    bot: &BotCtx,
    chat_id: &str,
    update: Update,
    progress: &mut Progress,
    write: &mut ChatWrite,
    now_ms: i64,
    ids: &mut impl IdSource,
) {
    let Update {
        inbox_id,
        body,
        parsed,
        media,
    } = update;
    let mut result = UpdateResult {
        update_id: parsed.update_id,
        bot_id: bot.bot_id,
        platform_chat_id: parsed.chat_id.clone(),
        event_type: parsed.event_type.as_str().to_string(),
        outbox: Vec::new(),
        note: None,
    };
    record_update_event(bot, &parsed, &body, media, write);
    if let (EventType::CallbackStale, Some(choice)) = (parsed.event_type, &parsed.choice) {
        // An old keyboard: stop the spinner, and nothing else.
        let before = write.outbox.len();
        if let Some(call) = bot.platform.acknowledge(choice, None) {
            write.outbox.push(NewOutbox {
                id: ids.next_id(),
                call,
            });
        }
        result.outbox = write.outbox[before..].iter().map(|o| o.id).collect();
        result.note = Some("a button of an old keyboard; the dialog did not move".into());
    } else if let (Some(input), Some(chat)) = (parsed.input.clone(), parsed.chat_id.as_deref()) {
        match &bot.scenario {
            None => result.note = Some("the bot has no active scenario".into()),
            Some(scenario) => {
                let before = write.outbox.len();
                let turn = Turn {
                    scenario,
                    chat,
                    input,
                    parsed: &parsed,
                };
                if step_input(bot, chat_id, turn, progress, write, now_ms, ids) {
                    result.note = Some("duplicate input ignored".into());
                }
                result.outbox = write.outbox[before..].iter().map(|o| o.id).collect();
            }
        }
    }
    write.inbox.push(NewInbox {
        id: inbox_id,
        update_id: Some(parsed.update_id),
        kind: "update",
        body,
        result: serde_json::to_value(&result).unwrap_or(Value::Null),
    });
}

/// The update's own event (`message.received`, …), with the library's record of a file it
/// carries; a new file's `media.received` waits for its bytes, so it can say where they are.
fn record_update_event(
    bot: &BotCtx,
    parsed: &Inbound,
    body: &[u8],
    media: Option<Box<UpdateMedia>>,
    write: &mut ChatWrite,
) {
    let mut payload = update_event_payload(bot, parsed);
    if let (Some(error), Value::Object(map)) = (&parsed.parse_error, &mut payload) {
        map.insert("error".into(), json!(error));
        map.extend(kept_body(body));
    }
    let mut announced_later = false;
    if let Some(media) = media {
        if let Some(Value::Object(m)) = payload.get_mut("media")
            && let Value::Object(fields) = media.fields
        {
            m.extend(fields);
        }
        if let Some(mut row) = media.insert {
            if row.media.status == STATUS_PENDING && parsed.event_type == EventType::MediaReceived {
                row.announce = Some(payload.clone());
                announced_later = true;
            }
            write.media = Some(row);
        }
    }
    if !announced_later {
        write.events.push(NewEvent {
            event_type: parsed.event_type.as_str().to_string(),
            payload,
        });
    }
}

/// A user's input the engine takes.
struct Turn<'a> {
    scenario: &'a Scenario,
    chat: &'a str,
    input: Input,
    parsed: &'a Inbound,
}

/// Run the engine on a user's input: stop a button's spinner first, remove the pressed
/// keyboard, carry out the outcome. Returns whether the engine took it for a duplicate.
fn step_input(
    bot: &BotCtx,
    chat_id: &str,
    turn: Turn<'_>,
    progress: &mut Progress,
    write: &mut ChatWrite,
    now_ms: i64,
    ids: &mut impl IdSource,
) -> bool {
    let Turn {
        scenario,
        chat,
        input,
        parsed,
    } = turn;
    let ctx = context_of(bot, chat_id, parsed);
    if let Some(call) = bot.platform.mark_seen(parsed) {
        // The user sees their message was read before the answer arrives.
        write.outbox.push(NewOutbox {
            id: ids.next_id(),
            call,
        });
    }
    if let Some(call) = parsed.choice.as_ref().and_then(|c| bot.platform.acknowledge(c, None)) {
        // Stop the client's spinner first, whatever the engine decides.
        write.outbox.push(NewOutbox {
            id: ids.next_id(),
            call,
        });
    }
    write.history.push(("user", user_history(&input, parsed)));
    let outcome = step(scenario, progress.current.as_ref().map(|c| &c.1), &input, &ctx, now_ms);
    let duplicate = matches!(outcome.kind, OutcomeKind::Duplicate);
    if let (Some(choice), false) = (&parsed.choice, duplicate)
        && let Some(call) = bot.platform.retire_keyboard(chat, choice)
    {
        write.outbox.push(NewOutbox {
            id: ids.next_id(),
            call,
        });
    }
    apply_outcome(bot, chat, &ctx, outcome.actions, write, ids, parsed.choice.as_ref());
    progress.current = next_dialog(progress.current.take(), outcome.state, ctx, ids);
    progress.touched = true;
    progress.interacted = true;
    duplicate
}

/// A timer fired: the dialog's pending automatic transition, unless it is stale.
#[allow(clippy::too_many_arguments)]
fn plan_tick(
    bot: &BotCtx,
    chat_id: &str,
    inbox_id: Uuid,
    token: u64,
    progress: &mut Progress,
    write: &mut ChatWrite,
    now_ms: i64,
    ids: &mut impl IdSource,
) {
    let mut note = None;
    if let (Some(scenario), Some((id, state, ctx))) = (&bot.scenario, progress.current.clone()) {
        write
            .history
            .push(("user", json!({ "type": "auto", "input": "@AUTO_TRANSITION@" })));
        let outcome = step(scenario, Some(&state), &Input::AutoTick { token }, &ctx, now_ms);
        if matches!(outcome.kind, OutcomeKind::Ignored) {
            write.history.pop();
            note = Some("stale timer ignored".to_string());
        } else {
            apply_outcome(bot, chat_id, &ctx, outcome.actions, write, ids, None);
            progress.current = next_dialog(Some((id, state, ctx.clone())), outcome.state, ctx, ids);
            progress.touched = true;
        }
    } else {
        note = Some("no dialog or scenario for the timer".to_string());
    }
    write.inbox.push(NewInbox {
        id: inbox_id,
        update_id: None,
        kind: "tick",
        body: token.to_string().into_bytes(),
        result: json!({ "token": token.to_string(), "note": note }),
    });
}

/// The dialog row and the timer after the engine ran: deleted, or written with the version
/// it was read at, and the pending automatic transition's timer set or cleared.
fn settle_dialog(write: &mut ChatWrite, original: Option<&DialogSnapshot>, progress: Progress) {
    write.dialog = match (original, progress.current) {
        (Some(orig), None) => DialogChange::Delete {
            id: orig.id,
            expected_version: orig.version,
        },
        (None, None) => DialogChange::Unchanged,
        (orig, Some((id, state, context))) => {
            write.timer = match &state.auto {
                Some(pending) => match write.scheduled_at {
                    Some(due_at) => TimerChange::Set {
                        token: pending.token,
                        due_at,
                    },
                    None => TimerChange::Unchanged,
                },
                // Only a dialog that had a pending transition can have a timer to clear.
                None if orig.is_some_and(|o| o.state.auto.is_some()) => TimerChange::Clear,
                None => TimerChange::Unchanged,
            };
            DialogChange::Upsert {
                id,
                expected_version: orig.map(|o| o.version),
                state: Box::new(state),
                context,
                last_interaction: progress.interacted,
            }
        }
    };
    if matches!(write.dialog, DialogChange::Delete { .. }) {
        write.timer = TimerChange::Clear;
    }
}

fn next_dialog(
    current: Option<(DialogId, DialogState, Context)>,
    new_state: Option<DialogState>,
    ctx: Context,
    ids: &mut impl IdSource,
) -> Option<(DialogId, DialogState, Context)> {
    new_state.map(|state| {
        let id = current.map(|c| c.0).unwrap_or_else(|| DialogId::from(ids.next_id()));
        (id, state, ctx)
    })
}

fn apply_outcome(
    bot: &BotCtx,
    chat: &str,
    ctx: &Context,
    actions: Vec<Action>,
    write: &mut ChatWrite,
    ids: &mut impl IdSource,
    choice: Option<&Choice>,
) {
    for action in actions {
        match action {
            Action::Send(msg) => {
                write.history.push(("bot", bot_history(&msg)));
                for call in bot.platform.render(chat, &msg) {
                    write.outbox.push(NewOutbox {
                        id: ids.next_id(),
                        call,
                    });
                }
            }
            Action::AnswerCallback { text } => {
                // The choice is already acknowledged first thing; a text turns it into a toast.
                if let (Some(text), Some(choice)) = (text, choice)
                    && let Some(call) = bot.platform.acknowledge(choice, Some(text))
                {
                    write.outbox.push(NewOutbox {
                        id: ids.next_id(),
                        call,
                    });
                }
            }
            Action::Emit { event_type, data } => {
                write.events.push(NewEvent {
                    event_type,
                    payload: dialog_event_payload(bot, ctx, data),
                });
            }
            Action::ScheduleAuto { at_ms, token: _ } => write.scheduled_at = Some(at_ms),
        }
    }
}

fn context_of(bot: &BotCtx, chat_id: &str, parsed: &Inbound) -> Context {
    Context {
        platform: bot.platform.name().to_string(),
        chat_id: chat_id.to_string(),
        user: parsed.user.as_ref().map(|u| u.info.clone()).unwrap_or_default(),
    }
}

fn user_history(input: &Input, parsed: &Inbound) -> Value {
    let mut v = serde_json::to_value(input).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("update_id".into(), json!(parsed.update_id));
    }
    v
}

fn bot_history(msg: &OutMessage) -> Value {
    serde_json::to_value(msg).unwrap_or(Value::Null)
}

fn update_event_payload(bot: &BotCtx, parsed: &Inbound) -> Value {
    json!({
        "bot_id": bot.bot_id,
        "platform": bot.platform.name(),
        "chat_id": parsed.chat_id,
        "update_id": parsed.update_id,
        "user": parsed.user.as_ref().map(|u| json!({
            "id": u.id,
            "first_name": u.info.first_name,
            "last_name": u.info.last_name,
            "username": u.info.username,
        })),
        "input": serde_json::to_value(&parsed.input).unwrap_or(Value::Null),
        "media": serde_json::to_value(&parsed.file).unwrap_or(Value::Null),
    })
}

/// The most of an unreadable update's body an `update.unparsed` event carries: enough to see
/// what the platform sent, without one update filling an account's deliveries. The inbox row keeps
/// the whole body.
pub const MAX_KEPT_BODY: usize = 16 * 1024;

/// `body` (the update as JSON) when it is small enough, else `body_excerpt` (its first
/// [`MAX_KEPT_BODY`] bytes as text); `body_bytes` always.
fn kept_body(body: &[u8]) -> serde_json::Map<String, Value> {
    let mut kept = serde_json::Map::new();
    kept.insert("body_bytes".into(), json!(body.len()));
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if body.len() <= MAX_KEPT_BODY => {
            kept.insert("body".into(), v);
        }
        _ => {
            let cut = &body[..body.len().min(MAX_KEPT_BODY)];
            kept.insert("body_excerpt".into(), json!(String::from_utf8_lossy(cut)));
        }
    }
    kept
}

fn dialog_event_payload(bot: &BotCtx, ctx: &Context, data: Value) -> Value {
    json!({
        "bot_id": bot.bot_id,
        "platform": bot.platform.name(),
        "chat_id": ctx.chat_id,
        "data": data,
    })
}
