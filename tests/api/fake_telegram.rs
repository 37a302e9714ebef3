//! A fake Telegram Bot API: a real loopback HTTP server on port 0 that answers like Telegram and
//! records every call for assertions.
//!
//! Routes: `POST|GET /bot{token}/{method}` (JSON, form or multipart bodies) and
//! `GET /file/bot{token}/{path}`. Sends answer `{"ok":true,"result":…}` with incrementing
//! `message_id`s; uploads get fresh `file_id`s; `setWebhook`/`deleteWebhook` change what
//! `getWebhookInfo` reports; `getFile` knows the files registered with [`FakeTelegram::add_file`].
//! Failures are scripted per method ([`FakeTelegram::fail_next`]) or per file id
//! ([`FakeTelegram::reject_file_id`]).
//!
//! Form and multipart fields are recorded as strings, except values that are JSON objects or
//! arrays (`reply_markup`, `media`), which are recorded parsed, as Telegram reads them.
//!
//! ```ignore
//! let tg = FakeTelegram::start().await;
//! tg.fail_next("sendMessage", 1, Failure::RetryAfter(3));
//! let api = BotApi::new(&tg.base_url(), Duration::from_secs(5))?;
//! // … first send gets CallError::RetryAfter(3), the second succeeds …
//! let calls = tg.wait_for("sendMessage", 2, Duration::from_secs(5)).await;
//! assert_eq!(calls[1].params["text"], "Hello");
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedCall {
    pub token: String,
    pub method: String,
    /// Parameters from the query string and the body.
    pub params: Value,
    pub files: Vec<RecordedFile>,
    pub at: Instant,
}

/// A file part of a multipart request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedFile {
    pub field: String,
    pub file_name: Option<String>,
    pub size: usize,
}

/// A scripted answer for the next calls of a method.
#[derive(Clone, Debug)]
pub enum Failure {
    /// 429 with `parameters.retry_after`.
    RetryAfter(u64),
    /// 500 Internal Server Error.
    ServerError,
    /// Answer normally, but only after this delay.
    Slow(Duration),
    /// Any status and JSON body.
    Custom(u16, Value),
}

#[derive(Default)]
struct State {
    calls: Vec<RecordedCall>,
    failures: HashMap<String, VecDeque<Failure>>,
    rejected_file_ids: HashSet<String>,
    files: HashMap<String, (String, Bytes)>,
    webhook: Map<String, Value>,
    next_message_id: i64,
    next_file: u64,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running fake; stops when dropped.
pub struct FakeTelegram {
    pub addr: SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTelegram {
    pub async fn start() -> FakeTelegram {
        let shared = Shared {
            state: Arc::new(Mutex::new(State::default())),
            arrived: Arc::new(Notify::new()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake telegram");
        let addr = listener.local_addr().expect("fake telegram address");
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTelegram { addr, shared, server }
    }

    /// What to configure as the Bot API base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().calls.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<RecordedCall> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Wait until at least `count` calls of `method` arrived; panics after `timeout`.
    pub async fn wait_for(&self, method: &str, count: usize, timeout: Duration) -> Vec<RecordedCall> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let calls = self.calls_of(method);
            if calls.len() >= count {
                return calls;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "waited {timeout:?} for {count} {method} calls, got {}",
                    self.calls_of(method).len()
                );
            }
        }
    }

    /// The next `n` calls of `method` answer with `failure`.
    pub fn fail_next(&self, method: &str, n: usize, failure: Failure) {
        let mut state = self.shared.lock();
        let queue = state.failures.entry(method.to_string()).or_default();
        queue.extend(std::iter::repeat_n(failure, n));
    }

    /// Sends naming this file id answer 400 "Bad Request: wrong file identifier…".
    pub fn reject_file_id(&self, file_id: &str) {
        self.shared.lock().rejected_file_ids.insert(file_id.to_string());
    }

    /// Register a file for `getFile` and download.
    pub fn add_file(&self, file_id: &str, file_path: &str, data: impl Into<Bytes>) {
        self.shared
            .lock()
            .files
            .insert(file_id.to_string(), (file_path.to_string(), data.into()));
    }

