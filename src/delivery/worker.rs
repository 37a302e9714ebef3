//! The delivery worker: a loop around [`step`], which claims due deliveries under a lease,
//! asks each endpoint's [`Gate`] whether it may send now, and either starts the attempt or
//! gives the delivery back for later without spending a retry.
//!
//! Attempts run as tasks bounded by `delivery_concurrency`. Each records its outcome through
//! the group-commit writer, guarded by the lease holder id.

use std::sync::Arc;
use std::time::Duration;

use super::Outbound;
use super::gate::{Admit, Gate, Limits, Transition};
use super::sender::{self, Request};
use super::shape::{self, Expr, Shaped};
use super::signing::{WebhookSecret, signature_header};
use super::{NewEvent, catalogue, retry, writer::Write};
use crate::jq::Program;
use crate::model::ids::{AccountId, AttemptId, DeliveryId, EndpointId, EventId};
use crate::store::{AttemptRecord, Claimed, EndpointRow, EventBody, NextState, QueueWrite, Worker, now_ms};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// An endpoint as the worker needs it: secrets opened, limits resolved.
pub struct EndpointRt {
    pub id: EndpointId,
    pub account_id: AccountId,
    pub url: String,
    pub enabled: bool,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub limits: Limits,
    pub schedule: Option<Vec<f64>>,
    pub secrets: Vec<WebhookSecret>,
    pub failing_since: Option<i64>,
    /// jq: send only when this yields `true`.
    pub filter: Option<Expr>,
    /// jq: what to send instead of the envelope.
    pub transform: Option<Expr>,
}

/// Sealing purposes of endpoint secrets (bound as associated data).
pub const SECRET_PURPOSE: &str = "webhook_endpoint.secret";

impl EndpointRt {
    pub fn from_row(state: &Outbound, row: &EndpointRow, now: i64) -> anyhow::Result<EndpointRt> {
        let open = |sealed: &[u8]| -> anyhow::Result<WebhookSecret> {
            let text = state.cipher.open_string(SECRET_PURPOSE, sealed)?;
            WebhookSecret::parse(text.expose()).map_err(|e| anyhow::anyhow!("stored secret is invalid: {e}"))
        };
        let mut secrets = vec![open(&row.secret)?];
        if let (Some(prev), Some(until)) = (&row.previous_secret, row.previous_secret_until)
            && until > now
        {
            secrets.push(open(prev)?);
        }
        Ok(EndpointRt {
            id: row.id,
            account_id: row.account_id,
            url: row.url.clone(),
            enabled: row.enabled,
            headers: super::endpoint_headers::open(&state.cipher, row.id, &row.headers.0)?,
            // An attempt must end while its lease holds, or another node could start the same one.
            timeout: Duration::from_millis(
                row.timeout_ms
                    .clamp(1, (state.delivery.settings().lease_ms - 1_000).max(500)) as u64,
            ),
            limits: Limits {
                rate_per_sec: row.rate_limit.map(|r| r.clamp(1, u32::MAX as i64) as u32),
                max_in_flight: row
                    .max_in_flight
                    .map(|m| m.clamp(1, 10_000) as u32)
                    .unwrap_or(state.delivery.settings().max_in_flight),
            },
            schedule: row.retry_schedule.as_ref().map(|s| s.0.clone()),
            secrets,
            failing_since: row.failing_since,
            filter: row.filter.as_deref().map(Program::compile),
            transform: row.transform.as_deref().map(Program::compile),
        })
    }
}

/// What one step did.
#[derive(Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// Claimed this many deliveries (started or postponed).
    Claimed(usize),
    QueueEmpty,
    /// Every sending slot is busy.
    Saturated,
}

