//! A bot's WhatsApp webhook, managed by its owner: `/set` points Meta's webhook override (the
//! phone number's, or the business account's when the credential names one) at hookline;
//! `/status` shows Meta's view beside what hookline saw (Meta's handshake, its last signed
//! body, the last error); `/delete` removes the override. When the access token may not set
//! the override, both answer what to paste in Meta's app dashboard instead.

use crate::model::ids::BotId;

use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::bots::load_bot;
use super::extract::{ApiOk, Envelope, ErrorEnvelope};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::platforms::registration::{self, SetOptions, WebhookError};
use crate::platforms::whatsapp::api::GraphRefusals;
use crate::store::rfc3339;

const PLATFORM: &str = "whatsapp";

/// The bot's WhatsApp webhook as Meta and hookline see it.
#[derive(Serialize, ToSchema)]
pub struct WhatsAppWebhookOut {
    /// Meta sends this bot's messages to hookline (as far as Meta's API tells).
    pub registered: bool,
    /// The callback URL to paste in Meta's app dashboard (WhatsApp → Configuration →
    /// Webhook) when the override cannot be set with the access token; `null` without
    /// `public_url`.
    pub callback_url: Option<String>,
    /// The verify token to paste beside it.
    pub verify_token: Option<String>,
    /// The callback Meta reports for the number or business account.
    pub platform_callback_url: Option<String>,
    /// When Meta last ran the handshake with hookline, and last posted a signed body (RFC 3339).
    pub handshake_at: Option<String>,
    pub last_signed_post_at: Option<String>,
    /// The last error registering or receiving, if any.
    pub last_error: Option<String>,
    /// What to do when the override could not be set or read.
    pub note: Option<String>,
}

pub(super) const PASTE_NOTE: &str = "the access token may not set the webhook override (it needs whatsapp_business_management \
     on the number's business account); in Meta's app dashboard, WhatsApp > Configuration > Webhook, paste callback_url and \
     verify_token, then subscribe the `messages` field";

fn registrar(state: &AppState) -> ApiResult<registration::Registrar<'_>> {
    state
        .runtime
        .registrar(PLATFORM)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the WhatsApp adapter is not registered")))
}

fn webhook_error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::NoCredential(_) => ApiError::not_found("active WhatsApp credentials"),
        WebhookError::NoPublicUrl => ApiError::validation(e.to_string()),
        WebhookError::Platform(inner) if inner.is_retryable() => ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "WHATSAPP_UNAVAILABLE",
            format!("Graph API error: {inner}"),
        ),
        WebhookError::Platform(inner) => ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "WHATSAPP_ERROR",
            format!("Graph API error: {inner}"),
        ),
        WebhookError::Token => ApiError::internal(anyhow::anyhow!("{e}")),
        WebhookError::Store(s) => ApiError::from(s),
    }
}

/// The view of the bot's webhook, with Meta's answer (`platform`) when there is one. Called
/// after the registration or status call, so the credential read here holds any error it
/// recorded.
pub(super) async fn view(
    state: &AppState,
    bot_id: BotId,
    platform: Result<String, WebhookError>,
) -> ApiResult<WhatsAppWebhookOut> {
    let credential = state
        .store
        .get_credential(bot_id, PLATFORM)
        .await?
        .ok_or_else(|| ApiError::not_found("WhatsApp credentials"))?;
    let callback_url = state
        .config
        .public_url
        .as_deref()
        .map(|base| registration::webhook_url(base, PLATFORM, bot_id));
    let verify_token = credential
        .secret_token_sealed
        .as_deref()
        .and_then(|s| registration::open_secret(&state.cipher, PLATFORM, s))
        .map(|s| s.expose().clone());
    let (platform_callback_url, note) = match platform {
        Ok(url) => (Some(url).filter(|u| !u.is_empty()), None),
        Err(WebhookError::Platform(e)) if e.is_permission_denied() => (None, Some(PASTE_NOTE.to_string())),
        Err(e @ (WebhookError::Platform(_) | WebhookError::NoPublicUrl)) => (None, Some(e.to_string())),
        Err(e) => return Err(webhook_error(e)),
    };
    let registered = platform_callback_url.is_some() && platform_callback_url == callback_url;
    Ok(WhatsAppWebhookOut {
        registered,
        callback_url,
        verify_token,
        platform_callback_url,
        handshake_at: credential.handshake_at.map(rfc3339),
        last_signed_post_at: credential.last_signed_post_at.map(rfc3339),
        last_error: credential.webhook_error,
        note,
    })
}

