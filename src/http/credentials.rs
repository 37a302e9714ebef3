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
use crate::platforms::{app_secret_purpose, token_purpose};
use crate::secrets::{Secret, random_token};
use crate::store::{BotPatch, Credential, CredentialSecrets, rfc3339};

const PLATFORMS: &[&str] = &["telegram", "whatsapp"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialIn {
    /// `telegram` or `whatsapp`.
    pub platform: String,
    /// Telegram: `{"token": "123456:ABC…"}` (`api_token` is accepted as an alias). WhatsApp:
    /// `{"phone_number_id", "access_token", "app_secret"}` and optionally `waba_id` (the
    /// webhook override is then set on the business account), `api_version` (`v21.0`) and
    /// `template` (`{"name", "language", "parameters": ["{{var}}", …]}`, sent when the 24-hour
    /// window is closed). Other keys are kept as non-secret settings.
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
    /// The secrets redacted (`123456:****`; WhatsApp's `access_token` and `app_secret`) and the
    /// non-secret settings.
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
        if c.platform == "whatsapp" {
            credentials.insert("access_token".into(), Value::String(c.token_hint));
            if c.app_secret_sealed.is_some() {
                credentials.insert("app_secret".into(), Value::String("****".into()));
            }
        } else {
            credentials.insert("token".into(), Value::String(c.token_hint));
        }
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

/// A credentials object read for its platform: the token (checked for shape), its redacted
/// hint, a second secret where the platform has one, and the non-secret settings.
struct CredentialParts {
    token: String,
    hint: String,
    app_secret: Option<String>,
    extra: Map<String, Value>,
}

fn split_credentials(platform: &str, map: Map<String, Value>) -> ApiResult<CredentialParts> {
    match platform {
        "whatsapp" => whatsapp_credentials(map),
        _ => telegram_credentials(map),
    }
}

/// A required or optional string field, trimmed.
fn take_string(map: &mut Map<String, Value>, key: &str, alias: Option<&str>) -> ApiResult<Option<String>> {
    let value = map.remove(key).or_else(|| alias.and_then(|a| map.remove(a)));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(ApiError::field(&format!("credentials.{key}"), "must be a string")),
    }
}

fn refuse_other_secrets(map: &Map<String, Value>) -> ApiResult<()> {
    if map
        .keys()
        .any(|k| k.to_ascii_lowercase().contains("secret") || k.to_ascii_lowercase().contains("token"))
    {
        return Err(ApiError::field(
            "credentials",
            "a secret may only be given in the platform's own fields; remove other secret-looking keys",
        ));
    }
    Ok(())
}

fn telegram_credentials(mut map: Map<String, Value>) -> ApiResult<CredentialParts> {
    let token = take_string(&mut map, "token", Some("api_token"))?
        .ok_or_else(|| ApiError::field("credentials.token", "is required"))?;
    if !valid_telegram_token(&token) {
        return Err(ApiError::field(
            "credentials.token",
            "is not a Telegram bot token (digits:characters from @BotFather)",
        ));
    }
    refuse_other_secrets(&map)?;
    Ok(CredentialParts {
        hint: redact_token(&token),
        token,
        app_secret: None,
        extra: map,
    })
}

/// 1–32 digits: Meta's ids of phone numbers and business accounts.
fn meta_id(value: &str) -> bool {
    (1..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// Printable ASCII without spaces, `min..=max` long: access tokens and app secrets.
fn secret_shape(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

fn whatsapp_credentials(mut map: Map<String, Value>) -> ApiResult<CredentialParts> {
    let required =
        |v: Option<String>, key: &str| v.ok_or_else(|| ApiError::field(&format!("credentials.{key}"), "is required"));
    let token = required(take_string(&mut map, "access_token", Some("token"))?, "access_token")?;
    if !secret_shape(&token, 16, 4096) {
        return Err(ApiError::field(
            "credentials.access_token",
            "is not a Graph API access token",
        ));
    }
    let app_secret = required(take_string(&mut map, "app_secret", None)?, "app_secret")?;
    if !secret_shape(&app_secret, 8, 256) {
        return Err(ApiError::field(
            "credentials.app_secret",
            "is not a Meta app secret (8-256 characters, no spaces)",
        ));
    }
    let number = required(take_string(&mut map, "phone_number_id", None)?, "phone_number_id")?;
    if !meta_id(&number) {
        return Err(ApiError::field(
            "credentials.phone_number_id",
            "must be the phone number's id (digits), not the number",
        ));
    }
    map.insert("phone_number_id".into(), Value::String(number));
    if let Some(waba) = take_string(&mut map, "waba_id", None)? {
        if !meta_id(&waba) {
            return Err(ApiError::field(
                "credentials.waba_id",
                "must be the business account's id (digits)",
            ));
        }
        map.insert("waba_id".into(), Value::String(waba));
    }
    if let Some(version) = take_string(&mut map, "api_version", None)? {
        let ok = version.len() <= 10
            && version
                .strip_prefix('v')
                .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
        if !ok {
            return Err(ApiError::field(
                "credentials.api_version",
                "must be a Graph API version such as v21.0",
            ));
        }
        map.insert("api_version".into(), Value::String(version));
    }
    crate::platforms::whatsapp::template::Template::from_settings(&map)
        .map_err(|e| ApiError::field("credentials.template", e))?;
    refuse_other_secrets(&map)?;
    Ok(CredentialParts {
        hint: redact_access_token(&token),
        token,
        app_secret: Some(app_secret),
        extra: map,
    })
}

/// `EAAG****`: the kind of token, nothing to use.
fn redact_access_token(token: &str) -> String {
    format!("{}****", token.chars().take(4).collect::<String>())
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
    let parts = split_credentials(&body.platform, body.credentials)?;
    let sealed = state.cipher.seal(token_purpose(&body.platform), parts.token.as_bytes());
    let extra = Value::Object(parts.extra).to_string();
    let secrets = CredentialSecrets {
        token_sealed: sealed,
        token_hint: parts.hint,
        app_secret_sealed: parts
            .app_secret
            .map(|s| state.cipher.seal(app_secret_purpose(&body.platform), s.as_bytes())),
        // WhatsApp's verify token is made once, with the credential (kept when replaced).
        secret_token_sealed: (body.platform == "whatsapp")
            .then(|| registration::seal_secret(&state.cipher, &body.platform, &Secret::new(random_token(32)))),
    };
    let credential = state
        .store
        .upsert_credential(bot.id, &body.platform, &secrets, &extra, body.is_active.unwrap_or(true))
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
    let mut app_secret = None;
    if let Some(credentials) = body.credentials {
        let parts = split_credentials(&platform, credentials)?;
        token_update = Some((
            state.cipher.seal(token_purpose(&platform), parts.token.as_bytes()),
            parts.hint,
        ));
        extra = Some(Value::Object(parts.extra).to_string());
        app_secret = parts
            .app_secret
            .map(|s| state.cipher.seal(app_secret_purpose(&platform), s.as_bytes()));
    }
    let updated = state
        .store
        .update_credential(
            current.bot_id,
            &platform,
            token_update.as_ref().map(|(s, h)| (s.as_slice(), h.as_str())),
            extra.as_deref(),
            body.is_active,
            app_secret.as_deref(),
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
        remove_webhook(&state, current.bot_id, &platform).await;
    }
    state.store.delete_credential(current.bot_id, &platform).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Best effort: a bot being switched off must not stay switched on because its platform is
/// down. Removes the bot's webhook on `platform`.
pub async fn remove_webhook(state: &AppState, bot_id: BotId, platform: &str) {
    let Some(registrar) = state.runtime.registrar(platform) else {
        return;
    };
    if let Err(e) = registration::unregister(&registrar, bot_id).await {
        tracing::warn!(%bot_id, platform, error = %e, "could not remove the platform webhook");
    }
}

/// Remove the bot's webhooks on every platform where one is registered.
pub async fn remove_webhooks(state: &AppState, bot_id: BotId) -> ApiResult<()> {
    for credential in state.store.list_credentials(bot_id).await? {
        if credential.webhook_url.is_some() {
            remove_webhook(state, bot_id, &credential.platform).await;
        }
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct ActivationOut {
    #[serde(flatten)]
    pub bot: BotOut,
    /// The webhook registration done by this call: `{registered, url?, error?}` (Telegram's,
    /// or WhatsApp's when the bot has no Telegram credential).
    #[schema(value_type = Object)]
    pub webhook: Value,
    /// Every platform's registration by name; WhatsApp's adds `callback_url` and
    /// `verify_token` (what to paste in Meta's dashboard if the token may not register) and a
    /// `note` saying so.
    #[schema(value_type = Object)]
    pub webhooks: Value,
}

#[utoipa::path(post, path = "/v1/api/bots/{bot_id}/activate", tag = "bots",
    responses((status = 200, description = "Active; each active platform credential's webhook is registered", body = inline(Envelope<ActivationOut>)),
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
    let mut webhooks = Map::new();
    for platform in PLATFORMS {
        let active = state
            .store
            .get_credential(bot.id, platform)
            .await?
            .is_some_and(|c| c.is_active);
        if !active {
            continue;
        }
        let result = if *platform == "whatsapp" {
            super::whatsapp_setup::activation(&state, bot.id).await
        } else {
            let registrar = state
                .runtime
                .registrar(platform)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no adapter for {platform}")))?;
            match registration::register(&registrar, bot.id, SetOptions::default()).await {
                Ok(status) => serde_json::json!({ "registered": true, "url": status.url }),
                Err(e) => serde_json::json!({ "registered": false, "error": e.to_string() }),
            }
        };
        webhooks.insert(platform.to_string(), result);
    }
    // `webhook` keeps its first shape: Telegram's registration, else WhatsApp's.
    let webhook = ["telegram", "whatsapp"]
        .iter()
        .find_map(|p| webhooks.get(*p).cloned())
        .unwrap_or_else(|| serde_json::json!({ "registered": false, "reason": "no active platform credentials" }));
    Ok(ApiOk(ActivationOut {
        bot: bot.into(),
        webhook,
        webhooks: Value::Object(webhooks),
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
    remove_webhooks(&state, bot.id).await?;
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
