//! Outbound rate-limit planner for one bot: pure, the caller passes the clock.
//!
//! Telegram's published limits: about 30 messages per second overall, one per second in a
//! private chat (short bursts tolerated), 20 per minute in a group. Going over them earns 429s,
//! so the outbox books a slot with [`RatePlanner::reserve`] before each send and sleeps until it.
//! - overall and groups: sliding windows (at most N sends in any window), exact to the limit;
//! - private chats: a cell-rate bucket, one send per interval on average with a burst allowance.
//!
//! A slot is a reservation, not a check: it is recorded when granted, even when it lies in the
//! future, so sends that wait for their slots are counted while they wait and concurrent senders
//! (the request path, workers, timers) can never be granted the same capacity twice.

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
    /// Added to the sliding windows: a send leaves a little after its slot (media resolution,
    /// scheduling, the network), and without slack two windows' sends could arrive at Telegram
    /// within one window.
    pub window_slack_ms: i64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            global_per_sec: 30,
            private_interval_ms: 1000,
            private_burst: 3,
            group_per_min: 20,
            window_slack_ms: 100,
        }
    }
}

/// Chat states idle this long carry no information and are dropped.
const IDLE_MS: i64 = 60_000;
/// Sweep idle chats every this many reservations, so memory follows active chats only.
const SWEEP_EVERY: u64 = 1024;
/// Rounds of "the chat allows x, does the bot?" before giving the safe late answer. Each round
/// moves past one recorded send, and the windows hold a bounded number of them.
const MAX_ROUNDS: usize = 256;

enum ChatState {
    /// Theoretical arrival time of the next send (GCRA).
    Private { tat: i64 },
    /// Times of the sends in the last minute (and booked ones), sorted.
    Group { sent: VecDeque<i64> },
}

/// Per-bot planner. Not thread-safe by itself: keep one per bot behind a mutex.
pub struct RatePlanner {
    limits: RateLimits,
    /// Times of the sends in the last second (and booked ones), sorted.
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

    /// Book one send to `chat_id`, asked at `now_ms`. The slot is the earliest time (≥ `now_ms`)
    /// at which every limit allows it. When it is at most `max_wait_ms` away it is recorded and
    /// `Ok(slot)` returned: the caller sends at that time. Otherwise nothing is recorded and
    /// `Err(slot)` says when asking again can succeed.
    pub fn reserve(&mut self, chat_id: i64, is_group: bool, now_ms: i64, max_wait_ms: i64) -> Result<i64, i64> {
        let limits = self.limits;
        let global_window = 1000 + limits.window_slack_ms.max(0);
        let group_window = 60_000 + limits.window_slack_ms.max(0);
        prune(&mut self.global, global_window, now_ms);
        let burst_span = limits.private_interval_ms.saturating_mul(limits.private_burst.max(1));
        // The group's window, or the first time a private chat allows (and every later one).
        let (chat, private_from) = match self.chats.get_mut(&chat_id) {
            Some(ChatState::Group { sent }) if is_group => {
                prune(sent, group_window, now_ms);
                (Some(&*sent), i64::MIN)
            }
            Some(ChatState::Private { tat }) if !is_group => (
                None,
                tat.saturating_add(limits.private_interval_ms)
                    .saturating_sub(burst_span),
            ),
            _ => (None, i64::MIN),
        };
        let mut slot = now_ms.max(private_from);
        let mut settled = false;
        for _ in 0..MAX_ROUNDS {
            let mut next = window_slot(&self.global, limits.global_per_sec, global_window, slot);
            if let Some(sent) = chat {
                next = window_slot(sent, limits.group_per_min, group_window, next);
            }
            if next == slot {
                settled = true;
                break;
            }
            slot = next;
        }
        if !settled {
            // Past every recorded send by a whole window, every window is empty.
            let last = self.global.back().copied().unwrap_or(slot);
            let last_chat = chat.and_then(|s| s.back().copied()).unwrap_or(slot);
            slot = slot
                .max(last.saturating_add(global_window))
                .max(last_chat.saturating_add(group_window));
        }
        if slot.saturating_sub(now_ms) > max_wait_ms {
            return Err(slot);
        }
        self.record(chat_id, is_group, slot);
        if self.reservations.is_multiple_of(SWEEP_EVERY) {
            self.sweep(now_ms);
        }
        Ok(slot)
    }

