//! Bot events are published in the chat write's own transaction (see `store::platform_events`),
//! so what `delivery::publish` checks must be checked before that write: an event a scenario's
//! `action` emits under one of the account's own event types must match the JSON Schema the
//! account gave that type (the platform's types have none). An event that would be refused is
//! dropped with a warning and a metric, and the conversation goes on.

use crate::model::ids::AccountId;

use super::plan::NewEvent;
use crate::delivery::{catalogue, filter, schema};
use crate::store::{Store, StoreError};

/// Remove from `events` those the publisher would refuse for `account_id`.
pub async fn drop_refused(store: &Store, account_id: AccountId, events: &mut Vec<NewEvent>) -> Result<(), StoreError> {
    let mut kept = Vec::with_capacity(events.len());
    for event in events.drain(..) {
        if catalogue::platform_type(&event.event_type).is_some() {
            kept.push(event);
            continue;
        }
        if !filter::valid_type_name(&event.event_type) {
            tracing::warn!(event_type = %event.event_type, "a scenario emitted an invalid event type; dropped");
            metrics::counter!("bot_events_dropped_total", "why" => "name").increment(1);
            continue;
        }
        let saved = store
            .get_event_type(account_id, &event.event_type)
            .await?
            .and_then(|t| t.schema);
        // Compiled per event: bot events are few, and the row may have changed since the last.
        if let Some(saved) = saved
            && let Err(why) = schema::build(&saved.0)
                .map_err(|e| format!("the type's schema cannot be applied: {e}"))
                .and_then(|validator| schema::check(&validator, &event.payload))
        {
            tracing::warn!(event_type = %event.event_type, %why, "a scenario's event does not match its type's schema; dropped");
            metrics::counter!("bot_events_dropped_total", "why" => "schema").increment(1);
            continue;
        }
        kept.push(event);
    }
    *events = kept;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventTypeRow, now_ms};
    use serde_json::json;

    fn event(t: &str, payload: serde_json::Value) -> NewEvent {
        NewEvent {
            event_type: t.into(),
            payload,
        }
    }

    #[tokio::test]
    async fn events_the_publisher_would_refuse_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::test_sqlite(&dir).await;
        let account = store.create_account("A").await.unwrap();
        store
            .create_event_type(&EventTypeRow {
                account_id: account.id,
                name: "loyalty.joined".into(),
                description: String::new(),
                schema: Some(sqlx::types::Json(json!({
                    "type": "object", "required": ["card"], "properties": {"card": {"type": "string"}}
                }))),
                deprecated: false,
                created_at: now_ms(),
                updated_at: now_ms(),
            })
            .await
            .unwrap();
        let mut events = vec![
            event("message.received", json!({"text": "hi"})),
            event("loyalty.joined", json!({"card": "A-1"})),
            event("loyalty.joined", json!({"card": 7})),
            event("bad type", json!({})),
            event("order.created", json!({"any": "thing"})),
        ];
        drop_refused(&store, account.id, &mut events).await.unwrap();
        let kept: Vec<(&str, &serde_json::Value)> =
            events.iter().map(|e| (e.event_type.as_str(), &e.payload)).collect();
        assert_eq!(
            kept,
            vec![
                ("message.received", &json!({"text": "hi"})),
                ("loyalty.joined", &json!({"card": "A-1"})),
                ("order.created", &json!({"any": "thing"})),
            ]
        );
    }
}
