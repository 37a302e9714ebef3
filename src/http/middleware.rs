//! Middleware that every request passes: tracing spans with the request id, metrics by route
//! and status, a deadline, an early 413 for declared oversized bodies, and a JSON 500 if a
//! handler ever panics.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::Level;

use crate::http::error::ApiError;

#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &Request<B>) -> tracing::Span {
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        // The path is logged without its query string: queries may carry cursors or filters but
        // never need to be in logs.
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
    }
}

pub fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// `http_requests_total` and `http_request_duration_seconds` by method, route template and status.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    response
}

/// A request still running after the deadline is answered 503 (the client may retry); its
/// handler future is dropped. Durable work already committed stays committed.
pub async fn timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            "request took too long; retry later",
        )
        .into_response(),
    }
}

/// Reject a body whose declared length is over the limit before reading any of it. Bodies
/// without a length are cut off by `DefaultBodyLimit` while being read.
pub async fn reject_large_bodies(limit: usize, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Routes that stream large uploads raise their own limit with `DefaultBodyLimit`, which
    // lands in the request extensions only after routing; this early check covers the rest.
    if let Some(length) = declared.filter(|n| *n > limit as u64)
        && !streams_large_bodies(req.uri().path())
    {
        drain(req.into_body(), length).await;
        return ApiError::payload_too_large(limit).into_response();
    }
    next.run(req).await
}

/// Read and discard a rejected body (bounded in size and time) before answering. A client that
/// sends its body without waiting for `100 Continue` would otherwise hit a connection reset
/// while still writing and never see the 413.
async fn drain(body: Body, declared: u64) {
    const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;
    const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);
    if declared > DRAIN_MAX_BYTES {
        return;
    }
    let mut stream = body.into_data_stream();
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
        use futures::StreamExt;
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

/// Routes that accept bodies above the JSON limit (media uploads) and enforce their own.
fn streams_large_bodies(path: &str) -> bool {
    path.ends_with("/media")
}

pub fn panic_response(_err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked; answered 500");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "internal server error",
    )
    .into_response()
}
