//! The inbound Telegram webhook, `POST /v1/api/webhooks/telegram/{bot_id}` (no API key:
//! Telegram authenticates with the secret token registered for the bot), plus the bot's own
//! webhook management (`/set`, `/status`, `/delete`).

use crate::model::ids::BotId;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{Auth, RateCategory};
use super::bots::load_bot;
use super::extract::{ApiOk, Envelope, ErrorEnvelope, body_bytes};
use crate::dialogs::ProcessError;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::platforms::WebhookStatus;
use crate::platforms::registration::{self, SetOptions, WebhookError};
use crate::secrets::Secret;
use crate::store::{now_ms, rfc3339};

const PLATFORM: &str = "telegram";
/// How often a copy of an update looks for the first copy's answer.
const ANSWER_POLL: Duration = Duration::from_millis(25);

/// The success answer's `data` (GET INN's shape, plus `duplicate`). Recorded with the update the first time it is answered: every
/// later or concurrent copy of the update gets the same answer, with `duplicate: true`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    pub update_id: i64,
    /// RFC 3339, UTC.
    pub processed_at: String,
    #[schema(value_type = Uuid)]
    pub bot_id: BotId,
    pub platform_chat_id: Option<String>,
    /// message.received, message.edited, callback.received, callback.stale, media.received,
    /// command.received, bot.blocked, bot.unblocked, update.ignored or update.unparsed.
    pub event_type: String,
    pub processing_time_ms: u64,
    /// Telegram accepted every reply to this update within the request.
    pub response_sent: bool,
    /// Present (true) when this update_id was already processed: the original answer, not run again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The address the request came from: the peer, or the client named by a trusted proxy.
pub(super) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return peer;
    }
    // Walk X-Forwarded-For from the right, skipping our own proxies.
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    forwarded
        .split(',')
        .rev()
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted.iter().any(|n| n.contains(ip)))
        .unwrap_or(peer)
}

/// Every failure reads as what it is: an unreachable or full database is 503 with Retry-After
/// (as on every route), a passing condition (the dialog contended, the writer shutting down) is
/// 422 `PROCESSING_FAILED`, anything else 500. Telegram redelivers any non-2xx, and the update
/// is still processed once.
fn processing_error(e: impl Into<ProcessError>) -> ApiError {
    ApiError::from(e.into())
}

#[utoipa::path(post, path = "/v1/api/webhooks/telegram/{bot_id}", tag = "platform-webhooks",
    request_body(description = "A Telegram Update object", content = Object),
    params(("X-Telegram-Bot-Api-Secret-Token" = String, Header, description = "The secret token hookline registered with Telegram")),
    responses(
        (status = 200, description = "Processed (or a repeated update_id: the original answer with `duplicate: true`)", body = inline(Envelope<WebhookAck>)),
        (status = 400, description = "INVALID_UPDATE_FORMAT", body = ErrorEnvelope),
        (status = 401, description = "INVALID_BOT_TOKEN: secret token missing or wrong", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: the sender is outside telegram_source_networks", body = ErrorEnvelope),
        (status = 404, description = "BOT_NOT_FOUND: unknown, deleted or inactive bot", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorEnvelope),
        (status = 422, description = "PROCESSING_FAILED: a retry can succeed", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED: over the bot's webhook budget; see Retry-After", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
        (status = 503, description = "NOT_READY or STORAGE_FULL: the database is unreachable or full; Telegram's redelivery is processed once", body = ErrorEnvelope)))]
