//! Events the bots produce (`message.received`, `dialog.completed`, an action's
//! `order.created`, …) are published in the very transaction that records the chat change they
//! describe: the event row and one pending delivery per matching endpoint, the rows
//! `delivery::publish` writes. So an acknowledged update's events are deliverable at once, and
//! cost one write instead of a row kept for a second step to publish later.
//!
//! Their `event_id` (the idempotency key) is `bot_<id>`.
//!
//! The writes are macros because they run inside each backend's transaction (see `on_db!`);
//! what they decide is in plain functions.

use crate::model::ids::AccountId;
use std::collections::HashMap;

use uuid::Uuid;

use crate::model::filter::Subscription;

/// One event a chat write publishes.
#[derive(Clone, Debug)]
pub(crate) struct PlatformEvent<'a> {
    pub id: Uuid,
    pub account_id: AccountId,
    pub event_type: &'a str,
    pub payload: String,
}

impl PlatformEvent<'_> {
    /// The idempotency key it is published under.
    pub fn event_id(&self) -> String {
        format!("bot_{}", self.id)
    }
}

/// Platform events carry no labels.
pub(super) const NO_LABELS: &[String] = &[];

/// The enabled endpoints of an account, to match events against. Read inside the writing
/// transaction, so an endpoint created before the commit gets the event.
pub(super) const MATCHING: &str =
    "SELECT id, event_types, labels FROM webhook_endpoints WHERE account_id = $1 AND enabled";

#[derive(sqlx::FromRow)]
pub(super) struct SubRow {
    id: Uuid,
    event_types: Option<sqlx::types::Json<Vec<String>>>,
    labels: sqlx::types::Json<Vec<String>>,
}

impl SubRow {
    pub fn into_pair(self) -> (Uuid, Subscription) {
        (
            self.id,
            Subscription {
                event_types: self.event_types.map(|j| j.0),
                labels: self.labels.0,
            },
        )
    }
}

/// (account, event id, endpoint) for every event and every endpoint of its account that
/// subscribes to it, in event order. Pure.
pub(super) fn fan_out<'e>(
    events: impl IntoIterator<Item = (Uuid, Uuid, &'e str, &'e [String])>,
    subs: &HashMap<Uuid, Vec<(Uuid, Subscription)>>,
) -> Vec<(Uuid, Uuid, Uuid)> {
    let mut out = Vec::new();
    for (account_id, event_id, event_type, labels) in events {
        for (endpoint_id, sub) in subs.get(&account_id).map(Vec::as_slice).unwrap_or(&[]) {
            if sub.matches(event_type, labels) {
                out.push((account_id, event_id, *endpoint_id));
            }
        }
    }
    out
}

/// Most delivery rows in one statement (fewer on PostgreSQL, whose statements stay near
/// `multi_row::PG_STATEMENT_BYTES`).
pub(super) const DELIVERY_ROWS: usize = 1_024;

/// Insert pending deliveries `(account, event, endpoint)` in multi-row statements, on `$tx`.
macro_rules! insert_deliveries {
    ($tx:ident, $style:expr, $deliveries:expr, $now:expr) => {{
        let style = $style;
        let now: i64 = $now;
        let deliveries: &[(uuid::Uuid, uuid::Uuid, uuid::Uuid)] = $deliveries;
        // Four ids and three timestamps, with their framing: about 120 bytes a row.
        let parts = $crate::store::multi_row::parts(
            style,
            deliveries,
            7,
            $crate::store::platform_events::DELIVERY_ROWS,
            |_| 120,
        );
        for part in parts {
            let mut q = sqlx::query(sqlx::AssertSqlSafe($crate::store::multi_row::insert_deliveries(
                style, part.rows,
            )));
            for (account_id, event_id, endpoint_id) in part.items {
                q = q
                    .bind($crate::store::new_id())
                    .bind(*account_id)
                    .bind(*event_id)
                    .bind(*endpoint_id)
                    .bind(now)
                    .bind(now)
                    .bind(now);
            }
            for _ in 0..part.padding(7) {
                q = q.bind(None::<String>);
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}
pub(super) use insert_deliveries;

/// Publish `$events` (`&[PlatformEvent]`) on `$tx`: the event rows, then their deliveries.
/// Evaluates to the number of deliveries written; fails with `sqlx::Error`.
macro_rules! publish_platform_events {
    ($tx:ident, $style:expr, $events:expr, $now:expr) => {{
        use $crate::store::multi_row as rows;
        use $crate::store::platform_events as pe;
        let style = $style;
        let now: i64 = $now;
        let events: &[pe::PlatformEvent<'_>] = $events;
        let mut accounts: Vec<uuid::Uuid> = events.iter().map(|e| e.account_id.into_uuid()).collect();
        accounts.sort();
        accounts.dedup();
        let mut subs = std::collections::HashMap::new();
        for account_id in accounts {
            let found: Vec<pe::SubRow> = sqlx::query_as(pe::MATCHING)
                .bind(account_id)
                .fetch_all(&mut *$tx)
                .await?;
            subs.insert(
                account_id,
                found.into_iter().map(pe::SubRow::into_pair).collect::<Vec<_>>(),
            );
        }
        let parts = rows::parts(style, events, 7, 64, |e| e.payload.len() + e.event_type.len() + 120);
        for part in parts {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(rows::insert_events(style, part.rows)));
            for e in part.items {
                q = q
                    .bind(e.id)
                    .bind(e.account_id)
                    .bind(e.event_id())
                    .bind(e.event_type)
                    .bind(&e.payload)
                    .bind(sqlx::types::Json(pe::NO_LABELS))
                    .bind(now);
            }
            for _ in 0..part.padding(7) {
                q = q.bind(None::<String>);
            }
            q.execute(&mut *$tx).await?;
        }
        let deliveries = pe::fan_out(
            events
                .iter()
                .map(|e| (e.account_id.into_uuid(), e.id, e.event_type, pe::NO_LABELS)),
            &subs,
        );
        $crate::store::platform_events::insert_deliveries!($tx, style, &deliveries, now);
        deliveries.len()
    }};
}
pub(super) use publish_platform_events;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_fan_out_to_the_subscribed_endpoints_of_their_account() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let (all, orders, other) = (Uuid::from_u128(10), Uuid::from_u128(11), Uuid::from_u128(12));
        let sub = |types: Option<&[&str]>| Subscription {
            event_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
            labels: Vec::new(),
        };
        let subs = HashMap::from([
            (a, vec![(all, sub(None)), (orders, sub(Some(&["order.created"])))]),
            (b, vec![(other, sub(None))]),
        ]);
        let (e1, e2, e3) = (Uuid::from_u128(100), Uuid::from_u128(101), Uuid::from_u128(102));
        let got = fan_out(
            [
                (a, e1, "message.received", NO_LABELS),
                (a, e2, "order.created", NO_LABELS),
                (Uuid::from_u128(3), e3, "order.created", NO_LABELS),
            ],
            &subs,
        );
        assert_eq!(got, vec![(a, e1, all), (a, e2, all), (a, e2, orders)]);
        let id = Uuid::from_u128(7);
        let event = PlatformEvent {
            id,
            account_id: AccountId::from(a),
            event_type: "x",
            payload: "{}".into(),
        };
        assert_eq!(event.event_id(), format!("bot_{id}"));
    }
}
