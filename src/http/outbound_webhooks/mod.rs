//! Outbound webhooks API: one file per resource (endpoints, their secrets, event types, events,
//! attempts, jobs and stats), and the pieces they share.

pub mod attempts;
pub mod endpoints;
pub mod event_types;
pub mod events;
pub mod jobs;
pub mod secrets;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::parse_id;
use crate::store::EndpointRow;

/// `202 {"success": true, "data": …}`: accepted and durably recorded, delivery follows.
pub struct Accepted<T>(pub T);

impl<T: Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> Response {
        (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "success": true, "data": self.0 })),
        )
            .into_response()
    }
}

/// The endpoint named in a path, if the caller may see it (404 otherwise).
pub async fn load_endpoint(state: &AppState, auth: &Auth, raw_id: &str) -> ApiResult<EndpointRow> {
    let id = parse_id(raw_id, "endpoint")?;
    match state.store.get_endpoint(id).await? {
        Some(e) if auth.can_access(e.account_id) => Ok(e),
        _ => Err(ApiError::not_found("endpoint")),
    }
}

/// `?since=&until=` as RFC 3339 → ms.
pub fn parse_time(field: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::field(field, "expected an RFC 3339 time such as 2026-01-31T12:00:00Z"))?;
    Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(endpoints::router())
        .merge(secrets::router())
        .merge(event_types::router())
        .merge(events::router())
        .merge(attempts::router())
        .merge(jobs::router())
}
