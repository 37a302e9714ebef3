//! WhatsApp behind the platform seam: the pure parser, renderer and window rules, the pacing
//! per phone number, and the Graph API client, put together as one [`Platform`].
//!
//! A bot's WhatsApp credential keeps the access token sealed as its token, the app secret
//! sealed beside it, and as settings `phone_number_id`, optional `waba_id` (the webhook
//! override is then set on the business account rather than the number), optional
//! `api_version`, and optional `template` (what to send when the 24-hour window is closed).

use crate::model::ids::BotId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Map;

use super::api::{GraphApi, OverrideTarget};
use super::markup::html_to_whatsapp;
use super::pacing::Pacer;
use super::template::{Template, WINDOW_MS, needs_window};
use super::{SIGNATURE_HEADER, mark_read, render, signature_ok};
use crate::config::WhatsAppConfig;
use crate::media::MediaLibrary;
use crate::platforms::telegram::render::escape_html;
use crate::platforms::{
    Access, BodyError, CallError, Choice, ClosedWindow, FetchError, Inbound, OutsideWindow, Platform, PlatformCall,
    SendReport, WebhookSetup, WebhookStatus,
};
use crate::scenario::OutMessage;
use crate::scenario::template::{Vars, render as fill};
use crate::secrets::Secret;

pub const PLATFORM: &str = "whatsapp";
/// Entries kept in the in-memory maps before they are cleared (they refill as needed).
const MAX_TRACKED: usize = 100_000;

/// The WhatsApp adapter. One per process.
pub struct WhatsApp {
    pub(super) api: GraphApi,
    /// The Graph API version used unless a credential names its own.
    pub(super) version: String,
    mark_read: bool,
    per_second: u32,
    pacers: Mutex<HashMap<BotId, Pacer>>,
    /// When the bot last sent a chat its template (ms): one per closed window, not one per reply.
    templates_sent: Mutex<HashMap<(BotId, String), i64>>,
}

impl std::fmt::Debug for WhatsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsApp")
            .field("api", &self.api)
            .field("version", &self.version)
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

impl WhatsApp {
    pub fn new(config: &WhatsAppConfig) -> Result<WhatsApp, CallError> {
        Ok(WhatsApp {
            api: GraphApi::new(&config.api_url, config.request_timeout)?,
            version: config.api_version.clone(),
            mark_read: config.mark_read,
            per_second: config.messages_per_second,
            pacers: Mutex::new(HashMap::new()),
            templates_sent: Mutex::new(HashMap::new()),
        })
    }

    /// The Graph API version for a bot.
    pub(super) fn version<'a>(&'a self, access: &'a Access) -> &'a str {
        access.setting("api_version").unwrap_or(&self.version)
    }

    /// Where the webhook override is set: the business account when the credential names one.
    fn target(access: &Access) -> Result<OverrideTarget, CallError> {
        match (access.setting("waba_id"), access.setting("phone_number_id")) {
            (Some(waba), _) => Ok(OverrideTarget::Waba(waba.to_string())),
            (None, Some(number)) => Ok(OverrideTarget::PhoneNumber(number.to_string())),
            (None, None) => Err(missing_number()),
        }
    }

    /// Whether the bot sent the chat its template after `since` (so another would only repeat
    /// it); records `now` when not.
    fn take_template_turn(&self, bot_id: BotId, chat_id: &str, since: Option<i64>, now: i64) -> bool {
        let mut sent = self.templates_sent.lock().unwrap_or_else(|p| p.into_inner());
        let key = (bot_id, chat_id.to_string());
        if sent.get(&key).is_some_and(|at| since.is_none_or(|s| *at > s)) {
            return false;
        }
        if sent.len() >= MAX_TRACKED {
            sent.clear();
        }
        sent.insert(key, now);
        true
    }
}

pub(super) fn missing_number() -> CallError {
    CallError::Permanent {
        code: 0,
        description: "the WhatsApp credential has no phone_number_id".into(),
    }
}

/// Scenario texts are HTML (see [`super::markup`]); WhatsApp gets its own marks.
fn to_whatsapp_text(message: &OutMessage) -> OutMessage {
    let mut message = message.clone();
    message.text = html_to_whatsapp(&message.text);
    for item in &mut message.media {
        if let Some(caption) = &item.caption {
            item.caption = Some(html_to_whatsapp(caption));
        }
    }
    message
}

