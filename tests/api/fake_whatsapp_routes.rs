//! What the fake Graph API answers, route by route (see the parent module's docs).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{Method, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{APP_CALLBACK, Media, RecordedCall, RecordedFile, Shared, Target, graph_error, ok};

/// Message types that carry media, and so an `id` or a `link`.
const MEDIA_TYPES: &[&str] = &["image", "document", "audio", "video", "sticker"];
/// Meta's limit on an override's callback URL, in characters.
const MAX_CALLBACK_CHARS: usize = 200;
/// Media ids the fake hands out: numeric-looking, like Meta's 15–17 digit ids.
const FIRST_MEDIA_ID: u64 = 1_000_000_000_000_000;

/// The HTTP methods the fake answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verb {
    Get,
    Post,
    Delete,
}

/// A request the fake understands.
pub(super) enum Route {
    Messages(String),
    Upload(String),
    MediaInfo(String),
    Download(String),
    /// `POST /{phone_number_id}` (set or remove) or `GET …?fields=webhook_configuration`.
    PhoneOverride(String, Verb),
    /// `POST|GET|DELETE /{waba_id}/subscribed_apps`.
    WabaOverride(String, Verb),
}

/// `v<digits>.<digits>`, like `v21.0`.
fn is_version(segment: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    segment
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| digits(major) && digits(minor))
}

impl Route {
    pub(super) fn of(method: &Method, uri: &Uri) -> Option<Route> {
        let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
        let wants_config = uri.query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "fields" && v.contains("webhook_configuration"))
        });
        let own = |id: &str| id.to_string();
        let verb = match method.as_str() {
            "GET" => Verb::Get,
            "POST" => Verb::Post,
            "DELETE" => Verb::Delete,
            _ => return None,
        };
        match segments.as_slice() {
            ["download", id] if verb == Verb::Get => Some(Route::Download(own(id))),
            [version, rest @ ..] if is_version(version) => match (verb, rest) {
                (Verb::Post, [id, "messages"]) => Some(Route::Messages(own(id))),
                (Verb::Post, [id, "media"]) => Some(Route::Upload(own(id))),
                (verb, [id, "subscribed_apps"]) => Some(Route::WabaOverride(own(id), verb)),
                (Verb::Get, [id]) if wants_config => Some(Route::PhoneOverride(own(id), Verb::Get)),
                (Verb::Post, [id]) => Some(Route::PhoneOverride(own(id), Verb::Post)),
                (Verb::Get, [id]) => Some(Route::MediaInfo(own(id))),
                _ => None,
            },
            _ => None,
        }
    }

    /// The kind calls are recorded (and failures scripted) under.
    pub(super) fn kind(&self, body: &Value) -> &'static str {
        match self {
            Route::Messages(_) if body.get("status").and_then(Value::as_str) == Some("read") => "read",
            Route::Messages(_) => "messages",
            Route::Upload(_) => "media_upload",
            Route::MediaInfo(_) => "media_info",
            Route::Download(_) => "download",
            Route::PhoneOverride(..) | Route::WabaOverride(..) => "override",
        }
    }

    pub(super) fn object_id(&self) -> &str {
        match self {
            Route::Messages(id)
            | Route::Upload(id)
            | Route::MediaInfo(id)
            | Route::Download(id)
            | Route::PhoneOverride(id, _)
            | Route::WabaOverride(id, _) => id,
        }
    }

    /// Whether this call sets an override, and so runs the handshake.
    pub(super) fn sets_override(&self, body: &Value) -> bool {
        match self {
            Route::PhoneOverride(_, Verb::Post) | Route::WabaOverride(_, Verb::Post) => {
                callback_setting(self, body).is_some_and(|(url, _)| !url.is_empty())
            }
            _ => false,
        }
    }
}

/// The requested `(override_callback_uri, verify_token)`, where the route keeps them.
fn callback_setting<'a>(route: &Route, body: &'a Value) -> Option<(&'a str, &'a str)> {
    let setting = match route {
        Route::PhoneOverride(..) => body.get("webhook_configuration")?,
        _ => body,
    };
    let url = setting.get("override_callback_uri")?.as_str()?;
    let verify_token = setting.get("verify_token").and_then(Value::as_str).unwrap_or("");
    Some((url, verify_token))
}

