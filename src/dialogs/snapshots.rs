//! The dialog state this node last committed, per chat, so the next input of a busy chat is
//! planned without reading its dialog back from the store.
//!
//! Only the holder of the chat's lock touches its entry: it takes the snapshot out to plan, and
//! puts the new state back once that write is committed. An entry can still go stale (another
//! node, an operator's change through the API, a migrated chat): every such change bumps the
//! dialog's version, the write planned from the stale snapshot then fails its version guard
//! (`Applied::Conflict`), and the re-plan reads the store, since the entry was taken out.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use super::plan::{DialogChange, DialogSnapshot};

type Key = (Uuid, String, String);

#[derive(Default)]
pub struct Snapshots {
    map: Mutex<HashMap<Key, DialogSnapshot>>,
}

impl Snapshots {
    /// Entries kept; past that the map starts over (a miss only costs a read).
    const MAX: usize = 10_000;

    fn key(bot_id: Uuid, platform: &str, chat_id: &str) -> Key {
        (bot_id, platform.to_string(), chat_id.to_string())
    }

    /// The chat's snapshot, taken out of the cache (call under the chat's lock).
    pub fn take(&self, bot_id: Uuid, platform: &str, chat_id: &str) -> Option<DialogSnapshot> {
        self.map.lock().ok()?.remove(&Self::key(bot_id, platform, chat_id))
    }

    /// Forget the chat (its dialog moved or changed outside the planned path).
    pub fn forget(&self, bot_id: Uuid, platform: &str, chat_id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&Self::key(bot_id, platform, chat_id));
        }
    }

    /// Keep `snapshot` as the chat's state after a committed write.
    pub fn put(&self, bot_id: Uuid, platform: &str, chat_id: &str, snapshot: DialogSnapshot) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.insert(Self::key(bot_id, platform, chat_id), snapshot);
        }
    }
}

/// The dialog as it will be once `change` is committed, when it still exists. Pure.
pub fn after(change: &DialogChange) -> Option<DialogSnapshot> {
    match change {
        DialogChange::Upsert {
            id,
            expected_version,
            state,
            context,
            ..
        } => Some(DialogSnapshot {
            id: *id,
            state: (**state).clone(),
            context: context.clone(),
            version: expected_version.map_or(1, |v| v + 1),
        }),
        DialogChange::Unchanged | DialogChange::Delete { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Context, DialogState};

    fn state() -> DialogState {
        serde_json::from_value(serde_json::json!({"current_step": "start"})).unwrap()
    }

    fn snapshot(version: i64) -> DialogSnapshot {
        DialogSnapshot {
            id: Uuid::nil(),
            state: state(),
            context: Context::default(),
            version,
        }
    }

    #[test]
    fn an_entry_is_taken_once() {
        let s = Snapshots::default();
        let bot = Uuid::from_u128(1);
        s.put(bot, "telegram", "7", snapshot(3));
        assert!(s.take(bot, "telegram", "8").is_none(), "another chat");
        assert!(s.take(bot, "whatsapp", "7").is_none(), "another platform");
        assert_eq!(s.take(bot, "telegram", "7").map(|d| d.version), Some(3));
        assert!(s.take(bot, "telegram", "7").is_none(), "taken out, not copied");
        s.put(bot, "telegram", "7", snapshot(4));
        s.forget(bot, "telegram", "7");
        assert!(s.take(bot, "telegram", "7").is_none());
    }

    #[test]
    fn the_state_after_a_write_carries_the_next_version() {
        let upsert = |expected| DialogChange::Upsert {
            id: Uuid::from_u128(9),
            expected_version: expected,
            state: Box::new(state()),
            context: Context::default(),
            last_interaction: true,
        };
        assert_eq!(
            after(&upsert(None)).map(|d| d.version),
            Some(1),
            "a new dialog starts at 1"
        );
        assert_eq!(
            after(&upsert(Some(5))).map(|d| (d.id, d.version)),
            Some((Uuid::from_u128(9), 6))
        );
        assert!(after(&DialogChange::Unchanged).is_none());
        let deleted = DialogChange::Delete {
            id: Uuid::nil(),
            expected_version: 2,
        };
        assert!(after(&deleted).is_none());
    }
}
