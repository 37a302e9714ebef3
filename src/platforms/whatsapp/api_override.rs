//! The webhook override ("alternate callback URL"): Meta sends a WhatsApp Business Account's
//! webhooks to the callback URL of the app, unless the business phone number, or else the WABA,
//! names another one. hookline sets one so a bot's webhooks reach it without changing the app's
//! own callback.
//!
//! The shapes, from Meta's "Webhook overrides" page (WhatsApp Business Platform documentation,
//! read for Graph API v21.0–v25.0):
//!
//! - phone number: set with `POST /{phone_number_id}` and
//!   `{"webhook_configuration": {"override_callback_uri", "verify_token"}}`; read with
//!   `GET /{phone_number_id}?fields=webhook_configuration`, which answers the URL at each level
//!   that has one (`phone_number`, `whatsapp_business_account`, `application`); removed with the
//!   same POST and `override_callback_uri` set to `""`.
//! - WABA: set with `POST /{waba_id}/subscribed_apps` and `{"override_callback_uri",
//!   "verify_token"}` at the top level; read with `GET /{waba_id}/subscribed_apps`
//!   (`{"data": [{"whatsapp_business_api_data": {…}, "override_callback_uri"}]}`); removed by
//!   subscribing again without parameters. Not with `DELETE /{waba_id}/subscribed_apps`: that
//!   unsubscribes the app from the WABA, which stops every webhook, not just the override.
//!
//! Before storing an override Meta verifies the callback with the `hub.challenge` handshake
//! ([`handshake`](super::super::handshake)), using the verify token sent here; a callback that
//! does not answer it makes the call fail. URLs may be at most 200 characters.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{GraphApi, Payload, redact, refused};
use crate::platforms::outbound::CallError;
use crate::secrets::Secret;

/// Meta's limit on an override's callback URL, in characters.
pub const MAX_CALLBACK_CHARS: usize = 200;

/// What the override is set on: one business phone number, or a whole WhatsApp Business Account
/// (every number in it without an override of its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideTarget {
    PhoneNumber(String),
    Waba(String),
}

/// Where Meta sends the webhooks now: the callback in force, and the level it is set at
/// (`"phone_number"`, `"whatsapp_business_account"` or `"application"`). Both `None` when Meta
/// names none (a WABA without override: the app's callback, which that answer does not show).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideStatus {
    pub callback_url: Option<String>,
    pub level: Option<String>,
}

impl GraphApi {
    /// Point `target`'s webhooks at `callback_url`. Meta checks the callback with a handshake
    /// carrying `verify_token` first, so the callback must already answer it.
    pub async fn set_override(
        &self,
        token: &Secret<String>,
        version: &str,
        target: &OverrideTarget,
        callback_url: &str,
        verify_token: &Secret<String>,
    ) -> Result<(), CallError> {
        check_callback(callback_url)?;
        let setting = json!({"override_callback_uri": callback_url, "verify_token": verify_token.expose()});
        let (url, body) = match target {
            OverrideTarget::PhoneNumber(id) => {
                (self.url(version, id, None)?, json!({"webhook_configuration": setting}))
            }
            OverrideTarget::Waba(id) => (self.url(version, id, Some("subscribed_apps"))?, setting),
        };
        let answer = self.request(token, Method::POST, url, Payload::Json(&body)).await;
        // An error page might echo the request; the verify token is a secret too.
        confirmed(answer).map_err(|e| redact(e, verify_token.expose()))
    }

    /// Where `target`'s webhooks go now, as Meta reports it.
    pub async fn override_status(
        &self,
        token: &Secret<String>,
        version: &str,
        target: &OverrideTarget,
    ) -> Result<OverrideStatus, CallError> {
        match target {
            OverrideTarget::PhoneNumber(id) => {
                let url = format!("{}?fields=webhook_configuration", self.url(version, id, None)?);
                let answer = self.request(token, Method::GET, url, Payload::Empty).await?;
                Ok(phone_status(&answer))
            }
            OverrideTarget::Waba(id) => {
                let url = self.url(version, id, Some("subscribed_apps"))?;
                let answer = self.request(token, Method::GET, url, Payload::Empty).await?;
                Ok(waba_status(&answer))
            }
        }
    }

    /// Remove `target`'s override, so its webhooks go to the next level's callback again.
    pub async fn remove_override(
        &self,
        token: &Secret<String>,
        version: &str,
        target: &OverrideTarget,
    ) -> Result<(), CallError> {
        let answer = match target {
            OverrideTarget::PhoneNumber(id) => {
                let body = json!({"webhook_configuration": {"override_callback_uri": ""}});
                let url = self.url(version, id, None)?;
                self.request(token, Method::POST, url, Payload::Json(&body)).await
            }
            OverrideTarget::Waba(id) => {
                let url = self.url(version, id, Some("subscribed_apps"))?;
                self.request(token, Method::POST, url, Payload::Empty).await
            }
        };
        confirmed(answer)
    }
}

/// Meta answers `{"success": true}`; an explicit `false` did not happen.
fn confirmed(answer: Result<Value, CallError>) -> Result<(), CallError> {
    match answer?.get("success") {
        Some(Value::Bool(false)) => Err(CallError::Transient("the Graph API answered success: false".into())),
        _ => Ok(()),
    }
}

/// An `http(s)` URL within Meta's length limit. Meta itself requires https; http is let through
/// for test set-ups that point the client at a local fake.
fn check_callback(url: &str) -> Result<(), CallError> {
    let parsed_ok = reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.fragment().is_none());
    if parsed_ok && url.chars().count() <= MAX_CALLBACK_CHARS {
        Ok(())
    } else {
        Err(refused(format!(
            "the callback URL must be an http(s) URL of at most {MAX_CALLBACK_CHARS} characters"
        )))
    }
}

/// The phone number's `webhook_configuration`: the first level that names a callback wins, as
/// Meta routes webhooks.
pub(super) fn phone_status(answer: &Value) -> OverrideStatus {
    let config = answer.get("webhook_configuration");
    for level in ["phone_number", "whatsapp_business_account", "application"] {
        let url = config.and_then(|c| c.get(level)).and_then(Value::as_str);
        if let Some(url) = url.filter(|u| !u.is_empty()) {
            return OverrideStatus {
                callback_url: Some(url.to_string()),
                level: Some(level.to_string()),
            };
        }
    }
    OverrideStatus::default()
}

/// The WABA's subscribed apps: the first with an override. The list may hold other apps (a
/// solution partner's); the answer does not say which one is the caller's.
pub(super) fn waba_status(answer: &Value) -> OverrideStatus {
    let apps = answer.get("data").and_then(Value::as_array);
    let url = apps
        .into_iter()
        .flatten()
        .filter_map(|app| app.get("override_callback_uri").and_then(Value::as_str))
        .find(|u| !u.is_empty());
    match url {
        Some(url) => OverrideStatus {
            callback_url: Some(url.to_string()),
            level: Some("whatsapp_business_account".to_string()),
        },
        None => OverrideStatus::default(),
    }
}
