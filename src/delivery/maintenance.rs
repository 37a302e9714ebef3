//! Periodic outbound housekeeping: queue gauges for Prometheus and retention.

use std::time::Duration;

use crate::app::AppState;
use crate::store::now_ms;

/// What one retention pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub events: u64,
    pub attempts: u64,
}

pub fn spawn(state: &AppState) {
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
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = s.shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = retention_step(&s).await {
                        tracing::warn!(error = %e, "webhook retention pass failed");
                    }
                }
            }
        }
    });
}

pub async fn update_gauges(state: &AppState) {
    if let Ok((depth, oldest_ms)) = state.store.queue_depth(now_ms()).await {
        metrics::gauge!("webhook_queue_depth").set(depth as f64);
        metrics::gauge!("webhook_oldest_pending_age_seconds").set(oldest_ms as f64 / 1000.0);
    }
}

/// Remove events (with their deliveries and attempts) and attempts older than the retention
/// age, in small chunks so the writer is never held long. Events with a pending delivery stay.
pub async fn retention_step(state: &AppState) -> anyhow::Result<Removed> {
    let cutoff = now_ms() - state.delivery.settings().retention_ms;
    let mut removed = Removed::default();
    loop {
        let (events, attempts) = state.store.remove_older_than(cutoff, 1_000).await?;
        removed.events += events;
        removed.attempts += attempts;
        if events + attempts == 0 || state.shutdown.is_cancelled() {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(removed)
}