/// The JSON body, or a multipart request's text fields and files. No body is `Null`.
pub(super) async fn read_body(req: Request) -> Result<(Value, Vec<(RecordedFile, Bytes)>), String> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !content_type.starts_with("multipart/form-data") {
        let body = axum::body::to_bytes(req.into_body(), 64 << 20)
            .await
            .map_err(|e| e.to_string())?;
        if body.is_empty() {
            return Ok((Value::Null, Vec::new()));
        }
        return serde_json::from_slice(&body)
            .map(|v| (v, Vec::new()))
            .map_err(|e| format!("the body is not JSON: {e}"));
    }
    let mut multipart = Multipart::from_request(req, &()).await.map_err(|e| e.body_text())?;
    let (mut fields, mut files) = (Map::new(), Vec::new());
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let mime_type = field.content_type().map(str::to_string);
        let data = field.bytes().await.map_err(|e| e.body_text())?;
        if file_name.is_some() {
            let file = RecordedFile {
                field: name,
                file_name,
                mime_type,
                size: data.len(),
            };
            files.push((file, data));
        } else {
            fields.insert(name, Value::String(String::from_utf8_lossy(&data).into_owned()));
        }
    }
    Ok((Value::Object(fields), files))
}

pub(super) async fn answer(
    shared: &Shared,
    route: &Route,
    call: &mut RecordedCall,
    files: Vec<(RecordedFile, Bytes)>,
) -> Response {
    match route {
        Route::Messages(_) => message(shared, &call.body),
        Route::Upload(_) => upload(shared, &call.body, files),
        Route::MediaInfo(id) => media_info(shared, id),
        Route::Download(id) => download(shared, id),
        Route::PhoneOverride(id, verb) => overriding(shared, route, Target::Phone(id.clone()), *verb, call).await,
        Route::WabaOverride(id, verb) => overriding(shared, route, Target::Waba(id.clone()), *verb, call).await,
    }
}

fn invalid_parameter(details: &str) -> Response {
    graph_error(400, 100, "(#100) Invalid parameter", details)
}

fn message(shared: &Shared, body: &Value) -> Response {
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return invalid_parameter("The parameter messaging_product is required.");
    }
    if body.get("status").and_then(Value::as_str) == Some("read") {
        return ok(json!({"success": true}));
    }
    let Some(to) = body.get("to").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        return invalid_parameter("The parameter to is required.");
    };
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("text");
    let mut state = shared.lock();
    if MEDIA_TYPES.contains(&kind) {
        let media = body.get(kind);
        let id = media.and_then(|m| m.get("id")).and_then(Value::as_str);
        let link = media.and_then(|m| m.get("link")).and_then(Value::as_str);
        match (id, link) {
            (Some(id), _) if !state.media.contains_key(id) => {
                // Meta's answer for a media id it does not have (never uploaded, or expired).
                return graph_error(
                    400,
                    131053,
                    "(#131053) Media upload error",
                    &format!("Unable to upload the media used in the message: media id {id} was not found"),
                );
            }
            (None, None) => return invalid_parameter(&format!("Param {kind} must have an id or a link.")),
            _ => {}
        }
    }
    state.next_message += 1;
    let wamid = format!("wamid.FAKE{}", state.next_message);
    state.answered.push(wamid.clone());
    ok(json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": wamid}]}))
}

fn upload(shared: &Shared, fields: &Value, files: Vec<(RecordedFile, Bytes)>) -> Response {
    if fields.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return invalid_parameter("The parameter messaging_product is required.");
    }
    let Some((file, data)) = files.into_iter().find(|(f, _)| f.field == "file") else {
        return invalid_parameter("The parameter file is required.");
    };
    let mime_type = fields
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(file.mime_type)
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let mut state = shared.lock();
    state.next_media += 1;
    let id = (FIRST_MEDIA_ID + state.next_media).to_string();
    state.media.insert(id.clone(), Media { mime_type, data });
    ok(json!({"id": id}))
}

fn unknown_object(id: &str) -> Response {
    let details = format!(
        "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
    );
    graph_error(404, 100, "(#100) Invalid parameter", &details)
}

fn media_info(shared: &Shared, id: &str) -> Response {
    let Some(media) = shared.lock().media.get(id).cloned() else {
        return unknown_object(id);
    };
    ok(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/download/{id}", shared.base),
        "mime_type": media.mime_type,
        "sha256": hex::encode(hookline::secrets::sha256(&media.data)),
        "file_size": media.data.len(),
        "id": id,
    }))
}

