//! A small read-through cache of what every webhook update reads: the bot with its credential,
//! and the id of its active scenario. Each update used to read both from the database; they
//! change rarely and only through this store, so the store's own writes invalidate the cache
//! (a generation counter bumped by every write to bots, credentials and scenarios) and entries
//! live at most [`TTL`], which bounds how long another node's change takes to be seen here.

use crate::model::ids::BotId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::BotWithCredential;

/// How long another node's change to a bot may go unseen on this one.
pub const TTL: Duration = Duration::from_secs(1);
/// Entries kept at most (the cache is cleared when full; it refills from the database).
const MAX_ENTRIES: usize = 10_000;

struct Entry<T> {
    generation: u64,
    at: Instant,
    value: T,
}

type Map<K, T> = Mutex<HashMap<K, Entry<T>>>;

#[derive(Default)]
pub(crate) struct ConfigCache {
    generation: AtomicU64,
    /// (bot, platform) → the bot with that platform's credential.
    bots: Map<(BotId, String), Option<BotWithCredential>>,
    /// bot → its active scenario version.
    scenarios: Map<BotId, Option<Uuid>>,
}

impl std::fmt::Debug for ConfigCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigCache")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn get<K: std::hash::Hash + Eq, T: Clone>(map: &Map<K, T>, key: &K, generation: u64) -> Option<T> {
    let map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.get(key)
        .filter(|e| e.generation == generation && e.at.elapsed() < TTL)
        .map(|e| e.value.clone())
}

fn put<K: std::hash::Hash + Eq, T>(map: &Map<K, T>, key: K, generation: u64, value: T) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(
        key,
        Entry {
            generation,
            at: Instant::now(),
            value,
        },
    );
}

impl ConfigCache {
    /// The generation to read under: take it before reading the database, so a write that
    /// lands meanwhile makes the filled entry stale at once.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forget everything (called after every write to bots, credentials or scenarios).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn bot(&self, bot_id: BotId, platform: &str, generation: u64) -> Option<Option<BotWithCredential>> {
        get(&self.bots, &(bot_id, platform.to_string()), generation)
    }

    pub fn put_bot(&self, bot_id: BotId, platform: &str, generation: u64, value: Option<BotWithCredential>) {
        put(&self.bots, (bot_id, platform.to_string()), generation, value);
    }

    pub fn active_scenario(&self, bot_id: BotId, generation: u64) -> Option<Option<Uuid>> {
        get(&self.scenarios, &bot_id, generation)
    }

    pub fn put_active_scenario(&self, bot_id: BotId, generation: u64, value: Option<Uuid>) {
        put(&self.scenarios, bot_id, generation, value);
    }
}

/// Invalidates the cache when dropped: held by a write to bots, credentials or scenarios from
/// its start, so the bump comes after the write, whichever way it returns.
pub(crate) struct InvalidateOnDrop<'a>(pub &'a ConfigCache);

impl Drop for InvalidateOnDrop<'_> {
    fn drop(&mut self) {
        self.0.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_invalidates_what_was_read_before_it() {
        let cache = ConfigCache::default();
        let bot = BotId::from_uuid(Uuid::nil());
        let g = cache.generation();
        cache.put_active_scenario(bot, g, Some(Uuid::max()));
        assert_eq!(cache.active_scenario(bot, cache.generation()), Some(Some(Uuid::max())));
        cache.invalidate();
        assert_eq!(
            cache.active_scenario(bot, cache.generation()),
            None,
            "stale after a write"
        );
        // A read that started before a write must not fill a fresh-looking entry.
        let before = cache.generation();
        cache.invalidate();
        cache.put_active_scenario(bot, before, None);
        assert_eq!(cache.active_scenario(bot, cache.generation()), None);
    }
}