/// Register the bot's override; the view of the result (an error Meta gave is in the view).
pub(super) async fn register(state: &AppState, bot_id: BotId) -> ApiResult<WhatsAppWebhookOut> {
    let result = registration::register(&registrar(state)?, bot_id, SetOptions::default())
        .await
        .map(|s| s.url);
    view(state, bot_id, result).await
}

/// The activation answer for WhatsApp: `{registered, url?, error?, callback_url, verify_token, note?}`.
pub(super) async fn activation(state: &AppState, bot_id: BotId) -> Value {
    match register(state, bot_id).await {
        Ok(view) => json!({
            "registered": view.registered,
            "url": view.platform_callback_url,
            "error": view.last_error.filter(|_| !view.registered),
            "callback_url": view.callback_url,
            "verify_token": view.verify_token,
            "note": view.note,
        }),
        Err(e) => json!({ "registered": false, "error": e.message }),
    }
}

#[utoipa::path(post, path = "/v1/api/webhooks/whatsapp/{bot_id}/set", tag = "platform-webhooks",
    responses((status = 200, description = "Registered, or what to paste in Meta's dashboard when the token may not register", body = inline(Envelope<WhatsAppWebhookOut>)),
              (status = 400, description = "No public_url, or Meta refused", body = ErrorEnvelope),
              (status = 404, description = "No such bot, or no active WhatsApp credentials", body = ErrorEnvelope),
              (status = 502, description = "Meta's API is unavailable; try again", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn set_whatsapp_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
) -> ApiResult<ApiOk<WhatsAppWebhookOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let result = registration::register(&registrar(&state)?, bot.id, SetOptions::default()).await;
    let result = match result {
        Ok(status) => Ok(status.url),
        Err(WebhookError::Platform(e)) if e.is_permission_denied() => Err(WebhookError::Platform(e)),
        Err(e) => return Err(webhook_error(e)),
    };
    Ok(ApiOk(view(&state, bot.id, result).await?))
}

#[utoipa::path(get, path = "/v1/api/webhooks/whatsapp/{bot_id}/status", tag = "platform-webhooks",
    responses((status = 200, description = "Meta's view and hookline's", body = inline(Envelope<WhatsAppWebhookOut>)),
              (status = 404, description = "No such bot, or no WhatsApp credentials", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn whatsapp_webhook_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
) -> ApiResult<ApiOk<WhatsAppWebhookOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let result = registration::status(&registrar(&state)?, bot.id).await.map(|s| s.url);
    Ok(ApiOk(view(&state, bot.id, result).await?))
}

#[utoipa::path(post, path = "/v1/api/webhooks/whatsapp/{bot_id}/delete", tag = "platform-webhooks",
    responses((status = 200, description = "The override is removed at Meta", body = inline(Envelope<Object>)),
              (status = 404, description = "No such bot, or no active WhatsApp credentials", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_whatsapp_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
) -> ApiResult<ApiOk<Value>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    registration::unregister(&registrar(&state)?, bot.id)
        .await
        .map_err(webhook_error)?;
    Ok(ApiOk(json!({ "deleted": true })))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_whatsapp_webhook))
        .routes(routes!(whatsapp_webhook_status))
        .routes(routes!(delete_whatsapp_webhook))
}
