//! The Bot API client: sends [`ApiCall`]s and manages webhooks over `reqwest`.
//!
//! Requests go to `{base}/bot{token}/{method}`. The token is a [`Secret`]: it is read only to
//! build the URL, and no error, `Debug` or `Display` output of this module can contain it
//! (reqwest errors carry the URL, so they are stripped with `without_url()`).
//!
//! Every call ends in a [`CallError`] class the outbox can act on: retry later
//! ([`CallError::RetryAfter`], [`CallError::Transient`]), give up ([`CallError::Permanent`],
//! [`CallError::Blocked`]) or re-address ([`CallError::Migrated`]).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::{Value, json};

use super::render::{ApiCall, MediaRef, PARSE_MODE};
use crate::secrets::Secret;

pub use super::api_types::{BotUser, CallError, FileInfo, Refusals, Sent, WebhookConfig, WebhookStatus};

/// Bytes of a stored file to upload.
#[derive(Clone, Debug)]
pub struct FileData {
    pub file_name: String,
    pub mime_type: Option<String>,
    pub data: Bytes,
}

/// Files for `MediaRef::Upload`, by `media_id`.
pub type Uploads = HashMap<String, FileData>;

/// A Bot API client. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Telegram's answer envelope.
#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    migrate_to_chat_id: Option<i64>,
    #[serde(default)]
    retry_after: Option<u64>,
}

