//! The inbound WhatsApp webhook, `GET` and `POST /v1/api/webhooks/whatsapp/{bot_id}` (no API
//! key: Meta proves itself with the verify token in the handshake and the app secret's
//! signature on every body). One body may hold several messages for several chats and the
//! delivery receipts of the bot's own messages: each chat's messages are processed in body
//! order, chats side by side, every message exactly once by its `wamid`.

use crate::model::ids::BotId;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::RateCategory;
use super::extract::{ApiOk, Envelope, ErrorEnvelope, body_bytes};
use crate::dialogs::ProcessError;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::platforms::whatsapp::{self, Origin, Parsed, ReceiptStatus, StatusReceipt};
use crate::platforms::{Inbound, app_secret_purpose, registration};
use crate::store::{BotWithCredential, Receipt, ReceiptOutcome, now_ms, rfc3339};

const PLATFORM: &str = "whatsapp";
/// How stale "the last signed POST" may be: it is written at most this often per bot.
const SEEN_EVERY: Duration = Duration::from_secs(30);

/// What one message of the body became.
#[derive(Serialize, ToSchema)]
pub struct MessageAck {
    /// WhatsApp's id of the message (`wamid…`).
    pub message_id: String,
    /// The inbox key the message is processed once by.
    pub update_id: i64,
    /// The user's `wa_id`.
    pub platform_chat_id: Option<String>,
    /// message.received, callback.received, media.received, command.received, update.ignored or
    /// update.unparsed.
    pub event_type: String,
    /// Already processed (a redelivery): not run again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// What became of the body's delivery receipts.
#[derive(Serialize, ToSchema, Default)]
pub struct ReceiptsAck {
    /// Recorded on the bot's message (and published as an event where the status has one).
    pub recorded: usize,
    /// About messages hookline did not send for this bot.
    pub unknown: usize,
    /// Older than what was recorded already (receipts arrive out of order and repeated).
    pub stale: usize,
    /// Without a message id or recipient.
    pub unreadable: usize,
}

/// The success answer's `data`.
#[derive(Serialize, ToSchema)]
pub struct WhatsAppAck {
    #[schema(value_type = Uuid)]
    pub bot_id: BotId,
    /// RFC 3339, UTC.
    pub processed_at: String,
    pub processing_time_ms: u64,
    /// One per message, in body order.
    pub messages: Vec<MessageAck>,
    pub receipts: ReceiptsAck,
    /// Messages to another business number (a business-account-wide webhook): not processed.
    pub other_numbers: usize,
}

fn processing_error(e: impl Into<ProcessError>) -> ApiError {
    ApiError::from(e.into())
}

fn invalid_signature() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "INVALID_BOT_TOKEN",
        "X-Hub-Signature-256 is missing or is not the body's signature with the bot's app secret",
    )
}

async fn whatsapp_bot(state: &AppState, bot_id: &str) -> ApiResult<BotWithCredential> {
    let bot_id: BotId = bot_id.parse().map_err(|_| ApiError::bot_not_found())?;
    state
        .store
        .bot_for_webhook(bot_id, PLATFORM)
        .await
        .map_err(processing_error)?
        .filter(|b| b.bot_active && b.credential_active)
        .ok_or_else(ApiError::bot_not_found)
}

/// Whether to write "a signed POST was seen now" for the bot: at most every [`SEEN_EVERY`].
fn seen_due(bot_id: BotId) -> bool {
    static LAST: OnceLock<Mutex<HashMap<BotId, Instant>>> = OnceLock::new();
    let mut last = LAST
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if last.get(&bot_id).is_some_and(|at| at.elapsed() < SEEN_EVERY) {
        return false;
    }
    if last.len() >= 100_000 {
        last.clear();
    }
    last.insert(bot_id, Instant::now());
    true
}

#[utoipa::path(get, path = "/v1/api/webhooks/whatsapp/{bot_id}", tag = "platform-webhooks",
    params(("hub.mode" = String, Query, description = "`subscribe`"),
           ("hub.verify_token" = String, Query, description = "The verify token hookline made for the bot's WhatsApp credential"),
           ("hub.challenge" = String, Query, description = "Echoed back when the token matches")),
    responses((status = 200, description = "The challenge, as text/plain", content_type = "text/plain", body = String),
              (status = 403, description = "FORBIDDEN: wrong mode or verify token, or no such bot", body = ErrorEnvelope)))]
