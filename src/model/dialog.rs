//! The dialog's plain data, shared by every layer: the engine runs it, the planner changes it,
//! the store keeps it as JSON. Behaviour lives with the engine (`scenario`); these are only the
//! shapes, so that the store can name them without depending on the engine.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Whether the dialog is still running. A completed dialog restarts on the next input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DialogStatus {
    #[default]
    Active,
    Completed,
}

/// A pending automatic transition: the shell fires `Input::AutoTick { token }` at the scheduled
/// time; any other token is stale. `hops`/`visited` carry the chain's loop protection across ticks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuto {
    pub token: u64,
    #[serde(default)]
    pub hops: u32,
    #[serde(default)]
    pub visited: Vec<String>,
}

/// One chat's dialog. Every field past `current_step` has a default so states written by an
/// older build still load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DialogState {
    pub current_step: String,
    #[serde(default)]
    pub status: DialogStatus,
    /// Collected variables; typed inputs keep their type (numbers are JSON numbers).
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Failed typed-validation attempts on the current step; reset whenever the step changes.
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub auto: Option<PendingAuto>,
    #[serde(default)]
    pub guard: Guard,
    /// Counter mixed into auto tokens so every scheduled tick of this chat is distinct.
    #[serde(default)]
    pub seq: u64,
}

impl DialogState {
    /// A fresh active dialog at `step` with no data.
    pub fn new(step: &str) -> Self {
        DialogState {
            current_step: step.to_string(),
            status: DialogStatus::Active,
            data: Map::new(),
            retries: 0,
            auto: None,
            guard: Guard::default(),
            seq: 0,
        }
    }
}

/// Who is talking, for the built-in template variables `user.*`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

/// Where the dialog runs: `platform` and `chat.id` are template built-ins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub platform: String,
    pub chat_id: String,
    #[serde(default)]
    pub user: UserInfo,
}

/// An accepted input remembered for duplicate detection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// 16 hex digits of a hash of kind, value and step: keeps the state small and avoids
    /// storing user text twice.
    pub key: String,
    pub at_ms: i64,
}

/// The guard's memory. Both lists are pruned on every use, so they stay small.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guard {
    #[serde(default)]
    pub seen: Vec<Seen>,
    /// Arrival times of recent inputs (at most `rate_max` are kept).
    #[serde(default)]
    pub arrivals: Vec<i64>,
}

impl DialogStatus {
    /// As stored in the `status` column (`active` / `completed`).
    pub fn as_str(self) -> &'static str {
        match self {
            DialogStatus::Active => "active",
            DialogStatus::Completed => "completed",
        }
    }
}