pub async fn run(state: Outbound) {
    let slots = Arc::new(Semaphore::new(state.delivery.settings().concurrency));
    let poll = state.delivery.settings().poll;
    let published = state.delivery.inner.published.clone();
    loop {
        if state.shutdown.is_cancelled() {
            break;
        }
        let outcome = step(&state, &slots).await;
        match &outcome {
            Ok(_) => state.store.workers().succeeded(Worker::Delivery),
            Err(_) => state.store.workers().failed(Worker::Delivery),
        }
        match outcome {
            Ok(StepOutcome::Claimed(_)) => continue,
            Ok(StepOutcome::Saturated) => {
                // Wait for a batch's worth of slots (or a poll interval), then claim again.
                let want = claim_floor(state.delivery.settings().concurrency) as u32;
                tokio::select! {
                    _ = state.shutdown.cancelled() => break,
                    p = slots.clone().acquire_many_owned(want) => drop(p),
                    _ = tokio::time::sleep(poll) => {}
                }
            }
            Ok(StepOutcome::QueueEmpty) => {
                tokio::select! {
                    _ = state.shutdown.cancelled() => break,
                    _ = published.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "delivery claim failed; retrying shortly");
                tokio::select! {
                    _ = state.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(poll.max(crate::store::RETRY_AFTER_FAILURE)) => {}
                }
            }
        }
    }
}

/// Fewest free slots worth a claim while others are busy. A claim is a write (a commit of its
/// own on SQLite, sharing the one writer connection with group commits), so claiming one
/// delivery per freed slot would spend the writer on claims; a quarter of the slots (at most
/// 64) keeps claims batched while the rest are still sending.
fn claim_floor(concurrency: usize) -> usize {
    (concurrency / 4).clamp(1, 64)
}

/// Claim what is due and free slots allow; start or postpone each claimed delivery.
pub async fn step(state: &Outbound, slots: &Arc<Semaphore>) -> anyhow::Result<StepOutcome> {
    let free = slots.available_permits();
    let concurrency = state.delivery.settings().concurrency;
    if free < claim_floor(concurrency) {
        return Ok(StepOutcome::Saturated);
    }
    let d = &state.delivery.inner;
    let now = now_ms();
    let claimed = state
        .store
        .claim_due(d.node_id, now, d.settings.lease_ms, free.min(512) as i64)
        .await?;
    if claimed.is_empty() {
        return Ok(StepOutcome::QueueEmpty);
    }
    let n = claimed.len();
    let mut ids: Vec<EventId> = claimed.iter().map(|c| c.event_id).collect();
    ids.sort();
    ids.dedup();
    let bodies = state.store.event_bodies(&ids).await?;
    let bodies: std::collections::HashMap<EventId, Arc<EventBody>> =
        bodies.into_iter().map(|b| (b.id, Arc::new(b))).collect();
    let mut waiting: std::collections::HashMap<EndpointId, i64> = std::collections::HashMap::new();
    for c in claimed {
        let Some(body) = bodies.get(&c.event_id).cloned() else {
            continue; // the event was removed meanwhile; its delivery went with it
        };
        let endpoint = match endpoint(state, c.endpoint_id, now).await {
            Ok(Some(e)) => e,
            Ok(None) => continue, // deleted: its deliveries are gone with it
            Err(e) => {
                tracing::error!(endpoint_id = %c.endpoint_id, error = %e, "cannot load endpoint; postponing");
                postpone(state, c.id, now + 60_000).await;
                continue;
            }
        };
        if !endpoint.enabled {
            postpone(state, c.id, now + 60_000).await;
            continue;
        }
        let admit = {
            let mut gates = d.gates.lock().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?;
            gates
                .entry(endpoint.id)
                .or_insert_with(|| Gate::new(d.settings.breaker_cooldown_ms))
                .admit(now, endpoint.limits)
        };
        match admit {
            Admit::WaitUntil(at) => {
                // Under a rate limit, spread the postponed ones over the slots they will get,
                // instead of making them all due again at the same instant.
                let k = waiting.entry(endpoint.id).or_insert(0i64);
                let spread = endpoint
                    .limits
                    .rate_per_sec
                    .map_or(0, |r| *k * 1000 / i64::from(r.max(1)));
                *k += 1;
                postpone(state, c.id, at.max(now + 1) + spread).await
            }
            Admit::Go => {
                let permit = match slots.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        cancel_gate(state, endpoint.id);
                        postpone(state, c.id, now).await;
                        continue;
                    }
                };
                state.tasks.spawn(attempt(state.clone(), c, body, endpoint, permit));
            }
        }
    }
    Ok(StepOutcome::Claimed(n))
}

