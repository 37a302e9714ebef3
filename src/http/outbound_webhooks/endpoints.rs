//! Webhook endpoints: where an account's events are delivered, and what to send them.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::load_endpoint;
use crate::delivery::endpoint_headers;
use crate::delivery::signing::WebhookSecret;
use crate::delivery::worker::SECRET_PURPOSE;
use crate::delivery::{MAX_LABELS, filter};
use crate::http::AppState;
use crate::http::accounts::load_account;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiOk, ApiPage, ApiQuery, Created, Envelope, ErrorEnvelope, PageQuery};
use crate::http::jq::compile_field;
use crate::model::ids::{AccountId, EndpointId};
use crate::store::{EndpointRow, now_ms, rfc3339};

pub const DEFAULT_TIMEOUT_MS: u64 = 15_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointIn {
    /// http:// or https:// URL; its addresses must be public (or in delivery_allowed_networks).
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Event types to receive; absent or null = every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Receive only events carrying all of these labels.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Extra request headers (e.g. an authorization token). Values are not shown again.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// 100–60000 ms, default 15000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Deliveries per second, 1–100000; absent = unlimited.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// Concurrent requests to this endpoint, 1–1000.
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    /// Seconds before each attempt (1–20 entries), replacing the server's schedule.
    #[serde(default)]
    pub retry_schedule: Option<Vec<f64>>,
    /// Your own JSON object (at most 4 KiB), returned as given.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// `whsec_<base64 of 24–64 bytes>`; generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// jq, run on `{"id", "type", "timestamp", "data"}`: an event is delivered only when its
    /// first output is `true`. Checked when saved (422 naming the line and column).
    #[serde(default)]
    pub filter: Option<String>,
    /// jq, run on the same input: its first output is the body sent (signed as sent). An
    /// object `{"$body": …, "$headers": {name: string}}` sets the body and adds headers.
    #[serde(default)]
    pub transform: Option<String>,
}

/// Every field optional; `null` clears the nullable ones (event_types = all, no rate limit, …).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Enabling clears the disabled reason and the failing streak.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<u32>)]
    pub max_in_flight: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<Vec<f64>>)]
    pub retry_schedule: Option<Option<Vec<f64>>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// `null` removes the filter.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub filter: Option<Option<String>>,
    /// `null` removes the transform.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub transform: Option<Option<String>>,
}

