//! Telegram behind the platform seam: the pure parser and renderer, the outbound pacing per
//! bot, and the Bot API client, put together as one [`Platform`].

use crate::model::ids::BotId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::api::{BotApi, CallError};
use super::ratelimit::RatePlanner;
use super::render::{ApiCall, answer_callback, escape_html, remove_keyboard, render};
use super::update::parse_update;
use super::update_kinds::DEFAULT_ALLOWED_UPDATES;
use crate::media::MediaLibrary;
use crate::platforms::{
    Access, BodyError, Choice, FetchError, Inbound, Platform, PlatformCall, SendReport, WebhookSetup, WebhookStatus,
};
use crate::scenario::OutMessage;
use crate::secrets::{Secret, constant_time_eq};

/// The header Telegram sends the registered secret token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The Telegram adapter. One per process.
pub struct Telegram {
    pub(super) api: BotApi,
    /// Whether replies are paced under Telegram's outbound limits.
    pace_outbound: bool,
    planners: Mutex<HashMap<BotId, RatePlanner>>,
}

impl Telegram {
    /// An adapter talking to the Bot API at `api_url`; each call times out after `timeout`.
    pub fn new(api_url: &str, timeout: Duration, pace_outbound: bool) -> Result<Telegram, CallError> {
        Ok(Telegram {
            api: BotApi::new(api_url, timeout)?,
            pace_outbound,
            planners: Mutex::new(HashMap::new()),
        })
    }

    /// The Bot API client (for `getMe` when credentials are saved).
    pub fn api(&self) -> &BotApi {
        &self.api
    }
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("api", &self.api)
            .field("pace_outbound", &self.pace_outbound)
            .finish_non_exhaustive()
    }
}

/// Telegram's chat ids are integers; anything else cannot be one of its chats.
fn chat(chat_id: &str) -> i64 {
    chat_id.parse().unwrap_or_default()
}

fn to_call(call: ApiCall) -> PlatformCall {
    PlatformCall::new(serde_json::to_value(call).unwrap_or_default())
}

impl Platform for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn verify(&self, headers: &http::HeaderMap, _body: &[u8], secret: &Secret<String>) -> bool {
        headers
            .get(SECRET_HEADER)
            .is_some_and(|given| constant_time_eq(secret.expose().as_bytes(), given.as_bytes()))
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, BodyError> {
        parse_update(body).map(|p| vec![p.into()]).map_err(|e| BodyError(e.0))
    }

    fn text_escape(&self) -> fn(&str) -> String {
        escape_html
    }

    fn render(&self, chat_id: &str, message: &OutMessage) -> Vec<PlatformCall> {
        render(chat(chat_id), message).into_iter().map(to_call).collect()
    }

    fn acknowledge(&self, choice: &Choice, text: Option<String>) -> Option<PlatformCall> {
        choice.id.as_deref().map(|id| to_call(answer_callback(id, text)))
    }

    fn retire_keyboard(&self, chat_id: &str, choice: &Choice) -> Option<PlatformCall> {
        let message_id = choice.message_id.as_deref()?.parse().ok()?;
        Some(to_call(remove_keyboard(chat(chat_id), message_id)))
    }

    fn reserve(&self, bot_id: BotId, call: &PlatformCall, now_ms: i64, max_wait_ms: i64) -> Result<i64, i64> {
        if !self.pace_outbound {
            return Ok(now_ms);
        }
        let Ok(call) = ApiCall::deserialize(call.json()) else {
            return Ok(now_ms);
        };
        let (true, Some(chat)) = (call.is_message(), call.chat_id()) else {
            return Ok(now_ms);
        };
        let mut planners = self.planners.lock().unwrap_or_else(|p| p.into_inner());
        let planner = planners
            .entry(bot_id)
            .or_insert_with(|| RatePlanner::new(Default::default()));
        // Telegram's group and supergroup ids are negative.
        planner.reserve(chat, chat < 0, now_ms, max_wait_ms)
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
        self.send_call(&access.token, bot_id, call, media).boxed()
    }

