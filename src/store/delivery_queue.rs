//! The outbound queue's writes: publishing events with their deliveries, claiming due
//! deliveries under a lease, and recording attempts. Publishes and outcomes arrive in groups
//! from the delivery writer (group commit) and are committed in one transaction per group.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, Store, StoreError, StoreResult, on_db};
use crate::model::filter::Subscription;
use crate::model::ids::{AccountId, AttemptId, DeliveryId, EndpointId, EventId};

use super::multi_row as rows;
use super::platform_events as pe;
use rows::Style;

/// One event to publish; `payload` is the JSON text as it will be delivered.
#[derive(Clone, Debug)]
pub struct EventToWrite {
    /// The id the event gets if it is new. Chosen once per publish, so that when a commit's
    /// answer is lost and the publish is committed again, the row its first attempt wrote is
    /// recognised as its own, not as an earlier publish of the same `event_id`.
    pub id: EventId,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub labels: Vec<String>,
}

/// Events of one account published by one request.
#[derive(Clone, Debug)]
pub struct PublishBatch {
    pub account_id: AccountId,
    pub events: Vec<EventToWrite>,
    /// The source request these events came from, logged in the same transaction (its event
    /// is the batch's first); alone when the request became no event.
    pub ingest: Option<Box<super::sources::IngestRow>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedRow {
    pub id: EventId,
    pub event_id: String,
    pub duplicate: bool,
}

/// What one attempt answered; stored in `webhook_attempts`.
#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub account_id: AccountId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub attempt: i64,
    pub cause: String,
    pub succeeded: bool,
    pub response_status: Option<i64>,
    pub response_headers: serde_json::Value,
    pub response_body: String,
    pub request_headers: serde_json::Value,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub latency_ms: i64,
    pub created_at: i64,
}

/// A delivery's next state after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextState {
    /// Try again at this time.
    Retry(i64),
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
pub enum QueueWrite {
    /// Record an attempt and move the delivery on, only while `owner` still holds the lease.
    Outcome {
        owner: Uuid,
        next: NextState,
        record: Box<AttemptRecord>,
    },
    /// Give a claimed delivery back without an attempt (rate limit, in-flight cap, open breaker).
    Postpone {
        delivery_id: DeliveryId,
        owner: Uuid,
        at: i64,
    },
}

impl QueueWrite {
    /// The delivery this write moves.
    pub fn delivery_id(&self) -> DeliveryId {
        match self {
            QueueWrite::Outcome { record, .. } => record.delivery_id,
            QueueWrite::Postpone { delivery_id, .. } => *delivery_id,
        }
    }
}

/// A claimed delivery with what sending it needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: DeliveryId,
    pub account_id: AccountId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub attempts: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventBody {
    pub id: EventId,
    pub event_id: String,
    pub event_type: String,
    pub payload: Option<String>,
    pub created_at: i64,
}

/// Lease due deliveries on SQLite (PostgreSQL adds `FOR UPDATE SKIP LOCKED`).
pub(super) const CLAIM_SQLITE: &str = "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
     WHERE id IN (SELECT id FROM webhook_deliveries
                  WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until < $3
                  ORDER BY next_attempt_at LIMIT $4)
     RETURNING id, account_id, event_id, endpoint_id, attempts";
const ENDPOINT_OK: &str =
    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL";
const ENDPOINT_FAILING: &str =
    "UPDATE webhook_endpoints SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL";

/// Per-statement row caps (powers of two; see [`rows::max_rows`]); on PostgreSQL also capped
/// by bytes (see [`rows::PG_STATEMENT_BYTES`]).
const EVENT_ROWS: usize = 512;
const ATTEMPT_ROWS: usize = 256;
const UPDATE_ROWS: usize = 512;

/// How one published event is answered: the first of its `(account, event_id)` in the group
/// (`first`), or a repeat within the group of an earlier one.
#[derive(Clone, Copy)]
enum Slot {
    First(usize),
    Repeat(usize),
}

/// An event that is the first of its `(account, event_id)` in the group.
struct Candidate<'a> {
    account_id: AccountId,
    event: &'a EventToWrite,
    /// The id it gets if it is new.
    id: EventId,
    /// The id it is answered with, and whether it existed before (filled in by the writes).
    resolved: Option<(EventId, bool)>,
    /// Inserted by this transaction (so it gets its deliveries now). An event a lost commit
    /// of this same publish wrote is answered as new but has its deliveries already.
    inserted_now: bool,
}

