//! A source's ingest URL, `POST /v1/api/sources/{source_id}/ingest` (and `GET` for the
//! handshakes some providers make). No API key: the source's preset verifies the request.
//! Answered 200 only once the request (and the event it became) is committed.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiOk, Envelope, ErrorEnvelope, body_bytes};
use super::telegram::client_ip;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::model::ids::{EventId, SourceId, SourceRequestId};
use crate::sources::ingest::ingest;
use crate::sources::{Incoming, IngestAnswer};

#[derive(Serialize, ToSchema)]
pub struct IngestAck {
    /// The request's row in the ingest log.
    #[schema(value_type = Uuid)]
    pub request_id: SourceRequestId,
    /// routed (published as an event), duplicate (seen before; not routed again), filtered
    /// (the source's filter dropped it) or failed (verified and logged, but it could not be
    /// shaped into an event: see the log's `detail`).
    pub outcome: String,
    #[schema(value_type = Option<Uuid>)]
    pub event_id: Option<EventId>,
    pub event_type: Option<String>,
}

#[utoipa::path(post, path = "/v1/api/sources/{source_id}/ingest", tag = "sources",
    request_body(content = String, description = "The provider's webhook, any content type", content_type = "*/*"),
    responses((status = 200, description = "Logged and routed (or a preset's challenge answer)", body = inline(Envelope<IngestAck>)),
        (status = 401, description = "Verification failed", body = ErrorEnvelope),
        (status = 403, description = "The address is not on the source's allow-list", body = ErrorEnvelope),
        (status = 404, description = "No such source, or it is disabled", body = ErrorEnvelope),
        (status = 413, description = "Over the source's body limit", body = ErrorEnvelope),
        (status = 429, description = "Over the source's rate limit; see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "The database is unreachable or full; nothing was acknowledged", body = ErrorEnvelope)))]
async fn ingest_source_request(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    path: Path<String>,
    req: Request,
) -> ApiResult<Response> {
    receive(state, peer, path, req).await
}

#[utoipa::path(get, path = "/v1/api/sources/{source_id}/ingest", tag = "sources",
    responses((status = 200, description = "A handshake's challenge, as text/plain", content_type = "text/plain", body = String),
        (status = 403, description = "Wrong verify token, or an address not on the allow-list", body = ErrorEnvelope),
        (status = 404, description = "No such source, or no handshake for its preset", body = ErrorEnvelope)))]
async fn source_handshake(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    path: Path<String>,
    req: Request,
) -> ApiResult<Response> {
    receive(state, peer, path, req).await
}

async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(source_id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let source_id: SourceId = source_id.parse().map_err(|_| ApiError::not_found("source"))?;
    let remote = client_ip(peer.ip(), req.headers(), &state.config.trusted_proxies);
    let (method, headers, query) = (
        req.method().clone(),
        req.headers().clone(),
        req.uri().query().map(str::to_string),
    );
    let body = body_bytes(req, &state).await?;
    let incoming = Incoming {
        source_id,
        method,
        headers,
        query,
        body,
        remote,
    };
    let answer = ingest(&state.sources, incoming).await?;
    Ok(match answer {
        IngestAnswer::Accepted { .. } => ApiOk(ack(answer)).into_response(),
        IngestAnswer::Challenge(c) => {
            let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::OK);
            let ct = HeaderValue::from_static(c.content_type);
            (status, [(header::CONTENT_TYPE, ct)], c.body).into_response()
        }
        IngestAnswer::NotFound => return Err(ApiError::not_found("source")),
        IngestAnswer::Forbidden => {
            return Err(ApiError::forbidden("this address may not post to this source"));
        }
        IngestAnswer::Unauthorized(reason) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_SIGNATURE",
                format!("the request failed verification ({reason})"),
            ));
        }
        IngestAnswer::TooLarge(limit) => return Err(ApiError::payload_too_large(limit)),
        IngestAnswer::RateLimited(wait) => {
            return Err(ApiError::rate_limited(wait.as_secs_f64().ceil() as u64));
        }
    })
}

/// The acknowledgement of an accepted request (`None` for any other answer).
pub(super) fn ack(answer: IngestAnswer) -> Option<IngestAck> {
    match answer {
        IngestAnswer::Accepted {
            request_id,
            outcome,
            event_id,
            event_type,
        } => Some(IngestAck {
            request_id,
            outcome: outcome.as_str().to_string(),
            event_id,
            event_type,
        }),
        _ => None,
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest_source_request, source_handshake))
}
