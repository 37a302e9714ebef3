//! The attempt log: every request hookline made to an endpoint, with what came back.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::events::load_event;
use super::{load_endpoint, parse_time};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiOk, ApiPage, ApiQuery, Envelope, ErrorEnvelope, PageQuery, parse_id};
use crate::model::ids::{AttemptId, EndpointId, EventId};
use crate::store::{AttemptFilter, AttemptRow, rfc3339};

#[derive(Serialize, ToSchema)]
pub struct AttemptOut {
    #[schema(value_type = Uuid)]
    pub id: AttemptId,
    #[schema(value_type = Uuid)]
    pub event_id: EventId,
    #[schema(value_type = Uuid)]
    pub endpoint_id: EndpointId,
    /// 1 for the first attempt of a delivery.
    pub attempt: i64,
    /// scheduled, test, or filtered (the endpoint's jq filter declined the event: nothing was
    /// sent, `error_message` says what the filter yielded, and the delivery is done).
    pub cause: String,
    pub succeeded: bool,
    pub response_status: Option<i64>,
    /// dns, connect, tls, timeout, status, refused; filter or transform when the endpoint's jq
    /// expression failed (nothing was sent; `error_message` has the reason).
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub latency_ms: i64,
    pub created_at: String,
    /// Full view only: headers sent (signature and custom header values masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub request_headers: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub response_headers: Option<Value>,
    /// Full view only: the first 8 KiB of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

impl AttemptOut {
    fn summary(a: AttemptRow) -> Self {
        AttemptOut {
            id: a.id,
            event_id: a.event_id,
            endpoint_id: a.endpoint_id,
            attempt: a.attempt,
            cause: a.cause,
            succeeded: a.succeeded,
            response_status: a.response_status,
            error_class: a.error_class,
            error_message: a.error_message,
            latency_ms: a.latency_ms,
            created_at: rfc3339(a.created_at),
            request_headers: None,
            response_headers: None,
            response_body: None,
        }
    }

    fn full(a: AttemptRow) -> Self {
        let (req, resp, body) = (
            a.request_headers.0.clone(),
            a.response_headers.0.clone(),
            a.response_body.clone(),
        );
        let mut out = AttemptOut::summary(a);
        out.request_headers = Some(req);
        out.response_headers = Some(resp);
        out.response_body = Some(body);
        out
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// succeeded or failed.
    pub status: Option<String>,
    /// RFC 3339; attempts at or after.
    pub since: Option<String>,
    /// RFC 3339; attempts before.
    pub until: Option<String>,
}

impl AttemptQuery {
    fn filter(&self) -> ApiResult<AttemptFilter> {
        let succeeded = match self.status.as_deref() {
            None | Some("") => None,
            Some("succeeded") => Some(true),
            Some("failed") => Some(false),
            Some(_) => return Err(ApiError::field("status", "expected succeeded or failed")),
        };
        Ok(AttemptFilter {
            succeeded,
            since: parse_time("since", self.since.as_deref())?,
            until: parse_time("until", self.until.as_deref())?,
        })
    }

    fn page(&self) -> ApiResult<crate::store::Page> {
        PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .page()
    }
}

#[utoipa::path(get, path = "/v1/api/webhooks/endpoints/{endpoint_id}/attempts", tag = "outbound-webhooks", params(AttemptQuery),
    responses((status = 200, description = "Oldest first", body = inline(Envelope<Vec<AttemptOut>>)), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn list_endpoint_attempts(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
) -> ApiResult<ApiPage<AttemptOut>> {
    let e = load_endpoint(&state, &auth, &endpoint_id).await?;
    let (filter, page) = (q.filter()?, q.page()?);
    let rows = state.store.list_attempts(Some(e.id), None, filter, page).await?;
    Ok(ApiPage::from_rows(rows, page, |a| a.id, AttemptOut::summary))
}

#[utoipa::path(get, path = "/v1/api/webhooks/events/{event_id}/attempts", tag = "outbound-webhooks", params(AttemptQuery),
    responses((status = 200, description = "Oldest first", body = inline(Envelope<Vec<AttemptOut>>)), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn list_event_attempts(
    State(state): State<AppState>,
    auth: Auth,
    Path(event_id): Path<String>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
) -> ApiResult<ApiPage<AttemptOut>> {
    let event = load_event(&state, &auth, &event_id).await?;
    let (filter, page) = (q.filter()?, q.page()?);
    let rows = state.store.list_attempts(None, Some(event.id), filter, page).await?;
    Ok(ApiPage::from_rows(rows, page, |a| a.id, AttemptOut::summary))
}

#[utoipa::path(get, path = "/v1/api/webhooks/attempts/{attempt_id}", tag = "outbound-webhooks",
    responses((status = 200, description = "One attempt in full", body = inline(Envelope<AttemptOut>)), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_attempt(
    State(state): State<AppState>,
    auth: Auth,
    Path(attempt_id): Path<String>,
) -> ApiResult<ApiOk<AttemptOut>> {
    let id = parse_id(&attempt_id, "attempt")?;
    match state.store.get_attempt(id).await? {
        Some(a) if auth.can_access(a.account_id) => Ok(ApiOk(AttemptOut::full(a))),
        _ => Err(ApiError::not_found("attempt")),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoint_attempts))
        .routes(routes!(list_event_attempts))
        .routes(routes!(get_attempt))
}