fn cancel_gate(state: &Outbound, endpoint_id: EndpointId) {
    if let Ok(mut gates) = state.delivery.inner.gates.lock()
        && let Some(g) = gates.get_mut(&endpoint_id)
    {
        g.cancel();
    }
}

async fn postpone(state: &Outbound, delivery_id: DeliveryId, at: i64) {
    let w = Write::Queue(QueueWrite::Postpone {
        delivery_id,
        owner: state.delivery.node_id(),
        at,
    });
    let _ = state.delivery.inner.tx.send(w).await;
}

/// The endpoint from a one-second cache (changes through the API invalidate it at once).
async fn endpoint(state: &Outbound, id: EndpointId, now: i64) -> anyhow::Result<Option<Arc<EndpointRt>>> {
    if let Ok(cache) = state.delivery.inner.endpoints.lock()
        && let Some((at, e)) = cache.get(&id)
        && now - at < 1_000
    {
        return Ok(e.clone());
    }
    let row = state.store.get_endpoint(id).await?;
    let rt = match row {
        Some(r) => Some(Arc::new(EndpointRt::from_row(state, &r, now)?)),
        None => None,
    };
    if let Ok(mut cache) = state.delivery.inner.endpoints.lock() {
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(id, (now, rt.clone()));
    }
    Ok(rt)
}

/// The delivered body: `{"type", "timestamp", "data"}` with `data` the published payload text.
pub fn body_of(event: &EventBody) -> String {
    let ty = serde_json::to_string(&event.event_type).unwrap_or_else(|_| "\"\"".into());
    let data = event.payload.as_deref().unwrap_or("null");
    format!(
        "{{\"type\":{ty},\"timestamp\":\"{}\",\"data\":{data}}}",
        crate::store::rfc3339(event.created_at)
    )
}

/// The signed headers of one attempt: the endpoint's custom headers, those its transform
/// `added` (replacing custom ones of the same name), then ours, last so nothing replaces them.
pub fn signed_headers(
    endpoint: &EndpointRt,
    event: &EventBody,
    body: &str,
    added: Vec<(String, String)>,
    now: i64,
) -> Vec<(String, String)> {
    let msg_id = event.id.to_string();
    let ts = now / 1000;
    let mut headers: Vec<(String, String)> = endpoint
        .headers
        .iter()
        .filter(|(name, _)| !added.iter().any(|(a, _)| a == name))
        .cloned()
        .collect();
    headers.extend(added);
    headers.push(("webhook-id".into(), msg_id.clone()));
    headers.push(("webhook-timestamp".into(), ts.to_string()));
    headers.push((
        "webhook-signature".into(),
        signature_header(&endpoint.secrets, &msg_id, ts, body.as_bytes()),
    ));
    headers
}