impl BotApi {
    /// A client for `base_url` (e.g. `https://api.telegram.org`) whose calls each time out after
    /// `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, CallError> {
        crate::secrets::install_tls_provider();
        // Proxies named in the environment are ignored, as by every outbound client: the address
        // is the operator's `telegram_api_url`, and a proxy it did not name would see every bot
        // token (they travel in the URL path).
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("hookline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CallError::Transient(e.without_url().to_string()))?;
        Ok(BotApi {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            timeout,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn url(&self, token: &Secret<String>, method: &str) -> String {
        format!("{}/bot{}/{}", self.base, token.expose(), method)
    }

    /// Send one queued call. Uploads must hold the bytes of every `MediaRef::Upload`; an
    /// unresolved `MediaRef::Alias` is a [`CallError::Permanent`] with code 0 (a caller bug).
    pub async fn call(&self, token: &Secret<String>, call: &ApiCall, uploads: &Uploads) -> Result<Sent, CallError> {
        self.call_as(token, call, uploads, Some(PARSE_MODE)).await
    }

    /// [`call`](Self::call) with texts and captions as plain text (no `parse_mode`): the same
    /// words reach the user when Telegram cannot parse the formatted version.
    pub async fn call_plain(
        &self,
        token: &Secret<String>,
        call: &ApiCall,
        uploads: &Uploads,
    ) -> Result<Sent, CallError> {
        self.call_as(token, call, uploads, None).await
    }

    #[tracing::instrument(skip_all, fields(method = call.method()))]
    async fn call_as(
        &self,
        token: &Secret<String>,
        call: &ApiCall,
        uploads: &Uploads,
        parse_mode: Option<&str>,
    ) -> Result<Sent, CallError> {
        let request = match call {
            ApiCall::SendMessage {
                chat_id,
                text,
                reply_markup,
            } => Body::Json(json!({
                "chat_id": chat_id, "text": text, "parse_mode": parse_mode, "reply_markup": reply_markup,
            })),
            ApiCall::SendMedia {
                method,
                chat_id,
                media,
                caption,
                reply_markup,
            } => {
                let mut fields = json!({ "chat_id": chat_id, "caption": caption, "reply_markup": reply_markup });
                if let (Some(_), Some(mode)) = (caption, parse_mode) {
                    fields["parse_mode"] = json!(mode);
                }
                match media {
                    // A single upload is a file part named after the field itself.
                    MediaRef::Upload { media_id } => {
                        let file = upload(uploads, media_id)?;
                        Body::Multipart(fields, vec![(method.field().to_string(), file)])
                    }
                    other => {
                        fields[method.field()] =
                            Value::String(attach(other, uploads, method.field(), &mut Vec::new())?);
                        Body::Json(fields)
                    }
                }
            }
            ApiCall::SendMediaGroup { chat_id, items } => {
                let mut files = Vec::new();
                let mut media = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let reference = attach(&item.media, uploads, &format!("file_{i}"), &mut files)?;
                    let mut entry = json!({ "type": item.kind.field(), "media": reference });
                    if let Some(caption) = &item.caption {
                        entry["caption"] = json!(caption);
                        if let Some(mode) = parse_mode {
                            entry["parse_mode"] = json!(mode);
                        }
                    }
                    media.push(entry);
                }
                let fields = json!({ "chat_id": chat_id, "media": media });
                if files.is_empty() {
                    Body::Json(fields)
                } else {
                    Body::Multipart(fields, files)
                }
            }
            ApiCall::AnswerCallbackQuery {
                callback_query_id,
                text,
            } => Body::Json(json!({ "callback_query_id": callback_query_id, "text": text })),
            ApiCall::EditMessageReplyMarkup {
                chat_id,
                message_id,
                reply_markup,
            } => Body::Json(json!({ "chat_id": chat_id, "message_id": message_id, "reply_markup": reply_markup })),
        };
        let result = self.send(token, call.method(), request).await?;
        Ok(Sent::from_result(call, result))
    }

    /// `getMe`: checks a token and names the bot.
    pub async fn get_me(&self, token: &Secret<String>) -> Result<BotUser, CallError> {
        let result = self.send(token, "getMe", Body::Json(json!({}))).await?;
        decode(result)
    }

    /// `setWebhook`. Telegram answers `true`.
    pub async fn set_webhook(&self, token: &Secret<String>, config: &WebhookConfig) -> Result<(), CallError> {
        let body = json!({
            "url": config.url,
            "secret_token": config.secret_token.as_ref().map(|s| s.expose()),
            "allowed_updates": config.allowed_updates,
            "max_connections": config.max_connections,
            "drop_pending_updates": config.drop_pending_updates,
        });
        self.send(token, "setWebhook", Body::Json(body)).await.map(drop)
    }

    /// `getWebhookInfo`, mapped to hookline's `WebhookStatus`.
    pub async fn get_webhook_info(&self, token: &Secret<String>) -> Result<WebhookStatus, CallError> {
        let result = self.send(token, "getWebhookInfo", Body::Json(json!({}))).await?;
        decode(result)
    }

    /// `deleteWebhook`.
    pub async fn delete_webhook(&self, token: &Secret<String>, drop_pending_updates: bool) -> Result<(), CallError> {
        let body = json!({ "drop_pending_updates": drop_pending_updates });
        self.send(token, "deleteWebhook", Body::Json(body)).await.map(drop)
    }

    /// `getFile`: where to download a file the user sent.
    pub async fn get_file(&self, token: &Secret<String>, file_id: &str) -> Result<FileInfo, CallError> {
        let result = self
            .send(token, "getFile", Body::Json(json!({ "file_id": file_id })))
            .await?;
        decode(result)
    }

    /// Download `{base}/file/bot{token}/{file_path}`, refusing more than `max_bytes`
    /// ([`CallError::TooLarge`]) without reading past the limit.
    pub async fn download_file(
        &self,
        token: &Secret<String>,
        file_path: &str,
        max_bytes: u64,
    ) -> Result<Bytes, CallError> {
        if file_path.split('/').any(|s| s == ".." || s.is_empty()) || file_path.contains(['?', '#']) {
            return Err(CallError::Permanent {
                code: 0,
                description: "invalid file path".into(),
            });
        }
        let url = format!("{}/file/bot{}/{}", self.base, token.expose(), file_path);
        let mut response = self.http.get(url).timeout(self.timeout).send().await.map_err(network)?;
        let status = response.status();
        if !status.is_success() {
            let code = i64::from(status.as_u16());
            return Err(if status.is_server_error() {
                CallError::Transient(format!("file download answered {code}"))
            } else {
                CallError::Permanent {
                    code,
                    description: format!("file download answered {code}"),
                }
            });
        }
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(CallError::TooLarge { limit: max_bytes });
        }
        let mut data = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if (data.len() + chunk.len()) as u64 > max_bytes {
                return Err(CallError::TooLarge { limit: max_bytes });
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(data))
    }

    async fn send(&self, token: &Secret<String>, method: &str, body: Body) -> Result<Value, CallError> {
        let builder = self.http.post(self.url(token, method)).timeout(self.timeout);
        let builder = match body {
            Body::Json(mut value) => {
                strip_nulls(&mut value);
                builder.json(&value)
            }
            Body::Multipart(fields, files) => builder.multipart(multipart(fields, files)?),
        };
        let response = builder.send().await.map_err(network)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        classify(status.as_u16(), &bytes)
    }
}

enum Body {
    Json(Value),
    /// Fields (objects become JSON strings, as the Bot API expects in forms) and file parts.
    Multipart(Value, Vec<(String, FileData)>),
}

/// The string that names `media` in a request: a file id, or `attach://{part}` for an upload.
fn attach(
    media: &MediaRef,
    uploads: &Uploads,
    part: &str,
    files: &mut Vec<(String, FileData)>,
) -> Result<String, CallError> {
    match media {
        MediaRef::FileId(id) => Ok(id.clone()),
        MediaRef::Upload { media_id } => {
            files.push((part.to_string(), upload(uploads, media_id)?));
            Ok(format!("attach://{part}"))
        }
        MediaRef::Alias(alias) => Err(CallError::Permanent {
            code: 0,
            description: format!("media alias {alias:?} was not resolved before sending"),
        }),
    }
}

fn upload(uploads: &Uploads, media_id: &str) -> Result<FileData, CallError> {
    uploads.get(media_id).cloned().ok_or_else(|| CallError::Permanent {
        code: 0,
        description: format!("no bytes given for media {media_id}"),
    })
}

fn multipart(mut fields: Value, files: Vec<(String, FileData)>) -> Result<Form, CallError> {
    strip_nulls(&mut fields);
    let mut form = Form::new();
    if let Value::Object(map) = fields {
        for (key, value) in map {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            form = form.text(key, text);
        }
    }
    for (name, file) in files {
        let len = file.data.len() as u64;
        let mut part = Part::stream_with_length(file.data, len).file_name(file.file_name);
        if let Some(mime) = file.mime_type {
            part = part.mime_str(&mime).map_err(|e| CallError::Permanent {
                code: 0,
                description: format!("bad content type: {}", e.without_url()),
            })?;
        }
        form = form.part(name, part);
    }
    Ok(form)
}

/// Omit absent optional fields rather than sending `null`s.
fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
    }
}

