//! The WhatsApp Cloud API client (Meta's Graph API) over `reqwest`: sends the bodies
//! [`render`](super::render) builds, uploads and downloads media, and manages the webhook
//! override ("alternate callback URL").
//!
//! Requests go to `{base}/{version}/{object_id}/…` with `Authorization: Bearer <token>`. The
//! token is a [`Secret`], read only to build that header, and no error, `Debug` or `Display`
//! output of this module contains it: reqwest errors lose their URL (`without_url()`), and an
//! answer that echoes the token has it replaced before it becomes an error. Every id that goes
//! into a path is checked first ([`valid_id`]), so no input can add a segment, a query or
//! another host to a URL. Neither client follows redirects: a hop could lead anywhere, and the
//! bearer token would go along.
//!
//! Every failure is a [`CallError`] class the outbox can act on; [`classify`] maps Meta's error
//! answers. Each call is bounded by the client's timeout, and each answer by a size cap.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, redirect};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::platforms::outbound::CallError;
use crate::secrets::Secret;

#[path = "api_download.rs"]
mod download;
#[path = "api_errors.rs"]
mod errors;
#[path = "api_override.rs"]
mod overrides;

pub use errors::{GraphRefusals, classify};
pub use overrides::{MAX_CALLBACK_CHARS, OverrideStatus, OverrideTarget};

/// The Graph API version used when the configuration names none.
pub const DEFAULT_VERSION: &str = "v21.0";
/// Longest id accepted in a path. Meta's ids are decimal numbers of 15–17 digits and versions
/// are like `v21.0`; the cap only keeps hostile input out of URLs and logs.
pub const MAX_ID_LEN: usize = 128;
/// Largest answer read from a JSON call. Graph answers are a few hundred bytes; anything beyond
/// this is not an answer worth holding in memory, and is read no further.
const MAX_ANSWER_BYTES: u64 = 1 << 20;
/// Connecting takes at most this long, however generous the call timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest file name sent with an upload; WhatsApp shows it to the user for documents.
const MAX_FILE_NAME_CHARS: usize = 240;
/// Longest media type accepted for an upload (registered types are far shorter).
const MAX_MIME_LEN: usize = 255;

/// A Graph API client. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct GraphApi {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl std::fmt::Debug for GraphApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// What a send produced: the `wamid.…` of the message created, to match the delivery receipts
/// (`statuses`) that come back through the webhook. A read receipt creates no message: `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub message_id: Option<String>,
}

/// `GET /{media_id}`: where to download a media file, and what Meta says it is. The URL needs
/// the bearer token and expires a few minutes after this answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
    pub sha256: Option<String>,
}

impl MediaInfo {
    /// Read leniently: only `url` is required, and a size sent as a string still counts.
    fn from_answer(answer: &Value) -> Option<MediaInfo> {
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        let file_size = answer
            .get("file_size")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        Some(MediaInfo {
            url: text("url").filter(|u| !u.is_empty())?,
            mime_type: text("mime_type"),
            file_size,
            sha256: text("sha256"),
        })
    }
}

/// What a request carries.
enum Payload<'a> {
    Empty,
    Json(&'a Value),
    Form(Form),
}

impl GraphApi {
    /// A client for `base_url` (e.g. `https://graph.facebook.com`) whose calls each time out
    /// after `timeout`. The base must be an `http(s)` URL without query or fragment.
    pub fn new(base_url: &str, timeout: Duration) -> Result<GraphApi, CallError> {
        crate::secrets::install_tls_provider();
        let base = base_url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|_| refused("the Graph API base URL is not a URL"))?;
        let usable = matches!(parsed.scheme(), "http" | "https")
            && parsed.host_str().is_some()
            && parsed.query().is_none()
            && parsed.fragment().is_none();
        if !usable {
            return Err(refused(
                "the Graph API base URL must be http(s), without query or fragment",
            ));
        }
        let http = client_builder(timeout)
            .build()
            .map_err(|e| CallError::Transient(format!("cannot build the HTTP client: {}", e.without_url())))?;
        Ok(GraphApi { http, base, timeout })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `{base}/{version}/{object_id}[/{edge}]`, after checking both path values. `edge` is
    /// always a literal of this module.
    fn url(&self, version: &str, object_id: &str, edge: Option<&str>) -> Result<String, CallError> {
        check_id("API version", version)?;
        check_id("object id", object_id)?;
        Ok(match edge {
            Some(edge) => format!("{}/{version}/{object_id}/{edge}", self.base),
            None => format!("{}/{version}/{object_id}", self.base),
        })
    }

