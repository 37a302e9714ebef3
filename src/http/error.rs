//! The one API error type. Every failure a request can meet becomes an [`ApiError`], which
//! renders the envelope `{"success": false, "error": {"code", "message", "details"?}}`.
//!
//! Codes are stable UPPER_SNAKE strings: GET INN's (`INVALID_UPDATE_FORMAT`, `INVALID_BOT_TOKEN`,
//! `BOT_NOT_FOUND`, `PROCESSING_FAILED`, `INTERNAL_ERROR`) and hookline's general ones.
//! Internal errors are logged with their cause and answered with a generic message: a 500 never
//! shows internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Boxed so that `Result<T, ApiError>` stays one pointer wide on the happy path.
#[derive(Debug)]
pub struct ApiError(Box<ErrorParts>);

#[derive(Debug)]
pub struct ErrorParts {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    retry_after_secs: Option<u64>,
    /// Kept for the log only; never rendered.
    source: Option<anyhow::Error>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorParts;
    fn deref(&self) -> &ErrorParts {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorParts {
        &mut self.0
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError(Box::new(ErrorParts {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            source: None,
        }))
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 400 VALIDATION_ERROR naming one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("{field}: {message}"),
        )
        .with_details(json!({ "field": field, "reason": message }))
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// 404 for a resource; `what` is a noun such as "account".
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("request body exceeds {limit} bytes"),
        )
        .with_details(json!({ "limit_bytes": limit }))
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many requests; retry later",
        );
        e.retry_after_secs = Some(retry_after_secs.max(1));
        e.details = Some(json!({ "retry_after_secs": retry_after_secs.max(1) }));
        e
    }

    pub fn bot_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BOT_NOT_FOUND",
            "bot does not exist or is inactive",
        )
    }

    pub fn invalid_update(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_UPDATE_FORMAT", message)
    }

    pub fn invalid_bot_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_BOT_TOKEN",
            "bot authentication failed",
        )
    }

    pub fn processing_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "PROCESSING_FAILED", message)
    }

    /// A failure the client cannot fix. The cause is logged, never sent.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal server error",
        );
        e.source = Some(source.into());
        e
    }

    /// 503 NOT_READY: the database cannot be reached now. Answered at once (not after the
    /// request timeout) with `Retry-After`; the cause is logged, never sent. A write answered
    /// so may have been stored: the client resends it as it was (publishes by `event_id`).
    pub fn unavailable(cause: String) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            "the database is unavailable; retry later",
        );
        e.retry_after_secs = Some(2);
        e.source = Some(anyhow::anyhow!(cause));
        e
    }

    pub fn is_internal(&self) -> bool {
        self.status.is_server_error()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = *self.0;
        if let Some(source) = &this.source {
            tracing::error!(error = format!("{source:#}"), code = this.code, "request failed");
        }
        let mut error = json!({ "code": this.code, "message": this.message });
        if let Some(details) = this.details {
            error["details"] = details;
        }
        let body = json!({ "success": false, "error": error });
        let mut response = (this.status, axum::Json(body)).into_response();
        if let Some(secs) = this.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// How long a client is asked to wait before retrying a write refused on a full disk.
const STORAGE_FULL_RETRY_SECS: u64 = 5;

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict(msg) => ApiError::conflict(msg),
            // Nothing was written; the same request succeeds once space returns.
            crate::store::StoreError::StorageFull(source) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "STORAGE_FULL",
                    "the database's storage is full; nothing was written, retry later",
                );
                e.retry_after_secs = Some(STORAGE_FULL_RETRY_SECS);
                e.source = Some(source.into());
                e
            }
            crate::store::StoreError::Unavailable(cause) => ApiError::unavailable(cause),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::delivery::PublishError> for ApiError {
    fn from(e: crate::delivery::PublishError) -> Self {
        use crate::delivery::PublishError;
        match e {
            PublishError::Invalid { field, message } => ApiError::field(&field, message),
            PublishError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::dialogs::ProcessError> for ApiError {
    fn from(e: crate::dialogs::ProcessError) -> Self {
        use crate::dialogs::ProcessError;
        match e {
            // The database unreachable or full reads as such, on every route.
            ProcessError::Store(
                e @ (crate::store::StoreError::Unavailable(_) | crate::store::StoreError::StorageFull(_)),
            ) => ApiError::from(e),
            e if e.is_retryable() => {
                tracing::warn!(error = %e, "processing failed; a retry can succeed");
                ApiError::processing_failed("the update could not be processed now; retry later")
            }
            e => ApiError::internal(e),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<crate::sources::IngestError> for ApiError {
    fn from(e: crate::sources::IngestError) -> Self {
        use crate::sources::IngestError;
        match e {
            IngestError::Store(e) => ApiError::from(e),
            IngestError::Publish(e) => ApiError::from(e),
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialogs::ProcessError;
    use crate::store::StoreError;

    #[test]
    fn processing_failures_read_as_what_they_are() {
        let status = |e: ProcessError| ApiError::from(e).status.as_u16();
        assert_eq!(status(StoreError::Unavailable("gone".into()).into()), 503);
        assert_eq!(status(ProcessError::Contention), 422);
        assert_eq!(status(ProcessError::WriterStopped), 422);
        // A store conflict inside processing is hookline's fault, not the client's 409.
        assert_eq!(status(StoreError::Conflict("x".into()).into()), 500);
        assert_eq!(status(ProcessError::Inconsistent("no answer")), 500);
    }
}