async fn receive_update(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(bot_id): Path<String>,
    req: Request,
) -> ApiResult<ApiOk<WebhookAck>> {
    let started = Instant::now();
    let config = &state.config;
    if !config.telegram_source_networks.is_empty() {
        let ip = client_ip(peer.ip(), req.headers(), &config.trusted_proxies);
        if !config.telegram_source_networks.iter().any(|n| n.contains(&ip)) {
            return Err(ApiError::forbidden(
                "updates are accepted only from the configured source networks",
            ));
        }
    }
    let bot_id: BotId = bot_id.parse().map_err(|_| ApiError::bot_not_found())?;
    let bot = state
        .store
        .bot_for_webhook(bot_id, PLATFORM)
        .await
        .map_err(processing_error)?;
    let bot = bot
        .filter(|b| b.bot_active && b.credential_active)
        .ok_or_else(ApiError::bot_not_found)?;
    let telegram = state.runtime.platform(PLATFORM).map_err(processing_error)?.clone();
    let expected = bot
        .secret_token_sealed
        .as_deref()
        .and_then(|s| registration::open_secret(&state.cipher, PLATFORM, s));
    // Telegram's proof is a header: it is checked before the body is read.
    match expected {
        Some(expected) if telegram.verify(req.headers(), &[], &expected) => {}
        _ => return Err(ApiError::invalid_bot_token()),
    }
    state.rate_limits.check(RateCategory::Webhooks, bot_id.into_uuid())?;
    let body = super::extract::replace_nul_escapes(body_bytes(req, &state).await?);
    let items = telegram
        .parse(&body)
        .map_err(|e| ApiError::invalid_update(e.to_string()))?;
    // A Telegram body is one update.
    let Some(item) = items.into_iter().next() else {
        return Err(ApiError::invalid_update("the body holds no update"));
    };
    let processed = state
        .runtime
        .process_update(bot_id, bot.account_id, PLATFORM, item, body.to_vec())
        .await
        .map_err(processing_error)?;
    let result = processed.result;
    if processed.duplicate
        && let Some(original) = recorded_answer(&state, bot_id, result.update_id).await
    {
        metrics::counter!("telegram_updates_total", "event_type" => result.event_type.clone(), "duplicate" => "true")
            .increment(1);
        return Ok(ApiOk(WebhookAck {
            duplicate: true,
            ..original
        }));
    }
    let response_sent = if result.outbox.is_empty() {
        false
    } else if processed.duplicate {
        all_sent(&state, &result.outbox).await
    } else {
        // Send now, within the deadline; whatever is not accepted by then stays queued.
        let rt = state.runtime.clone();
        let chat = result.platform_chat_id.clone().unwrap_or_default();
        let (planned, in_order) = (processed.planned, processed.in_order);
        let (report, sending) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            rt.send_planned(bot_id, PLATFORM, &chat, planned, in_order, Some(report))
                .await
        });
        match tokio::time::timeout(config.telegram_reply_deadline, sending).await {
            Ok(Ok(sent)) => result.outbox.iter().all(|id| sent.contains(id)) || all_sent(&state, &result.outbox).await,
            _ => false,
        }
    };
    let elapsed = started.elapsed();
    metrics::counter!("telegram_updates_total", "event_type" => result.event_type.clone(), "duplicate" => processed.duplicate.to_string())
        .increment(1);
    metrics::histogram!("telegram_update_duration_seconds").record(elapsed.as_secs_f64());
    let ack = WebhookAck {
        update_id: result.update_id,
        processed_at: rfc3339(now_ms()),
        bot_id,
        platform_chat_id: result.platform_chat_id,
        event_type: result.event_type,
        processing_time_ms: elapsed.as_millis() as u64,
        response_sent,
        duplicate: false,
    };
    Ok(ApiOk(WebhookAck {
        duplicate: processed.duplicate,
        ..record_answer(&state, ack).await
    }))
}

/// How long a copy of an update waits for the first copy's answer to be recorded: the first
/// copy answers within the reply deadline, and a little more covers its commit.
fn answer_wait(state: &AppState) -> Duration {
    state.config.telegram_reply_deadline + Duration::from_secs(2)
}

/// The answer recorded for the update, waiting for it while the first copy is still sending
/// its replies. `None` when none came in time (the first copy's node died): the caller answers
/// and records its own.
async fn recorded_answer(state: &AppState, bot_id: BotId, update_id: i64) -> Option<WebhookAck> {
    let deadline = Instant::now() + answer_wait(state);
    loop {
        match state.store.inbox_answer(bot_id, PLATFORM, update_id).await {
            Ok(Some(text)) => return serde_json::from_str(&text).ok(),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%bot_id, error = %e, "cannot read an update's recorded answer");
                return None;
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(ANSWER_POLL).await;
    }
}

/// Record `ack` as the update's answer unless one is recorded already, and return the
/// recorded one. When recording fails the update is still processed: `ack` is returned.
async fn record_answer(state: &AppState, ack: WebhookAck) -> WebhookAck {
    let Ok(text) = serde_json::to_string(&ack) else {
        return ack;
    };
    match state
        .runtime
        .record_answer(ack.bot_id, PLATFORM, ack.update_id, text)
        .await
    {
        Ok(Some(recorded)) => serde_json::from_str(&recorded).unwrap_or(ack),
        Ok(None) => ack,
        Err(e) => {
            tracing::warn!(bot_id = %ack.bot_id, error = %e, "cannot record an update's answer");
            ack
        }
    }
}

