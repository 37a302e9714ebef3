//! Events: publish one or a batch (idempotent per `event_id` / `Idempotency-Key`), list them,
//! read one with its per-endpoint delivery status, and resend it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Accepted;
use crate::delivery::{NewEvent, Published, publish};
use crate::http::AppState;
use crate::http::accounts::load_account;
use crate::http::auth::{Auth, CachedAuth, RateCategory};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{
    ApiJson, ApiOk, ApiPage, ApiQuery, Envelope, ErrorEnvelope, PageQuery, parse_id, parse_json,
};
use crate::model::ids::{AccountId, EndpointId, EventId};
use crate::store::{DeliveryRow, EventRow, rfc3339};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// e.g. `order.created`.
    pub event_type: String,
    /// Any JSON value; delivered as `data`.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Endpoints with label filters receive only events carrying all their labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Your id for this event: publishing it again returns the original.
    #[serde(default)]
    pub event_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    /// 1–1000 events, committed together.
    pub events: Vec<EventIn>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryOut {
    #[schema(value_type = Uuid)]
    pub endpoint_id: EndpointId,
    /// pending, succeeded or failed.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: String,
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(d: DeliveryRow) -> Self {
        DeliveryOut {
            endpoint_id: d.endpoint_id,
            next_attempt_at: (d.status == "pending").then(|| rfc3339(d.next_attempt_at)),
            status: d.status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            updated_at: rfc3339(d.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventOut {
    #[schema(value_type = Uuid)]
    pub id: EventId,
    #[schema(value_type = Uuid)]
    pub account_id: AccountId,
    pub event_id: String,
    pub event_type: String,
    /// null once retention removed it.
    #[schema(value_type = Object)]
    pub payload: Value,
    pub labels: Vec<String>,
    pub created_at: String,
    /// Per-endpoint status (only when reading one event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<DeliveryOut>>,
}

impl From<EventRow> for EventOut {
    fn from(e: EventRow) -> Self {
        EventOut {
            id: e.id,
            account_id: e.account_id,
            event_id: e.event_id,
            event_type: e.event_type,
            payload: e
                .payload
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or(Value::Null),
            labels: e.labels.0,
            created_at: rfc3339(e.created_at),
            deliveries: None,
        }
    }
}

fn to_new(e: EventIn) -> NewEvent {
    NewEvent {
        event_id: e.event_id,
        event_type: e.event_type,
        payload: e.payload,
        labels: e.labels,
    }
}

#[utoipa::path(post, path = "/v1/api/accounts/{account_id}/webhooks/events", tag = "outbound-webhooks", request_body = EventIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Used as event_id when the body has none")),
    responses((status = 202, description = "Recorded with its deliveries; `duplicate` when the event_id was published before", body = inline(Envelope<Published>)),
              (status = 400, description = "Invalid field", body = ErrorEnvelope), (status = 403, description = "Forbidden", body = ErrorEnvelope),
              (status = 503, description = "`NOT_READY` or `TIMEOUT`: the event *may* be stored (its commit may have landed before the answer was lost); resend with the same `event_id`, which is deduplicated. `STORAGE_FULL`: nothing was written; retry after `Retry-After`", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn publish_event(
    State(state): State<AppState>,
    CachedAuth(auth): CachedAuth,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EventIn>,
) -> ApiResult<Accepted<Published>> {
    let account_id = parse_id(&account_id, "account")?;
    auth.require_account(account_id)?;
    let mut event = to_new(body);
    if let Some(key) = headers.get("idempotency-key") {
        let key = key
            .to_str()
            .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?
            .to_string();
        match &event.event_id {
            Some(id) if *id != key => {
                return Err(ApiError::field("Idempotency-Key", "differs from the body's event_id"));
            }
            _ => event.event_id = Some(key),
        }
    }
    let mut published = publish_checked(&state, account_id, vec![event]).await?;
    published
        .pop()
        .map(Accepted)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("publish answered nothing")))
}

/// An optional body: objects only, as for every body (see `ApiJson`).
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => parse_json(body),
        Some(_) => Err(ApiError::validation("expected a JSON object")),
    }
}

/// Publishing needs the account to exist (an unknown account is 404, not a constraint error).
/// Only a 500 can hide a missing account, and only a lookup that answers "no such account"
/// makes it 404: a 503 (the database unreachable) stays a 503, which tells the client to resend.
async fn publish_checked(state: &AppState, account_id: AccountId, events: Vec<NewEvent>) -> ApiResult<Vec<Published>> {
    match publish(&state.outbound, account_id, events)
        .await
        .map_err(ApiError::from)
    {
        Err(e) if e.status == StatusCode::INTERNAL_SERVER_ERROR => match state.store.get_account(account_id).await {
            Ok(None) => Err(ApiError::not_found("account")),
            _ => Err(e),
        },
        other => other,
    }
}

#[utoipa::path(post, path = "/v1/api/accounts/{account_id}/webhooks/events/batch", tag = "outbound-webhooks", request_body = BatchIn,
    responses((status = 202, description = "All recorded in one transaction, in order", body = inline(Envelope<Vec<Published>>)),
              (status = 400, description = "Invalid field (`events[i].…`)", body = ErrorEnvelope),
              (status = 503, description = "`NOT_READY` or `TIMEOUT`: the batch *may* be stored; resend it with the same `event_id`s, which are deduplicated. `STORAGE_FULL`: nothing was written", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn publish_batch(
    State(state): State<AppState>,
    CachedAuth(auth): CachedAuth,
    Path(account_id): Path<String>,
    ApiJson(body): ApiJson<BatchIn>,
) -> ApiResult<Accepted<Vec<Published>>> {
    let account_id = parse_id(&account_id, "account")?;
    auth.require_account(account_id)?;
    let events = body.events.into_iter().map(to_new).collect();
    Ok(Accepted(publish_checked(&state, account_id, events).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Only events of this type.
    pub event_type: Option<String>,
}

#[utoipa::path(get, path = "/v1/api/accounts/{account_id}/webhooks/events", tag = "outbound-webhooks", params(EventQuery),
    responses((status = 200, description = "Oldest first", body = inline(Envelope<Vec<EventOut>>)), (status = 403, description = "Forbidden", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<ApiPage<EventOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let rows = state
        .store
        .list_events(account.id, q.event_type.as_deref(), page)
        .await?;
    Ok(ApiPage::from_rows(rows, page, |e| e.id, EventOut::from))
}

/// The event named in a path, if the caller may see it (404 otherwise).
pub async fn load_event(state: &AppState, auth: &Auth, raw: &str) -> ApiResult<EventRow> {
    let id = parse_id(raw, "event")?;
    match state.store.get_event(id).await? {
        Some(e) if auth.can_access(e.account_id) => Ok(e),
        _ => Err(ApiError::not_found("event")),
    }
}

#[utoipa::path(get, path = "/v1/api/webhooks/events/{event_id}", tag = "outbound-webhooks",
    responses((status = 200, description = "The event with its deliveries", body = inline(Envelope<EventOut>)), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_event(
    State(state): State<AppState>,
    auth: Auth,
    Path(event_id): Path<String>,
) -> ApiResult<ApiOk<EventOut>> {
    let event = load_event(&state, &auth, &event_id).await?;
    let deliveries = state.store.event_deliveries(event.id).await?;
    let mut out = EventOut::from(event);
    out.deliveries = Some(deliveries.into_iter().map(DeliveryOut::from).collect());
    Ok(ApiOk(out))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ResendIn {
    /// One endpoint; absent = every enabled endpoint that had a delivery of this event.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub endpoint_id: Option<EndpointId>,
}

#[derive(Serialize, ToSchema)]
pub struct ResendOut {
    /// Deliveries queued again.
    pub queued: u64,
}

#[utoipa::path(post, path = "/v1/api/webhooks/events/{event_id}/resend", tag = "outbound-webhooks", request_body = ResendIn,
    responses((status = 202, description = "Queued again", body = inline(Envelope<ResendOut>)), (status = 404, description = "Not found", body = ErrorEnvelope),
              (status = 409, description = "The endpoint is disabled", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn resend_event(
    State(state): State<AppState>,
    auth: Auth,
    Path(event_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Accepted<ResendOut>> {
    let event = load_event(&state, &auth, &event_id).await?;
    let body: ResendIn = if body.iter().all(u8::is_ascii_whitespace) {
        ResendIn::default()
    } else {
        parse_body(&body)?
    };
    if event.payload.is_none() {
        return Err(ApiError::conflict("the event's payload was removed by retention"));
    }
    let endpoints: Vec<EndpointId> = match body.endpoint_id {
        Some(id) => {
            let e = match state.store.get_endpoint(id).await? {
                Some(e) if e.account_id == event.account_id => e,
                _ => return Err(ApiError::not_found("endpoint")),
            };
            if !e.enabled {
                return Err(ApiError::conflict("the endpoint is disabled; enable it first"));
            }
            vec![e.id]
        }
        None => {
            let mut ids = Vec::new();
            for d in state.store.event_deliveries(event.id).await? {
                if let Some(e) = state.store.get_endpoint(d.endpoint_id).await?
                    && e.enabled
                {
                    ids.push(e.id);
                }
            }
            ids
        }
    };
    let queued = state.store.resend(event.account_id, event.id, &endpoints).await?;
    Ok(Accepted(ResendOut { queued }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(publish_event, list_events))
        .routes(routes!(publish_batch))
        .routes(routes!(get_event))
        .routes(routes!(resend_event))
        .layer(axum::Extension(RateCategory::Webhooks))
}
