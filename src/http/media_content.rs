//! `GET /v1/api/media/{media_id}/content`: the bytes, streamed from the object store.
//!
//! Authorized with the API key like every media route (GET INN's unauthenticated alias fetch is
//! gone: platforms get bytes through the media library, not over HTTP). One `Range` (`bytes=a-b`,
//! `a-`, `-n`) answers 206 with `Content-Range`; a range that starts past the end answers 416
//! with `Content-Range: bytes */size`; several ranges in one request are answered with the whole
//! file (200), which RFC 9110 allows and spares a multipart/byteranges body. `If-Range` with
//! another ETag also gets the whole file.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::Auth;
use super::extract::ErrorEnvelope;
use super::media::load_media;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::media::sniff;

/// What a `Range` header asks of a file of a given size.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable single range: send everything.
    Full,
    /// Inclusive byte positions.
    Part {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// Parse one `Range` header value against a file of `size` bytes.
pub fn parse_range(value: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        // No header, or a unit other than bytes: ignored (RFC 9110 §14.2).
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (first.is_empty(), number(first), number(last)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Part {
                    start: size.saturating_sub(n),
                    end: size - 1,
                }
            }
        }
        (false, Some(start), end) if last.is_empty() || end.is_some() => {
            if let Some(end) = end
                && end < start
            {
                // Syntactically invalid: ignored.
                return RangeRequest::Full;
            }
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            let end = end.map_or(size - 1, |e| e.min(size - 1));
            RangeRequest::Part { start, end }
        }
        _ => RangeRequest::Full,
    }
}

#[utoipa::path(get, path = "/v1/api/media/{media_id}/content", tag = "media",
    responses((status = 200, description = "The whole file, as its stored `content_type` (sniffed from the bytes at upload, e.g. image/png)", content_type = "*/*"),
              (status = 206, description = "The requested range, with Content-Range, as the file's `content_type`", content_type = "*/*"),
              (status = 304, description = "If-None-Match matched the ETag"),
              (status = 404, description = "No such media, or its bytes were not stored", body = ErrorEnvelope),
              (status = 409, description = "MEDIA_PENDING: a user's file still being downloaded", body = ErrorEnvelope),
              (status = 416, description = "The range starts past the end", body = ErrorEnvelope)),
    security(("api_key" = [])))]
pub(super) async fn get_media_content(
    State(state): State<AppState>,
    auth: Auth,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let media = load_media(&state, &auth, &media_id).await?;
    if media.status == crate::store::STATUS_PENDING {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "MEDIA_PENDING",
            "the file is still being downloaded from the platform; try again shortly",
        ));
    }
    let (Some(key), Some(sha)) = (media.storage_key.as_deref(), media.sha256.as_deref()) else {
        return Err(ApiError::not_found("media content"));
    };
    let etag = format!("\"{sha}\"");
    let size = u64::try_from(media.size).unwrap_or(0);
    let header_str = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());

    let mut out = HeaderMap::new();
    insert(&mut out, header::ETAG, &etag);
    insert(&mut out, header::ACCEPT_RANGES, "bytes");
    insert(&mut out, header::CACHE_CONTROL, "private, max-age=3600");
    if header_str(header::IF_NONE_MATCH).is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    insert(&mut out, header::CONTENT_TYPE, &media.content_type);
    insert(
        &mut out,
        header::CONTENT_DISPOSITION,
        &sniff::content_disposition(&media.file_name),
    );
    // The bytes are whatever a user uploaded: never let a browser run them.
    insert(&mut out, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(&mut out, header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox");

    let if_range_ok = header_str(header::IF_RANGE).is_none_or(|v| v.trim() == etag);
    let range = if if_range_ok {
        parse_range(header_str(header::RANGE), size)
    } else {
        RangeRequest::Full
    };
    let (status, fetch) = match range {
        RangeRequest::Full => (StatusCode::OK, None),
        RangeRequest::Part { start, end } => {
            insert(&mut out, header::CONTENT_RANGE, &format!("bytes {start}-{end}/{size}"));
            (StatusCode::PARTIAL_CONTENT, Some(start..end + 1))
        }
        RangeRequest::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_NOT_SATISFIABLE",
                format!("the range is outside the file's {size} bytes"),
            )
            .into_response();
            insert(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            insert(response.headers_mut(), header::ACCEPT_RANGES, "bytes");
            return Ok(response);
        }
    };
    let length = fetch.as_ref().map_or(size, |r| r.end - r.start);
    insert(&mut out, header::CONTENT_LENGTH, &length.to_string());
    let body = if length == 0 {
        Body::empty()
    } else {
        let stream = state.media.blobs().stream(key, fetch).await.map_err(|e| match e {
            crate::media::BlobError::Store(object_store::Error::NotFound { .. }) => {
                ApiError::not_found("media content")
            }
            other => ApiError::internal(other),
        })?;
        Body::from_stream(stream)
    };
    Ok((status, out, body).into_response())
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::*;
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let p = |v: &str| parse_range(Some(v), 100);
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(p("bytes=0-9"), Part { start: 0, end: 9 });
        assert_eq!(p("bytes=90-"), Part { start: 90, end: 99 });
        assert_eq!(p("bytes=-10"), Part { start: 90, end: 99 });
        assert_eq!(p("bytes=-1000"), Part { start: 0, end: 99 });
        assert_eq!(p("bytes=50-1000"), Part { start: 50, end: 99 });
        assert_eq!(p("bytes=100-"), Unsatisfiable);
        assert_eq!(p("bytes=200-300"), Unsatisfiable);
        assert_eq!(p("bytes=-0"), Unsatisfiable);
        assert_eq!(p("bytes=0-1,5-6"), Full);
        assert_eq!(p("bytes=9-3"), Full);
        assert_eq!(p("bytes=abc"), Full);
        assert_eq!(p("bytes=-"), Full);
        assert_eq!(p("bytes=+1-2"), Full);
        assert_eq!(p("items=0-1"), Full);
        assert_eq!(p("bytes=99999999999999999999999-"), Full);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-5"), 0), Unsatisfiable);
    }
}
