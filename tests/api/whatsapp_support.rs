//! A bot wired to the fake Graph API, and WhatsApp webhook body builders.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_whatsapp::{FakeWhatsApp, RecordedCall, sign};
use crate::helpers::{Backend, TestApp};

pub const NUMBER_ID: &str = "106540352242922";
pub const ACCESS_TOKEN: &str = "EAAGm0PX4ZCpsBAtest0access0token";
pub const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const WAIT: Duration = Duration::from_secs(10);

pub struct WaBot {
    pub app: TestApp,
    pub wa: FakeWhatsApp,
    pub bot_id: String,
    pub key: String,
    /// The activation answer's WhatsApp part.
    pub activation: Value,
}

impl WaBot {
    /// A bot with a WhatsApp credential and `scenario` active, the webhook override set (Meta's
    /// handshake answered).
    pub async fn start(backend: Backend, scenario: Value) -> Option<WaBot> {
        Self::start_with(backend, scenario, json!({}), |_| {}).await
    }

    /// As [`start`](Self::start), with extra credential settings and a configuration tweak.
    pub async fn start_with(
        backend: Backend,
        scenario: Value,
        settings: Value,
        tweak: impl FnOnce(&mut hookline::config::Config),
    ) -> Option<WaBot> {
        let wa = FakeWhatsApp::start().await;
        let base = wa.base_url();
        let app = TestApp::spawn_with(backend, |c| {
            c.whatsapp.api_url = base;
            c.whatsapp.messages_per_second = 0;
            c.public_url = Some("https://hooks.example.com".into());
            c.rate_limits.webhooks_per_minute = 0;
            c.rate_limits.bot_management_per_minute = 0;
            c.rate_limits.media_per_minute = 0;
            c.dialog_inputs_per_minute = 1000;
            c.dialog_duplicate_window_ms = 0;
            c.delivery_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
            c.delivery.poll = Duration::from_millis(20);
            tweak(c);
        })
        .await?;
        // Meta reaches hooks.example.com; here that is the test server.
        wa.route_callbacks_to(&app.url(""));
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
        let mut credentials = json!({
            "phone_number_id": NUMBER_ID, "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET,
        });
        for (k, v) in settings.as_object().cloned().unwrap_or_default() {
            credentials[k] = v;
        }
        let (s, body) = app
            .post(
                &format!("/v1/api/bots/{bot_id}/platforms"),
                &key,
                json!({ "platform": "whatsapp", "credentials": credentials }),
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
        let activation = body["data"]["webhooks"]["whatsapp"].clone();
        Some(WaBot {
            app,
            wa,
            bot_id,
            key,
            activation,
        })
    }

    pub fn webhook_path(&self) -> String {
        format!("/v1/api/webhooks/whatsapp/{}", self.bot_id)
    }

    /// POST a body signed with the app secret, as Meta does.
    pub async fn post(&self, body: &Value) -> (StatusCode, Value) {
        let raw = body.to_string();
        let signature = sign(APP_SECRET, raw.as_bytes());
        self.post_raw(raw, Some(&signature)).await
    }

    /// [`post`](Self::post), failing the test unless it was answered 200.
    pub async fn deliver(&self, body: &Value) -> Value {
        let (s, answer) = self.post(body).await;
        assert_eq!(s, StatusCode::OK, "{answer}");
        answer
    }

    pub async fn post_raw(&self, body: String, signature: Option<&str>) -> (StatusCode, Value) {
        let mut req = self
            .app
            .client
            .post(self.app.url(&self.webhook_path()))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = signature {
            req = req.header("X-Hub-Signature-256", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Message sends to `to` (not read receipts), in order.
    pub fn sent_to(&self, to: &str) -> Vec<RecordedCall> {
        self.wa
            .calls_of("messages")
            .into_iter()
            .filter(|c| c.body["to"] == to)
            .collect()
    }

    /// Wait until `to` has been sent at least `n` messages; they are returned.
    pub async fn wait_sent(&self, to: &str, n: usize) -> Vec<RecordedCall> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let sent = self.sent_to(to);
            if sent.len() >= n {
                return sent;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {n} messages to {to}, got {}: {:?}",
                sent.len(),
                sent.iter().map(|c| c.body.clone()).collect::<Vec<_>>()
            );
            self.wa
                .wait_for("messages", self.wa.calls_of("messages").len() + 1, WAIT)
                .await;
        }
    }

    /// Wait until none of the bot's replies is waiting to be sent (each input's replies are in
    /// the outbox before the webhook answers, so after this they have all gone or failed).
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while pending_replies(&self.app).await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "replies still pending after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The events the bot published (read from the store), oldest first: (type, payload JSON).
    pub async fn events(&self) -> Vec<(String, String)> {
        self.app
            .state
            .store
            .bot_events(self.bot_id.parse().unwrap(), 200)
            .await
            .unwrap()
    }

    /// Wait until an event of `event_type` was published; its payload.
    pub async fn wait_event(&self, event_type: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some((_, payload)) = self.events().await.into_iter().find(|(t, _)| t == event_type) {
                return serde_json::from_str(&payload).unwrap();
            }
            assert!(tokio::time::Instant::now() < deadline, "no {event_type} event");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The text of a sent message: a text's body, or an interactive message's body text.
pub fn text_of(call: &RecordedCall) -> String {
    let b = &call.body;
    b["text"]["body"]
        .as_str()
        .or_else(|| b["interactive"]["body"]["text"].as_str())
        .or_else(|| b[b["type"].as_str().unwrap_or_default()]["caption"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// A webhook body of `messages` and `statuses` for the bot's number.
pub fn envelope(messages: Vec<Value>, statuses: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER_ID},
        "contacts": [{"profile": {"name": "Ivan Petrov"}, "wa_id": "16505551234"}],
        "messages": messages,
        "statuses": statuses,
    }}]}]})
}

fn message(id: &str, from: &str, kind: &str, content: Value) -> Value {
    let mut m = json!({"from": from, "id": id, "timestamp": "1700000000", "type": kind});
    m[kind] = content;
    m
}

pub fn text(id: &str, from: &str, body: &str) -> Value {
    message(id, from, "text", json!({"body": body}))
}

pub fn button_reply(id: &str, from: &str, value: &str, title: &str) -> Value {
    message(
        id,
        from,
        "interactive",
        json!({"type": "button_reply", "button_reply": {"id": value, "title": title}}),
    )
}

pub fn list_reply(id: &str, from: &str, value: &str, title: &str) -> Value {
    message(
        id,
        from,
        "interactive",
        json!({"type": "list_reply", "list_reply": {"id": value, "title": title}}),
    )
}

pub fn image(id: &str, from: &str, media_id: &str) -> Value {
    message(
        id,
        from,
        "image",
        json!({"id": media_id, "mime_type": "image/jpeg", "sha256": "abc"}),
    )
}

pub fn status(message_id: &str, to: &str, status: &str) -> Value {
    json!({"id": message_id, "recipient_id": to, "status": status, "timestamp": "1700000100"})
}

pub fn failed_status(message_id: &str, to: &str, code: i64, title: &str) -> Value {
    json!({"id": message_id, "recipient_id": to, "status": "failed", "timestamp": "1700000100",
        "errors": [{"code": code, "title": title}]})
}

/// Replies not yet sent or failed, counted in the database.
pub async fn pending_replies(app: &TestApp) -> i64 {
    use hookline::config::DatabaseConfig;
    let sql = "SELECT COUNT(*) FROM outbox WHERE status = 'pending'";
    match &app.config.database {
        DatabaseConfig::Sqlite { path } => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
        DatabaseConfig::Postgres { url } => {
            let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }
}
