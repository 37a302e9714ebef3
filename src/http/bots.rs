//! Bots: create and list under an account, read, update, delete by id.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::{load_account, validate_name};
use super::auth::Auth;
use super::extract::{ApiJson, ApiOk, ApiPage, ApiQuery, Created, Envelope, ErrorEnvelope, PageQuery, parse_id};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::store::{Bot, BotPatch, rfc3339};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotIn {
    /// 1–200 characters.
    pub name: String,
    pub description: Option<String>,
    /// Default true.
    pub is_active: Option<bool>,
    /// Accepted for GET INN compatibility; must equal the account in the path.
    pub account_id: Option<Uuid>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BotPatchIn {
    pub name: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub is_active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct BotOut {
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Bot> for BotOut {
    fn from(b: Bot) -> Self {
        BotOut {
            id: b.id.into(),
            account_id: b.account_id.into(),
            name: b.name,
            description: b.description,
            is_active: b.is_active,
            created_at: rfc3339(b.created_at),
            updated_at: rfc3339(b.updated_at),
        }
    }
}

fn validate_description(d: Option<&str>) -> ApiResult<Option<String>> {
    match d.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) if d.chars().count() > 2000 => Err(ApiError::field("description", "must be at most 2000 characters")),
        Some(d) => Ok(Some(d.to_string())),
    }
}

/// The bot named by a path id, if the caller may see it (404 otherwise, also for another
/// account's bot: its existence is not revealed).
pub async fn load_bot(state: &AppState, auth: &Auth, raw_id: &str) -> ApiResult<Bot> {
    let id = parse_id(raw_id, "bot")?;
    match state.store.get_bot(id).await? {
        Some(bot) if auth.can_access(bot.account_id) => Ok(bot),
        _ => Err(ApiError::not_found("bot")),
    }
}

#[utoipa::path(post, path = "/v1/api/accounts/{account_id}/bots", tag = "bots", request_body = BotIn,
    responses((status = 201, description = "Created", body = inline(Envelope<BotOut>)),
              (status = 400, description = "Invalid input", body = ErrorEnvelope),
              (status = 403, description = "Another account", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn create_bot(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiJson(body): ApiJson<BotIn>,
) -> ApiResult<Created<BotOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    if body.account_id.is_some_and(|id| id != account.id.into_uuid()) {
        return Err(ApiError::field("account_id", "must match the account id in the path"));
    }
    let name = validate_name("name", &body.name)?;
    let description = validate_description(body.description.as_deref())?;
    let bot = state
        .store
        .create_bot(
            account.id,
            &name,
            description.as_deref(),
            body.is_active.unwrap_or(true),
        )
        .await?;
    Ok(Created(bot.into()))
}

#[utoipa::path(get, path = "/v1/api/accounts/{account_id}/bots", tag = "bots", params(PageQuery),
    responses((status = 200, description = "Bots, oldest first", body = inline(Envelope<Vec<BotOut>>))),
    security(("api_key" = [])))]
async fn list_bots(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiPage<BotOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    let page = q.page()?;
    let rows = state.store.list_bots(Some(account.id), page).await?;
    Ok(ApiPage::from_rows(rows, page, |b| b.id, BotOut::from))
}

#[utoipa::path(get, path = "/v1/api/bots/{bot_id}", tag = "bots",
    responses((status = 200, description = "OK", body = inline(Envelope<BotOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_bot(State(state): State<AppState>, auth: Auth, Path(bot_id): Path<String>) -> ApiResult<ApiOk<BotOut>> {
    Ok(ApiOk(load_bot(&state, &auth, &bot_id).await?.into()))
}

#[utoipa::path(put, path = "/v1/api/bots/{bot_id}", tag = "bots", request_body = BotPatchIn,
    responses((status = 200, description = "Updated", body = inline(Envelope<BotOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn update_bot(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    ApiJson(body): ApiJson<BotPatchIn>,
) -> ApiResult<ApiOk<BotOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let patch = BotPatch {
        name: body.name.as_deref().map(|n| validate_name("name", n)).transpose()?,
        description: body
            .description
            .map(|d| validate_description(d.as_deref()))
            .transpose()?,
        is_active: body.is_active,
    };
    let updated = state
        .store
        .update_bot(bot.id, patch)
        .await?
        .ok_or_else(|| ApiError::not_found("bot"))?;
    Ok(ApiOk(updated.into()))
}

#[utoipa::path(delete, path = "/v1/api/bots/{bot_id}", tag = "bots",
    responses((status = 204, description = "Deleted with everything it owns"),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_bot(State(state): State<AppState>, auth: Auth, Path(bot_id): Path<String>) -> ApiResult<StatusCode> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    super::credentials::remove_webhooks(&state, bot.id).await?;
    if !state.store.delete_bot(bot.id).await? {
        return Err(ApiError::not_found("bot"));
    }
    // The rows went with the bot (cascade); its blobs are under its own key prefix. The bot is
    // gone either way: a failure here only leaves orphan blobs, so it is logged, not answered.
    if let Err(e) = state.media.delete_bot_blobs(bot.id).await {
        tracing::warn!(error = %e, bot_id = %bot.id, "could not delete the bot's media blobs");
    }
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_bot, list_bots))
        .routes(routes!(get_bot, update_bot, delete_bot))
}