    /// The current webhook settings (`url`, `secret_token`, `allowed_updates`, …).
    pub fn webhook(&self) -> Map<String, Value> {
        self.shared.lock().webhook.clone()
    }
}

fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

fn error(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        axum::Json(json!({"ok": false, "error_code": code, "description": description})),
    )
        .into_response()
}

async fn handle(axum::extract::State(shared): axum::extract::State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/file/bot") {
        let Some((_token, file_path)) = rest.split_once('/') else {
            return error(404, "Not Found");
        };
        let found = shared
            .lock()
            .files
            .values()
            .find(|(p, _)| p == file_path)
            .map(|(_, b)| b.clone());
        return match found {
            Some(bytes) => Response::new(Body::from(bytes)),
            None => error(404, "Not Found"),
        };
    }
    let Some((token, method)) = path.strip_prefix("/bot").and_then(|r| r.split_once('/')) else {
        return error(404, "Not Found");
    };
    let (token, method) = (token.to_string(), method.to_string());
    let (params, files) = match read_params(req).await {
        Ok(p) => p,
        Err(msg) => return error(400, &msg),
    };
    let failure = {
        let mut state = shared.lock();
        state.calls.push(RecordedCall {
            token,
            method: method.clone(),
            params: params.clone(),
            files: files.iter().map(|(f, _)| f.clone()).collect(),
            at: Instant::now(),
        });
        state.failures.get_mut(&method).and_then(VecDeque::pop_front)
    };
    shared.arrived.notify_waiters();
    match failure {
        Some(Failure::RetryAfter(secs)) => {
            let body = json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": {"retry_after": secs}});
            return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        }
        Some(Failure::ServerError) => return error(500, "Internal Server Error"),
        Some(Failure::Custom(status, body)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, axum::Json(body)).into_response();
        }
        Some(Failure::Slow(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    answer(&shared, &method, &params, &files)
}

/// Query string, then the JSON, form or multipart body.
async fn read_params(req: Request) -> Result<(Value, Vec<(RecordedFile, Bytes)>), String> {
    let mut params = Map::new();
    if let Some(q) = req.uri().query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            params.insert(k.into_owned(), form_value(&v));
        }
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut files = Vec::new();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, &()).await.map_err(|e| e.body_text())?;
        while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
            let name = field.name().unwrap_or("").to_string();
            let file_name = field.file_name().map(str::to_string);
            let data = field.bytes().await.map_err(|e| e.body_text())?;
            if file_name.is_some() {
                files.push((
                    RecordedFile {
                        field: name,
                        file_name,
                        size: data.len(),
                    },
                    data,
                ));
            } else {
                params.insert(name, form_value(&String::from_utf8_lossy(&data)));
            }
        }
    } else if *req.method() == Method::POST {
        let body = axum::body::to_bytes(req.into_body(), 64 << 20)
            .await
            .map_err(|e| e.to_string())?;
        if content_type.starts_with("application/json") {
            match serde_json::from_slice(&body).map_err(|e| e.to_string())? {
                Value::Object(map) => params.extend(map),
                _ => return Err("Bad Request: parameters must be an object".into()),
            }
        } else {
            for (k, v) in form_urlencoded::parse(&body) {
                params.insert(k.into_owned(), form_value(&v));
            }
        }
    }
    Ok((Value::Object(params), files))
}

fn form_value(s: &str) -> Value {
    if s.starts_with('{') || s.starts_with('[') {
        serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
    } else {
        Value::String(s.to_string())
    }
}

