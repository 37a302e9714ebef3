//! Periodic outbound housekeeping: queue gauges for Prometheus and retention.

use std::time::Duration;

use super::Outbound;
use crate::store::{Worker, now_ms};

/// What one retention pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub events: u64,
    pub attempts: u64,
    /// Finished rows of the chat flow (inbox, sent replies, published bot events).
    pub chat_rows: u64,
    /// Sources' ingest log rows.
    pub source_requests: u64,
}

/// The chat flow's rows are kept at least this long whatever the retention: the inbox is what
/// answers a redelivered update as a duplicate, and Telegram redelivers for up to a day.
pub const CHAT_ROWS_KEPT_AT_LEAST_MS: i64 = 48 * 3_600_000;

pub fn spawn(state: &Outbound) {
    let s = state.clone();
    state.tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = s.shutdown.cancelled() => break,
                _ = tick.tick() => update_gauges(&s).await,
            }
        }
    });
    let s = state.clone();
    state.tasks.spawn(async move {
        // A failed pass is tried again sooner than the next minute, so that it reports
        // itself healthy soon after the database is back.
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                _ = s.shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {
                    wait = match retention_step(&s).await {
                        Ok(_) => {
                            s.store.workers().succeeded(Worker::Retention);
                            Duration::from_secs(60)
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "webhook retention pass failed");
                            s.store.workers().failed(Worker::Retention);
                            crate::store::RETRY_AFTER_FAILURE
                        }
                    };
                }
            }
        }
    });
}

pub async fn update_gauges(state: &Outbound) {
    if let Ok((depth, oldest_ms)) = state.store.queue_depth(now_ms()).await {
        metrics::gauge!("webhook_queue_depth").set(depth as f64);
        metrics::gauge!("webhook_oldest_pending_age_seconds").set(oldest_ms as f64 / 1000.0);
    }
}

/// Remove events (with their deliveries and attempts), attempts and sources' ingest log rows
/// older than the retention age, and the chat flow's finished rows older than the retention (but at least
/// [`CHAT_ROWS_KEPT_AT_LEAST_MS`]), in small chunks so the writer is never held long. Events
/// with a pending delivery, replies not yet sent and bot events not yet published stay.
pub async fn retention_step(state: &Outbound) -> anyhow::Result<Removed> {
    let retention = state.delivery.settings().retention_ms;
    let now = now_ms();
    let (cutoff, chat_cutoff) = (now - retention, now - retention.max(CHAT_ROWS_KEPT_AT_LEAST_MS));
    let mut removed = Removed::default();
    loop {
        let (events, attempts) = state.store.remove_older_than(cutoff, 1_000).await?;
        let chat_rows = state.store.remove_chat_rows_older_than(chat_cutoff, 1_000).await?;
        let source_requests = state.store.remove_ingest_older_than(cutoff, 1_000).await?;
        removed.events += events;
        removed.attempts += attempts;
        removed.chat_rows += chat_rows;
        removed.source_requests += source_requests;
        if events + attempts + chat_rows + source_requests == 0 || state.shutdown.is_cancelled() {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(removed)
}
