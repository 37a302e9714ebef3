//! Event types: the platform's catalogue (every account) and an account's own, with an optional
//! JSON Schema that publishing enforces.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::delivery::catalogue::{PLATFORM_TYPES, PlatformType, platform_type};
use crate::delivery::filter;
use crate::http::AppState;
use crate::http::accounts::load_account;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiOk, ApiQuery, Created, Envelope, ErrorEnvelope};
use crate::model::ids::AccountId;
use crate::store::{EventTypeRow, now_ms, rfc3339};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypeIn {
    /// `a-z A-Z 0-9 . _ -`, 1–100 characters, e.g. `loyalty.points_added`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema (draft 2020-12) the payload must satisfy on publish. Refused if any part of
    /// it would not be enforced: unknown keywords or formats, another draft's `$schema`,
    /// references outside the document, look-around in `pattern`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub deprecated: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EventTypePatch {
    #[serde(default)]
    pub description: Option<String>,
    /// `null` removes the schema.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Option<Value>>,
    #[serde(default)]
    pub deprecated: Option<bool>,
}

fn double<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    /// True for the platform's own types (read-only, available to every account).
    pub platform: bool,
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// An example payload (platform types).
    #[schema(value_type = Option<Object>)]
    pub example: Option<Value>,
    pub deprecated: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<&PlatformType> for EventTypeOut {
    fn from(t: &PlatformType) -> Self {
        EventTypeOut {
            name: t.name.into(),
            description: t.description.into(),
            platform: true,
            schema: None,
            example: Some((t.example)()),
            deprecated: false,
            created_at: None,
            updated_at: None,
        }
    }
}

impl From<EventTypeRow> for EventTypeOut {
    fn from(t: EventTypeRow) -> Self {
        EventTypeOut {
            name: t.name,
            description: t.description,
            platform: false,
            schema: t.schema.map(|j| j.0),
            example: None,
            deprecated: t.deprecated,
            created_at: Some(rfc3339(t.created_at)),
            updated_at: Some(rfc3339(t.updated_at)),
        }
    }
}

/// `?account_id=`: which account's type an admin key means (account keys use their own).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Required with an admin key for an account's own types.
    pub account_id: Option<String>,
}

fn description(d: Option<&str>) -> ApiResult<String> {
    let d = d.unwrap_or("").trim();
    if d.chars().count() > 1_000 {
        return Err(ApiError::field("description", "must be at most 1000 characters"));
    }
    Ok(d.to_string())
}

/// A schema is compiled when it is saved, so one that would not be enforced in full is refused
/// here, naming the problem, rather than on the first publish.
fn schema(s: Option<Value>) -> ApiResult<Option<Json<Value>>> {
    if let Some(s) = &s {
        crate::delivery::schema::compile(s).map_err(|e| ApiError::field("schema", e.to_string()))?;
    }
    Ok(s.map(Json))
}

/// The account an event-type route acts on, as the plain `Uuid` event types are still keyed by.
fn account_of(auth: &Auth, q: &AccountQuery) -> ApiResult<AccountId> {
    match (&q.account_id, auth.account_id) {
        (Some(raw), _) => {
            let id: AccountId = raw
                .parse()
                .map_err(|_| ApiError::field("account_id", "is not an account id"))?;
            auth.require_account(id)?;
            Ok(id)
        }
        (None, Some(own)) => Ok(own),
        (None, None) => Err(ApiError::field("account_id", "is required with an admin key")),
    }
}