    /// `POST /{version}/{phone_number_id}/messages` with one body from
    /// [`render`](super::render) or [`mark_read`](super::mark_read).
    pub async fn send_message(
        &self,
        token: &Secret<String>,
        version: &str,
        phone_number_id: &str,
        body: &Value,
    ) -> Result<Sent, CallError> {
        let url = self.url(version, phone_number_id, Some("messages"))?;
        let answer = self.request(token, Method::POST, url, Payload::Json(body)).await?;
        let message_id = answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Sent { message_id })
    }

    /// `POST /{version}/{phone_number_id}/media` (multipart): uploads a file and answers the
    /// media id a message can name instead of a link.
    pub async fn upload_media(
        &self,
        token: &Secret<String>,
        version: &str,
        phone_number_id: &str,
        data: Bytes,
        mime_type: &str,
        file_name: &str,
    ) -> Result<String, CallError> {
        let url = self.url(version, phone_number_id, Some("media"))?;
        if mime_type.len() > MAX_MIME_LEN {
            return Err(refused("the media type is too long"));
        }
        let len = data.len() as u64;
        let file = Part::stream_with_length(data, len)
            .file_name(clean_file_name(file_name))
            .mime_str(mime_type)
            .map_err(|_| refused("the media type is not a valid MIME type"))?;
        let form = Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_string())
            .part("file", file);
        let answer = self.request(token, Method::POST, url, Payload::Form(form)).await?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| valid_id(id))
            .map(str::to_owned)
            .ok_or_else(|| CallError::Transient("the upload answer holds no usable media id".into()))
    }

    /// `GET /{version}/{media_id}`: where to download a file (see [`download`](Self::download)).
    pub async fn media_info(
        &self,
        token: &Secret<String>,
        version: &str,
        media_id: &str,
    ) -> Result<MediaInfo, CallError> {
        let url = self.url(version, media_id, None)?;
        let answer = self.request(token, Method::GET, url, Payload::Empty).await?;
        MediaInfo::from_answer(&answer)
            .ok_or_else(|| CallError::Transient("the media answer holds no download URL".into()))
    }

    /// One authenticated call; the JSON answer, or the error it amounts to.
    async fn request(
        &self,
        token: &Secret<String>,
        method: Method,
        url: String,
        payload: Payload<'_>,
    ) -> Result<Value, CallError> {
        let builder = self
            .http
            .request(method, url)
            .timeout(self.timeout)
            .header(AUTHORIZATION, bearer(token)?);
        let builder = match payload {
            Payload::Empty => builder,
            Payload::Json(body) => builder.json(body),
            Payload::Form(form) => builder.multipart(form),
        };
        exchange(builder).await.map_err(|e| redact(e, token.expose()))
    }
}

/// The builder both clients (calls, and downloads from another host) start from. Proxies from
/// the environment are ignored: a proxy the operator did not name would see every token.
fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(redirect::Policy::none())
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .user_agent(concat!("hookline/", env!("CARGO_PKG_VERSION")))
}

/// Send, read at most [`MAX_ANSWER_BYTES`], and turn the answer into JSON or an error. A 2xx can
/// still carry an `error` object, which counts as the error it describes.
async fn exchange(builder: reqwest::RequestBuilder) -> Result<Value, CallError> {
    let mut response = builder.send().await.map_err(network)?;
    let status = response.status().as_u16();
    let retry_after = retry_after(&response);
    let (body, cut) = read_limited(&mut response, MAX_ANSWER_BYTES).await?;
    if !(200..300).contains(&status) {
        return Err(classify(status, &body, retry_after.as_deref()));
    }
    if cut {
        return Err(CallError::Transient(format!(
            "the answer exceeds {MAX_ANSWER_BYTES} bytes (HTTP {status})"
        )));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(answer) if answer.get("error").is_some_and(Value::is_object) => {
            Err(classify(status, &body, retry_after.as_deref()))
        }
        Ok(answer) => Ok(answer),
        Err(_) => Err(CallError::Transient(format!(
            "unexpected answer (HTTP {status}, not JSON)"
        ))),
    }
}

