//! What one chat's write consists of: the vocabulary the planner (`dialogs`) speaks and the
//! store applies in a single transaction (`chats`, `chats_group`).

use crate::model::ids::{AccountId, BotId, DialogId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::IncomingRow;
use crate::model::dialog::{Context, DialogState};

/// The dialog row after the write.
#[derive(Clone, Debug)]
pub enum DialogChange {
    Unchanged,
    /// Insert (when `expected_version` is None) or update guarded by the version.
    Upsert {
        id: DialogId,
        expected_version: Option<i64>,
        state: Box<DialogState>,
        context: Context,
        last_interaction: bool,
    },
    Delete {
        id: DialogId,
        expected_version: i64,
    },
}

/// The chat's pending automatic transition after the write.
#[derive(Clone, Debug)]
pub enum TimerChange {
    Unchanged,
    Set { token: u64, due_at: i64 },
    Clear,
}

/// The inbox row of one input (an update or a timer tick), with what it was answered.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewInbox {
    pub id: Uuid,
    pub update_id: Option<i64>,
    pub kind: &'static str,
    pub body: Vec<u8>,
    pub result: Value,
}

/// A reply to send, in the platform's own call (stored as JSON).
#[derive(Clone, Debug)]
pub struct NewOutbox<C> {
    pub id: Uuid,
    pub call: C,
}

/// An event a bot produced, published in the same transaction.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_type: String,
    pub payload: Value,
}

/// Every durable effect of processing one chat's inputs, applied in one transaction. `C` is
/// the platform's call for a reply (kept as JSON in the outbox).
#[derive(Clone, Debug)]
pub struct ChatWrite<C> {
    pub bot_id: BotId,
    pub account_id: AccountId,
    pub platform: &'static str,
    pub chat_id: String,
    pub inbox: Vec<NewInbox>,
    pub dialog: DialogChange,
    /// (direction, message) in order; direction is `user` or `bot`.
    pub history: Vec<(&'static str, Value)>,
    pub outbox: Vec<NewOutbox<C>>,
    pub events: Vec<NewEvent>,
    pub timer: TimerChange,
    /// A user's file first seen in this write.
    pub media: Option<IncomingRow>,
    /// Insert the outbox rows leased until then: the shell sends them itself right after the
    /// commit (set by the shell, not the planner).
    pub lease_outbox_until: Option<i64>,
    /// When the last auto transition scheduled by this write is due (the planner's own note).
    pub scheduled_at: Option<i64>,
}