fn answer(shared: &Shared, method: &str, params: &Value, files: &[(RecordedFile, Bytes)]) -> Response {
    let mut state = shared.lock();
    let chat = json!({"id": params.get("chat_id").cloned().unwrap_or(Value::Null), "type": "private"});
    match method {
        "getMe" => ok(json!({"id": 1000, "is_bot": true, "first_name": "Fake", "username": "fake_bot"})),
        "sendMessage" => {
            let Some(text) = params.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
                return error(400, "Bad Request: message text is empty");
            };
            state.next_message_id += 1;
            ok(json!({"message_id": state.next_message_id, "date": 0, "chat": chat, "text": text}))
        }
        m if m.starts_with("send") && m != "sendMediaGroup" => {
            let field = m.trim_start_matches("send").to_ascii_lowercase();
            // An upload is a file part named after the field; a reference is a text field.
            let file_id = if files.iter().any(|(f, _)| f.field == field) {
                state.next_file += 1;
                format!("fake-file-{}", state.next_file)
            } else {
                let reference = params.get(&field).and_then(Value::as_str).unwrap_or("");
                match file_for(&mut state, reference, files) {
                    Ok(id) => id,
                    Err(description) => return error(400, description),
                }
            };
            state.next_message_id += 1;
            let file = json!({"file_id": file_id, "file_unique_id": format!("u-{file_id}")});
            let media = if field == "photo" { json!([file]) } else { file };
            let mut message = json!({"message_id": state.next_message_id, "date": 0, "chat": chat});
            message[field] = media;
            if let Some(c) = params.get("caption") {
                message["caption"] = c.clone();
            }
            ok(message)
        }
        "sendMediaGroup" => {
            let Some(items) = params.get("media").and_then(Value::as_array).cloned() else {
                return error(400, "Bad Request: media must be an array");
            };
            let mut messages = Vec::new();
            for item in items {
                let kind = item
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("document")
                    .to_string();
                let reference = item.get("media").and_then(Value::as_str).unwrap_or("");
                let file_id = match file_for(&mut state, reference, files) {
                    Ok(id) => id,
                    Err(description) => return error(400, description),
                };
                state.next_message_id += 1;
                let file = json!({"file_id": file_id, "file_unique_id": format!("u-{file_id}")});
                let mut message = json!({"message_id": state.next_message_id, "date": 0, "chat": chat});
                message[kind.as_str()] = if kind == "photo" { json!([file]) } else { file };
                messages.push(message);
            }
            ok(Value::Array(messages))
        }
        "answerCallbackQuery" | "editMessageReplyMarkup" => ok(json!(true)),
        "setWebhook" => {
            let Some(obj) = params.as_object() else {
                return error(400, "Bad Request");
            };
            state.webhook = obj.clone();
            ok(json!(true))
        }
        "deleteWebhook" => {
            state.webhook.clear();
            ok(json!(true))
        }
        "getWebhookInfo" => {
            let hook = &state.webhook;
            let mut info = json!({"url": hook.get("url").cloned().unwrap_or(json!("")),
                "has_custom_certificate": false, "pending_update_count": 0});
            for key in ["max_connections", "allowed_updates"] {
                if let Some(v) = hook.get(key) {
                    info[key] = v.clone();
                }
            }
            if hook.contains_key("url") {
                info["ip_address"] = json!("127.0.0.1");
            }
            ok(info)
        }
        "getFile" => {
            let id = params.get("file_id").and_then(Value::as_str).unwrap_or("");
            match state.files.get(id) {
                Some((path, bytes)) => ok(json!({"file_id": id, "file_unique_id": format!("u-{id}"),
                    "file_size": bytes.len(), "file_path": path})),
                None => error(400, "Bad Request: invalid file_id"),
            }
        }
        _ => error(404, "Not Found"),
    }
}

/// The file id a send ends up with: a new one for an upload, the given one otherwise.
fn file_for(state: &mut State, reference: &str, files: &[(RecordedFile, Bytes)]) -> Result<String, &'static str> {
    if let Some(part) = reference.strip_prefix("attach://") {
        if !files.iter().any(|(f, _)| f.field == part) {
            return Err("Bad Request: wrong file identifier/HTTP URL specified");
        }
        state.next_file += 1;
        return Ok(format!("fake-file-{}", state.next_file));
    }
    if reference.is_empty() || state.rejected_file_ids.contains(reference) {
        return Err("Bad Request: wrong file identifier/HTTP URL specified");
    }
    Ok(reference.to_string())
}
