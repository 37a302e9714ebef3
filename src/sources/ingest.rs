//! One request to a source's ingest URL, from admission to the durable log row and event.

use std::net::IpAddr;
use std::time::Duration;

use http::{HeaderMap, Method};
use serde_json::{Value, json};

use super::runtime::{Dedupe, SourceRt, Unusable};
use super::{Sources, shape, verify};
use crate::delivery::{NewEvent, PublishError, filter::valid_type_name};
use crate::jq::Program;
use crate::model::ids::{EventId, SourceId, SourceRequestId};
use crate::store::sources::{IngestOutcome, IngestRecord, IngestRow};
use crate::store::{StoreError, now_ms};

/// A request as the HTTP layer received it (the address already resolved through the trusted
/// proxies, the body already bounded by the server's own limit).
pub struct Incoming {
    pub source_id: SourceId,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: bytes::Bytes,
    pub remote: IpAddr,
}

/// What to answer the provider.
pub enum IngestAnswer {
    /// Durable: logged (and published when routed).
    Accepted {
        request_id: SourceRequestId,
        outcome: IngestOutcome,
        event_id: Option<EventId>,
        event_type: Option<String>,
    },
    /// The preset's special answer (a handshake or a URL-verification challenge).
    Challenge(verify::Challenge),
    /// No such source, or it is disabled.
    NotFound,
    /// The address is not on the source's allow-list.
    Forbidden,
    /// Verification failed, for this reason.
    Unauthorized(String),
    TooLarge(usize),
    RateLimited(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unusable(#[from] Unusable),
    #[error("cannot record the request: {0}")]
    Publish(#[from] PublishError),
}

pub async fn ingest(s: &Sources, inc: Incoming) -> Result<IngestAnswer, IngestError> {
    let now = now_ms();
    let Some(src) = s.source(inc.source_id, now).await? else {
        return Ok(IngestAnswer::NotFound);
    };
    if !src.enabled {
        return Ok(IngestAnswer::NotFound);
    }
    if inc.body.len() > src.max_body_bytes {
        return Ok(IngestAnswer::TooLarge(src.max_body_bytes));
    }
    if !src.networks.is_empty() && !src.networks.iter().any(|n| n.contains(&inc.remote)) {
        refuse(s, &src, &inc, now, "address_not_allowed".into()).await?;
        return Ok(IngestAnswer::Forbidden);
    }
    let request = verify::Request {
        method: &inc.method,
        headers: &inc.headers,
        query: inc.query.as_deref(),
        body: &inc.body,
    };
    // A provider's setup request (Meta's handshake, Slack's URL check) is answered, not routed;
    // the preset checks it itself.
    if let Some(c) = verify::challenge(&src.scheme, &src.secrets, &request, now / 1000) {
        return Ok(IngestAnswer::Challenge(c));
    }
    if inc.method == Method::GET {
        return Ok(IngestAnswer::NotFound);
    }
    let verified = match verify::verify(&src.scheme, &src.secrets, &request, now / 1000) {
        Ok(v) => v,
        Err(refusal) => {
            refuse(s, &src, &inc, now, refusal.to_string()).await?;
            return Ok(IngestAnswer::Unauthorized(refusal.reason.as_str().to_string()));
        }
    };
    // Counted only once verified: requests forged by someone who knows the URL must not use up
    // the budget of the real sender.
    if let Some(rate) = src.rate_limit
        && let Err(wait) = s.gates.admit(src.id, rate)
    {
        return Ok(IngestAnswer::RateLimited(wait));
    }
    route(s, &src, &inc, now, Routing::Received(verified.signature_id)).await
}

/// Why a request is routed: received now (with the key of its signed content, which dedupes a
/// replayed capture when the source names no duplicate key), or replayed from the log.
enum Routing {
    Received(Option<String>),
    Replay(SourceRequestId),
}

/// Route a logged, verified request again with the source's current settings (its filter,
/// transform and type expression may have changed since), logged as a new row that names the
/// original. The event gets a fresh id: a replay is meant to be delivered again, where a
/// redelivery by the provider is not.
pub async fn replay(s: &Sources, record: &IngestRecord) -> Result<IngestAnswer, IngestError> {
    let now = now_ms();
    let Some(src) = s.source(record.source_id, now).await? else {
        return Ok(IngestAnswer::NotFound);
    };
    if !record.verified {
        return Ok(IngestAnswer::Unauthorized(
            "only verified requests can be replayed".into(),
        ));
    }
    let mut headers = HeaderMap::new();
    if let Some(logged) = record.headers.0.as_object() {
        for (name, value) in logged {
            let (Ok(name), Some(value)) = (http::HeaderName::try_from(name.as_str()), value.as_str()) else {
                continue;
            };
            if value != shape::REDACTED
                && let Ok(value) = http::HeaderValue::from_str(value)
            {
                headers.insert(name, value);
            }
        }
    }
    let inc = Incoming {
        source_id: record.source_id,
        method: Method::POST,
        headers,
        query: record.query.clone(),
        body: bytes::Bytes::from(record.body.clone()),
        remote: record.remote_addr.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
    };
    route(s, &src, &inc, now, Routing::Replay(record.id)).await
}

/// Log a refused request within the source's budget of logged refusals; the rest are counted.
async fn refuse(s: &Sources, src: &SourceRt, inc: &Incoming, now: i64, reason: String) -> Result<(), IngestError> {
    metrics::counter!("source_requests_total", "outcome" => "refused").increment(1);
    if !s.gates.log_refusal(src.id) {
        return Ok(());
    }
    tracing::warn!(source_id = %src.id, remote = %inc.remote, %reason, "source request refused");
    let mut row = log_row(src, inc, now, false);
    row.outcome = IngestOutcome::Refused;
    row.detail = Some(reason);
    crate::delivery::publish_ingest(&s.outbound, src.account_id, None, row).await?;
    Ok(())
}

fn log_row(src: &SourceRt, inc: &Incoming, now: i64, verified: bool) -> IngestRow {
    IngestRow {
        id: SourceRequestId::new(),
        source_id: src.id,
        account_id: src.account_id,
        received_at: now,
        remote_addr: inc.remote.to_string(),
        method: inc.method.to_string(),
        content_type: content_type(&inc.headers).map(str::to_string),
        headers: shape::logged_headers(&src.scheme, &inc.headers),
        query: shape::logged_query(&src.scheme, inc.query.as_deref()),
        body: inc.body.to_vec(),
        verified,
        outcome: IngestOutcome::Routed,
        detail: None,
        dedupe_key: None,
        event_type: None,
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// Shape a verified request into an event and commit both; the outcome says what happened.
async fn route(
    s: &Sources,
    src: &SourceRt,
    inc: &Incoming,
    now: i64,
    why: Routing,
) -> Result<IngestAnswer, IngestError> {
    let mut row = log_row(src, inc, now, true);
    if matches!(why, Routing::Replay(_)) {
        row.method = "REPLAY".into();
    }
    let body = shape::body_value(content_type(&inc.headers), &inc.body);
    let input = json!({
        "body": body,
        "headers": shape::visible_headers(&src.scheme, &inc.headers),
        "query": shape::query_value(&src.scheme, inc.query.as_deref()),
    });
    row.dedupe_key = match &src.dedupe {
        None => None,
        Some(Dedupe::Header(h)) => inc.headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_string),
        Some(Dedupe::Jq(p)) => first(s, p, &input)
            .await
            .ok()
            .flatten()
            .as_ref()
            .and_then(shape::as_key),
    }
    .or_else(|| match &why {
        Routing::Received(signature_id) => signature_id.clone(),
        Routing::Replay(_) => None,
    });
    let event_type = match &src.event_type {
        None => src.fallback_type.clone(),
        Some(p) => match first(s, p, &input).await {
            Ok(Some(v)) => shape::as_key(&v).filter(|t| valid_type_name(t)),
            _ => None,
        }
        .unwrap_or_else(|| src.fallback_type.clone()),
    };
    row.event_type = Some(event_type.clone());
    let payload = match shape_payload(s, src, &input).await {
        Ok(Some(payload)) => payload,
        Ok(None) => {
            return record(
                s,
                src,
                row,
                None,
                IngestOutcome::Filtered,
                "the source's filter did not yield true",
            )
            .await;
        }
        Err(why) => return record(s, src, row, None, IngestOutcome::Failed, &why).await,
    };
    let (key, detail) = match why {
        Routing::Received(_) => (row.dedupe_key.as_deref(), String::new()),
        Routing::Replay(original) => (None, format!("replay of {original}")),
    };
    let event = NewEvent {
        event_id: Some(shape::event_id(src.id, key, row.id)),
        event_type,
        payload,
        labels: src.labels.clone(),
    };
    record(s, src, row, Some(event), IngestOutcome::Routed, &detail).await
}

/// The event's payload: the body, or the transform's output; `None` when the filter drops it.
async fn shape_payload(s: &Sources, src: &SourceRt, input: &Value) -> Result<Option<Value>, String> {
    if let Some(f) = &src.filter {
        match first(s, f, input).await {
            Ok(Some(Value::Bool(true))) => {}
            Ok(_) => return Ok(None),
            Err(e) => return Err(format!("filter: {e}")),
        }
    }
    match &src.transform {
        None => Ok(Some(input["body"].clone())),
        Some(t) => match first(s, t, input).await {
            Ok(Some(v)) => Ok(Some(v)),
            Ok(None) => Err("transform: yielded no output".into()),
            Err(e) => Err(format!("transform: {e}")),
        },
    }
}

/// The first output of `p` on `input`, evaluated within the configured bounds.
async fn first(s: &Sources, p: &Program, input: &Value) -> Result<Option<Value>, crate::jq::RunError> {
    Ok(s.jq.run(p, input, s.limits).await?.into_iter().next())
}

/// Commit the log row (with its event when there is one) and answer. An event the publish path
/// refuses (its type's schema, say) is logged as failed instead, with the reason.
async fn record(
    s: &Sources,
    src: &SourceRt,
    mut row: IngestRow,
    event: Option<NewEvent>,
    outcome: IngestOutcome,
    detail: &str,
) -> Result<IngestAnswer, IngestError> {
    row.outcome = outcome;
    row.detail = (!detail.is_empty()).then(|| detail.to_string());
    let (request_id, event_type) = (row.id, row.event_type.clone());
    let published = match event {
        None => crate::delivery::publish_ingest(&s.outbound, src.account_id, None, row).await?,
        Some(event) => {
            let retry = row.clone();
            match crate::delivery::publish_ingest(&s.outbound, src.account_id, Some(event), row).await {
                Err(PublishError::Invalid { field, message }) => {
                    let mut row = retry;
                    row.outcome = IngestOutcome::Failed;
                    row.detail = Some(format!("the event was refused: {field}: {message}"));
                    crate::delivery::publish_ingest(&s.outbound, src.account_id, None, row).await?;
                    return Ok(accepted(request_id, IngestOutcome::Failed, None, event_type));
                }
                other => other?,
            }
        }
    };
    let outcome = match &published {
        Some(p) if p.duplicate => IngestOutcome::Duplicate,
        _ => outcome,
    };
    Ok(accepted(request_id, outcome, published.map(|p| p.id), event_type))
}

fn accepted(
    request_id: SourceRequestId,
    outcome: IngestOutcome,
    event_id: Option<EventId>,
    event_type: Option<String>,
) -> IngestAnswer {
    metrics::counter!("source_requests_total", "outcome" => outcome.as_str()).increment(1);
    IngestAnswer::Accepted {
        request_id,
        outcome,
        event_id,
        event_type,
    }
}