fn retry_after(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    Some(value.chars().take(32).collect())
}

/// The body, read until it ends or grows past `cap` bytes; `true` when it was cut there (the
/// rest is never read, so a huge answer costs no more than `cap`).
async fn read_limited(response: &mut reqwest::Response, cap: u64) -> Result<(Vec<u8>, bool), CallError> {
    /// Memory reserved up front from a declared length, however large the cap.
    const MAX_RESERVE: u64 = 8 << 20;
    let declared = response.content_length().unwrap_or(0);
    let mut data = Vec::with_capacity(declared.min(cap).min(MAX_RESERVE) as usize);
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        let room = cap.saturating_sub(data.len() as u64);
        if chunk.len() as u64 > room {
            // `room` is below `chunk.len()`, so it fits in a usize.
            data.extend_from_slice(&chunk[..room as usize]);
            return Ok((data, true));
        }
        data.extend_from_slice(&chunk);
    }
    Ok((data, false))
}

/// `Bearer <token>`, marked sensitive so no header dump shows it. A token that cannot be a
/// header value (line breaks, non-ASCII) is refused without saying what it was.
fn bearer(token: &Secret<String>) -> Result<HeaderValue, CallError> {
    let secret = token.expose();
    if secret.is_empty() {
        return Err(refused("no access token configured"));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {secret}"))
        .map_err(|_| refused("the access token is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Whether `id` may be a path segment: 1–[`MAX_ID_LEN`] letters, digits, `_`, `-` or `.`, and
/// not only dots (`.` and `..` would walk the path).
pub fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !id.bytes().all(|b| b == b'.')
}

/// [`valid_id`] as a refusal naming what was wrong (never the value: it may be anything).
fn check_id(what: &str, id: &str) -> Result<(), CallError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(refused(format!(
            "invalid {what}: expected 1-{MAX_ID_LEN} letters, digits, '_', '-' or '.'"
        )))
    }
}

/// A file name safe inside a multipart header: no control characters (reqwest escapes a line
/// break with a backslash but still writes it, which would end the part's header), no quotes or
/// backslashes (which Meta would show escaped), and not empty.
fn clean_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\'))
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    if cleaned.trim().is_empty() {
        "file".to_string()
    } else {
        cleaned
    }
}

/// A local refusal: code 0, the call never left hookline.
fn refused(description: impl Into<String>) -> CallError {
    CallError::Permanent {
        code: 0,
        description: description.into(),
    }
}

/// A failure to get an answer at all; retrying may help. The error's causes are kept (they say
/// "connection refused" or "dns error"), its URL is not.
fn network(e: reqwest::Error) -> CallError {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    for _ in 0..4 {
        let Some(cause) = source else { break };
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let text = super::shorten(&text, 300);
    if e.is_timeout() {
        CallError::Transient(format!("timed out: {text}"))
    } else {
        CallError::Transient(format!("network error: {text}"))
    }
}

/// `error` with every occurrence of `secret` replaced: an answer may echo what it was sent
/// (a proxy's error page, a misbehaving server), and errors are stored and shown.
fn redact(error: CallError, secret: &str) -> CallError {
    if secret.is_empty() {
        return error;
    }
    let scrub = |s: String| {
        if s.contains(secret) {
            s.replace(secret, "[redacted]")
        } else {
            s
        }
    };
    match error {
        CallError::Transient(s) => CallError::Transient(scrub(s)),
        CallError::Permanent { code, description } => CallError::Permanent {
            code,
            description: scrub(description),
        },
        CallError::Blocked(s) => CallError::Blocked(scrub(s)),
        CallError::OutsideWindow(s) => CallError::OutsideWindow(scrub(s)),
        other => other,
    }
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "api_loopback_tests.rs"]
mod loopback_tests;
