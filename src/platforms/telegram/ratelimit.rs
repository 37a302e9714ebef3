//! Outbound rate-limit planner for one bot: pure, the caller passes the clock.
//!
//! Telegram's published limits: about 30 messages per second overall, one per second in a
//! private chat (short bursts tolerated), 20 per minute in a group. Going over them earns 429s,
//! so the outbox asks [`RatePlanner::reserve`] before each send and waits when told to.
//! - overall and groups: sliding windows (at most N sends in any window), exact to the limit;
//! - private chats: a cell-rate bucket, one send per interval on average with a burst allowance.

use std::collections::{HashMap, VecDeque};

/// The limits one bot observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Sends per second across all chats.
    pub global_per_sec: usize,
    /// Average spacing of sends in one private chat.
    pub private_interval_ms: i64,
    /// Sends a private chat may receive at once before the spacing applies.
    pub private_burst: i64,
    /// Sends per minute in one group chat.
    pub group_per_min: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            global_per_sec: 30,
            private_interval_ms: 1000,
            private_burst: 3,
            group_per_min: 20,
        }
    }
}

/// Chat states idle this long carry no information and are dropped.
const IDLE_MS: i64 = 60_000;
/// Sweep idle chats every this many reservations, so memory follows active chats only.
const SWEEP_EVERY: u64 = 1024;

enum ChatState {
    /// Theoretical arrival time of the next send (GCRA).
    Private { tat: i64 },
    /// Times of the sends in the last minute.
    Group { sent: VecDeque<i64> },
}

/// Per-bot planner. Not thread-safe by itself: keep one per bot behind a mutex.
pub struct RatePlanner {
    limits: RateLimits,
    global: VecDeque<i64>,
    chats: HashMap<i64, ChatState>,
    reservations: u64,
}

impl RatePlanner {
    pub fn new(limits: RateLimits) -> Self {
        RatePlanner {
            limits,
            global: VecDeque::new(),
            chats: HashMap::new(),
            reservations: 0,
        }
    }

    /// Reserve one send to `chat_id` at `now_ms`. `Ok` records it; `Err(t)` records nothing and
    /// says the earliest time (Unix ms, > `now_ms`) at which asking again can succeed.
    pub fn reserve(&mut self, chat_id: i64, is_group: bool, now_ms: i64) -> Result<(), i64> {
        let limits = self.limits;
        let global_wait = window_wait(&mut self.global, limits.global_per_sec, 1000, now_ms);
        let burst_span = limits.private_interval_ms.saturating_mul(limits.private_burst.max(1));
        let chat_wait = match self.chats.get_mut(&chat_id) {
            Some(ChatState::Group { sent }) if is_group => window_wait(sent, limits.group_per_min, 60_000, now_ms),
            Some(ChatState::Private { tat }) if !is_group => {
                let next = (*tat).max(now_ms).saturating_add(limits.private_interval_ms);
                let earliest = next.saturating_sub(burst_span);
                (earliest > now_ms).then_some(earliest)
            }
            // A chat changed kind (group upgraded, id reused): start it afresh.
            _ => None,
        };
        if let Some(wait) = global_wait.into_iter().chain(chat_wait).max() {
            return Err(wait);
        }
        self.global.push_back(now_ms);
        match self.chats.get_mut(&chat_id) {
            Some(ChatState::Group { sent }) if is_group => sent.push_back(now_ms),
            Some(ChatState::Private { tat }) if !is_group => {
                *tat = (*tat).max(now_ms).saturating_add(limits.private_interval_ms);
            }
            _ => {
                let state = if is_group {
                    ChatState::Group {
                        sent: VecDeque::from([now_ms]),
                    }
                } else {
                    ChatState::Private {
                        tat: now_ms.saturating_add(limits.private_interval_ms),
                    }
                };
                self.chats.insert(chat_id, state);
            }
        }
        self.reservations += 1;
        if self.reservations.is_multiple_of(SWEEP_EVERY) {
            self.sweep(now_ms);
        }
        Ok(())
    }

    /// Number of chats with state, for metrics and tests.
    pub fn tracked_chats(&self) -> usize {
        self.chats.len()
    }

    fn sweep(&mut self, now_ms: i64) {
        self.chats.retain(|_, s| match s {
            ChatState::Private { tat } => *tat > now_ms.saturating_sub(IDLE_MS),
            ChatState::Group { sent } => sent.back().is_some_and(|t| *t > now_ms.saturating_sub(IDLE_MS)),
        });
    }
}

impl Default for RatePlanner {
    fn default() -> Self {
        RatePlanner::new(RateLimits::default())
    }
}