fn download(shared: &Shared, id: &str) -> Response {
    let Some(media) = shared.lock().media.get(id).cloned() else {
        return unknown_object(id);
    };
    let mut response = Response::new(Body::from(media.data));
    if let Ok(value) = header::HeaderValue::from_str(&media.mime_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The override endpoints of both levels.
async fn overriding(shared: &Shared, route: &Route, target: Target, verb: Verb, call: &mut RecordedCall) -> Response {
    if shared.lock().deny_override {
        return graph_error(
            403,
            200,
            "(#200) Permissions error",
            "The access token lacks the permission to manage this account's webhooks.",
        );
    }
    match verb {
        Verb::Get => override_status(shared, &target),
        Verb::Delete => {
            let mut state = shared.lock();
            state.overrides.remove(&target);
            if let Target::Waba(id) = &target {
                state.unsubscribed.push(id.clone());
            }
            ok(json!({"success": true}))
        }
        Verb::Post => {
            let (url, verify_token) = match callback_setting(route, &call.body) {
                Some((url, token)) => (url.to_string(), token.to_string()),
                // A WABA subscription without parameters: subscribe, with no override.
                None if matches!(target, Target::Waba(_)) => (String::new(), String::new()),
                None => return invalid_parameter("Param webhook_configuration must hold override_callback_uri."),
            };
            set_override(shared, target, &url, &verify_token, call).await
        }
    }
}

async fn set_override(
    shared: &Shared,
    target: Target,
    url: &str,
    verify_token: &str,
    call: &mut RecordedCall,
) -> Response {
    if url.chars().count() > MAX_CALLBACK_CHARS {
        return invalid_parameter("Param override_callback_uri must be at most 200 characters.");
    }
    if !url.is_empty() {
        let routed = shared.lock().callback_base.clone().map(|base| route(url, &base));
        let verified = handshake(&shared.http, routed.as_deref().unwrap_or(url), verify_token).await;
        call.handshake_ok = Some(verified.is_ok());
        if let Err(why) = verified {
            let message = format!("(#2200) Callback verification failed with the following errors: {why}");
            return graph_error(400, 2200, &message, &why);
        }
    }
    let mut state = shared.lock();
    if let Target::Waba(id) = &target {
        state.unsubscribed.retain(|w| w != id);
    }
    if url.is_empty() {
        state.overrides.remove(&target);
    } else {
        state.overrides.insert(target.clone(), url.to_string());
        state.last_override = Some(target);
    }
    ok(json!({"success": true}))
}

fn override_status(shared: &Shared, target: &Target) -> Response {
    let state = shared.lock();
    match target {
        Target::Phone(id) => {
            let mut config = Map::new();
            if let Some(url) = state.overrides.get(target) {
                config.insert("phone_number".into(), json!(url));
            }
            let waba = state.phone_waba.get(id).cloned().map(Target::Waba);
            if let Some(url) = waba.and_then(|w| state.overrides.get(&w)) {
                config.insert("whatsapp_business_account".into(), json!(url));
            }
            config.insert("application".into(), json!(APP_CALLBACK));
            ok(json!({"webhook_configuration": config, "id": id}))
        }
        Target::Waba(id) if state.unsubscribed.contains(id) => ok(json!({"data": []})),
        Target::Waba(_) => {
            let mut app = json!({"whatsapp_business_api_data": {"id": "1234567890", "link": "https://www.facebook.com/games/?app_id=1234567890", "name": "Fake App"}});
            if let Some(url) = state.overrides.get(target) {
                app["override_callback_uri"] = json!(url);
            }
            ok(json!({"data": [app]}))
        }
    }
}

/// `url` with its scheme, host and port replaced by `base`'s.
fn route(url: &str, base: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{base}{}{}",
            u.path(),
            u.query().map(|q| format!("?{q}")).unwrap_or_default()
        ),
        Err(_) => url.to_string(),
    }
}

/// Meta's verification request: the callback must answer 200 with the challenge.
async fn handshake(http: &reqwest::Client, callback: &str, verify_token: &str) -> Result<(), String> {
    let mut url = reqwest::Url::parse(callback).map_err(|_| "the callback is not a URL".to_string())?;
    let random = u64::from_le_bytes(hookline::secrets::random_bytes::<8>());
    let challenge = (1_000_000_000 + random % 9_000_000_000).to_string();
    url.query_pairs_mut()
        .append_pair("hub.mode", "subscribe")
        .append_pair("hub.challenge", &challenge)
        .append_pair("hub.verify_token", verify_token);
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("the callback could not be reached: {}", e.without_url()))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    if status == 200 && body == challenge {
        Ok(())
    } else {
        Err(format!(
            "HTTP Status Code = {status}; the response did not match the challenge"
        ))
    }
}
