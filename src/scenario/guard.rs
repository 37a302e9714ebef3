//! Duplicate suppression and per-chat rate limiting, as pure functions over memory kept in
//! `DialogState.guard`. Because the shell persists the state, the memory is shared by every
//! request and node that handles the chat (GET INN's per-request cache never triggered).

pub use crate::model::dialog::{Guard, Seen};

/// Windows and limits. The defaults are the ones GET INN's validator documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The same input at the same step within this window is a duplicate.
    pub duplicate_window_ms: i64,
    /// Rolling window for the rate limit.
    pub rate_window_ms: i64,
    /// More inputs than this within `rate_window_ms` are refused.
    pub rate_max: u32,
    /// An automatic chain (auto_next and action steps) stops after this many hops.
    pub max_auto_hops: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            duplicate_window_ms: 2_000,
            rate_window_ms: 60_000,
            rate_max: 30,
            max_auto_hops: 25,
        }
    }
}

/// The guard's verdict on one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Duplicate,
    RateLimited,
}

/// A stable fingerprint of an input at a step (FNV-1a; deterministic across builds and nodes).
pub fn fingerprint(kind: &str, value: &str, step: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [kind, value, step] {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl Guard {
    /// Checks an input and records its arrival for the rate limit. Duplicates are checked first
    /// (as in GET INN) and do not count against the rate.
    pub fn check(&mut self, key: &str, now_ms: i64, limits: &Limits) -> Verdict {
        let dup_from = now_ms.saturating_sub(limits.duplicate_window_ms);
        self.seen.retain(|s| s.at_ms > dup_from && s.at_ms <= now_ms);
        if self.seen.iter().any(|s| s.key == key) {
            return Verdict::Duplicate;
        }
        let rate_from = now_ms.saturating_sub(limits.rate_window_ms);
        self.arrivals.retain(|&t| t > rate_from && t <= now_ms);
        let over = self.arrivals.len() >= limits.rate_max as usize;
        // Refused inputs are recorded too, so a client that keeps flooding stays limited; only
        // the newest `rate_max` times are kept, which is all the check needs.
        self.arrivals.push(now_ms);
        let excess = self.arrivals.len().saturating_sub(limits.rate_max as usize);
        self.arrivals.drain(..excess);
        if over { Verdict::RateLimited } else { Verdict::Pass }
    }

    /// Remembers an input that was accepted, for duplicate detection.
    pub fn remember(&mut self, key: String, now_ms: i64) {
        self.seen.push(Seen { key, at_ms: now_ms });
        // A handful is plenty within a 2 s window; the cap bounds the state under floods.
        let excess = self.seen.len().saturating_sub(16);
        self.seen.drain(..excess);
    }
}
