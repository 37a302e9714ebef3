//! An endpoint's signing secret: read it, rotate it with a grace period during which the old
//! secret signs too (receivers can switch without a window of failed verifications).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::load_endpoint;
use crate::delivery::signing::WebhookSecret;
use crate::delivery::worker::SECRET_PURPOSE;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiOk, Envelope, ErrorEnvelope, parse_json};
use crate::store::{now_ms, rfc3339};

/// Longest grace period: one week.
const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

#[derive(Serialize, ToSchema)]
pub struct SecretOut {
    /// `whsec_…`: verify `webhook-signature` with it.
    pub secret: String,
    /// While set and in the future, the previous secret signs too.
    pub previous_secret_expires_at: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    /// The new secret; generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// How long the old secret keeps signing, 0–604800 s (default 86400).
    #[serde(default)]
    pub grace_period_secs: Option<u64>,
}

fn secret_out(state: &AppState, sealed: &[u8], prev_until: Option<i64>) -> ApiResult<SecretOut> {
    let text = state
        .cipher
        .open_string(SECRET_PURPOSE, sealed)
        .map_err(ApiError::internal)?;
    Ok(SecretOut {
        secret: text.expose().clone(),
        previous_secret_expires_at: prev_until.filter(|t| *t > now_ms()).map(rfc3339),
    })
}

#[utoipa::path(get, path = "/v1/api/webhooks/endpoints/{endpoint_id}/secret", tag = "outbound-webhooks",
    responses((status = 200, description = "The current secret in `data.secret`", body = inline(Envelope<SecretOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
) -> ApiResult<ApiOk<SecretOut>> {
    let e = load_endpoint(&state, &auth, &endpoint_id).await?;
    Ok(ApiOk(secret_out(&state, &e.secret, e.previous_secret_until)?))
}

#[utoipa::path(post, path = "/v1/api/webhooks/endpoints/{endpoint_id}/secret/rotate", tag = "outbound-webhooks", request_body = RotateIn,
    responses((status = 200, description = "Rotated; the new secret in `data.secret`", body = inline(Envelope<SecretOut>)),
              (status = 400, description = "Invalid field", body = ErrorEnvelope), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<ApiOk<SecretOut>> {
    let mut e = load_endpoint(&state, &auth, &endpoint_id).await?;
    // The body is optional: none means "generate one, default grace period".
    let body: RotateIn = if body.iter().all(u8::is_ascii_whitespace) {
        RotateIn::default()
    } else {
        parse_json(&body)?
    };
    let grace = body.grace_period_secs.unwrap_or(86_400);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::field("grace_period_secs", "must be at most 604800"));
    }
    let new = match body.secret.as_deref() {
        Some(s) => WebhookSecret::parse(s).map_err(|why| ApiError::field("secret", why))?,
        None => WebhookSecret::generate(),
    };
    let now = now_ms();
    e.previous_secret = (grace > 0).then(|| e.secret.clone());
    e.previous_secret_until = (grace > 0).then(|| now + grace as i64 * 1000);
    e.secret = state.cipher.seal(SECRET_PURPOSE, new.expose_text().as_bytes());
    if !state.store.update_endpoint(&e).await? {
        return Err(ApiError::not_found("endpoint"));
    }
    state.delivery.invalidate(Some(e.id));
    Ok(ApiOk(secret_out(&state, &e.secret, e.previous_secret_until)?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
}