async fn whatsapp_handshake(
    State(state): State<AppState>,
    Path(bot_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let forbidden = || ApiError::forbidden("verification failed").into_response();
    let Ok(bot_id) = bot_id.parse::<BotId>() else {
        return forbidden();
    };
    let Ok(Some(credential)) = state.store.get_credential(bot_id, PLATFORM).await else {
        return forbidden();
    };
    let Some(expected) = credential
        .secret_token_sealed
        .as_deref()
        .and_then(|s| registration::open_secret(&state.cipher, PLATFORM, s))
    else {
        return forbidden();
    };
    let query = query.unwrap_or_default();
    let first = |key: &str| {
        form_urlencoded::parse(query.as_bytes())
            .take(32)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let (mode, token, challenge) = (first("hub.mode"), first("hub.verify_token"), first("hub.challenge"));
    match whatsapp::handshake(
        mode.as_deref(),
        token.as_deref(),
        challenge.as_deref(),
        expected.expose(),
    ) {
        Some(challenge) => {
            if let Err(e) = state.store.note_webhook_seen(bot_id, PLATFORM, true).await {
                tracing::warn!(%bot_id, error = %e, "cannot record Meta's handshake");
            }
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response()
        }
        None => forbidden(),
    }
}

#[utoipa::path(post, path = "/v1/api/webhooks/whatsapp/{bot_id}", tag = "platform-webhooks",
    request_body(description = "A WhatsApp Business Account webhook body", content = Object),
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body with the app secret>")),
    responses(
        (status = 200, description = "Processed: each message once (a redelivered one is marked `duplicate`), each receipt recorded", body = inline(Envelope<WhatsAppAck>)),
        (status = 400, description = "INVALID_UPDATE_FORMAT: not a WhatsApp Business Account body", body = ErrorEnvelope),
        (status = 401, description = "INVALID_BOT_TOKEN: signature missing or wrong", body = ErrorEnvelope),
        (status = 404, description = "BOT_NOT_FOUND: unknown, deleted or inactive bot", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorEnvelope),
        (status = 422, description = "PROCESSING_FAILED: a retry can succeed", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED: over the bot's webhook budget; see Retry-After", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
        (status = 503, description = "NOT_READY or STORAGE_FULL: the database is unreachable or full; Meta's redelivery is processed once", body = ErrorEnvelope)))]
async fn receive_whatsapp(
    State(state): State<AppState>,
    Path(bot_id): Path<String>,
    req: Request,
) -> ApiResult<ApiOk<WhatsAppAck>> {
    let started = Instant::now();
    let bot = whatsapp_bot(&state, &bot_id).await?;
    let bot_id = bot.bot_id;
    let app_secret = bot
        .app_secret_sealed
        .as_deref()
        .and_then(|s| state.cipher.open_string(app_secret_purpose(PLATFORM), s).ok())
        .ok_or_else(invalid_signature)?;
    let headers = req.headers().clone();
    let body = body_bytes(req, &state).await?;
    let whatsapp = state.runtime.platform(PLATFORM).map_err(processing_error)?.clone();
    if !whatsapp.verify(&headers, &body, &app_secret) {
        return Err(invalid_signature());
    }
    // Only signed bodies count against the bot's budget: others cannot spend it.
    state.rate_limits.check(RateCategory::Webhooks, bot_id.into_uuid())?;
    if seen_due(bot_id)
        && let Err(e) = state.store.note_webhook_seen(bot_id, PLATFORM, false).await
    {
        tracing::warn!(%bot_id, error = %e, "cannot record a signed WhatsApp body");
    }
    let parsed = whatsapp::parse(&body).map_err(|e| ApiError::invalid_update(e.to_string()))?;
    let number = serde_json::from_str::<serde_json::Value>(&bot.extra)
        .ok()
        .and_then(|v| v.get("phone_number_id").and_then(|n| n.as_str()).map(str::to_string));
    let (messages, other_numbers) = process_messages(&state, &bot, number.as_deref(), &parsed, &body).await?;
    let receipts = record_receipts(&state, bot_id, number.as_deref(), &parsed).await?;
    let elapsed = started.elapsed();
    metrics::counter!("whatsapp_messages_total").increment(messages.len() as u64);
    metrics::histogram!("whatsapp_webhook_duration_seconds").record(elapsed.as_secs_f64());
    Ok(ApiOk(WhatsAppAck {
        bot_id,
        processed_at: rfc3339(now_ms()),
        processing_time_ms: elapsed.as_millis() as u64,
        messages,
        receipts,
        other_numbers,
    }))
}

/// Whether an item addressed to `to` (the business number it arrived at) is this bot's.
fn for_this_number(bot_number: Option<&str>, to: Option<&str>) -> bool {
    match (bot_number, to) {
        (Some(mine), Some(to)) => mine == to,
        _ => true,
    }
}

/// One chat's messages of a body: (position in the body, the message, where it came from).
type ChatItems<'a> = Vec<(usize, &'a Inbound, &'a Origin)>;

/// Process the body's messages: each chat's in order, chats concurrently. The replies of a
/// message leave in the background (the outbox holds them durably); Meta only needs the 200.
async fn process_messages(
    state: &AppState,
    bot: &BotWithCredential,
    number: Option<&str>,
    parsed: &Parsed,
    body: &[u8],
) -> ApiResult<(Vec<MessageAck>, usize)> {
    let mut by_chat: Vec<(String, ChatItems<'_>)> = Vec::new();
    // Where each chat's list is in `by_chat`: a body of many chats stays linear.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut other_numbers = 0;
    for (i, (item, origin)) in parsed.items.iter().zip(&parsed.origins).enumerate() {
        if !for_this_number(number, origin.phone_number_id.as_deref()) {
            other_numbers += 1;
            continue;
        }
        let at = *index.entry(item.chat()).or_insert_with(|| {
            by_chat.push((item.chat().to_string(), Vec::new()));
            by_chat.len() - 1
        });
        by_chat[at].1.push((i, item, origin));
    }
    let single = parsed.items.len() == 1;
    let chats = by_chat.into_iter().map(|(chat, items)| async move {
        let mut acks = Vec::with_capacity(items.len());
        for (i, item, origin) in items {
            // A body of one message is kept as it came; a batch keeps each message's reading,
            // so that a large batch is not stored once per message.
            let kept = if single {
                body.to_vec()
            } else {
                serde_json::to_vec(item).unwrap_or_default()
            };
            let processed = state
                .runtime
                .process_update(bot.bot_id, bot.account_id, PLATFORM, item.clone(), kept)
                .await
                .map_err(processing_error)?;
            if !processed.duplicate && !processed.planned.is_empty() {
                let rt = state.runtime.clone();
                let (bot_id, chat) = (bot.bot_id, chat.clone());
                let (planned, in_order) = (processed.planned, processed.in_order);
                tokio::spawn(async move { rt.send_planned(bot_id, PLATFORM, &chat, planned, in_order, None).await });
            }
            acks.push((
                i,
                MessageAck {
                    message_id: origin.message_id.clone(),
                    update_id: processed.result.update_id,
                    platform_chat_id: processed.result.platform_chat_id,
                    event_type: processed.result.event_type,
                    duplicate: processed.duplicate,
                },
            ));
        }
        Ok::<_, ApiError>(acks)
    });
    let mut acks: Vec<(usize, MessageAck)> = Vec::new();
    for chat in futures::future::join_all(chats).await {
        acks.extend(chat?);
    }
    acks.sort_by_key(|(i, _)| *i);
    Ok((acks.into_iter().map(|(_, a)| a).collect(), other_numbers))
}

fn receipt_status(status: ReceiptStatus) -> Option<&'static str> {
    match status {
        ReceiptStatus::Sent => Some("sent"),
        ReceiptStatus::Delivered => Some("delivered"),
        ReceiptStatus::Read => Some("read"),
        ReceiptStatus::Failed => Some("failed"),
        ReceiptStatus::Other => None,
    }
}

fn receipt_error(s: &StatusReceipt) -> Option<serde_json::Value> {
    s.error_code
        .map(|code| serde_json::json!({"code": code, "title": s.error_title}))
}

/// Record the body's receipts of the bot's messages, in body order.
async fn record_receipts(
    state: &AppState,
    bot_id: BotId,
    number: Option<&str>,
    parsed: &Parsed,
) -> ApiResult<ReceiptsAck> {
    let mut ack = ReceiptsAck {
        unreadable: parsed.unreadable_statuses,
        ..Default::default()
    };
    for s in &parsed.statuses {
        let Some(status) = receipt_status(s.status).filter(|_| for_this_number(number, s.phone_number_id.as_deref()))
        else {
            ack.unknown += 1;
            continue;
        };
        let receipt = Receipt {
            message_id: &s.message_id,
            status,
            error: receipt_error(s),
            at_ms: s.timestamp.map(|t| t.saturating_mul(1000)),
        };
        match state
            .store
            .record_receipt(bot_id, PLATFORM, &receipt)
            .await
            .map_err(processing_error)?
        {
            ReceiptOutcome::Recorded { .. } => ack.recorded += 1,
            ReceiptOutcome::Stale => ack.stale += 1,
            ReceiptOutcome::Unknown => ack.unknown += 1,
        }
    }
    Ok(ack)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(whatsapp_handshake, receive_whatsapp))
        .merge(super::whatsapp_setup::router())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_for_another_number_are_not_this_bots() {
        assert!(for_this_number(Some("1"), Some("1")));
        assert!(!for_this_number(Some("1"), Some("2")));
        assert!(
            for_this_number(None, Some("2")),
            "a bot without a number takes everything"
        );
        assert!(for_this_number(Some("1"), None));
    }
}
