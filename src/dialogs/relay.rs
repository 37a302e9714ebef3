//! Publishes bot events that an earlier version of hookline recorded in `bot_events` and left
//! unpublished, through the same `delivery::publish` the API uses. Bot events are now published
//! in the chat write's own transaction (`store::platform_events`), so after an upgrade this
//! drains what was waiting and then finds nothing (one indexed read every 200 ms). Each is
//! published as `bot_<id>`, so a crash between publishing and marking it only causes an
//! idempotent re-publish, never a second event.

use std::collections::BTreeMap;
use std::time::Duration;

use uuid::Uuid;

use crate::app::AppState;
use crate::delivery::{MAX_BATCH, NewEvent, publish};
use crate::store::PendingBotEvent;

/// Most bot events read at once; published in calls of at most `delivery::MAX_BATCH`.
const RELAY_BATCH: i64 = 2_000;

/// Publish one batch; returns how many bot events were handled.
pub async fn relay_once(state: &AppState) -> usize {
    let pending = match state.store.unpublished_bot_events(RELAY_BATCH).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read bot events");
            return 0;
        }
    };
    let mut by_account: BTreeMap<Uuid, Vec<PendingBotEvent>> = BTreeMap::new();
    for e in pending {
        by_account.entry(e.account_id).or_default().push(e);
    }
    let mut handled = 0;
    for (account, events) in publish_calls(&by_account) {
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let batch: Vec<NewEvent> = events.iter().map(to_new_event).collect();
        if publish(state, account, batch).await.is_err() {
            // One bad event must not hold back the others: publish one by one and drop (with a
            // warning) only what the publisher refuses outright.
            for e in events {
                if let Err(err) = publish(state, account, vec![to_new_event(e)]).await {
                    if err.is_internal() {
                        return handled;
                    }
                    tracing::warn!(event_type = %e.event_type, error = %err, "bot event refused by the publisher; dropped");
                }
            }
        }
        if let Err(e) = state.store.mark_bot_events_published(&ids).await {
            tracing::warn!(error = %e, "cannot mark bot events published; they will be re-published idempotently");
            return handled;
        }
        handled += ids.len();
    }
    handled
}

/// One publish call per account and run of at most [`MAX_BATCH`] events, in order.
fn publish_calls<T>(by_account: &BTreeMap<Uuid, Vec<T>>) -> impl Iterator<Item = (Uuid, &[T])> {
    by_account
        .iter()
        .flat_map(|(account, events)| events.chunks(MAX_BATCH).map(move |c| (*account, c)))
}

fn to_new_event(e: &PendingBotEvent) -> NewEvent {
    NewEvent {
        event_id: Some(format!("bot_{}", e.id)),
        event_type: e.event_type.clone(),
        payload: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null),
        labels: Vec::new(),
    }
}

/// Run the relay until shutdown.
pub fn spawn(state: &AppState) {
    let state = state.clone();
    let tasks = state.tasks.clone();
    tasks.spawn(async move {
        loop {
            // Publishing waits for the delivery writers, which stop at shutdown: never wait past it.
            let handled = tokio::select! {
                _ = state.shutdown.cancelled() => break,
                n = relay_once(&state) => n,
            };
            // A full batch: more are waiting, go on. Otherwise the backlog is drained (new bot
            // events never come here): look again in a while.
            let pause = if handled < RELAY_BATCH as usize { 200 } else { 0 };
            tokio::select! {
                _ = state.shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(pause)) => {},
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_calls_keep_order_and_respect_the_publish_limit() {
        let items: Vec<usize> = (0..2_500).collect();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let by_account = BTreeMap::from([(a, items.clone()), (b, vec![7])]);
        let calls: Vec<(Uuid, &[usize])> = publish_calls(&by_account).collect();
        assert_eq!(
            calls.iter().map(|(acc, c)| (*acc, c.len())).collect::<Vec<_>>(),
            vec![(a, 1_000), (a, 1_000), (a, 500), (b, 1)]
        );
        assert_eq!(
            calls[..3]
                .iter()
                .flat_map(|(_, c)| c.iter().copied())
                .collect::<Vec<_>>(),
            items
        );
        assert_eq!(publish_calls(&BTreeMap::<Uuid, Vec<u8>>::new()).count(), 0);
    }
}