    fn record(&mut self, chat_id: i64, is_group: bool, at: i64) {
        let interval = self.limits.private_interval_ms;
        insert_sorted(&mut self.global, at);
        match self.chats.get_mut(&chat_id) {
            Some(ChatState::Group { sent }) if is_group => insert_sorted(sent, at),
            Some(ChatState::Private { tat }) if !is_group => *tat = (*tat).max(at).saturating_add(interval),
            // New, or a chat that changed kind (group upgraded, id reused): start it afresh.
            _ => {
                let state = if is_group {
                    ChatState::Group {
                        sent: VecDeque::from([at]),
                    }
                } else {
                    ChatState::Private {
                        tat: at.saturating_add(interval),
                    }
                };
                self.chats.insert(chat_id, state);
            }
        }
        self.reservations += 1;
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

/// Drop sends that no window ending at or after `now_ms` contains.
fn prune(sent: &mut VecDeque<i64>, window_ms: i64, now_ms: i64) {
    while sent.front().is_some_and(|t| *t <= now_ms.saturating_sub(window_ms)) {
        sent.pop_front();
    }
}

fn insert_sorted(sent: &mut VecDeque<i64>, at: i64) {
    let i = sent.partition_point(|t| *t <= at);
    sent.insert(i, at);
}

/// Sends in `(end - window_ms, end]`.
fn in_window(sent: &VecDeque<i64>, window_ms: i64, end: i64) -> usize {
    sent.partition_point(|t| *t <= end) - sent.partition_point(|t| *t <= end.saturating_sub(window_ms))
}

/// The earliest time `x >= from` at which one more send keeps every window of `window_ms` at
/// most `limit` sends: the window ending at `x`, and those ending at the booked sends after `x`
/// whose windows would contain it. Whether `x` fits only improves where a send enters or leaves
/// a window, so those times are the only candidates. `sent` is sorted and holds a bounded number
/// of sends (one window back, the caller's longest wait ahead), so the quadratic scan is cheap.
fn window_slot(sent: &VecDeque<i64>, limit: usize, window_ms: i64, from: i64) -> i64 {
    let limit = limit.max(1);
    let full: Vec<bool> = sent.iter().map(|t| in_window(sent, window_ms, *t) >= limit).collect();
    let fits = |x: i64| {
        in_window(sent, window_ms, x) < limit
            && sent
                .iter()
                .zip(&full)
                .all(|(t, full)| !(*t > x && *t < x.saturating_add(window_ms) && *full))
    };
    let mut candidates: Vec<i64> = std::iter::once(from)
        .chain(
            sent.iter()
                .flat_map(|t| [*t, t.saturating_add(1), t.saturating_add(window_ms)]),
        )
        .filter(|x| *x >= from)
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
        .into_iter()
        .find(|x| fits(*x))
        .unwrap_or_else(|| sent.back().map_or(from, |t| t.saturating_add(window_ms).max(from)))
}
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Telegram's limits with no slack, so the tests read exact times.
    fn exact() -> RatePlanner {
        RatePlanner::new(RateLimits {
            window_slack_ms: 0,
            ..RateLimits::default()
        })
    }

    /// A send now or not at all.
    fn now(p: &mut RatePlanner, chat: i64, group: bool, at: i64) -> Result<(), i64> {
        p.reserve(chat, group, at, 0).map(|slot| assert_eq!(slot, at))
    }

    #[test]
    fn private_chat_allows_a_burst_then_one_per_second() {
        let mut p = exact();
        for _ in 0..3 {
            assert_eq!(now(&mut p, 1, false, 0), Ok(()));
        }
        assert_eq!(now(&mut p, 1, false, 0), Err(1000));
        assert_eq!(now(&mut p, 1, false, 999), Err(1000));
        assert_eq!(now(&mut p, 1, false, 1000), Ok(()));
        assert_eq!(now(&mut p, 1, false, 1500), Err(2000));
        // Another chat is not affected.
        assert_eq!(now(&mut p, 2, false, 1500), Ok(()));
    }

    #[test]
    fn group_chat_allows_twenty_per_minute() {
        let mut p = exact();
        for i in 0..20 {
            assert_eq!(now(&mut p, -100, true, i * 100), Ok(()), "send {i}");
        }
        assert_eq!(now(&mut p, -100, true, 5_000), Err(60_000));
        assert_eq!(now(&mut p, -100, true, 60_000), Ok(()));
        assert_eq!(now(&mut p, -100, true, 60_050), Err(60_100));
    }

    #[test]
    fn thirty_per_second_overall() {
        let mut p = exact();
        for chat in 0..30 {
            assert_eq!(now(&mut p, chat, false, 10), Ok(()));
        }
        assert_eq!(now(&mut p, 99, false, 500), Err(1010));
        assert_eq!(now(&mut p, 99, false, 1010), Ok(()));
    }

    #[test]
    fn slack_widens_the_windows() {
        let mut p = RatePlanner::default();
        for chat in 0..30 {
            assert_eq!(now(&mut p, chat, false, 10), Ok(()));
        }
        assert_eq!(now(&mut p, 99, false, 500), Err(1110));
    }

    #[test]
    fn refusal_records_nothing_and_the_later_of_two_waits_wins() {
        let mut p = RatePlanner::new(RateLimits {
            global_per_sec: 2,
            private_interval_ms: 1000,
            private_burst: 1,
            group_per_min: 20,
            window_slack_ms: 0,
        });
        assert_eq!(now(&mut p, 1, false, 0), Ok(()));
        assert_eq!(now(&mut p, 2, false, 0), Ok(()));
        // Chat 1 may send at 1000; the global window also frees at 1000.
        assert_eq!(now(&mut p, 1, false, 10), Err(1000));
        assert_eq!(now(&mut p, 1, false, 1000), Ok(()));
    }

    /// The defect this planner exists to prevent: a send told to wait was not counted while it
    /// waited, so others were granted the same capacity. A booked slot is counted at once.
    #[test]
    fn a_booked_slot_counts_while_its_sender_waits() {
        let mut p = exact();
        for _ in 0..3 {
            assert_eq!(p.reserve(1, false, 0, 1500), Ok(0));
        }
        assert_eq!(p.reserve(1, false, 0, 1500), Ok(1000));
        // Asked again at the same instant: the next slot, not the one just given out.
        assert_eq!(p.reserve(1, false, 0, 1500), Err(2000));
        assert_eq!(p.reserve(1, false, 10, 2000), Ok(2000));
        let mut p = exact();
        for chat in 0..60 {
            let expected = if chat < 30 { 0 } else { 1000 };
            assert_eq!(p.reserve(chat, false, 0, 1500), Ok(expected), "chat {chat}");
        }
        assert_eq!(p.reserve(60, false, 0, 1500), Err(2000));
    }

    #[test]
    fn idle_chats_are_forgotten() {
        let mut p = RatePlanner::default();
        for chat in 0..(SWEEP_EVERY as i64 - 1) {
            let _ = now(&mut p, chat, false, chat * 40);
        }
        let late = 10_000_000;
        assert_eq!(now(&mut p, -1, true, late), Ok(()));
        assert_eq!(p.tracked_chats(), 1);
    }

    proptest! {
        /// Whatever the request pattern and however far ahead slots are booked, the granted
        /// slots never exceed the limits.
        #[test]
        fn granted_sends_respect_limits(
            reqs in proptest::collection::vec((0i64..8, 0i64..300, 0i64..2000), 1..400),
            global_per_sec in 1usize..40,
            group_per_min in 1usize..25,
        ) {
            // Small budgets make the overall window bind, not only the chats'.
            let limits = RateLimits { global_per_sec, group_per_min, ..RateLimits::default() };
            let mut p = RatePlanner::new(limits);
            let mut now = 0i64;
            let mut granted: Vec<(i64, bool, i64)> = Vec::new();
            for (chat, step, max_wait) in reqs {
                now += step;
                // A chat id keeps one kind, as in Telegram.
                let group = chat % 2 == 0;
                match p.reserve(chat, group, now, max_wait) {
                    Ok(slot) => {
                        prop_assert!(slot >= now && slot - now <= max_wait);
                        granted.push((chat, group, slot));
                    }
                    Err(t) => prop_assert!(t - now > max_wait),
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