impl Platform for WhatsApp {
    fn name(&self) -> &'static str {
        PLATFORM
    }

    fn verify(&self, headers: &http::HeaderMap, body: &[u8], secret: &Secret<String>) -> bool {
        let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        signature_ok(secret.expose().as_bytes(), body, header)
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, BodyError> {
        super::parse(body).map(|p| p.items)
    }

    fn text_escape(&self) -> fn(&str) -> String {
        // Values are escaped as for any HTML text; the conversion to WhatsApp marks restores them.
        escape_html
    }

    fn render(&self, chat_id: &str, message: &OutMessage) -> Vec<PlatformCall> {
        render(chat_id, &to_whatsapp_text(message))
            .into_iter()
            .map(PlatformCall::new)
            .collect()
    }

    fn acknowledge(&self, _choice: &Choice, _text: Option<String>) -> Option<PlatformCall> {
        None
    }

    fn retire_keyboard(&self, _chat_id: &str, _choice: &Choice) -> Option<PlatformCall> {
        None
    }

    fn reserve(&self, bot_id: BotId, call: &PlatformCall, now_ms: i64, max_wait_ms: i64) -> Result<i64, i64> {
        if self.per_second == 0 || call.json().get("status").is_some() {
            return Ok(now_ms);
        }
        let mut pacers = self.pacers.lock().unwrap_or_else(|p| p.into_inner());
        if pacers.len() >= MAX_TRACKED {
            pacers.clear();
        }
        pacers
            .entry(bot_id)
            .or_default()
            .reserve(self.per_second, now_ms, max_wait_ms)
    }

    fn request_timeout(&self) -> Duration {
        self.api.timeout()
    }

    fn send<'a>(
        &'a self,
        access: &'a Access,
        bot_id: BotId,
        call: PlatformCall,
        media: &'a MediaLibrary,
    ) -> BoxFuture<'a, SendReport> {
        self.send_call(access, bot_id, call, media).boxed()
    }

    fn fetch_file<'a>(
        &'a self,
        access: &'a Access,
        file_id: &'a str,
        limit: u64,
    ) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        async move {
            let info = self
                .api
                .media_info(&access.token, self.version(access), file_id)
                .await?;
            if let Some(size) = info.file_size.filter(|s| *s > limit) {
                return Err(FetchError::TooLarge {
                    limit,
                    size: Some(size),
                });
            }
            match self.api.download(&access.token, &info.url, limit).await {
                Err(CallError::TooLarge { .. }) => Err(FetchError::TooLarge { limit, size: None }),
                other => Ok(other?),
            }
        }
        .boxed()
    }

    fn register_webhook<'a>(
        &'a self,
        access: &'a Access,
        setup: &'a WebhookSetup,
    ) -> BoxFuture<'a, Result<(), CallError>> {
        async move {
            let target = Self::target(access)?;
            let Some(verify_token) = &setup.secret_token else {
                return Err(CallError::Permanent {
                    code: 0,
                    description: "no verify token to register".into(),
                });
            };
            self.api
                .set_override(&access.token, self.version(access), &target, &setup.url, verify_token)
                .await
        }
        .boxed()
    }

    fn webhook_status<'a>(&'a self, access: &'a Access) -> BoxFuture<'a, Result<WebhookStatus, CallError>> {
        async move {
            let target = Self::target(access)?;
            let status = self
                .api
                .override_status(&access.token, self.version(access), &target)
                .await?;
            Ok(WebhookStatus {
                url: status.callback_url.unwrap_or_default(),
                ..Default::default()
            })
        }
        .boxed()
    }

    fn remove_webhook<'a>(&'a self, access: &'a Access) -> BoxFuture<'a, Result<(), CallError>> {
        async move {
            let target = Self::target(access)?;
            self.api
                .remove_override(&access.token, self.version(access), &target)
                .await
        }
        .boxed()
    }

    fn keeps_webhook_secret(&self) -> bool {
        true
    }

    fn typed_choices(&self) -> bool {
        true
    }

    fn mark_seen(&self, item: &Inbound) -> Option<PlatformCall> {
        let id = item
            .message_id
            .as_deref()
            .filter(|_| self.mark_read && item.chat_id.is_some())?;
        Some(PlatformCall::new(mark_read(id)))
    }

    fn reply_window(&self) -> Option<Duration> {
        Some(Duration::from_millis(WINDOW_MS as u64))
    }

    fn outside_window(
        &self,
        bot_id: BotId,
        access: &Access,
        call: &PlatformCall,
        closed: &ClosedWindow<'_>,
    ) -> OutsideWindow {
        if !needs_window(call.json()) {
            return OutsideWindow::Keep;
        }
        let template = match Template::from_settings(&access.settings) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return OutsideWindow::Refuse(
                    "the user last wrote more than 24 hours ago and the bot has no WhatsApp template configured".into(),
                );
            }
            Err(e) => return OutsideWindow::Refuse(format!("the bot's WhatsApp template is unusable: {e}")),
        };
        let now = crate::store::now_ms();
        if !self.take_template_turn(bot_id, closed.chat_id, closed.last_user_message_ms, now) {
            return OutsideWindow::Refuse(
                "the user last wrote more than 24 hours ago; the bot's template was sent already and the user has not answered".into(),
            );
        }
        let mapping = Map::new();
        let vars = Vars {
            data: closed.data,
            ctx: closed.context,
            mapping: &mapping,
            escape: None,
        };
        OutsideWindow::Replace(PlatformCall::new(template.message(closed.chat_id, |p| fill(p, &vars))))
    }
}

#[cfg(test)]
#[path = "platform_tests.rs"]
mod tests;