/// Present-and-null (`Some(None)`) differs from absent (`None`).
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct EndpointOut {
    #[schema(value_type = Uuid)]
    pub id: EndpointId,
    #[schema(value_type = Uuid)]
    pub account_id: AccountId,
    pub url: String,
    pub description: String,
    /// False when disabled by the account or by hookline; `disabled_reason` says which.
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<String>,
    /// null = every type.
    pub event_types: Option<Vec<String>>,
    pub labels: Vec<String>,
    /// Header names with masked values.
    pub headers: BTreeMap<String, String>,
    pub timeout_ms: i64,
    pub rate_limit: Option<i64>,
    pub max_in_flight: Option<i64>,
    pub retry_schedule: Option<Vec<f64>>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Since when every attempt has failed (null when the last one succeeded).
    pub failing_since: Option<String>,
    /// The jq filter (null: every event the subscription matches is delivered).
    pub filter: Option<String>,
    /// The jq transform (null: the envelope is delivered as published).
    pub transform: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<EndpointRow> for EndpointOut {
    fn from(e: EndpointRow) -> Self {
        EndpointOut {
            id: e.id,
            account_id: e.account_id,
            url: e.url,
            description: e.description,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            disabled_at: e.disabled_at.map(rfc3339),
            event_types: e.event_types.map(|j| j.0),
            labels: e.labels.0,
            headers: e.headers.0.into_keys().map(|k| (k, "****".to_string())).collect(),
            timeout_ms: e.timeout_ms,
            rate_limit: e.rate_limit,
            max_in_flight: e.max_in_flight,
            retry_schedule: e.retry_schedule.map(|j| j.0),
            metadata: e.metadata.0,
            failing_since: e.failing_since.map(rfc3339),
            filter: e.filter,
            transform: e.transform,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// An endpoint URL: http(s), a host, no credentials, and (when it resolves now) no forbidden
/// address. The same guard runs again at every connect.
pub async fn validate_url(state: &AppState, raw: &str) -> ApiResult<String> {
    let url = raw.trim();
    if url.len() > 2_000 {
        return Err(ApiError::field("url", "must be at most 2000 characters"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| ApiError::field("url", "is not an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::field("url", "must use http or https"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::field(
            "url",
            "must not contain credentials; use headers instead",
        ));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::field("url", "must name a host"))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    let guard = state.delivery.guard();
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        guard.check(ip).map_err(|why| ApiError::field("url", why))?;
    } else if let Ok(Ok(addrs)) =
        tokio::time::timeout(std::time::Duration::from_secs(3), tokio::net::lookup_host((host, port))).await
    {
        // A name that does not resolve yet is accepted; it is checked again at connect time.
        for a in addrs {
            guard.check(a.ip()).map_err(|why| ApiError::field("url", why))?;
        }
    }
    Ok(parsed.to_string())
}

fn validate_headers(headers: BTreeMap<String, String>) -> ApiResult<BTreeMap<String, String>> {
    if headers.len() > endpoint_headers::MAX_HEADERS {
        return Err(ApiError::field(
            "headers",
            format!("at most {} headers", endpoint_headers::MAX_HEADERS),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let lower = endpoint_headers::check(&name, &value).map_err(|why| ApiError::field("headers", why))?;
        out.insert(lower, value);
    }
    Ok(out)
}

/// A jq expression, compiled to check it.
fn validate_jq(field: &str, src: Option<String>) -> ApiResult<Option<String>> {
    match src {
        Some(src) => {
            compile_field(field, &src)?;
            Ok(Some(src))
        }
        None => Ok(None),
    }
}

fn validate_types(types: Option<Vec<String>>) -> ApiResult<Option<Vec<String>>> {
    let Some(mut types) = types else {
        return Ok(None);
    };
    if types.len() > 100 || !types.iter().all(|t| filter::valid_type_name(t)) {
        return Err(ApiError::field("event_types", "at most 100 event type names"));
    }
    types.sort();
    types.dedup();
    Ok(Some(types))
}

fn validate_labels(labels: Vec<String>) -> ApiResult<Vec<String>> {
    if labels.len() > MAX_LABELS || !labels.iter().all(|l| filter::valid_label(l)) {
        return Err(ApiError::field(
            "labels",
            format!("at most {MAX_LABELS} labels of 1-100 characters without spaces or commas"),
        ));
    }
    Ok(labels)
}

fn validate_description(d: &str) -> ApiResult<String> {
    if d.chars().count() > 1_000 {
        return Err(ApiError::field("description", "must be at most 1000 characters"));
    }
    Ok(d.trim().to_string())
}

fn validate_timeout(ms: u64) -> ApiResult<i64> {
    if !(100..=60_000).contains(&ms) {
        return Err(ApiError::field("timeout_ms", "must be between 100 and 60000"));
    }
    Ok(ms as i64)
}

fn validate_rate(r: Option<u32>) -> ApiResult<Option<i64>> {
    match r {
        Some(r) if !(1..=100_000).contains(&r) => Err(ApiError::field("rate_limit", "must be between 1 and 100000")),
        r => Ok(r.map(i64::from)),
    }
}

fn validate_in_flight(m: Option<u32>) -> ApiResult<Option<i64>> {
    match m {
        Some(m) if !(1..=1_000).contains(&m) => Err(ApiError::field("max_in_flight", "must be between 1 and 1000")),
        m => Ok(m.map(i64::from)),
    }
}

fn validate_schedule(s: Option<Vec<f64>>) -> ApiResult<Option<Json<Vec<f64>>>> {
    let Some(s) = s else {
        return Ok(None);
    };
    if s.is_empty() || s.len() > 20 || !s.iter().all(|v| v.is_finite() && (0.0..=604_800.0).contains(v)) {
        return Err(ApiError::field(
            "retry_schedule",
            "1 to 20 delays in seconds, each between 0 and 604800",
        ));
    }
    Ok(Some(Json(s)))
}

fn validate_metadata(m: Option<Value>) -> ApiResult<Value> {
    let m = m.unwrap_or_else(|| Value::Object(Default::default()));
    if !m.is_object() {
        return Err(ApiError::field("metadata", "must be a JSON object"));
    }
    if m.to_string().len() > 4_096 {
        return Err(ApiError::field("metadata", "must be at most 4096 bytes"));
    }
    Ok(m)
}

#[utoipa::path(post, path = "/v1/api/accounts/{account_id}/webhooks/endpoints", tag = "outbound-webhooks", request_body = EndpointIn,
    responses((status = 201, description = "Created; read the signing secret with GET …/secret", body = inline(Envelope<EndpointOut>)),
              (status = 400, description = "Invalid field", body = ErrorEnvelope), (status = 403, description = "Forbidden", body = ErrorEnvelope),
              (status = 422, description = "A jq `filter` or `transform` does not compile: `details` has its line and column", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn create_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<Created<EndpointOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    let url = validate_url(&state, &body.url).await?;
    let secret = match body.secret.as_deref() {
        Some(s) => WebhookSecret::parse(s).map_err(|why| ApiError::field("secret", why))?,
        None => WebhookSecret::generate(),
    };
    let now = now_ms();
    let id = EndpointId::new();
    let row = EndpointRow {
        id,
        account_id: account.id,
        url,
        description: validate_description(body.description.as_deref().unwrap_or(""))?,
        enabled: body.enabled.unwrap_or(true),
        disabled_reason: (body.enabled == Some(false)).then(|| "disabled by the account".to_string()),
        disabled_at: (body.enabled == Some(false)).then_some(now),
        event_types: validate_types(body.event_types)?.map(Json),
        labels: Json(validate_labels(body.labels.unwrap_or_default())?),
        headers: Json(endpoint_headers::seal(
            &state.cipher,
            id,
            validate_headers(body.headers.unwrap_or_default())?,
        )),
        timeout_ms: validate_timeout(body.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))?,
        rate_limit: validate_rate(body.rate_limit)?,
        max_in_flight: validate_in_flight(body.max_in_flight)?,
        retry_schedule: validate_schedule(body.retry_schedule)?,
        metadata: Json(validate_metadata(body.metadata)?),
        secret: state.cipher.seal(SECRET_PURPOSE, secret.expose_text().as_bytes()),
        previous_secret: None,
        previous_secret_until: None,
        failing_since: None,
        filter: validate_jq("filter", body.filter)?,
        transform: validate_jq("transform", body.transform)?,
        created_at: now,
        updated_at: now,
    };
    state.store.create_endpoint(&row).await?;
    Ok(Created(row.into()))
}

#[utoipa::path(get, path = "/v1/api/accounts/{account_id}/webhooks/endpoints", tag = "outbound-webhooks", params(PageQuery),
    responses((status = 200, description = "OK", body = inline(Envelope<Vec<EndpointOut>>)), (status = 403, description = "Forbidden", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn list_endpoints(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiPage<EndpointOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    let page = q.page()?;
    let rows = state.store.list_endpoints(account.id, page).await?;
    Ok(ApiPage::from_rows(rows, page, |e| e.id, EndpointOut::from))
}

#[utoipa::path(get, path = "/v1/api/webhooks/endpoints/{endpoint_id}", tag = "outbound-webhooks",
    responses((status = 200, description = "OK", body = inline(Envelope<EndpointOut>)), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
) -> ApiResult<ApiOk<EndpointOut>> {
    Ok(ApiOk(load_endpoint(&state, &auth, &endpoint_id).await?.into()))
}

#[utoipa::path(patch, path = "/v1/api/webhooks/endpoints/{endpoint_id}", tag = "outbound-webhooks", request_body = EndpointPatch,
    responses((status = 200, description = "Updated", body = inline(Envelope<EndpointOut>)), (status = 400, description = "Invalid field", body = ErrorEnvelope),
              (status = 404, description = "Not found", body = ErrorEnvelope),
              (status = 422, description = "A jq `filter` or `transform` does not compile: `details` has its line and column", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn update_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
    ApiJson(patch): ApiJson<EndpointPatch>,
) -> ApiResult<ApiOk<EndpointOut>> {
    let mut e = load_endpoint(&state, &auth, &endpoint_id).await?;
    if let Some(url) = patch.url {
        e.url = validate_url(&state, &url).await?;
    }
    if let Some(d) = patch.description {
        e.description = validate_description(&d)?;
    }
    if let Some(t) = patch.event_types {
        e.event_types = validate_types(t)?.map(Json);
    }
    if let Some(l) = patch.labels {
        e.labels = Json(validate_labels(l)?);
    }
    if let Some(h) = patch.headers {
        e.headers = Json(endpoint_headers::seal(&state.cipher, e.id, validate_headers(h)?));
    }
    if let Some(t) = patch.timeout_ms {
        e.timeout_ms = validate_timeout(t)?;
    }
    if let Some(r) = patch.rate_limit {
        e.rate_limit = validate_rate(r)?;
    }
    if let Some(m) = patch.max_in_flight {
        e.max_in_flight = validate_in_flight(m)?;
    }
    if let Some(s) = patch.retry_schedule {
        e.retry_schedule = validate_schedule(s)?;
    }
    if let Some(m) = patch.metadata {
        e.metadata = Json(validate_metadata(Some(m))?);
    }
    if let Some(f) = patch.filter {
        e.filter = validate_jq("filter", f)?;
    }
    if let Some(t) = patch.transform {
        e.transform = validate_jq("transform", t)?;
    }
    match patch.enabled {
        Some(true) if !e.enabled => {
            e.enabled = true;
            e.disabled_reason = None;
            e.disabled_at = None;
            e.failing_since = None;
        }
        Some(false) if e.enabled => {
            e.enabled = false;
            e.disabled_reason = Some("disabled by the account".into());
            e.disabled_at = Some(now_ms());
        }
        _ => {}
    }
    e.updated_at = now_ms();
    if !state.store.update_endpoint(&e).await? {
        return Err(ApiError::not_found("endpoint"));
    }
    state.delivery.invalidate(Some(e.id));
    Ok(ApiOk(e.into()))
}

#[utoipa::path(delete, path = "/v1/api/webhooks/endpoints/{endpoint_id}", tag = "outbound-webhooks",
    responses((status = 204, description = "Deleted with its deliveries"), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
) -> ApiResult<StatusCode> {
    let e = load_endpoint(&state, &auth, &endpoint_id).await?;
    state.store.delete_endpoint(e.id).await?;
    state.delivery.invalidate(Some(e.id));
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
}