/// The group's events, each `(account, event_id)` once, and how every published event maps
/// onto them. Pure: no I/O.
fn candidates(publishes: &[PublishBatch]) -> (Vec<Candidate<'_>>, Vec<Vec<Slot>>) {
    let mut firsts: Vec<Candidate<'_>> = Vec::new();
    let mut index: HashMap<(AccountId, &str), usize> = HashMap::new();
    let slots = publishes
        .iter()
        .map(|batch| {
            batch
                .events
                .iter()
                .map(|ev| match index.entry((batch.account_id, ev.event_id.as_str())) {
                    std::collections::hash_map::Entry::Occupied(i) => Slot::Repeat(*i.get()),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(firsts.len());
                        firsts.push(Candidate {
                            account_id: batch.account_id,
                            event: ev,
                            id: ev.id,
                            resolved: None,
                            inserted_now: false,
                        });
                        Slot::First(firsts.len() - 1)
                    }
                })
                .collect()
        })
        .collect();
    (firsts, slots)
}

/// The group's ingest rows, each with the event it became (resolved by the event writes) and
/// its final outcome: a request whose event existed already is a duplicate.
fn ingest_rows<'a>(
    publishes: &'a [PublishBatch],
    slots: &[Vec<Slot>],
    firsts: &[Candidate<'_>],
) -> Vec<(
    &'a super::sources::IngestRow,
    Option<EventId>,
    super::sources::IngestOutcome,
)> {
    use super::sources::IngestOutcome;
    publishes
        .iter()
        .zip(slots)
        .filter_map(|(batch, slots)| {
            let row = batch.ingest.as_deref()?;
            let resolved = slots.first().and_then(|slot| match *slot {
                Slot::First(i) => firsts[i].resolved,
                Slot::Repeat(i) => firsts[i].resolved.map(|(id, _)| (id, true)),
            });
            Some(match resolved {
                Some((id, true)) => (row, Some(id), IngestOutcome::Duplicate),
                Some((id, false)) => (row, Some(id), row.outcome),
                None => (row, None, row.outcome),
            })
        })
        .collect()
}

/// Insert a group's new events (`$firsts`, in `$order`) and resolve the others to the rows that
/// existed already, one query per account and chunk; on `$tx`, inside the group's transaction.
macro_rules! write_events {
    ($tx:ident, $style:ident, $firsts:ident, $order:ident, $accounts:ident, $cap:ident, $now:ident) => {{
        let (style, now, firsts, order, accounts) = ($style, $now, &mut $firsts, &$order, &$accounts);
        let tx = &mut $tx;
        // Events: the rows inserted come back; the others existed already.
        let bytes: usize = firsts
            .iter()
            .map(|c| {
                let e = c.event;
                e.payload.len()
                    + e.event_id.len()
                    + e.event_type.len()
                    + e.labels.iter().map(|l| l.len() + 3).sum::<usize>()
                    + 80
            })
            .sum();
        let max = rows::max_rows(7, 0, ($cap)(EVENT_ROWS, bytes, firsts.len()));
        let mut inserted: HashSet<EventId> = HashSet::with_capacity(firsts.len());
        for part in rows::parts_of(style, order, max) {
            let mut q =
                sqlx::query_scalar::<_, EventId>(sqlx::AssertSqlSafe(rows::insert_events_returning(style, part.rows)));
            for &i in part.items {
                let c = &firsts[i];
                q = q
                    .bind(c.id)
                    .bind(c.account_id)
                    .bind(&c.event.event_id)
                    .bind(&c.event.event_type)
                    .bind(&c.event.payload)
                    .bind(Json(&c.event.labels))
                    .bind(now);
            }
            for _ in 0..part.padding(7) {
                q = q.bind(None::<String>);
            }
            inserted.extend(q.fetch_all(&mut **tx).await?);
        }
        for c in firsts.iter_mut().filter(|c| inserted.contains(&c.id)) {
            c.resolved = Some((c.id, false));
            c.inserted_now = true;
        }

        // Duplicates of earlier publishes: their originals' ids, one query per account and chunk.
        let bytes: usize = firsts.iter().map(|c| c.event.event_id.len() + 8).sum();
        let max = rows::max_rows(1, 1, ($cap)(EVENT_ROWS, bytes, firsts.len()));
        for account_id in accounts {
            let missing: Vec<usize> = (0..firsts.len())
                .filter(|&i| firsts[i].resolved.is_none() && firsts[i].account_id == *account_id)
                .collect();
            for part in rows::parts_of(style, &missing, max) {
                let mut q =
                    sqlx::query_as::<_, (EventId, String)>(sqlx::AssertSqlSafe(rows::find_events(style, part.rows)))
                        .bind(*account_id);
                for &i in part.items {
                    q = q.bind(&firsts[i].event.event_id);
                }
                for _ in 0..part.padding(1) {
                    q = q.bind(None::<String>);
                }
                let found: HashMap<String, EventId> = q
                    .fetch_all(&mut **tx)
                    .await?
                    .into_iter()
                    .map(|(id, e)| (e, id))
                    .collect();
                for &i in part.items {
                    let original = found
                        .get(&firsts[i].event.event_id)
                        .copied()
                        .ok_or_else(|| StoreError::Missing("an event that conflicted on its event_id"))?;
                    // The row this publish's own earlier attempt wrote is not a duplicate.
                    firsts[i].resolved = Some((original, original != firsts[i].id));
                }
            }
        }
    }};
}