async fn attempt(
    state: Outbound,
    c: Claimed,
    event: Arc<EventBody>,
    endpoint: Arc<EndpointRt>,
    permit: OwnedSemaphorePermit,
) {
    let d = &state.delivery.inner;
    let started = now_ms();
    let (answer, logged) = match shape::shape(&state.jq, &endpoint, &event).await {
        Shaped::Send { body, headers } => send(&state, &event, &endpoint, body, headers, started).await,
        Shaped::Filtered(note) => {
            drop(permit);
            cancel_gate(&state, endpoint.id);
            return record_filtered(&state, &c, note, started).await;
        }
        // Nothing was sent: the receiver's health (the breaker) is not concerned, the
        // delivery's is, and it retries on its schedule.
        Shaped::Failed(f) => {
            cancel_gate(&state, endpoint.id);
            let mut answer = sender::failure(f.class, f.message, 0);
            answer.latency_ms = now_ms() - started;
            (answer, serde_json::json!({}))
        }
    };
    drop(permit);
    let now = now_ms();
    let transition = match d.gates.lock() {
        Ok(mut gates) if answer.error_class.is_none_or(|c| !shape::is_shape_class(c)) => gates
            .get_mut(&endpoint.id)
            .map(|g| g.finish(now, answer.succeeded))
            .unwrap_or(Transition::None),
        _ => Transition::None,
    };
    let attempts_made = c.attempts as u32 + 1;
    let gone = answer.status == Some(410);
    let next = if answer.succeeded {
        NextState::Succeeded
    } else if gone {
        NextState::Failed
    } else {
        let schedule = endpoint.schedule.as_deref().unwrap_or(&d.settings.schedule);
        let unit: f64 = rand::random();
        match retry::next_delay_ms(schedule, attempts_made, unit, answer.retry_after_ms) {
            Some(delay) => NextState::Retry(now + delay),
            None => NextState::Failed,
        }
    };
    record_metrics(&answer, next);
    write_outcome(&state, next, attempt_record(&c, "scheduled", &answer, logged, started)).await;
    follow_up(&state, &c, &event, &endpoint, &answer, next, transition, now).await;
}

/// Sign and send one request; the answer and the request headers as logged.
async fn send(
    state: &Outbound,
    event: &EventBody,
    endpoint: &EndpointRt,
    body: String,
    added: Vec<(String, String)>,
    now: i64,
) -> (sender::Answer, serde_json::Value) {
    let d = &state.delivery.inner;
    let headers = signed_headers(endpoint, event, &body, added, now);
    let logged = sender::logged_headers(&headers);
    let request = Request {
        url: &endpoint.url,
        headers,
        body,
        timeout: endpoint.timeout,
    };
    (sender::send(&d.client, &d.guard, request, now).await, logged)
}

/// A delivery the endpoint's filter declined: done, as an attempt that sent nothing (the
/// delivery status has no `filtered`; its attempt's `cause` says it).
async fn record_filtered(state: &Outbound, c: &Claimed, note: String, started: i64) {
    metrics::counter!("webhook_deliveries_filtered_total").increment(1);
    let answer = sender::Answer {
        succeeded: true,
        status: None,
        headers: serde_json::json!({}),
        body: String::new(),
        error_class: None,
        error_message: Some(note),
        latency_ms: now_ms() - started,
        retry_after_ms: None,
    };
    let record = attempt_record(c, shape::FILTERED, &answer, serde_json::json!({}), started);
    write_outcome(state, NextState::Succeeded, record).await;
}

/// The attempt log's row for what `answer` says of an attempt of `c`.
fn attempt_record(
    c: &Claimed,
    cause: &str,
    answer: &sender::Answer,
    request_headers: serde_json::Value,
    started: i64,
) -> AttemptRecord {
    AttemptRecord {
        id: AttemptId::new(),
        delivery_id: c.id,
        account_id: c.account_id,
        event_id: c.event_id,
        endpoint_id: c.endpoint_id,
        attempt: c.attempts + 1,
        cause: cause.into(),
        succeeded: answer.succeeded,
        response_status: answer.status.map(i64::from),
        response_headers: answer.headers.clone(),
        response_body: answer.body.clone(),
        request_headers,
        error_class: answer.error_class.map(str::to_string),
        error_message: answer.error_message.clone(),
        latency_ms: answer.latency_ms,
        created_at: started,
    }
}

