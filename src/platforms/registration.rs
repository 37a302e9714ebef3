//! Registering a bot's inbound platform webhook with its platform (where the platform posts its
//! updates), through the [`Platform`] seam: a fresh random secret token on every registration,
//! stored sealed and checked on every update; status; removal; and a periodic repair of broken
//! registrations that one node at a time performs.

use crate::model::ids::BotId;
use crate::platforms::{Access, CallError, Platform, WebhookSetup, WebhookStatus, token_purpose};
use crate::secrets::{Cipher, Secret, random_token};
use crate::store::{Store, StoreError, now_ms};

/// The purpose string sealing a platform's registered secret token.
fn secret_purpose(platform: &str) -> &'static str {
    match platform {
        "telegram" => "telegram_secret_token",
        "whatsapp" => "whatsapp_verify_token",
        _ => "platform_secret_token",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no active credentials of the platform for bot {0}")]
    NoCredential(BotId),
    #[error("public_url is not configured; set HOOKLINE_PUBLIC_URL to the address the platform can reach")]
    NoPublicUrl,
    #[error("the stored platform token cannot be decrypted (was the master key changed?)")]
    Token,
    #[error("platform API error: {0}")]
    Platform(CallError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What registering a bot's webhook takes: the credentials in the store, the cipher that opens
/// the token and seals the secret, the platform, where hookline can be reached, and this node's
/// id (one node at a time repairs registrations).
pub struct Registrar<'a> {
    pub store: &'a Store,
    pub cipher: &'a Cipher,
    pub platform: &'a dyn Platform,
    pub public_url: Option<&'a str>,
    pub node_id: &'a str,
}

/// Options of a registration (GET INN's `/set` body).
#[derive(Clone, Debug, Default)]
pub struct SetOptions {
    pub drop_pending_updates: bool,
    pub secret_token: Option<Secret<String>>,
    pub max_connections: Option<u32>,
    pub allowed_updates: Option<Vec<String>>,
}

/// The URL the platform posts this bot's updates to.
pub fn webhook_url(public_url: &str, platform: &str, bot_id: BotId) -> String {
    format!(
        "{}/v1/api/webhooks/{platform}/{bot_id}",
        public_url.trim_end_matches('/')
    )
}

/// A secret token is 1–256 characters of `A-Z a-z 0-9 _ -` (Telegram's rule).
pub fn valid_secret_token(s: &str) -> bool {
    (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn active_access(rt: &Registrar<'_>, bot_id: BotId) -> Result<Access, WebhookError> {
    let credential = rt.store.get_credential(bot_id, rt.platform.name()).await?;
    let credential = credential
        .filter(|c| c.is_active)
        .ok_or(WebhookError::NoCredential(bot_id))?;
    let token = rt
        .cipher
        .open_string(token_purpose(rt.platform.name()), &credential.token_sealed)
        .map_err(|_| WebhookError::Token)?;
    Ok(Access {
        token,
        settings: serde_json::from_str(&credential.extra).unwrap_or_default(),
    })
}

/// Register (or re-register) the bot's webhook and return the platform's view of it.
pub async fn register(rt: &Registrar<'_>, bot_id: BotId, options: SetOptions) -> Result<WebhookStatus, WebhookError> {
    let token = active_access(rt, bot_id).await?;
    let public_url = rt.public_url.ok_or(WebhookError::NoPublicUrl)?;
    let name = rt.platform.name();
    let url = webhook_url(public_url, name, bot_id);
    let kept = match rt.platform.keeps_webhook_secret() {
        true => stored_secret(rt, bot_id).await?,
        false => None,
    };
    let secret = options
        .secret_token
        .or(kept)
        .unwrap_or_else(|| Secret::new(random_token(32)));
    let config = WebhookSetup {
        url: url.clone(),
        secret_token: Some(secret.clone()),
        allowed_updates: options.allowed_updates,
        max_connections: Some(options.max_connections.unwrap_or(40)),
        drop_pending_updates: options.drop_pending_updates,
    };
    if let Err(e) = rt.platform.register_webhook(&token, &config).await {
        let _ = rt.store.set_webhook_error(bot_id, name, Some(&e.to_string())).await;
        return Err(WebhookError::Platform(e));
    }
    let sealed = rt.cipher.seal(secret_purpose(name), secret.expose().as_bytes());
    rt.store
        .set_webhook_state(bot_id, name, Some(&url), Some(&sealed))
        .await?;
    rt.platform.webhook_status(&token).await.map_err(WebhookError::Platform)
}

pub async fn status(rt: &Registrar<'_>, bot_id: BotId) -> Result<WebhookStatus, WebhookError> {
    let token = active_access(rt, bot_id).await?;
    let info = rt
        .platform
        .webhook_status(&token)
        .await
        .map_err(WebhookError::Platform)?;
    rt.store.touch_webhook_checked(bot_id, rt.platform.name()).await?;
    Ok(info)
}

/// Remove the webhook at the platform and forget the secret token.
pub async fn unregister(rt: &Registrar<'_>, bot_id: BotId) -> Result<(), WebhookError> {
    let token = active_access(rt, bot_id).await?;
    rt.platform
        .remove_webhook(&token)
        .await
        .map_err(WebhookError::Platform)?;
    rt.store
        .set_webhook_state(bot_id, rt.platform.name(), None, None)
        .await?;
    if !rt.platform.keeps_webhook_secret() {
        rt.store.clear_secret_token(bot_id, rt.platform.name()).await?;
    }
    Ok(())
}

/// The webhook secret stored with the bot's credential, if any.
async fn stored_secret(rt: &Registrar<'_>, bot_id: BotId) -> Result<Option<Secret<String>>, WebhookError> {
    let credential = rt.store.get_credential(bot_id, rt.platform.name()).await?;
    Ok(credential
        .and_then(|c| c.secret_token_sealed)
        .and_then(|sealed| open_secret(rt.cipher, rt.platform.name(), &sealed)))
}

/// Seal a webhook secret the way [`open_secret`] opens it.
pub fn seal_secret(cipher: &Cipher, platform: &str, secret: &Secret<String>) -> Vec<u8> {
    cipher.seal(secret_purpose(platform), secret.expose().as_bytes())
}

/// The secret token the platform must send with this bot's updates, if one was registered.
pub fn open_secret(cipher: &Cipher, platform: &str, sealed: &[u8]) -> Option<Secret<String>> {
    cipher.open_string(secret_purpose(platform), sealed).ok()
}

/// Whether a registration needs repair: no URL set, an error reported by the platform within the last
/// hour, or more than 100 updates waiting.
pub fn needs_refresh(status: &WebhookStatus, now_secs: i64) -> bool {
    status.url.is_empty()
        || status.last_error_date.is_some_and(|d| now_secs - d < 3_600)
        || status.pending_update_count > 100
}

/// Re-register broken webhooks of active bots not checked in the last 4 minutes. Only the node
/// holding the `webhook_refresh` lease does it.
pub async fn refresh_broken(rt: &Registrar<'_>) -> Result<usize, WebhookError> {
    if rt.public_url.is_none() {
        return Ok(0);
    }
    if !rt
        .store
        .try_lease(&format!("{}_webhook_refresh", rt.platform.name()), rt.node_id, 240_000)
        .await?
    {
        return Ok(0);
    }
    let mut repaired = 0;
    for credential in rt
        .store
        .credentials_to_check(rt.platform.name(), now_ms() - 240_000, 500)
        .await?
    {
        match status(rt, credential.bot_id).await {
            Ok(s) if needs_refresh(&s, now_ms() / 1000) => {
                match register(rt, credential.bot_id, SetOptions::default()).await {
                    Ok(_) => repaired += 1,
                    Err(e) => tracing::warn!(bot_id = %credential.bot_id, error = %e, "webhook repair failed"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(bot_id = %credential.bot_id, error = %e, "webhook check failed"),
        }
    }
    Ok(repaired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_thresholds() {
        let ok = WebhookStatus {
            url: "https://x".into(),
            ..Default::default()
        };
        assert!(!needs_refresh(&ok, 10_000));
        assert!(needs_refresh(&WebhookStatus::default(), 10_000), "no url");
        let recent_error = WebhookStatus {
            last_error_date: Some(10_000 - 100),
            ..ok.clone()
        };
        assert!(needs_refresh(&recent_error, 10_000));
        let old_error = WebhookStatus {
            last_error_date: Some(10_000 - 4_000),
            ..ok.clone()
        };
        assert!(!needs_refresh(&old_error, 10_000));
        let backlog = WebhookStatus {
            pending_update_count: 101,
            ..ok
        };
        assert!(needs_refresh(&backlog, 10_000));
    }

    #[test]
    fn secret_tokens_follow_telegrams_rule() {
        assert!(valid_secret_token("abc_DEF-123"));
        assert!(!valid_secret_token(""));
        assert!(!valid_secret_token("has space"));
        assert!(!valid_secret_token(&"a".repeat(257)));
        assert!(valid_secret_token(&random_token(32)));
    }

    #[test]
    fn url_is_under_the_public_base() {
        let id = BotId::from_uuid(uuid::Uuid::nil());
        assert_eq!(
            webhook_url("https://h.example/", "telegram", id),
            format!("https://h.example/v1/api/webhooks/telegram/{id}")
        );
    }
}
