//! Dialogs: list a bot's conversations, read one with its history, and let an
//! operator move or reset one.

use crate::model::ids::BotId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::bots::load_bot;
use super::extract::{ApiJson, ApiOk, ApiPage, ApiQuery, Envelope, ErrorEnvelope, PageQuery, parse_id};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::scenario::{DialogState, DialogStatus};
use crate::store::{DialogRow, HistoryRow, ReplyRow, rfc3339};

#[derive(Serialize, ToSchema)]
pub struct DialogOut {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub bot_id: BotId,
    pub platform: String,
    pub platform_chat_id: String,
    pub current_step: String,
    /// `active` or `completed`.
    pub status: String,
    /// Variables collected so far.
    #[schema(value_type = Object)]
    pub collected_data: Value,
    pub last_interaction_at: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<DialogRow> for DialogOut {
    fn from(d: DialogRow) -> Self {
        let data = serde_json::from_str::<DialogState>(&d.state)
            .map(|s| Value::Object(s.data))
            .unwrap_or(Value::Null);
        DialogOut {
            id: d.id.into(),
            bot_id: d.bot_id,
            platform: d.platform,
            platform_chat_id: d.chat_id,
            current_step: d.current_step,
            status: d.status,
            collected_data: data,
            last_interaction_at: rfc3339(d.last_interaction_at),
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HistoryOut {
    pub id: Uuid,
    pub dialog_id: Uuid,
    /// `user` (an input) or `bot` (a message sent: text, buttons, media).
    pub message_type: String,
    #[schema(value_type = Object)]
    pub message_data: Value,
    pub timestamp: String,
}

impl From<HistoryRow> for HistoryOut {
    fn from(h: HistoryRow) -> Self {
        HistoryOut {
            id: h.id,
            dialog_id: h.dialog_id.into(),
            message_type: h.direction,
            message_data: serde_json::from_str(&h.message).unwrap_or(Value::Null),
            timestamp: rfc3339(h.created_at),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct DialogQuery {
    pub platform: Option<String>,
    /// `active` or `completed`.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/api/bots/{bot_id}/dialogs", tag = "dialogs", params(DialogQuery),
    responses((status = 200, description = "Dialogs, oldest first", body = inline(Envelope<Vec<DialogOut>>))),
    security(("api_key" = [])))]
async fn list_dialogs(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    ApiQuery(q): ApiQuery<DialogQuery>,
) -> ApiResult<ApiPage<DialogOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    if q.status.as_deref().is_some_and(|s| s != "active" && s != "completed") {
        return Err(ApiError::field("status", "must be `active` or `completed`"));
    }
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let rows = state
        .store
        .list_dialogs(bot.id, q.platform.as_deref(), q.status.as_deref(), page)
        .await?;
    Ok(ApiPage::from_rows(rows, page, |d| d.id, DialogOut::from))
}

/// A dialog the caller may see (404 otherwise).
async fn load_dialog(state: &AppState, auth: &Auth, raw_id: &str) -> ApiResult<DialogRow> {
    let id = parse_id(raw_id, "dialog")?;
    let dialog = state
        .store
        .get_dialog(id)
        .await?
        .ok_or_else(|| ApiError::not_found("dialog"))?;
    match state.store.get_bot(dialog.bot_id).await? {
        Some(bot) if auth.can_access(bot.account_id) => Ok(dialog),
        _ => Err(ApiError::not_found("dialog")),
    }
}

#[utoipa::path(get, path = "/v1/api/dialogs/{dialog_id}", tag = "dialogs",
    responses((status = 200, description = "OK", body = inline(Envelope<DialogOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_dialog(
    State(state): State<AppState>,
    auth: Auth,
    Path(dialog_id): Path<String>,
) -> ApiResult<ApiOk<DialogOut>> {
    Ok(ApiOk(load_dialog(&state, &auth, &dialog_id).await?.into()))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DialogPatchIn {
    /// Move the dialog to this step (it must exist in the active scenario); the step is not
    /// shown until the user's next input.
    pub current_step: Option<String>,
    /// Replace the collected variables.
    #[schema(value_type = Option<Object>)]
    pub collected_data: Option<Map<String, Value>>,
    /// `active` or `completed`.
    pub status: Option<String>,
}

#[utoipa::path(put, path = "/v1/api/dialogs/{dialog_id}", tag = "dialogs", request_body = DialogPatchIn,
    responses((status = 200, description = "Updated", body = inline(Envelope<DialogOut>)),
              (status = 400, description = "Unknown step or status", body = ErrorEnvelope),
              (status = 404, description = "Not found", body = ErrorEnvelope),
              (status = 409, description = "The dialog changed meanwhile; read it again", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn update_dialog(
    State(state): State<AppState>,
    auth: Auth,
    Path(dialog_id): Path<String>,
    ApiJson(body): ApiJson<DialogPatchIn>,
) -> ApiResult<ApiOk<DialogOut>> {
    let dialog = load_dialog(&state, &auth, &dialog_id).await?;
    let mut dstate: DialogState = serde_json::from_str(&dialog.state)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("unreadable dialog state: {e}")))?;
    if let Some(step) = body.current_step {
        let platform = state.runtime.platform(&dialog.platform)?;
        let scenario = state
            .runtime
            .scenarios
            .active(&state.store, dialog.bot_id, platform.as_ref())
            .await?;
        if scenario.as_ref().is_some_and(|s| !s.has_step(&step)) {
            return Err(ApiError::field(
                "current_step",
                format!("the active scenario has no step `{step}`"),
            ));
        }
        dstate.current_step = step;
        dstate.retries = 0;
        // A pending automatic transition belonged to the old step.
        dstate.auto = None;
    }
    if let Some(data) = body.collected_data {
        dstate.data = data;
    }
    match body.status.as_deref() {
        None => {}
        Some("active") => dstate.status = DialogStatus::Active,
        Some("completed") => dstate.status = DialogStatus::Completed,
        Some(_) => return Err(ApiError::field("status", "must be `active` or `completed`")),
    }
    if !state
        .store
        .replace_dialog_state(dialog.id, dialog.version, &dstate)
        .await?
    {
        return Err(ApiError::conflict(
            "the dialog changed while it was being updated; read it again",
        ));
    }
    let updated = state
        .store
        .get_dialog(dialog.id)
        .await?
        .ok_or_else(|| ApiError::not_found("dialog"))?;
    Ok(ApiOk(updated.into()))
}

#[utoipa::path(delete, path = "/v1/api/dialogs/{dialog_id}", tag = "dialogs",
    responses((status = 204, description = "Deleted with its history; the chat's next input starts anew"),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_dialog(
    State(state): State<AppState>,
    auth: Auth,
    Path(dialog_id): Path<String>,
) -> ApiResult<StatusCode> {
    let dialog = load_dialog(&state, &auth, &dialog_id).await?;
    state.store.delete_dialog(dialog.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/api/dialogs/{dialog_id}/history", tag = "dialogs", params(PageQuery),
    responses((status = 200, description = "Inputs and bot messages, oldest first", body = inline(Envelope<Vec<HistoryOut>>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn dialog_history(
    State(state): State<AppState>,
    auth: Auth,
    Path(dialog_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiPage<HistoryOut>> {
    let dialog = load_dialog(&state, &auth, &dialog_id).await?;
    let page = q.page()?;
    let rows = state.store.dialog_history(dialog.id, page).await?;
    Ok(ApiPage::from_rows(rows, page, |h| h.id, HistoryOut::from))
}

/// One reply the bot queued for the chat.
#[derive(Serialize, ToSchema)]
pub struct ReplyOut {
    pub id: Uuid,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// The platform request, as queued.
    #[schema(value_type = Object)]
    pub call: Value,
    /// Why the last attempt failed: the platform's error as it answered (WhatsApp's Graph API
    /// error object), or `outside the customer-service window: …`.
    pub last_error: Option<String>,
    /// The platform's id of the message (WhatsApp's `wamid…`), once sent.
    pub platform_message_id: Option<String>,
    /// The latest delivery receipt (`sent`, `delivered`, `read`, `failed`) and when.
    pub receipt: Option<String>,
    pub receipt_at: Option<String>,
    /// The platform's error of a `failed` receipt.
    #[schema(value_type = Option<Object>)]
    pub receipt_error: Option<Value>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

impl From<ReplyRow> for ReplyOut {
    fn from(r: ReplyRow) -> Self {
        ReplyOut {
            id: r.id,
            status: r.status,
            attempts: r.attempts,
            call: serde_json::from_str(&r.call).unwrap_or(Value::Null),
            last_error: r.last_error,
            platform_message_id: r.platform_message_id,
            receipt: r.receipt,
            receipt_at: r.receipt_at.map(rfc3339),
            receipt_error: r.receipt_error.and_then(|e| serde_json::from_str(&e).ok()),
            created_at: rfc3339(r.created_at),
            sent_at: r.sent_at.map(rfc3339),
        }
    }
}

#[utoipa::path(get, path = "/v1/api/dialogs/{dialog_id}/replies", tag = "dialogs", params(PageQuery),
    responses((status = 200, description = "The bot's replies to the chat, oldest first, with failures and delivery receipts", body = inline(Envelope<Vec<ReplyOut>>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn dialog_replies(
    State(state): State<AppState>,
    auth: Auth,
    Path(dialog_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiPage<ReplyOut>> {
    let dialog = load_dialog(&state, &auth, &dialog_id).await?;
    let page = q.page()?;
    let rows = state
        .store
        .chat_replies(dialog.bot_id, &dialog.platform, &dialog.chat_id, page)
        .await?;
    Ok(ApiPage::from_rows(rows, page, |r| r.id, ReplyOut::from))
}

#[utoipa::path(get, path = "/v1/api/bots/{bot_id}/dialogs/{platform}/{chat_id}", tag = "dialogs",
    responses((status = 200, description = "The chat's dialog", body = inline(Envelope<DialogOut>)),
              (status = 404, description = "No dialog for that chat", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_dialog_by_chat(
    State(state): State<AppState>,
    auth: Auth,
    Path((bot_id, platform, chat_id)): Path<(String, String, String)>,
) -> ApiResult<ApiOk<DialogOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let dialog = state
        .store
        .get_dialog_by_chat(bot.id, &platform, &chat_id)
        .await?
        .ok_or_else(|| ApiError::not_found("dialog"))?;
    Ok(ApiOk(dialog.into()))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dialogs))
        .routes(routes!(get_dialog, update_dialog, delete_dialog))
        .routes(routes!(dialog_history))
        .routes(routes!(dialog_replies))
        .routes(routes!(get_dialog_by_chat))
}
