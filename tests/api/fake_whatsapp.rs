//! A fake WhatsApp Cloud API (Meta's Graph API): a real loopback HTTP server on port 0 that
//! answers like Meta and records every call for assertions.
//!
//! Routes, under any version segment like `v21.0`:
//! - `POST /{v}/{phone_number_id}/messages`: a read receipt (`"status": "read"`) answers
//!   `{"success": true}` (kind `read`); any other message answers a fresh `wamid.FAKE<n>` (kind
//!   `messages`). A media message naming an `id` the fake does not know (never uploaded, not
//!   added with [`FakeWhatsApp::add_media`], or expired) answers 400 with code 131053, as Meta
//!   does; a `link` is taken as it is.
//! - `POST /{v}/{phone_number_id}/media` (multipart): stores the file under a fresh numeric id
//!   (kind `media_upload`).
//! - `GET /{v}/{media_id}`: the media's download URL (`<base>/download/{id}`), type, size and
//!   SHA-256 (kind `media_info`); `GET /download/{id}` needs a bearer token and answers the bytes
//!   (kind `download`).
//! - the webhook override (kind `override`): `POST /{v}/{phone_number_id}` with
//!   `webhook_configuration`, `GET /{v}/{phone_number_id}?fields=webhook_configuration`, and
//!   `POST|GET|DELETE /{v}/{waba_id}/subscribed_apps`. Setting one first runs Meta's handshake
//!   against the callback (`GET ?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`, which
//!   must answer 200 with the challenge); a failed handshake answers 400 with code 2200 and
//!   stores nothing. `DELETE …/subscribed_apps` unsubscribes the app, as on Meta.
//!
//! A call without `Authorization: Bearer …` answers 401 (code 190), and a path the fake does not
//! know answers 400 (code 2500) and is recorded with kind `unknown`. Failures are scripted per
//! kind ([`FakeWhatsApp::fail_next`]) and come before any other answer;
//! [`FakeWhatsApp::deny_override`] makes override calls answer Meta's permission error until
//! [`FakeWhatsApp::allow_override`].
//!
//! Calls are recorded when they arrive, except an override that is being set: it is recorded
//! when its handshake is over, so `handshake_ok` is final in every recorded call.
//!
//! ```ignore
//! let wa = FakeWhatsApp::start().await;
//! wa.fail_next("messages", 1, Failure::RateLimited(130429, Some(2)));
//! let api = GraphApi::new(&wa.base_url(), Duration::from_secs(5))?;
//! // … the first send gets CallError::RetryAfter(2), the second a wamid …
//! let calls = wa.wait_for("messages", 2, Duration::from_secs(5)).await;
//! assert_eq!(calls[1].body["text"]["body"], "Hello");
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tokio::sync::Notify;

#[path = "fake_whatsapp_routes.rs"]
mod routes;

#[cfg(test)]
#[path = "fake_whatsapp_self_test.rs"]
mod whatsapp_fake_self_test;

/// The app-level callback URL the fake reports below any override.
pub const APP_CALLBACK: &str = "https://app.example.test/whatsapp";

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedCall {
    /// From `Authorization: Bearer …`; empty when there was none.
    pub token: String,
    /// `messages`, `read`, `media_upload`, `media_info`, `download`, `override` or `unknown`.
    pub kind: String,
    pub method: String,
    /// The phone number, WABA or media id in the path.
    pub object_id: String,
    /// The JSON body, or a multipart request's text fields; `Null` when there was none.
    pub body: Value,
    pub files: Vec<RecordedFile>,
    /// For an override being set: whether the callback passed the handshake.
    pub handshake_ok: Option<bool>,
    pub at: Instant,
}

/// A file part of a multipart request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedFile {
    pub field: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub size: usize,
}

/// A scripted answer for the next calls of a kind.
#[derive(Clone, Debug)]
pub enum Failure {
    /// Meta's error body with this HTTP status, code and message.
    Graph { http: u16, code: i64, message: String },
    /// A rate-limit error (130429, 131056, 131048, 4, 80007 …), with a `Retry-After` header
    /// when given.
    RateLimited(i64, Option<u64>),
    /// 500 with Meta's "unknown error" (code 1).
    ServerError,
    /// Answer normally, but only after this delay.
    Slow(Duration),
    /// Any status and JSON body.
    Custom(u16, Value),
}

