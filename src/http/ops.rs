//! Operations: liveness, readiness, Prometheus metrics. (`/openapi.json` and `/docs` are
//! assembled in `http::router`, because they describe every other route.)

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::ApiError;

/// Alive: the process answers HTTP.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Alive")))]
async fn health() -> impl IntoResponse {
    axum::Json(json!({ "success": true, "data": { "status": "ok" } }))
}

/// Ready: the database answers (within a second or two), every migration is applied, and no
/// background worker's last step failed. A 503 names what is wrong.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Ready"),
        (status = 503, description = "NOT_READY: the database is unreachable or not migrated, or a background worker is failing (`details.workers` names them)", body = super::extract::ErrorEnvelope)))]
async fn ready(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if !state.store.ready().await {
        return Err(not_ready("database unreachable or migrations pending").with_details(json!({ "database": false })));
    }
    let failing = state.store.workers().failing();
    if !failing.is_empty() {
        return Err(
            not_ready("background workers are failing").with_details(json!({ "database": true, "workers": failing }))
        );
    }
    Ok(axum::Json(
        json!({ "success": true, "data": { "status": "ready", "backend": state.store.backend_name() } }),
    ))
}

fn not_ready(message: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NOT_READY", message)
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}
