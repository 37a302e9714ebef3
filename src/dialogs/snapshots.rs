//! The dialog state this node last committed, per chat, so the next input of a busy chat is
//! planned without reading its dialog back from the store.
//!
//! Only the holder of the chat's lock touches its entry: it takes the snapshot out to plan, and
//! puts the new state back once that write is committed. An entry can still go stale (another
//! node, an operator's change through the API, a migrated chat): every such change bumps the
//! dialog's version, the write planned from the stale snapshot then fails its version guard
//! (`Applied::Conflict`), and the re-plan reads the store, since the entry was taken out.

use crate::model::ids::BotId;
use std::collections::HashMap;
use std::sync::Mutex;

use super::plan::{DialogChange, DialogSnapshot};

type Key = (BotId, String, String);

/// Two generations: entries are put in the young one; when it is full it becomes the old one
/// and the previous old one is dropped. A chat written in the last generation is always found,
/// so the cache never falls off a cliff when there are more chats than it holds (clearing a
/// full map emptied it for every chat at once).
#[derive(Default)]
pub struct Snapshots {
    map: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<Key, DialogSnapshot>,
    old: HashMap<Key, DialogSnapshot>,
}

impl Snapshots {
    /// Entries per generation (at most twice as many kept); a miss only costs a read.
    const GENERATION: usize = 10_000;

    fn key(bot_id: BotId, platform: &str, chat_id: &str) -> Key {
        (bot_id, platform.to_string(), chat_id.to_string())
    }

    /// The chat's snapshot, taken out of the cache (call under the chat's lock).
    pub fn take(&self, bot_id: BotId, platform: &str, chat_id: &str) -> Option<DialogSnapshot> {
        let key = Self::key(bot_id, platform, chat_id);
        let mut map = self.map.lock().ok()?;
        map.young.remove(&key).or_else(|| map.old.remove(&key))
    }

    /// Forget the chat (its dialog moved or changed outside the planned path).
    pub fn forget(&self, bot_id: BotId, platform: &str, chat_id: &str) {
        let key = Self::key(bot_id, platform, chat_id);
        if let Ok(mut map) = self.map.lock() {
            map.young.remove(&key);
            map.old.remove(&key);
        }
    }

    /// Keep `snapshot` as the chat's state after a committed write.
    pub fn put(&self, bot_id: BotId, platform: &str, chat_id: &str, snapshot: DialogSnapshot) {
        let key = Self::key(bot_id, platform, chat_id);
        if let Ok(mut map) = self.map.lock() {
            map.old.remove(&key);
            map.young.remove(&key);
            if map.young.len() >= Self::GENERATION {
                map.old = std::mem::take(&mut map.young);
            }
            map.young.insert(key, snapshot);
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
    use uuid::Uuid;

    use super::*;
    use crate::model::ids::DialogId;
    use crate::scenario::{Context, DialogState};

    fn state() -> DialogState {
        serde_json::from_value(serde_json::json!({"current_step": "start"})).unwrap()
    }

    fn snapshot(version: i64) -> DialogSnapshot {
        DialogSnapshot {
            id: DialogId::from(Uuid::nil()),
            state: state(),
            context: Context::default(),
            version,
        }
    }

    #[test]
    fn an_entry_is_taken_once() {
        let s = Snapshots::default();
        let bot = BotId::from_uuid(Uuid::from_u128(1));
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
    fn the_last_generation_of_chats_is_always_kept() {
        let s = Snapshots::default();
        let bot = BotId::from_uuid(Uuid::from_u128(1));
        let n = Snapshots::GENERATION * 3 + 17;
        for chat in 0..n {
            s.put(bot, "telegram", &chat.to_string(), snapshot(chat as i64));
        }
        // The most recent GENERATION chats are all there, whatever the total.
        for chat in n - Snapshots::GENERATION..n {
            assert_eq!(
                s.take(bot, "telegram", &chat.to_string()).map(|d| d.version),
                Some(chat as i64)
            );
        }
        // Never more than two generations.
        let kept = (0..n - Snapshots::GENERATION)
            .filter(|chat| s.take(bot, "telegram", &chat.to_string()).is_some())
            .count();
        assert!(kept <= Snapshots::GENERATION, "{kept}");
        // A chat put again is kept once, with its latest state, even when the generations
        // turn over in between.
        let s = Snapshots::default();
        for chat in 0..Snapshots::GENERATION - 1 {
            s.put(bot, "telegram", &chat.to_string(), snapshot(0));
        }
        s.put(bot, "telegram", "x", snapshot(1));
        s.put(bot, "telegram", "x", snapshot(2));
        assert_eq!(s.take(bot, "telegram", "x").map(|d| d.version), Some(2));
        assert!(s.take(bot, "telegram", "x").is_none());
    }

    #[test]
    fn the_state_after_a_write_carries_the_next_version() {
        let upsert = |expected| DialogChange::Upsert {
            id: DialogId::from(Uuid::from_u128(9)),
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
            Some((DialogId::from(Uuid::from_u128(9)), 6))
        );
        assert!(after(&DialogChange::Unchanged).is_none());
        let deleted = DialogChange::Delete {
            id: DialogId::from(Uuid::nil()),
            expected_version: 2,
        };
        assert!(after(&deleted).is_none());
    }
}