/// Record an attempt and move its delivery on, through the group-commit writer.
async fn write_outcome(state: &Outbound, next: NextState, record: AttemptRecord) {
    let d = &state.delivery.inner;
    let w = Write::Queue(QueueWrite::Outcome {
        owner: d.node_id,
        next,
        record: Box::new(record),
    });
    let _ = d.tx.send(w).await;
}

fn record_metrics(answer: &sender::Answer, next: NextState) {
    let outcome = match next {
        NextState::Succeeded => "succeeded",
        NextState::Retry(_) => "retrying",
        NextState::Failed => "failed",
    };
    metrics::counter!("webhook_delivery_attempts_total", "outcome" => outcome).increment(1);
    if !answer.succeeded {
        let class = answer.error_class.unwrap_or("status");
        metrics::counter!("webhook_delivery_failures_total", "class" => class).increment(1);
    }
    metrics::histogram!("webhook_delivery_duration_seconds").record(answer.latency_ms as f64 / 1000.0);
}

/// Disabling and the operational events that an outcome may cause.
#[allow(clippy::too_many_arguments)]
async fn follow_up(
    state: &Outbound,
    c: &Claimed,
    event: &EventBody,
    endpoint: &EndpointRt,
    answer: &sender::Answer,
    next: NextState,
    transition: Transition,
    now: i64,
) {
    let disable_after = state.delivery.settings().disable_after_ms;
    let reason = if answer.status == Some(410) {
        Some("receiver answered 410 Gone".to_string())
    } else if !answer.succeeded && endpoint.failing_since.is_some_and(|since| now - since >= disable_after) {
        Some(format!(
            "failing continuously since {}",
            crate::store::rfc3339(endpoint.failing_since.unwrap_or(now))
        ))
    } else {
        None
    };
    let mut ops = Vec::new();
    if let Some(reason) = reason {
        match disable_with_retry(state, endpoint.id, &reason).await {
            Ok(true) => {
                state.delivery.invalidate(Some(endpoint.id));
                tracing::warn!(endpoint_id = %endpoint.id, %reason, "endpoint disabled");
                ops.push(op_event(
                    "endpoint.disabled",
                    serde_json::json!({"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason}),
                ));
            }
            Ok(false) => {}
            Err(e) => tracing::error!(endpoint_id = %endpoint.id, error = %e, "cannot disable endpoint"),
        }
    }
    if next == NextState::Failed && !catalogue::is_operational(&event.event_type) && answer.status != Some(410) {
        ops.push(op_event(
            "delivery.failed",
            serde_json::json!({
                "endpoint_id": endpoint.id, "event_id": event.id, "event_type": event.event_type,
                "attempts": c.attempts + 1, "last_status": answer.status, "last_error": answer.error_class,
            }),
        ));
    }
    if transition == Transition::Recovered {
        ops.push(op_event(
            "endpoint.recovered",
            serde_json::json!({"endpoint_id": endpoint.id, "url": endpoint.url}),
        ));
    }
    if !ops.is_empty()
        && let Err(e) = super::publish(state, endpoint.account_id, ops).await
    {
        tracing::error!(error = %e, "cannot publish an operational event");
    }
}

/// Disabling races the outcome writes of the same endpoint; a lost race (a PostgreSQL deadlock
/// victim, a busy SQLite) is retried rather than forgotten, since no later attempt would redo it.
async fn disable_with_retry(state: &Outbound, id: EndpointId, reason: &str) -> Result<bool, crate::store::StoreError> {
    let mut tries = 0;
    loop {
        match state.store.disable_endpoint(id, reason).await {
            Err(e) if tries < 4 => {
                tries += 1;
                tracing::warn!(endpoint_id = %id, error = %e, "disabling an endpoint failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
            }
            other => return other,
        }
    }
}

fn op_event(event_type: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent {
        event_id: None,
        event_type: event_type.into(),
        payload,
        labels: Vec::new(),
    }
}
