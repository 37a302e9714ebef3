//! Whether the background workers' database work succeeds, kept on the store handle they all
//! share. A worker reports each step's outcome; `/ready` answers 503 naming the workers whose
//! last step failed, and the metrics show when each last succeeded and how often they failed.
//! A worker whose database calls fail keeps retrying by itself (every call has a deadline, see
//! `deadline`), so once the database is back its next step clears it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How soon a worker whose last step failed tries again: soon enough that `/ready` turns 200
/// within a fraction of a second of the database coming back, seldom enough not to spin (each
/// try is one call under its deadline).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(250);

/// The workers that report here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worker {
    /// Claims and records outbound webhook deliveries.
    Delivery,
    /// Fires dialog timers.
    Timers,
    /// Sends due bot replies (retries, or those a crashed node left).
    Replies,
    /// Fetches users' files.
    Downloads,
    /// Removes rows past their retention.
    Retention,
    /// Commits chat writes. Runs only when an update arrives, so it shows in the metrics but
    /// not in `/ready`: a failure with no update since would otherwise never clear.
    ChatCommitter,
}

impl Worker {
    const ALL: [Worker; 6] = [
        Worker::Delivery,
        Worker::Timers,
        Worker::Replies,
        Worker::Downloads,
        Worker::Retention,
        Worker::ChatCommitter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Worker::Delivery => "delivery",
            Worker::Timers => "timers",
            Worker::Replies => "replies",
            Worker::Downloads => "downloads",
            Worker::Retention => "retention",
            Worker::ChatCommitter => "chat_committer",
        }
    }

    /// Whether it steps on its own, so that a failure it reported clears once the database
    /// answers again.
    fn polls(self) -> bool {
        self != Worker::ChatCommitter
    }
}

#[derive(Debug, Default)]
pub struct WorkerHealth {
    /// Per worker: when its failing run of steps began (Unix ms), 0 while it succeeds.
    failing_since: [AtomicI64; Worker::ALL.len()],
}

impl WorkerHealth {
    pub fn succeeded(&self, worker: Worker) {
        self.failing_since[worker as usize].store(0, Ordering::Relaxed);
        metrics::gauge!("worker_last_success_seconds", "worker" => worker.name()).set(super::now_ms() as f64 / 1000.0);
    }

    pub fn failed(&self, worker: Worker) {
        let _ = self.failing_since[worker as usize].compare_exchange(
            0,
            super::now_ms(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        metrics::counter!("worker_errors_total", "worker" => worker.name()).increment(1);
    }

    /// How long `worker` waits before its next step: `idle` normally, [`RETRY_AFTER_FAILURE`]
    /// when its last step failed.
    pub fn pause(&self, worker: Worker, idle: Duration) -> Duration {
        if self.failing_since[worker as usize].load(Ordering::Relaxed) != 0 {
            idle.min(RETRY_AFTER_FAILURE)
        } else {
            idle
        }
    }

    /// The workers whose last step failed (those `/ready` reports).
    pub fn failing(&self) -> Vec<&'static str> {
        Worker::ALL
            .into_iter()
            .filter(|w| w.polls() && self.failing_since[*w as usize].load(Ordering::Relaxed) != 0)
            .map(Worker::name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_worker_is_named_until_it_succeeds_again() {
        let health = WorkerHealth::default();
        assert!(health.failing().is_empty());
        health.failed(Worker::Delivery);
        health.failed(Worker::Delivery);
        health.failed(Worker::ChatCommitter);
        assert_eq!(health.failing(), vec!["delivery"]);
        health.succeeded(Worker::Delivery);
        assert!(health.failing().is_empty());
    }

    #[test]
    fn a_failing_worker_tries_again_soon_and_a_healthy_one_keeps_its_pace() {
        let health = WorkerHealth::default();
        let idle = Duration::from_secs(2);
        assert_eq!(health.pause(Worker::Downloads, idle), idle);
        health.failed(Worker::Downloads);
        assert_eq!(health.pause(Worker::Downloads, idle), RETRY_AFTER_FAILURE);
        assert_eq!(health.pause(Worker::Timers, idle), idle);
        assert_eq!(
            health.pause(Worker::Downloads, Duration::from_millis(20)),
            Duration::from_millis(20)
        );
    }
}