/// Record a group's queue writes (postponements, attempt outcomes and their attempt rows), then
/// the health of the endpoints they concern; on `$tx`, inside the group's transaction.
macro_rules! write_queue {
    ($tx:ident, $style:ident, $queue:ident, $cap:ident, $now:ident) => {{
        let (style, now, queue) = ($style, $now, $queue);
        let tx = &mut $tx;
        // Queue writes, in runs that name each delivery once (see `rows::runs_of_unique`).
        let mut health: BTreeMap<EndpointId, bool> = BTreeMap::new();
        for run in rows::runs_of_unique(queue, QueueWrite::delivery_id) {
            let postponed: Vec<(DeliveryId, Uuid, i64)> = run
                .iter()
                .filter_map(|w| match w {
                    QueueWrite::Postpone { delivery_id, owner, at } => Some((*delivery_id, *owner, *at)),
                    QueueWrite::Outcome { .. } => None,
                })
                .collect();
            let max = rows::max_rows(3, 0, ($cap)(UPDATE_ROWS, 60, 1));
            for part in rows::parts_of(style, &postponed, max) {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(rows::postpone(style, part.rows)));
                for (id, owner, when) in part.items {
                    q = q.bind(*id).bind(*owner).bind(*when);
                }
                for _ in 0..part.padding(3) {
                    q = q.bind(None::<String>);
                }
                q.execute(&mut **tx).await?;
            }

            let outcomes: Vec<(&Uuid, &NextState, &AttemptRecord)> = run
                .iter()
                .filter_map(|w| match w {
                    QueueWrite::Outcome { owner, next, record } => Some((owner, next, record.as_ref())),
                    QueueWrite::Postpone { .. } => None,
                })
                .collect();
            let mut moved: HashSet<DeliveryId> = HashSet::with_capacity(outcomes.len());
            let max = rows::max_rows(6, 1, ($cap)(UPDATE_ROWS, 100, 1));
            for part in rows::parts_of(style, &outcomes, max) {
                let mut q =
                    sqlx::query_scalar::<_, DeliveryId>(sqlx::AssertSqlSafe(rows::record_outcomes(style, part.rows)))
                        .bind(now);
                for (owner, next, r) in part.items {
                    let (status, when) = match next {
                        NextState::Retry(when) => ("pending", *when),
                        NextState::Succeeded => ("succeeded", now),
                        NextState::Failed => ("failed", now),
                    };
                    q = q
                        .bind(r.delivery_id)
                        .bind(**owner)
                        .bind(status)
                        .bind(when)
                        .bind(r.response_status)
                        .bind(&r.error_class);
                }
                for _ in 0..part.padding(6) {
                    q = q.bind(None::<String>);
                }
                moved.extend(q.fetch_all(&mut **tx).await?);
            }
            // A node whose lease expired does not overwrite the node that took over, and
            // logs no attempt for it.
            let attempts: Vec<&AttemptRecord> = outcomes
                .iter()
                .map(|(_, _, r)| *r)
                .filter(|r| moved.contains(&r.delivery_id))
                .collect();
            let bytes: usize = attempts
                .iter()
                .map(|r| r.response_body.len() + r.error_message.as_ref().map_or(0, String::len) + 400)
                .sum();
            let max = rows::max_rows(16, 0, ($cap)(ATTEMPT_ROWS, bytes, attempts.len()));
            for part in rows::parts_of(style, &attempts, max) {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(rows::insert_attempts(style, part.rows)));
                for r in part.items {
                    q = q
                        .bind(r.id)
                        .bind(r.delivery_id)
                        .bind(r.account_id)
                        .bind(r.event_id)
                        .bind(r.endpoint_id)
                        .bind(r.attempt)
                        .bind(&r.cause)
                        .bind(r.succeeded)
                        .bind(r.response_status)
                        .bind(Json(&r.response_headers))
                        .bind(&r.response_body)
                        .bind(Json(&r.request_headers))
                        .bind(&r.error_class)
                        .bind(&r.error_message)
                        .bind(r.latency_ms)
                        .bind(r.created_at);
                }
                for _ in 0..part.padding(16) {
                    q = q.bind(None::<String>);
                }
                q.execute(&mut **tx).await?;
            }
            // Only the last outcome per endpoint in the group matters. A delivery the endpoint's
            // filter declined (`cause = 'filtered'`) sent nothing, so says nothing of its health.
            for r in attempts.into_iter().filter(|r| r.cause != "filtered") {
                health.insert(r.endpoint_id, r.succeeded);
            }
        }
        // Endpoint health is written last and in id order, so concurrent groups (several
        // writers on PostgreSQL) and endpoint disabling lock rows in one order and cannot
        // deadlock.
        for (endpoint_id, ok) in health {
            if ok {
                sqlx::query(ENDPOINT_OK).bind(endpoint_id).execute(&mut **tx).await?;
            } else {
                sqlx::query(ENDPOINT_FAILING)
                    .bind(endpoint_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }};
}

impl Store {
    /// Commit a group of publishes and queue writes in ONE transaction (group commit). Each
    /// publish gets its rows back in order. An event whose `(account, event_id)` exists already
    /// (or came earlier in the same group) is answered with the original's id and
    /// `duplicate: true`, and gets no new deliveries.
    ///
    /// Rows are written with multi-row statements (see [`rows`]): events, then duplicates
    /// resolved with one `SELECT … IN (…)` per account and chunk, then deliveries; outcomes as
    /// one `UPDATE … FROM (VALUES …)` per chunk, then their attempt rows.
    pub async fn write_group(
        &self,
        publishes: &[PublishBatch],
        queue: &[QueueWrite],
        now: i64,
    ) -> StoreResult<Vec<Vec<PublishedRow>>> {
        let (mut firsts, slots) = candidates(publishes);
        // Inserted in (account, event_id) order, so two PostgreSQL writers publishing the same
        // ids take the unique-index locks in one order and cannot deadlock each other.
        let mut order: Vec<usize> = (0..firsts.len()).collect();
        order.sort_by(|&a, &b| {
            (firsts[a].account_id, &firsts[a].event.event_id).cmp(&(firsts[b].account_id, &firsts[b].event.event_id))
        });
        let style = self.db.style();
        // Rows per statement for rows of about `total / n` bytes: SQLite runs in-process and
        // takes the row caps as they are; PostgreSQL statements stay near a byte budget.
        let cap = |cap: usize, total: usize, n: usize| match style {
            Style::Question => cap,
            Style::Dollar => cap.min(rows::byte_cap(total, n, rows::PG_STATEMENT_BYTES)),
        };
        let mut accounts: Vec<AccountId> = publishes.iter().map(|b| b.account_id).collect();
        accounts.sort();
        accounts.dedup();
        on_db!(&self.db, write pool => {
            let mut tx = pool.begin().await?;
            // Subscriptions are read inside the transaction, so an endpoint created before this
            // commit is matched, and the list lives only as long as the group. Keyed by plain
            // uuids, as `platform_events` (shared with the chat writes) matches them.
            let mut subs: HashMap<Uuid, Vec<(Uuid, Subscription)>> = HashMap::new();
            for account_id in &accounts {
                let found: Vec<pe::SubRow> = sqlx::query_as(pe::MATCHING).bind(*account_id).fetch_all(&mut *tx).await?;
                subs.insert(account_id.into_uuid(), found.into_iter().map(pe::SubRow::into_pair).collect());
            }

            write_events!(tx, style, firsts, order, accounts, cap, now);

            // One delivery per new event and matching endpoint, in publish order.
            let new_events = firsts.iter().filter(|c| c.inserted_now);
            let deliveries = pe::fan_out(
                new_events.map(|c| {
                    (c.account_id.into_uuid(), c.id.into_uuid(), c.event.event_type.as_str(), c.event.labels.as_slice())
                }),
                &subs,
            );
            pe::insert_deliveries!(tx, style, &deliveries, now);

            let ingest = ingest_rows(publishes, &slots, &firsts);
            if !ingest.is_empty() {
                super::sources::insert_ingest!(tx, style, &ingest);
            }

            write_queue!(tx, style, queue, cap, now);
            tx.commit().await?;
            #[cfg(test)]
            self.faults.after_commit()?;
            Ok::<_, StoreError>(())
        })?;
        slots
            .into_iter()
            .map(|batch| {
                batch
                    .into_iter()
                    .map(|slot| {
                        let (i, repeat) = match slot {
                            Slot::First(i) => (i, false),
                            Slot::Repeat(i) => (i, true),
                        };
                        let c = &firsts[i];
                        let (id, existed) = c.resolved.ok_or(StoreError::Missing("a published event's row"))?;
                        Ok(PublishedRow {
                            id,
                            event_id: c.event.event_id.clone(),
                            duplicate: existed || repeat,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()
            })
            .collect()
    }

    /// At the start of the only node of an SQLite database, give back every lease a previous
    /// run held: replies to send and outbound webhook deliveries that a crash interrupted go
    /// out now, not when their lease runs out. Nothing on PostgreSQL, where other nodes may
    /// hold live leases.
    pub async fn release_leases_of_previous_run(&self) -> StoreResult<()> {
        let Db::Sqlite { write, .. } = &self.db else {
            return Ok(());
        };
        let mut tx = write.begin().await?;
        for sql in [
            "UPDATE outbox SET lease_until = 0 WHERE status = 'pending' AND lease_until > 0",
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = 0 WHERE status = 'pending' AND lease_until > 0",
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Lease up to `limit` due deliveries to `owner` until `now + lease_ms`. Rows whose lease
    /// expired (a crashed node) are due again.
    pub async fn claim_due(&self, owner: Uuid, now: i64, lease_ms: i64, limit: i64) -> StoreResult<Vec<Claimed>> {
        let rows = match &self.db {
            // SQLite has one writer, so the UPDATE is already exclusive; no row locks exist.
            Db::Sqlite { write, .. } => {
                sqlx::query_as::<_, Claimed>(CLAIM_SQLITE)
                    .bind(owner)
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(write)
                    .await?
            }
            // Several nodes claim at once: SKIP LOCKED lets each take different rows without
            // waiting, and the lease columns keep them away after commit.
            Db::Postgres(pool) => {
                super::deadline::within(
                    sqlx::query_as::<_, Claimed>(
                        "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
                     WHERE id IN (SELECT id FROM webhook_deliveries
                                  WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until < $3
                                  ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
                     RETURNING id, account_id, event_id, endpoint_id, attempts",
                    )
                    .bind(owner)
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(pool),
                )
                .await?
            }
        };
        Ok(rows)
    }

    /// The bodies of the given events (read pool: no writer held while reading payloads).
    pub async fn event_bodies(&self, ids: &[EventId]) -> StoreResult<Vec<EventBody>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, event_id, event_type, payload, created_at FROM webhook_events WHERE id IN ({})",
            placeholders.join(",")
        );
        let rows = on_db!(&self.db, read pool => {
            let mut q = sqlx::query_as::<_, EventBody>(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// Pending deliveries and the age of the oldest due one (for metrics).
    pub async fn queue_depth(&self, now: i64) -> StoreResult<(i64, i64)> {
        let (count, oldest): (i64, Option<i64>) = on_db!(&self.db, read pool => {
            sqlx::query_as("SELECT COUNT(*), MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(pool).await
        })?;
        Ok((count, oldest.map(|t| (now - t).max(0)).unwrap_or(0)))
    }
}