    fn fetch_file<'a>(
        &'a self,
        access: &'a Access,
        file_id: &'a str,
        limit: u64,
    ) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        async move {
            let token = &access.token;
            let info = self.api.get_file(token, file_id).await?;
            if let Some(size) = info.file_size.filter(|s| *s > limit) {
                return Err(FetchError::TooLarge {
                    limit,
                    size: Some(size),
                });
            }
            let Some(path) = info.file_path else {
                return Err(FetchError::Unavailable("Telegram gave no file path".into()));
            };
            match self.api.download_file(token, &path, limit).await {
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
            let mut setup = setup.clone();
            // Unless told otherwise, Telegram sends only the update kinds hookline acts on.
            setup
                .allowed_updates
                .get_or_insert_with(|| DEFAULT_ALLOWED_UPDATES.iter().map(|s| s.to_string()).collect());
            self.api.set_webhook(&access.token, &setup).await
        }
        .boxed()
    }

    fn webhook_status<'a>(&'a self, access: &'a Access) -> BoxFuture<'a, Result<WebhookStatus, CallError>> {
        self.api.get_webhook_info(&access.token).boxed()
    }

    fn remove_webhook<'a>(&'a self, access: &'a Access) -> BoxFuture<'a, Result<(), CallError>> {
        self.api.delete_webhook(&access.token, false).boxed()
    }
}

/// An adapter for tests that plan and render but never call Telegram.
#[cfg(test)]
pub(crate) fn offline() -> std::sync::Arc<dyn Platform> {
    std::sync::Arc::new(Telegram::new("http://127.0.0.1:9", Duration::from_secs(1), false).expect("a client"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::platforms::{EventType, ExternalId};

    fn headers(secret: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(SECRET_HEADER, secret.parse().unwrap());
        h
    }

    #[test]
    fn verify_wants_the_registered_secret_token() {
        let tg = offline();
        let secret = Secret::new("s3cret_token".to_string());
        assert!(tg.verify(&headers("s3cret_token"), b"", &secret));
        assert!(!tg.verify(&headers("s3cret_tokem"), b"", &secret));
        assert!(!tg.verify(&http::HeaderMap::new(), b"", &secret));
    }

    #[test]
    fn a_button_press_becomes_one_neutral_choice() {
        let body = json!({"update_id": 9, "callback_query": {"id": "cb-1", "chat_instance": "x", "data": "yes",
            "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
            "message": {"message_id": 77, "date": 1, "chat": {"id": -100, "type": "supergroup"}, "text": "?"}}});
        let items = offline().parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(items.len(), 1);
        let item = &items[0];
        assert_eq!((item.update_id, item.event_type), (9, EventType::CallbackReceived));
        assert_eq!(item.chat(), "-100");
        assert_eq!(item.user.as_ref().map(|u| u.id.clone()), Some(ExternalId::Number(42)));
        let choice = item.choice.clone().unwrap();
        assert_eq!(
            (choice.id.as_deref(), choice.message_id.as_deref()),
            (Some("cb-1"), Some("77"))
        );
    }

    #[test]
    fn a_body_that_is_no_update_is_refused_with_its_reason() {
        let e = offline().parse(br#"{"message": {}}"#).unwrap_err();
        assert!(e.0.contains("update_id"), "{e}");
    }

    #[test]
    fn calls_are_the_bot_api_requests_as_data() {
        let tg = offline();
        let choice = Choice {
            id: Some("cb-1".into()),
            message_id: Some("77".into()),
        };
        let ack = tg.acknowledge(&choice, Some("ok".into())).unwrap();
        assert_eq!(
            *ack.json(),
            serde_json::to_value(answer_callback("cb-1", Some("ok".into()))).unwrap()
        );
        let retire = tg.retire_keyboard("-100", &choice).unwrap();
        assert_eq!(*retire.json(), serde_json::to_value(remove_keyboard(-100, 77)).unwrap());
        let no_message = Choice {
            id: None,
            message_id: None,
        };
        assert!(tg.acknowledge(&no_message, None).is_none());
        assert!(tg.retire_keyboard("-100", &no_message).is_none());
        let msg = OutMessage {
            text: "hi".into(),
            ..Default::default()
        };
        let rendered = tg.render("5", &msg);
        let direct: Vec<serde_json::Value> = render(5, &msg)
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        assert_eq!(
            rendered.into_iter().map(|c| c.json().clone()).collect::<Vec<_>>(),
            direct
        );
    }

    #[test]
    fn pacing_is_off_unless_asked_for() {
        let call = to_call(
            render(
                5,
                &OutMessage {
                    text: "hi".into(),
                    ..Default::default()
                },
            )
            .remove(0),
        );
        assert_eq!(
            offline().reserve(BotId::from_uuid(uuid::Uuid::nil()), &call, 1_000, 1_500),
            Ok(1_000)
        );
        let paced = Telegram::new("http://127.0.0.1:9", Duration::from_secs(1), true).unwrap();
        let slots: Vec<i64> = (0..4)
            .map(|_| {
                paced
                    .reserve(BotId::from_uuid(uuid::Uuid::nil()), &call, 1_000, 1_500)
                    .unwrap()
            })
            .collect();
        assert!(
            slots[3] > 1_000,
            "a private chat's burst is spent, then it is paced: {slots:?}"
        );
    }
}
