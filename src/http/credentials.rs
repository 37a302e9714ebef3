//! Platform credentials and bot activation, with the webhook side effects GET INN documented
//! but never had: activating registers the Telegram webhook, deactivating
//! and deleting remove it. Tokens are sealed at rest and never returned.

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
use super::bots::{BotOut, load_bot};
use super::extract::{ApiJson, ApiOk, Created, Envelope, ErrorEnvelope};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::platforms::registration::{self, SetOptions};
use crate::platforms::token_purpose;
use crate::store::{BotPatch, Credential, rfc3339};

const PLATFORMS: &[&str] = &["telegram"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialIn {
    /// `telegram`.
    pub platform: String,
    /// `{"token": "123456:ABC…"}` (`api_token` is accepted as an alias); other keys are kept as
    /// non-secret settings.
    #[schema(value_type = Object)]
    pub credentials: Map<String, Value>,
    pub is_active: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CredentialPatchIn {
    /// Accepted for GET INN compatibility; must equal the platform in the path.
    pub platform: Option<String>,
    /// Replaces the credentials (a new token); omit to keep them.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Map<String, Value>>,
    pub is_active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct CredentialOut {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub bot_id: BotId,
    pub platform: String,
    /// The token redacted (`123456:****`) and the non-secret settings.
    #[schema(value_type = Object)]
    pub credentials: Value,
    pub is_active: bool,
    pub webhook_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Credential> for CredentialOut {
    fn from(c: Credential) -> Self {
        let mut credentials: Map<String, Value> = serde_json::from_str(&c.extra).unwrap_or_default();
        credentials.insert("token".into(), Value::String(c.token_hint));
        CredentialOut {
            id: c.id,
            bot_id: c.bot_id,
            platform: c.platform,
            credentials: Value::Object(credentials),
            is_active: c.is_active,
            webhook_url: c.webhook_url,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// Split a credentials object into the token (checked for shape) and the other settings.
fn split_credentials(platform: &str, mut map: Map<String, Value>) -> ApiResult<(String, Map<String, Value>)> {
    let token = match (map.remove("token"), map.remove("api_token")) {
        (Some(Value::String(t)), _) | (None, Some(Value::String(t))) => t,
        (Some(_), _) | (None, Some(_)) => return Err(ApiError::field("credentials.token", "must be a string")),
        (None, None) => return Err(ApiError::field("credentials.token", "is required")),
    };
    let token = token.trim().to_string();
    if platform == "telegram" && !valid_telegram_token(&token) {
        return Err(ApiError::field(
            "credentials.token",
            "is not a Telegram bot token (digits:characters from @BotFather)",
        ));
    }
    if map
        .keys()
        .any(|k| k.to_ascii_lowercase().contains("secret") || k.to_ascii_lowercase().contains("token"))
    {
        return Err(ApiError::field(
            "credentials",
            "only `token` may carry a secret; remove other secret-looking keys",
        ));
    }
    Ok((token, map))
}

/// `<digits>:<35ish chars of A-Z a-z 0-9 _ ->` as @BotFather issues them.
pub fn valid_telegram_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|b| b.is_ascii_digit())
        && (20..=100).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `123456:****`: enough to tell tokens apart, nothing to use.
pub fn redact_token(token: &str) -> String {
    match token.split_once(':') {
        Some((id, _)) => format!("{id}:****"),
        None => "****".to_string(),
    }
}

fn check_platform(platform: &str) -> ApiResult<()> {
    if PLATFORMS.contains(&platform) {
        Ok(())
    } else {
        Err(ApiError::field(
            "platform",
            format!("`{platform}` is not supported; supported: {}", PLATFORMS.join(", ")),
        ))
    }
}

#[utoipa::path(post, path = "/v1/api/bots/{bot_id}/platforms", tag = "bots", request_body = CredentialIn,
    responses((status = 201, description = "Created or replaced (one credential per platform)", body = inline(Envelope<CredentialOut>)),
              (status = 400, description = "Invalid token or platform", body = ErrorEnvelope),
              (status = 404, description = "No such bot", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn add_credential(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    ApiJson(body): ApiJson<CredentialIn>,
) -> ApiResult<Created<CredentialOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    check_platform(&body.platform)?;
    let (token, extra) = split_credentials(&body.platform, body.credentials)?;
    let sealed = state.cipher.seal(token_purpose(&body.platform), token.as_bytes());
    let extra = Value::Object(extra).to_string();
    let credential = state
        .store
        .upsert_credential(
            bot.id,
            &body.platform,
            &sealed,
            &redact_token(&token),
            &extra,
            body.is_active.unwrap_or(true),
        )
        .await?;
    Ok(Created(credential.into()))
}

#[utoipa::path(get, path = "/v1/api/bots/{bot_id}/platforms", tag = "bots",
    responses((status = 200, description = "The bot's credentials (tokens redacted)", body = inline(Envelope<Vec<CredentialOut>>))),
    security(("api_key" = [])))]
async fn list_credentials(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
) -> ApiResult<ApiOk<Vec<CredentialOut>>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let list = state.store.list_credentials(bot.id).await?;
    Ok(ApiOk(list.into_iter().map(Into::into).collect()))
}

async fn load_credential(state: &AppState, auth: &Auth, bot_id: &str, platform: &str) -> ApiResult<Credential> {
    let bot = load_bot(state, auth, bot_id).await?;
    state
        .store
        .get_credential(bot.id, platform)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("credentials for platform {platform}")))
}

#[utoipa::path(get, path = "/v1/api/bots/{bot_id}/platforms/{platform}", tag = "bots",
    responses((status = 200, description = "OK", body = inline(Envelope<CredentialOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_credential(
    State(state): State<AppState>,
    auth: Auth,
    Path((bot_id, platform)): Path<(String, String)>,
) -> ApiResult<ApiOk<CredentialOut>> {
    Ok(ApiOk(load_credential(&state, &auth, &bot_id, &platform).await?.into()))
}

#[utoipa::path(put, path = "/v1/api/bots/{bot_id}/platforms/{platform}", tag = "bots", request_body = CredentialPatchIn,
    responses((status = 200, description = "Updated", body = inline(Envelope<CredentialOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn update_credential(
    State(state): State<AppState>,
    auth: Auth,
    Path((bot_id, platform)): Path<(String, String)>,
    ApiJson(body): ApiJson<CredentialPatchIn>,
) -> ApiResult<ApiOk<CredentialOut>> {
    let current = load_credential(&state, &auth, &bot_id, &platform).await?;
    if body.platform.as_deref().is_some_and(|p| p != platform) {
        return Err(ApiError::field(
            "platform",
            "renaming a credential's platform is not supported; delete and add",
        ));
    }
    let mut token_update = None;
    let mut extra = None;
    if let Some(credentials) = body.credentials {
        let (token, rest) = split_credentials(&platform, credentials)?;
        token_update = Some((
            state.cipher.seal(token_purpose(&platform), token.as_bytes()),
            redact_token(&token),
        ));
        extra = Some(Value::Object(rest).to_string());
    }
    let updated = state
        .store
        .update_credential(
            current.bot_id,
            &platform,
            token_update.as_ref().map(|(s, h)| (s.as_slice(), h.as_str())),
            extra.as_deref(),
            body.is_active,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("credentials"))?;
    Ok(ApiOk(updated.into()))
}

#[utoipa::path(delete, path = "/v1/api/bots/{bot_id}/platforms/{platform}", tag = "bots",
    responses((status = 204, description = "Deleted (its webhook is removed first)"),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_credential(
    State(state): State<AppState>,
    auth: Auth,
    Path((bot_id, platform)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let current = load_credential(&state, &auth, &bot_id, &platform).await?;
    if current.webhook_url.is_some() {
        remove_webhook(&state, current.bot_id).await;
    }
    state.store.delete_credential(current.bot_id, &platform).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Best effort: a bot being switched off must not stay switched on because Telegram is down.
pub async fn remove_webhook(state: &AppState, bot_id: BotId) {
    let Ok(registrar) = super::telegram::registrar(state) else {
        return;
    };
    if let Err(e) = registration::unregister(&registrar, bot_id).await {
        tracing::warn!(%bot_id, error = %e, "could not remove the Telegram webhook");
    }
}

#[derive(Serialize, ToSchema)]
pub struct ActivationOut {
    #[serde(flatten)]
    pub bot: BotOut,
    /// The webhook registration done by this call: `{registered, url?, error?}`.
    #[schema(value_type = Object)]
    pub webhook: Value,
}

#[utoipa::path(post, path = "/v1/api/bots/{bot_id}/activate", tag = "bots",
    responses((status = 200, description = "Active; with an active Telegram credential, its webhook is registered", body = inline(Envelope<ActivationOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn activate_bot(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
) -> ApiResult<ApiOk<ActivationOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let bot = state
        .store
        .update_bot(
            bot.id,
            BotPatch {
                is_active: Some(true),
                ..Default::default()
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found("bot"))?;
    let has_telegram = state
        .store
        .get_credential(bot.id, "telegram")
        .await?
        .is_some_and(|c| c.is_active);
    let webhook = if !has_telegram {
        serde_json::json!({ "registered": false, "reason": "no active Telegram credentials" })
    } else {
        match registration::register(&super::telegram::registrar(&state)?, bot.id, SetOptions::default()).await {
            Ok(status) => serde_json::json!({ "registered": true, "url": status.url }),
            Err(e) => serde_json::json!({ "registered": false, "error": e.to_string() }),
        }
    };
    Ok(ApiOk(ActivationOut {
        bot: bot.into(),
        webhook,
    }))
}

#[utoipa::path(post, path = "/v1/api/bots/{bot_id}/deactivate", tag = "bots",
    responses((status = 200, description = "Inactive; its webhook is removed", body = inline(Envelope<BotOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn deactivate_bot(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
) -> ApiResult<ApiOk<BotOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let bot = state
        .store
        .update_bot(
            bot.id,
            BotPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found("bot"))?;
    if state
        .store
        .get_credential(bot.id, "telegram")
        .await?
        .is_some_and(|c| c.webhook_url.is_some())
    {
        remove_webhook(&state, bot.id).await;
    }
    Ok(ApiOk(bot.into()))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_credential, list_credentials))
        .routes(routes!(get_credential, update_credential, delete_credential))
        .routes(routes!(activate_bot))
        .routes(routes!(deactivate_bot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_and_redaction() {
        assert!(valid_telegram_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(!valid_telegram_token("123456789"));
        assert!(!valid_telegram_token("abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(!valid_telegram_token("123:short"));
        assert!(!valid_telegram_token("123:AAHdqTcvCH1vGWJxfSeofSAs0K5PALD saw"));
        assert_eq!(
            redact_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
            "123456789:****"
        );
    }
}