/// A stored media file.
#[derive(Clone)]
struct Media {
    mime_type: String,
    data: Bytes,
}

/// Override targets, as the fake keeps them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Target {
    Phone(String),
    Waba(String),
}

#[derive(Default)]
struct State {
    calls: Vec<RecordedCall>,
    failures: HashMap<String, VecDeque<Failure>>,
    media: HashMap<String, Media>,
    overrides: HashMap<Target, String>,
    /// The target of the latest override set, for [`FakeWhatsApp::override_url`].
    last_override: Option<Target>,
    /// Phone number → its WABA, so a phone's status can show the WABA's override.
    phone_waba: HashMap<String, String>,
    /// WABAs whose app subscription was deleted.
    unsubscribed: Vec<String>,
    deny_override: bool,
    /// Where Meta would reach a callback's host: handshakes go to this base instead (tests
    /// register a public URL that only the test server stands in for).
    callback_base: Option<String>,
    /// The wamids given to sent messages, in order.
    answered: Vec<String>,
    next_message: u64,
    next_media: u64,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    base: String,
    /// Runs the override handshakes.
    http: reqwest::Client,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, call: RecordedCall) {
        self.lock().calls.push(call);
        self.arrived.notify_waiters();
    }

    fn next_failure(&self, kind: &str) -> Option<Failure> {
        self.lock().failures.get_mut(kind).and_then(VecDeque::pop_front)
    }
}

/// The running fake; stops when dropped.
pub struct FakeWhatsApp {
    pub addr: SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeWhatsApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeWhatsApp {
    pub async fn start() -> FakeWhatsApp {
        hookline::secrets::install_tls_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake whatsapp");
        let addr = listener.local_addr().expect("fake whatsapp address");
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .expect("handshake client");
        let shared = Shared {
            state: Arc::new(Mutex::new(State::default())),
            arrived: Arc::new(Notify::new()),
            base: format!("http://{addr}"),
            http,
        };
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(128 << 20))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeWhatsApp { addr, shared, server }
    }

    /// What to configure as the Graph API base URL.
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().calls.clone()
    }

    pub fn calls_of(&self, kind: &str) -> Vec<RecordedCall> {
        let state = self.shared.lock();
        state.calls.iter().filter(|c| c.kind == kind).cloned().collect()
    }

    /// Wait until at least `count` calls of `kind` arrived; panics after `timeout`.
    pub async fn wait_for(&self, kind: &str, count: usize, timeout: Duration) -> Vec<RecordedCall> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let calls = self.calls_of(kind);
            if calls.len() >= count {
                return calls;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "waited {timeout:?} for {count} {kind} calls, got {}",
                    self.calls_of(kind).len()
                );
            }
        }
    }

    /// The next `n` calls of `kind` answer with `failure`.
    pub fn fail_next(&self, kind: &str, n: usize, failure: Failure) {
        let mut state = self.shared.lock();
        let queue = state.failures.entry(kind.to_string()).or_default();
        queue.extend(std::iter::repeat_n(failure, n));
    }

    /// Make `id` a known media id, downloadable as `data`.
    pub fn add_media(&self, id: &str, mime_type: &str, data: impl Into<Bytes>) {
        let media = Media {
            mime_type: mime_type.to_string(),
            data: data.into(),
        };
        self.shared.lock().media.insert(id.to_string(), media);
    }

    /// Forget `id`, as Meta does after 30 days: sends naming it fail with 131053.
    pub fn expire_media(&self, id: &str) {
        self.shared.lock().media.remove(id);
    }

    /// The media ids the fake knows, sorted.
    pub fn known_media(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.shared.lock().media.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The callback of the latest override set, while it is still in force.
    pub fn override_url(&self) -> Option<String> {
        let state = self.shared.lock();
        state
            .last_override
            .as_ref()
            .and_then(|t| state.overrides.get(t).cloned())
    }

    /// Make a phone number part of a WABA, so its status shows the WABA's override.
    pub fn link_phone_to_waba(&self, phone_number_id: &str, waba_id: &str) {
        let mut state = self.shared.lock();
        state
            .phone_waba
            .insert(phone_number_id.to_string(), waba_id.to_string());
    }

    /// Override calls answer 403 with code 200 ("Permissions error") until
    /// [`allow_override`](Self::allow_override).
    /// Run override handshakes against `base` (scheme, host and port) instead of the callback
    /// URL's own host: the path and query are kept, as if DNS pointed the host there.
    pub fn route_callbacks_to(&self, base: &str) {
        self.shared.lock().callback_base = Some(base.trim_end_matches('/').to_string());
    }

    /// The wamids the fake gave sent messages, oldest first.
    pub fn answered_ids(&self) -> Vec<String> {
        self.shared.lock().answered.clone()
    }

    pub fn deny_override(&self) {
        self.shared.lock().deny_override = true;
    }

    pub fn allow_override(&self) {
        self.shared.lock().deny_override = false;
    }
}