fn network(e: reqwest::Error) -> CallError {
    let e = e.without_url();
    if e.is_timeout() {
        CallError::Transient(format!("timed out: {e}"))
    } else {
        CallError::Transient(format!("network error: {e}"))
    }
}

/// Classify Telegram's answer (status and body) into a result or a [`CallError`].
pub fn classify(status: u16, body: &[u8]) -> Result<Value, CallError> {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(body) else {
        return Err(if status >= 500 || (200..300).contains(&status) {
            CallError::Transient(format!("unexpected answer (HTTP {status})"))
        } else if status == 429 {
            CallError::RetryAfter(1)
        } else {
            CallError::Permanent {
                code: i64::from(status),
                description: format!("unexpected answer (HTTP {status})"),
            }
        });
    };
    if envelope.ok {
        return Ok(envelope.result);
    }
    let code = envelope.error_code.unwrap_or(i64::from(status));
    let description = envelope.description.unwrap_or_default();
    let params = envelope.parameters;
    if let Some(chat) = params.as_ref().and_then(|p| p.migrate_to_chat_id) {
        return Err(CallError::Migrated(chat));
    }
    if code == 429 || status == 429 {
        let secs = params.and_then(|p| p.retry_after).unwrap_or(1).max(1);
        return Err(CallError::RetryAfter(secs));
    }
    if code == 403 {
        return Err(CallError::Blocked(description));
    }
    if code >= 500 || status >= 500 {
        return Err(CallError::Transient(format!("{code}: {description}")));
    }
    Err(CallError::Permanent { code, description })
}

fn decode<T: for<'de> Deserialize<'de>>(result: Value) -> Result<T, CallError> {
    serde_json::from_value(result).map_err(|e| CallError::Transient(format!("unexpected result shape: {e}")))
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
