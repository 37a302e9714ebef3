//! A source's secret: read it (to paste into the provider's settings), rotate it with a grace
//! period during which the previous one verifies too, so a provider can switch without a
//! window of refused requests.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sources::{load_source, sealed_secret};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiOk, Envelope, ErrorEnvelope, parse_json};
use crate::sources::{SECRET_PURPOSE, TOKEN_PURPOSE};
use crate::store::sources::SourceRow;
use crate::store::{now_ms, rfc3339};

/// Longest grace period: one week.
const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

#[derive(Serialize, ToSchema)]
pub struct SourceSecretOut {
    /// The current secret (null for the `none` preset).
    pub secret: Option<String>,
    /// Meta's verify token, for the `meta` preset.
    pub verify_token: Option<String>,
    /// While set and in the future, the previous secret verifies too.
    pub previous_secret_expires_at: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SourceRotateIn {
    /// The new secret; generated when absent (where the provider does not issue it).
    #[serde(default)]
    pub secret: Option<String>,
    /// How long the previous secret keeps verifying, 0–604800 s (default 86400).
    #[serde(default)]
    pub grace_period_secs: Option<u64>,
}

fn secret_out(state: &AppState, s: &SourceRow) -> ApiResult<SourceSecretOut> {
    let open = |purpose: &str, sealed: &Option<Vec<u8>>| -> ApiResult<Option<String>> {
        sealed
            .as_deref()
            .map(|b| state.cipher.open_string(purpose, b).map(|t| t.expose().clone()))
            .transpose()
            .map_err(ApiError::internal)
    };
    Ok(SourceSecretOut {
        secret: open(SECRET_PURPOSE, &s.secret)?,
        verify_token: open(TOKEN_PURPOSE, &s.verify_token)?,
        previous_secret_expires_at: s.previous_secret_until.filter(|t| *t > now_ms()).map(rfc3339),
    })
}

#[utoipa::path(get, path = "/v1/api/sources/{source_id}/secret", tag = "sources",
    responses((status = 200, description = "The current secret", body = inline(Envelope<SourceSecretOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_source_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(source_id): Path<String>,
) -> ApiResult<ApiOk<SourceSecretOut>> {
    let s = load_source(&state, &auth, &source_id).await?;
    Ok(ApiOk(secret_out(&state, &s)?))
}

#[utoipa::path(post, path = "/v1/api/sources/{source_id}/secret/rotate", tag = "sources", request_body = SourceRotateIn,
    responses((status = 200, description = "Rotated; the new secret in `data.secret`", body = inline(Envelope<SourceSecretOut>)),
              (status = 400, description = "Invalid field", body = ErrorEnvelope), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn rotate_source_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(source_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<ApiOk<SourceSecretOut>> {
    let mut s = load_source(&state, &auth, &source_id).await?;
    let body: SourceRotateIn = if body.iter().all(u8::is_ascii_whitespace) {
        SourceRotateIn::default()
    } else {
        parse_json(&body)?
    };
    let grace = body.grace_period_secs.unwrap_or(86_400);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::field("grace_period_secs", "must be at most 604800"));
    }
    let scheme = serde_json::from_value(s.scheme.0.clone()).map_err(ApiError::internal)?;
    let new = sealed_secret(&state, &scheme, body.secret.as_deref())?;
    if new.is_none() {
        return Err(ApiError::field("secret", "the `none` preset has no secret to rotate"));
    }
    let now = now_ms();
    s.previous_secret = if grace > 0 { s.secret.take() } else { None };
    s.previous_secret_until = (grace > 0).then(|| now + grace as i64 * 1000);
    s.secret = new;
    if !state.store.update_source(&s).await? {
        return Err(ApiError::not_found("source"));
    }
    state.sources.invalidate(s.id);
    Ok(ApiOk(secret_out(&state, &s)?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_source_secret))
        .routes(routes!(rotate_source_secret))
}