/// `sha256=<hex>`: the `X-Hub-Signature-256` Meta would send with `body`.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Meta's error body.
pub fn meta_error(code: i64, message: &str, details: &str) -> Value {
    json!({"error": {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AFakeTraceId0123"
    }})
}

fn graph_error(status: u16, code: i64, message: &str, details: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(meta_error(code, message, details))).into_response()
}

fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string()
}

/// The scripted answer for `failure`, or `None` to answer normally (after a delay for `Slow`).
async fn scripted(failure: Option<Failure>) -> Option<Response> {
    match failure? {
        Failure::Graph { http, code, message } => Some(graph_error(http, code, &message, &message)),
        Failure::RateLimited(code, retry_after) => {
            let message = match code {
                130429 => "(#130429) Rate limit hit".to_string(),
                131056 => "(#131056) (Business Account, Consumer Account) pair rate limit hit".to_string(),
                131048 => "(#131048) Spam rate limit hit".to_string(),
                4 => "(#4) Application request limit reached".to_string(),
                other => format!("(#{other}) Rate limit issues"),
            };
            let mut response = graph_error(400, code, &message, "Too many messages in a short period of time");
            if let Some(secs) = retry_after {
                let value = header::HeaderValue::from(secs);
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Some(response)
        }
        Failure::ServerError => Some(graph_error(500, 1, "An unknown error has occurred.", "Please retry")),
        Failure::Custom(status, body) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            Some((status, axum::Json(body)).into_response())
        }
        Failure::Slow(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
    }
}

async fn handle(axum::extract::State(shared): axum::extract::State<Shared>, req: Request) -> Response {
    let route = routes::Route::of(req.method(), req.uri());
    let token = bearer(req.headers());
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let (body, files) = match routes::read_body(req).await {
        Ok(read) => read,
        Err(message) => return graph_error(400, 100, "(#100) Invalid parameter", &message),
    };
    let Some(route) = route else {
        // Recorded too, so a test can see a request the fake (and so Meta) would not understand.
        shared.record(RecordedCall {
            token,
            kind: "unknown".into(),
            method,
            object_id: String::new(),
            body,
            files: Vec::new(),
            handshake_ok: None,
            at: Instant::now(),
        });
        let message = format!("Unknown path components: {path}");
        return graph_error(400, 2500, &message, &message);
    };
    let mut call = RecordedCall {
        token,
        kind: route.kind(&body).to_string(),
        method,
        object_id: route.object_id().to_string(),
        body,
        files: files.iter().map(|(f, _)| f.clone()).collect(),
        handshake_ok: None,
        at: Instant::now(),
    };
    let failure = shared.next_failure(&call.kind);
    // An override being set is recorded once its handshake is over (see the module docs); one
    // answered by a scripted failure gets no handshake, so it is recorded now.
    let answered_by_failure = matches!(failure, Some(ref f) if !matches!(f, Failure::Slow(_)));
    let record_later = route.sets_override(&call.body) && !answered_by_failure;
    if !record_later {
        shared.record(call.clone());
    }
    if let Some(response) = scripted(failure).await {
        return response;
    }
    let response = if call.token.is_empty() {
        graph_error(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "no bearer token",
        )
    } else {
        routes::answer(&shared, &route, &mut call, files).await
    };
    if record_later {
        shared.record(call);
    }
    response
}