#[utoipa::path(post, path = "/v1/api/accounts/{account_id}/webhooks/event-types", tag = "outbound-webhooks", request_body = EventTypeIn,
    responses((status = 201, description = "Created", body = inline(Envelope<EventTypeOut>)), (status = 400, description = "Invalid field", body = ErrorEnvelope),
              (status = 409, description = "Name taken (by the account or the platform)", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn create_event_type(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiJson(body): ApiJson<EventTypeIn>,
) -> ApiResult<Created<EventTypeOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    if !filter::valid_type_name(&body.name) {
        return Err(ApiError::field(
            "name",
            "must be 1-100 characters of letters, digits, '.', '_' or '-'",
        ));
    }
    if platform_type(&body.name).is_some() {
        return Err(ApiError::conflict("this is a platform event type"));
    }
    let now = now_ms();
    let row = EventTypeRow {
        account_id: account.id,
        name: body.name,
        description: description(body.description.as_deref())?,
        schema: schema(body.schema)?,
        deprecated: body.deprecated.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    state.store.create_event_type(&row).await?;
    state.delivery.invalidate(None);
    Ok(Created(row.into()))
}

#[utoipa::path(get, path = "/v1/api/accounts/{account_id}/webhooks/event-types", tag = "outbound-webhooks",
    responses((status = 200, description = "Platform types first, then the account's (by name)", body = inline(Envelope<Vec<EventTypeOut>>))),
    security(("api_key" = [])))]
async fn list_event_types(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
) -> ApiResult<ApiOk<Vec<EventTypeOut>>> {
    let account = load_account(&state, &auth, &account_id).await?;
    let mut out: Vec<EventTypeOut> = PLATFORM_TYPES.iter().map(EventTypeOut::from).collect();
    out.extend(
        state
            .store
            .list_event_types(account.id)
            .await?
            .into_iter()
            .map(EventTypeOut::from),
    );
    Ok(ApiOk(out))
}

#[utoipa::path(get, path = "/v1/api/webhooks/event-types/{name}", tag = "outbound-webhooks", params(AccountQuery),
    responses((status = 200, description = "OK", body = inline(Envelope<EventTypeOut>)), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_event_type(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> ApiResult<ApiOk<EventTypeOut>> {
    if let Some(t) = platform_type(&name) {
        return Ok(ApiOk(t.into()));
    }
    let account_id = account_of(&auth, &q)?;
    let row = state
        .store
        .get_event_type(account_id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    Ok(ApiOk(row.into()))
}

#[utoipa::path(patch, path = "/v1/api/webhooks/event-types/{name}", tag = "outbound-webhooks", params(AccountQuery), request_body = EventTypePatch,
    responses((status = 200, description = "Updated", body = inline(Envelope<EventTypeOut>)), (status = 403, description = "Platform types are read-only", body = ErrorEnvelope),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn update_event_type(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
    ApiJson(patch): ApiJson<EventTypePatch>,
) -> ApiResult<ApiOk<EventTypeOut>> {
    if platform_type(&name).is_some() {
        return Err(ApiError::forbidden("platform event types are read-only"));
    }
    let account_id = account_of(&auth, &q)?;
    let mut row = state
        .store
        .get_event_type(account_id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    if let Some(d) = patch.description {
        row.description = description(Some(&d))?;
    }
    if let Some(s) = patch.schema {
        row.schema = schema(s)?;
    }
    if let Some(d) = patch.deprecated {
        row.deprecated = d;
    }
    row.updated_at = now_ms();
    if !state.store.update_event_type(&row).await? {
        return Err(ApiError::not_found("event type"));
    }
    state.delivery.invalidate(None);
    Ok(ApiOk(row.into()))
}

#[utoipa::path(delete, path = "/v1/api/webhooks/event-types/{name}", tag = "outbound-webhooks", params(AccountQuery),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Platform types are read-only", body = ErrorEnvelope),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_event_type(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> ApiResult<StatusCode> {
    if platform_type(&name).is_some() {
        return Err(ApiError::forbidden("platform event types are read-only"));
    }
    let account_id = account_of(&auth, &q)?;
    if !state.store.delete_event_type(account_id, &name).await? {
        return Err(ApiError::not_found("event type"));
    }
    state.delivery.invalidate(None);
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_event_type, list_event_types))
        .routes(routes!(get_event_type, update_event_type, delete_event_type))
}
