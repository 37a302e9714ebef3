//! A bot wired to the fake Telegram Bot API, and update builders.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_telegram::FakeTelegram;
use crate::helpers::{Backend, TestApp};

pub const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

pub struct TgBot {
    pub app: TestApp,
    pub tg: FakeTelegram,
    pub bot_id: String,
    pub account: String,
    pub key: String,
    pub secret: String,
}

impl TgBot {
    /// A bot with a Telegram credential and `scenario` active, its webhook registered.
    pub async fn start(backend: Backend, scenario: Value) -> Option<TgBot> {
        Self::start_with(backend, scenario, |_| {}).await
    }

    pub async fn start_with(
        backend: Backend,
        scenario: Value,
        tweak: impl FnOnce(&mut hookline::config::Config),
    ) -> Option<TgBot> {
        let tg = FakeTelegram::start().await;
        let base = tg.base_url();
        let app = TestApp::spawn_with(backend, |c| {
            c.telegram_api_url = base;
            c.public_url = Some("https://hooks.example.com".into());
            c.telegram_outbound_rate_limit = false;
            c.rate_limits.webhooks_per_minute = 0;
            c.rate_limits.bot_management_per_minute = 0;
            c.rate_limits.media_per_minute = 0;
            c.dialog_inputs_per_minute = 1000;
            c.delivery_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
            c.delivery.poll = std::time::Duration::from_millis(20);
            tweak(c);
        })
        .await?;
        let (account, key) = app.account_with_key("Chiho").await;
        let (s, body) = app
            .post(
                &format!("/v1/api/accounts/{account}/bots"),
                &key,
                json!({ "name": "HR" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let bot_id = body["data"]["id"].as_str().unwrap().to_string();
        let (s, body) = app
            .post(
                &format!("/v1/api/bots/{bot_id}/platforms"),
                &key,
                json!({ "platform": "telegram", "credentials": { "token": TOKEN } }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = app
            .post(
                &format!("/v1/api/bots/{bot_id}/scenarios"),
                &key,
                json!({ "name": "S", "scenario_data": scenario }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = app
            .post(&format!("/v1/api/bots/{bot_id}/activate"), &key, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["webhook"]["registered"], true, "{body}");
        let secret = tg.webhook()["secret_token"]
            .as_str()
            .expect("setWebhook got a secret_token")
            .to_string();
        Some(TgBot {
            app,
            tg,
            bot_id,
            account,
            key,
            secret,
        })
    }

    /// Stop the server gracefully and start it again on the same database and fake Telegram.
    pub async fn restart(self) -> TgBot {
        let TgBot {
            app,
            tg,
            bot_id,
            account,
            key,
            secret,
        } = self;
        TgBot {
            app: app.restart().await,
            tg,
            bot_id,
            account,
            key,
            secret,
        }
    }

    /// Register an outbound endpoint of the bot's account for `event_types`.
    pub async fn subscribe(&self, url: &str, event_types: &[&str]) {
        let (s, body) = self
            .app
            .post(
                &format!("/v1/api/accounts/{}/webhooks/endpoints", self.account),
                &self.key,
                json!({ "url": url, "event_types": event_types }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }

    pub fn webhook_path(&self) -> String {
        format!("/v1/api/webhooks/telegram/{}", self.bot_id)
    }

    /// POST an update the way Telegram does: a 422 (PROCESSING_FAILED, "a retry can succeed")
    /// is delivered again, a few times; the last answer is returned. Any other refusal is
    /// returned at once (and noted on stderr, so a test that fails later says why).
    pub async fn send(&self, update: &Value) -> (StatusCode, Value) {
        let mut answer = self.send_once(update).await;
        for attempt in 1..4 {
            if answer.0 != StatusCode::UNPROCESSABLE_ENTITY {
                break;
            }
            eprintln!(
                "attempt {attempt}: the update was refused with 422, delivering again: {}",
                answer.1
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            answer = self.send_once(update).await;
        }
        if answer.0 != StatusCode::OK {
            eprintln!("update {} answered {}: {}", update["update_id"], answer.0, answer.1);
        }
        answer
    }

    /// POST an update once, with the registered secret token.
    pub async fn send_once(&self, update: &Value) -> (StatusCode, Value) {
        self.send_raw(update.to_string(), Some(&self.secret)).await
    }

    /// [`send`](Self::send), and fail the test unless the update was processed.
    pub async fn deliver(&self, update: &Value) -> Value {
        let (status, body) = self.send(update).await;
        assert_eq!(status, StatusCode::OK, "the update was not processed: {body}");
        body
    }

    pub async fn send_raw(&self, body: impl Into<reqwest::Body>, secret: Option<&str>) -> (StatusCode, Value) {
        let mut req = self
            .app
            .client
            .post(self.app.url(&self.webhook_path()))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The texts of `sendMessage` calls to `chat`, in order.
    pub fn texts_to(&self, chat: i64) -> Vec<String> {
        self.tg
            .calls_of("sendMessage")
            .into_iter()
            .filter(|c| {
                c.params["chat_id"].as_i64() == Some(chat) || c.params["chat_id"].as_str() == Some(&chat.to_string())
            })
            .map(|c| c.params["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The events the bot published (read from the store), oldest first: (type, payload JSON).
    pub async fn events(&self) -> Vec<(String, String)> {
        self.app
            .state
            .store
            .bot_events(self.bot_id.parse().unwrap(), 100)
            .await
            .unwrap()
    }

    /// The types of [`TgBot::events`].
    pub async fn event_types(&self) -> Vec<String> {
        self.events().await.into_iter().map(|(t, _)| t).collect()
    }
}

pub fn user(chat: i64) -> Value {
    json!({ "id": chat, "is_bot": false, "first_name": "Ivan", "last_name": "Petrov", "username": "ivan" })
}

pub fn text_update(update_id: i64, chat: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000, "text": text,
            "from": user(chat), "chat": { "id": chat, "type": "private", "first_name": "Ivan" }
        }
    })
}

pub fn callback_update(update_id: i64, chat: i64, data: &str, message_id: i64) -> Value {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("cb{update_id}"), "from": user(chat), "chat_instance": "1", "data": data,
            "message": { "message_id": message_id, "date": 1_700_000_000, "chat": { "id": chat, "type": "private" }, "text": "…" }
        }
    })
}

/// A scenario that answers every text with what it got.
pub fn echo_scenario() -> Value {
    json!({
        "version": "1.0",
        "start_step": "echo",
        "steps": {
            "echo": {
                "message": { "text": "got {{last}}" },
                "expected_input": { "type": "text", "variable": "last" },
                "next_step": "echo"
            }
        }
    })
}