async fn all_sent(state: &AppState, ids: &[Uuid]) -> bool {
    for id in ids {
        if !matches!(state.store.outbox_status(*id).await, Ok(Some(s)) if s == "sent") {
            return false;
        }
    }
    true
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SetWebhookIn {
    #[serde(default)]
    pub drop_pending_updates: bool,
    /// 1–256 characters of A-Z, a-z, 0-9, _ and -; a random one is generated when absent.
    pub secret_token: Option<String>,
    /// 1–100 (Telegram's range); default 40.
    pub max_connections: Option<u32>,
    /// Update kinds Telegram should send; default: the kinds hookline acts on.
    pub allowed_updates: Option<Vec<String>>,
}

/// Registering Telegram webhooks: the runtime's parts with the Telegram adapter.
pub(super) fn registrar(state: &AppState) -> ApiResult<registration::Registrar<'_>> {
    state
        .runtime
        .registrar(PLATFORM)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the Telegram adapter is not registered")))
}

fn webhook_error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::NoCredential(_) => ApiError::not_found("active Telegram credentials"),
        WebhookError::NoPublicUrl => ApiError::validation(e.to_string()),
        WebhookError::Platform(inner) if !inner.is_retryable() => ApiError::new(
            StatusCode::BAD_REQUEST,
            "TELEGRAM_ERROR",
            format!("Telegram API error: {inner}"),
        ),
        WebhookError::Platform(inner) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "TELEGRAM_UNAVAILABLE",
            format!("Telegram API error: {inner}"),
        ),
        WebhookError::Token => ApiError::internal(anyhow::anyhow!("{e}")),
        WebhookError::Store(s) => ApiError::from(s),
    }
}

#[utoipa::path(post, path = "/v1/api/webhooks/telegram/{bot_id}/set", tag = "platform-webhooks", request_body = SetWebhookIn,
    responses((status = 200, description = "Registered; Telegram's view of the webhook", body = inline(Envelope<WebhookStatus>)),
              (status = 400, description = "Invalid options, no public_url, or Telegram refused", body = ErrorEnvelope),
              (status = 404, description = "No such bot, or no active Telegram credentials", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn set_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<ApiOk<WebhookStatus>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let body: SetWebhookIn = if body.iter().all(u8::is_ascii_whitespace) {
        SetWebhookIn::default()
    } else {
        super::extract::parse_json(&body)?
    };
    if let Some(secret) = &body.secret_token
        && !registration::valid_secret_token(secret)
    {
        return Err(ApiError::field(
            "secret_token",
            "must be 1–256 characters of A-Z, a-z, 0-9, _ and -",
        ));
    }
    if body.max_connections.is_some_and(|n| !(1..=100).contains(&n)) {
        return Err(ApiError::field("max_connections", "must be between 1 and 100"));
    }
    let options = SetOptions {
        drop_pending_updates: body.drop_pending_updates,
        secret_token: body.secret_token.map(Secret::new),
        max_connections: body.max_connections,
        allowed_updates: body.allowed_updates,
    };
    Ok(ApiOk(
        registration::register(&registrar(&state)?, bot.id, options)
            .await
            .map_err(webhook_error)?,
    ))
}

#[utoipa::path(get, path = "/v1/api/webhooks/telegram/{bot_id}/status", tag = "platform-webhooks",
    responses((status = 200, description = "Telegram's getWebhookInfo", body = inline(Envelope<WebhookStatus>)),
              (status = 404, description = "No such bot, or no active Telegram credentials", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn webhook_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
) -> ApiResult<ApiOk<WebhookStatus>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    Ok(ApiOk(
        registration::status(&registrar(&state)?, bot.id)
            .await
            .map_err(webhook_error)?,
    ))
}

#[utoipa::path(post, path = "/v1/api/webhooks/telegram/{bot_id}/delete", tag = "platform-webhooks",
    responses((status = 200, description = "Removed at Telegram", body = inline(Envelope<Object>)),
              (status = 404, description = "No such bot, or no active Telegram credentials", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
) -> ApiResult<ApiOk<Value>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    registration::unregister(&registrar(&state)?, bot.id)
        .await
        .map_err(webhook_error)?;
    Ok(ApiOk(json!({ "deleted": true })))
}

pub fn router() -> OpenApiRouter<AppState> {
    let inbound = OpenApiRouter::new().routes(routes!(receive_update));
    let management = OpenApiRouter::new()
        .routes(routes!(set_webhook))
        .routes(routes!(webhook_status))
        .routes(routes!(delete_webhook));
    inbound.merge(management)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_address_is_used_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 149.154.167.1, 10.0.0.9".parse().unwrap());
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "149.154.167.1".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "8.8.8.8".parse().unwrap();
        assert_eq!(
            client_ip(stranger, &headers, &trusted),
            stranger,
            "an untrusted peer's header is ignored"
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