/// Sliding window: drop sends older than `window_ms`; when `limit` remain, the wait ends when the
/// oldest leaves the window.
fn window_wait(sent: &mut VecDeque<i64>, limit: usize, window_ms: i64, now_ms: i64) -> Option<i64> {
    while sent.front().is_some_and(|t| *t <= now_ms.saturating_sub(window_ms)) {
        sent.pop_front();
    }
    if sent.len() < limit.max(1) {
        return None;
    }
    sent.front()
        .map(|oldest| oldest.saturating_add(window_ms).max(now_ms + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn private_chat_allows_a_burst_then_one_per_second() {
        let mut p = RatePlanner::default();
        for _ in 0..3 {
            assert_eq!(p.reserve(1, false, 0), Ok(()));
        }
        assert_eq!(p.reserve(1, false, 0), Err(1000));
        assert_eq!(p.reserve(1, false, 999), Err(1000));
        assert_eq!(p.reserve(1, false, 1000), Ok(()));
        assert_eq!(p.reserve(1, false, 1500), Err(2000));
        // Another chat is not affected.
        assert_eq!(p.reserve(2, false, 1500), Ok(()));
    }

    #[test]
    fn group_chat_allows_twenty_per_minute() {
        let mut p = RatePlanner::default();
        for i in 0..20 {
            assert_eq!(p.reserve(-100, true, i * 100), Ok(()), "send {i}");
        }
        assert_eq!(p.reserve(-100, true, 5_000), Err(60_000));
        assert_eq!(p.reserve(-100, true, 60_000), Ok(()));
        assert_eq!(p.reserve(-100, true, 60_050), Err(60_100));
    }

    #[test]
    fn thirty_per_second_overall() {
        let mut p = RatePlanner::default();
        for chat in 0..30 {
            assert_eq!(p.reserve(chat, false, 10), Ok(()));
        }
        assert_eq!(p.reserve(99, false, 500), Err(1010));
        assert_eq!(p.reserve(99, false, 1010), Ok(()));
    }

    #[test]
    fn refusal_records_nothing_and_the_later_of_two_waits_wins() {
        let mut p = RatePlanner::new(RateLimits {
            global_per_sec: 2,
            private_interval_ms: 1000,
            private_burst: 1,
            group_per_min: 20,
        });
        assert_eq!(p.reserve(1, false, 0), Ok(()));
        assert_eq!(p.reserve(2, false, 0), Ok(()));
        // Chat 1 may send at 1000; the global window also frees at 1000.
        assert_eq!(p.reserve(1, false, 10), Err(1000));
        assert_eq!(p.reserve(1, false, 1000), Ok(()));
    }

    #[test]
    fn idle_chats_are_forgotten() {
        let mut p = RatePlanner::default();
        for chat in 0..(SWEEP_EVERY as i64 - 1) {
            let _ = p.reserve(chat, false, chat * 40);
        }
        let late = 10_000_000;
        assert_eq!(p.reserve(-1, true, late), Ok(()));
        assert_eq!(p.tracked_chats(), 1);
    }

    proptest! {
        /// Whatever the request pattern, granted sends never exceed the limits.
        #[test]
        fn granted_sends_respect_limits(reqs in proptest::collection::vec((0i64..4, 0i64..300), 1..400)) {
            let limits = RateLimits::default();
            let mut p = RatePlanner::new(limits);
            let mut now = 0i64;
            let mut granted: Vec<(i64, bool, i64)> = Vec::new();
            for (chat, step) in reqs {
                now += step;
                // A chat id keeps one kind, as in Telegram.
                let group = chat % 2 == 0;
                match p.reserve(chat, group, now) {
                    Ok(()) => granted.push((chat, group, now)),
                    Err(t) => prop_assert!(t > now),
                }
            }
            for &(_, _, t) in &granted {
                let in_sec = granted.iter().filter(|g| g.2 > t - 1000 && g.2 <= t).count();
                prop_assert!(in_sec <= limits.global_per_sec);
            }
            for &(chat, group, t) in &granted {
                let same: Vec<i64> = granted.iter().filter(|g| g.0 == chat).map(|g| g.2).collect();
                if group {
                    prop_assert!(same.iter().filter(|s| **s > t - 60_000 && **s <= t).count() <= limits.group_per_min);
                } else {
                    // Over any span, at most burst + span / interval sends.
                    for &start in same.iter().filter(|s| **s <= t) {
                        let n = same.iter().filter(|s| **s >= start && **s <= t).count() as i64;
                        prop_assert!(n <= limits.private_burst + (t - start) / limits.private_interval_ms);
                    }
                }
            }
        }
    }
}
