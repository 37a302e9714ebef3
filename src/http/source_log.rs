//! A source's ingest log: every request it received, with its verification result and what
//! became of it (the event it was routed as, or why not).

use axum::extract::{Path, State};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::outbound_webhooks::parse_time;
use super::sources::load_source;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiOk, ApiPage, ApiQuery, Envelope, ErrorEnvelope, PageQuery, parse_id};
use crate::model::ids::{EventId, SourceId, SourceRequestId};
use crate::store::rfc3339;
use crate::store::sources::{IngestQuery, IngestRecord};

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct IngestLogQuery {
    /// routed, duplicate, filtered, refused or failed.
    pub outcome: Option<String>,
    pub verified: Option<bool>,
    pub event_type: Option<String>,
    /// RFC 3339: received at or after.
    pub since: Option<String>,
    /// RFC 3339: received before.
    pub until: Option<String>,
    /// 1..=100, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IngestOut {
    #[schema(value_type = Uuid)]
    pub id: SourceRequestId,
    #[schema(value_type = Uuid)]
    pub source_id: SourceId,
    pub received_at: String,
    pub remote_addr: String,
    pub method: String,
    pub content_type: Option<String>,
    /// Credential headers show `[redacted]`.
    #[schema(value_type = Object)]
    pub headers: Value,
    pub query: Option<String>,
    pub body_bytes: usize,
    /// The body as text (UTF-8) or base64 (`body_encoding`); in single-request answers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<&'static str>,
    pub verified: bool,
    /// routed, duplicate, filtered, refused or failed.
    pub outcome: String,
    /// Why it was refused, filtered or failed.
    pub detail: Option<String>,
    pub dedupe_key: Option<String>,
    pub event_type: Option<String>,
    /// The event it was routed as (GET /v1/api/webhooks/events/{id}).
    #[schema(value_type = Option<Uuid>)]
    pub event_id: Option<EventId>,
}

fn ingest_out(r: IngestRecord, with_body: bool) -> IngestOut {
    let (body, body_encoding) = match (with_body, std::str::from_utf8(&r.body)) {
        (false, _) => (None, None),
        (true, Ok(text)) => (Some(text.to_string()), Some("utf8")),
        (true, Err(_)) => (
            Some(base64::engine::general_purpose::STANDARD.encode(&r.body)),
            Some("base64"),
        ),
    };
    IngestOut {
        id: r.id,
        source_id: r.source_id,
        received_at: rfc3339(r.received_at),
        remote_addr: r.remote_addr,
        method: r.method,
        content_type: r.content_type,
        headers: r.headers.0,
        query: r.query,
        body_bytes: r.body.len(),
        body,
        body_encoding,
        verified: r.verified,
        outcome: r.outcome,
        detail: r.detail,
        dedupe_key: r.dedupe_key,
        event_type: r.event_type,
        event_id: r.event_id,
    }
}

const OUTCOMES: [&str; 5] = ["routed", "duplicate", "filtered", "refused", "failed"];

#[utoipa::path(get, path = "/v1/api/sources/{source_id}/requests", tag = "sources", params(IngestLogQuery),
    responses((status = 200, description = "The ingest log, oldest first", body = inline(Envelope<Vec<IngestOut>>)),
              (status = 400, description = "Invalid filter", body = ErrorEnvelope), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn list_source_requests(
    State(state): State<AppState>,
    auth: Auth,
    Path(source_id): Path<String>,
    ApiQuery(q): ApiQuery<IngestLogQuery>,
) -> ApiResult<ApiPage<IngestOut>> {
    let s = load_source(&state, &auth, &source_id).await?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .page()?;
    if let Some(o) = q.outcome.as_deref()
        && !OUTCOMES.contains(&o)
    {
        return Err(ApiError::field(
            "outcome",
            "must be routed, duplicate, filtered, refused or failed",
        ));
    }
    let filter = IngestQuery {
        outcome: q.outcome,
        verified: q.verified,
        event_type: q.event_type,
        since: parse_time("since", q.since.as_deref())?,
        until: parse_time("until", q.until.as_deref())?,
    };
    let rows = state.store.list_ingest(s.id, &filter, page).await?;
    Ok(ApiPage::from_rows(rows, page, |r| r.id, |r| ingest_out(r, false)))
}

#[utoipa::path(get, path = "/v1/api/sources/{source_id}/requests/{request_id}", tag = "sources",
    responses((status = 200, description = "One request, with its body", body = inline(Envelope<IngestOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_source_request(
    State(state): State<AppState>,
    auth: Auth,
    Path((source_id, request_id)): Path<(String, String)>,
) -> ApiResult<ApiOk<IngestOut>> {
    let s = load_source(&state, &auth, &source_id).await?;
    let id: SourceRequestId = parse_id(&request_id, "request")?;
    match state.store.get_ingest(id).await? {
        Some(r) if r.source_id == s.id => Ok(ApiOk(ingest_out(r, true))),
        _ => Err(ApiError::not_found("request")),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_source_requests))
        .routes(routes!(get_source_request))
}
