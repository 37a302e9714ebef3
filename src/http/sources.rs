//! Inbound sources: create, list, read, change and delete them, and read or rotate their
//! secrets. The ingest URL itself is in `source_ingest`, the ingest log in `source_log`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::source_fields as fields;
use crate::http::AppState;
use crate::http::accounts::load_account;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{
    ApiJson, ApiOk, ApiPage, ApiQuery, Created, Envelope, ErrorEnvelope, PageQuery, double_option, parse_id,
};
use crate::model::ids::{AccountId, SourceId};
use crate::secrets::Secret;
use crate::sources::runtime::{DedupeSpec, default_dedupe};
use crate::sources::verify::{self, Scheme, SourceSecret};
use crate::sources::{SECRET_PURPOSE, TOKEN_PURPOSE};
use crate::store::sources::SourceRow;
use crate::store::{now_ms, rfc3339};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceIn {
    /// 1–100 characters, e.g. "Stripe payments".
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Default true. A disabled source answers 404 at its ingest URL.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// How requests are verified: `{"type": "stripe"}`, `{"type": "github"}`, … `{"type": "none"}`
    /// must be chosen explicitly.
    pub verification: Scheme,
    /// The signing secret (or password, or API key). Required where the provider issues it
    /// (Stripe, Slack, Shopify, Meta's app secret); generated otherwise when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Meta's webhook verify token (the GET handshake); generated when absent.
    #[serde(default)]
    pub verify_token: Option<String>,
    /// Addresses or CIDRs allowed to post (the client address honours `trusted_proxies`);
    /// empty or absent = any.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    /// Largest accepted body, up to the server's `max_body_bytes` (its default).
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Requests per second, 1–100000; absent = unlimited. Over it: 429 with `Retry-After`.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// Where a redelivery's duplicate key is: `{"header": "X-GitHub-Delivery"}` or
    /// `{"jq": ".body.id"}`. Absent: the preset's own (e.g. `webhook-id`); null: none.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DedupeSpec>)]
    pub dedupe: Option<Option<DedupeSpec>>,
    /// jq over `{body, headers, query}` yielding the event type, e.g. `.body.type`.
    #[serde(default)]
    pub event_type: Option<String>,
    /// The type when `event_type` is absent or yields no valid name. Default `source.received`.
    #[serde(default)]
    pub fallback_type: Option<String>,
    /// jq over `{body, headers, query}`: routed only when it yields `true`.
    #[serde(default)]
    pub filter: Option<String>,
    /// jq over `{body, headers, query}`: its output is the event's payload (default: the body).
    #[serde(default)]
    pub transform: Option<String>,
    /// Put on every event of this source (endpoints can subscribe by label).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SourcePatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A new preset; give `secret` too when the new preset needs another kind of secret.
    #[serde(default)]
    pub verification: Option<Scheme>,
    /// Replaces the secret at once (no grace period; use …/secret/rotate for one).
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub verify_token: Option<String>,
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DedupeSpec>)]
    pub dedupe: Option<Option<DedupeSpec>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub event_type: Option<Option<String>>,
    #[serde(default)]
    pub fallback_type: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub filter: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub transform: Option<Option<String>>,
    #[serde(default)]
    pub labels: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct SourceOut {
    #[schema(value_type = Uuid)]
    pub id: SourceId,
    #[schema(value_type = Uuid)]
    pub account_id: AccountId,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub verification: Value,
    /// Where the provider posts: `POST {public_url}/v1/api/sources/{id}/ingest`.
    pub ingest_path: String,
    /// The full URL, when hookline knows its `public_url`.
    pub ingest_url: Option<String>,
    /// Whether a secret is set (read it with GET …/secret).
    pub has_secret: bool,
    /// While in the future, the previous secret verifies too.
    pub previous_secret_expires_at: Option<String>,
    pub allowed_networks: Vec<String>,
    pub max_body_bytes: i64,
    pub rate_limit: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub dedupe: Option<Value>,
    pub event_type: Option<String>,
    pub fallback_type: String,
    pub filter: Option<String>,
    pub transform: Option<String>,
    pub labels: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn out(state: &AppState, s: SourceRow) -> SourceOut {
    let ingest_path = format!("/v1/api/sources/{}/ingest", s.id);
    let now = now_ms();
    SourceOut {
        id: s.id,
        account_id: s.account_id,
        name: s.name,
        description: s.description,
        enabled: s.enabled,
        verification: s.scheme.0,
        ingest_url: state
            .config
            .public_url
            .as_deref()
            .map(|base| format!("{}{ingest_path}", base.trim_end_matches('/'))),
        ingest_path,
        has_secret: s.secret.is_some(),
        previous_secret_expires_at: s.previous_secret_until.filter(|t| *t > now).map(rfc3339),
        allowed_networks: s.allowed_networks.0,
        max_body_bytes: s.max_body_bytes,
        rate_limit: s.rate_limit,
        dedupe: s.dedupe.map(|d| d.0),
        event_type: s.event_type,
        fallback_type: s.fallback_type,
        filter: s.filter,
        transform: s.transform,
        labels: s.labels.0,
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
    }
}

/// Presets whose secret the provider issues: hookline cannot make one up for them.
fn provider_issued(scheme: &Scheme) -> bool {
    matches!(
        scheme,
        Scheme::Stripe { .. } | Scheme::Slack { .. } | Scheme::Shopify {} | Scheme::Meta {}
    )
}

/// The sealed secret for `scheme`: the one given (checked in the preset's form), or a generated
/// one where hookline may choose it; none for the `none` preset.
pub(super) fn sealed_secret(state: &AppState, scheme: &Scheme, given: Option<&str>) -> ApiResult<Option<Vec<u8>>> {
    if let Scheme::None {} = scheme {
        return Ok(None);
    }
    let secret = match given {
        Some(s) => {
            SourceSecret::parse(scheme, s).map_err(|e| ApiError::field(e.field, e.message))?;
            Secret::new(s.to_string())
        }
        None if provider_issued(scheme) => {
            return Err(ApiError::field(
                "secret",
                "is required: this provider issues the secret",
            ));
        }
        None => verify::generate_secret(scheme),
    };
    Ok(Some(state.cipher.seal(SECRET_PURPOSE, secret.expose().as_bytes())))
}

/// Meta's verify token, sealed: the one given or a generated one; none for other presets.
pub(super) fn sealed_token(state: &AppState, scheme: &Scheme, given: Option<&str>) -> ApiResult<Option<Vec<u8>>> {
    if !matches!(scheme, Scheme::Meta {}) {
        return Ok(None);
    }
    let token = match given {
        Some(t) => {
            if t.is_empty() || t.len() > 256 || t.chars().any(char::is_control) {
                return Err(ApiError::field("verify_token", "must be 1-256 printable characters"));
            }
            Secret::new(t.to_string())
        }
        None => verify::generate_verify_token(),
    };
    Ok(Some(state.cipher.seal(TOKEN_PURPOSE, token.expose().as_bytes())))
}

#[utoipa::path(post, path = "/v1/api/accounts/{account_id}/sources", tag = "sources", request_body = SourceIn,
    responses((status = 201, description = "Created; read its secret with GET …/secret", body = inline(Envelope<SourceOut>)),
              (status = 400, description = "Invalid field", body = ErrorEnvelope), (status = 403, description = "Forbidden", body = ErrorEnvelope),
              (status = 422, description = "A jq expression does not compile (its line and column in `error.details`), or a field has the wrong type", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn create_source(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiJson(body): ApiJson<SourceIn>,
) -> ApiResult<Created<SourceOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    let scheme = fields::scheme(&body.verification)?;
    let dedupe = match body.dedupe {
        None => default_dedupe(&body.verification),
        Some(d) => d,
    };
    let now = now_ms();
    let row = SourceRow {
        id: SourceId::new(),
        account_id: account.id,
        name: fields::name(&body.name)?,
        description: fields::description(body.description.as_deref().unwrap_or(""))?,
        enabled: body.enabled.unwrap_or(true),
        secret: sealed_secret(&state, &body.verification, body.secret.as_deref())?,
        verify_token: sealed_token(&state, &body.verification, body.verify_token.as_deref())?,
        scheme: Json(scheme),
        previous_secret: None,
        previous_secret_until: None,
        allowed_networks: Json(fields::networks(body.allowed_networks.unwrap_or_default())?),
        max_body_bytes: fields::max_body(body.max_body_bytes, state.config.max_body_bytes)?,
        rate_limit: fields::rate(body.rate_limit)?,
        dedupe: fields::dedupe(dedupe)?.map(Json),
        event_type: fields::optional_jq("event_type", body.event_type)?,
        fallback_type: fields::event_type_name(body.fallback_type.as_deref().unwrap_or(fields::DEFAULT_FALLBACK_TYPE))?,
        filter: fields::optional_jq("filter", body.filter)?,
        transform: fields::optional_jq("transform", body.transform)?,
        labels: Json(fields::labels(body.labels.unwrap_or_default())?),
        created_at: now,
        updated_at: now,
    };
    state.store.create_source(&row).await?;
    Ok(Created(out(&state, row)))
}

#[utoipa::path(get, path = "/v1/api/accounts/{account_id}/sources", tag = "sources", params(PageQuery),
    responses((status = 200, description = "OK", body = inline(Envelope<Vec<SourceOut>>)), (status = 403, description = "Forbidden", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn list_sources(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiPage<SourceOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    let page = q.page()?;
    let rows = state.store.list_sources(account.id, page).await?;
    Ok(ApiPage::from_rows(rows, page, |s| s.id, |s| out(&state, s)))
}

/// The source `raw_id` names, if the caller may see it (404 otherwise, as for unknown ids).
pub async fn load_source(state: &AppState, auth: &Auth, raw_id: &str) -> ApiResult<SourceRow> {
    let id: SourceId = parse_id(raw_id, "source")?;
    match state.store.get_source(id).await? {
        Some(s) if auth.can_access(s.account_id) => Ok(s),
        _ => Err(ApiError::not_found("source")),
    }
}

#[utoipa::path(get, path = "/v1/api/sources/{source_id}", tag = "sources",
    responses((status = 200, description = "OK", body = inline(Envelope<SourceOut>)), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_source(
    State(state): State<AppState>,
    auth: Auth,
    Path(source_id): Path<String>,
) -> ApiResult<ApiOk<SourceOut>> {
    let s = load_source(&state, &auth, &source_id).await?;
    Ok(ApiOk(out(&state, s)))
}

#[utoipa::path(patch, path = "/v1/api/sources/{source_id}", tag = "sources", request_body = SourcePatch,
    responses((status = 200, description = "Updated", body = inline(Envelope<SourceOut>)), (status = 400, description = "Invalid field", body = ErrorEnvelope),
              (status = 404, description = "Not found", body = ErrorEnvelope),
              (status = 422, description = "A jq expression does not compile", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn update_source(
    State(state): State<AppState>,
    auth: Auth,
    Path(source_id): Path<String>,
    ApiJson(p): ApiJson<SourcePatch>,
) -> ApiResult<ApiOk<SourceOut>> {
    let mut s = load_source(&state, &auth, &source_id).await?;
    super::source_patch::apply(&state, &mut s, p)?;
    if !state.store.update_source(&s).await? {
        return Err(ApiError::not_found("source"));
    }
    state.sources.invalidate(s.id);
    Ok(ApiOk(out(&state, s)))
}

#[utoipa::path(delete, path = "/v1/api/sources/{source_id}", tag = "sources",
    responses((status = 204, description = "Deleted with its ingest log (its events stay)"), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_source(
    State(state): State<AppState>,
    auth: Auth,
    Path(source_id): Path<String>,
) -> ApiResult<StatusCode> {
    let s = load_source(&state, &auth, &source_id).await?;
    state.store.delete_source(s.id).await?;
    state.sources.invalidate(s.id);
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_source, list_sources))
        .routes(routes!(get_source, update_source, delete_source))
        .merge(super::source_secret::router())
        .merge(super::source_log::router())
        .merge(super::source_ingest::router())
        .merge(super::source_replay::router())
}
