//! Request extractors and response wrappers that speak the envelope.
//!
//! axum's own extractors answer bad input with plain-text bodies; these wrap them so that every
//! rejection is an [`ApiError`] naming the field: malformed JSON is 400, a well-formed body with
//! a wrong type, a missing field or an unknown enum value is 422, both `VALIDATION_ERROR`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::store::Page;

/// A JSON body. Accepts `application/json` (any `+json` too) or no content type.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "expected Content-Type: application/json",
                ));
            }
        }
        let bytes = body_bytes(req, state).await?;
        // serde accepts `["x"]` for a struct with one field; an API body is always an object.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | None => parse_json(&bytes).map(ApiJson),
            // Malformed JSON is reported as such (400) before its shape (422).
            Some(_) => Err(parse_json::<serde_json::Value>(&bytes).err().unwrap_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "VALIDATION_ERROR",
                    "expected a JSON object",
                )
                .with_details(json!({ "field": "", "reason": "expected a JSON object" }))
            })),
        }
    }
}

/// Buffer the body, mapping the size limit to 413 in the envelope.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "request body is too large",
            )
        } else {
            ApiError::validation(format!("could not read request body: {}", rejection.body_text()))
        }
    })
}

/// Deserialize JSON, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation("request body is empty; expected a JSON document"));
    }
    // A NUL can only be written `\u0000` in JSON (a raw one is malformed): look closer only then.
    if bytes.windows(6).any(|w| w == b"\\u0000")
        && let Ok(value) = serde_json::from_slice::<Value>(bytes)
    {
        refuse_nul(&value)?;
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::validation(format!("malformed JSON: {inner}"))
                .with_details(json!({ "line": inner.line(), "column": inner.column() })),
            serde_json::error::Category::Data => {
                let reason = strip_position(&inner.to_string());
                let field = if path == "." { String::new() } else { path };
                let message = if field.is_empty() {
                    reason.clone()
                } else {
                    format!("{field}: {reason}")
                };
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR", message)
                    .with_details(json!({ "field": field, "reason": reason }))
            }
        }
    })?;
    de.end()
        .map_err(|e| ApiError::validation(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Refuse a document with a NUL character in any string or key, naming where (a JSON pointer).
/// PostgreSQL cannot store NUL in text or JSONB and SQLite can: refusing it at the edge keeps
/// both backends answering alike. The walk is iterative, so the input's depth costs no stack.
pub fn refuse_nul(value: &Value) -> Result<(), ApiError> {
    match nul_at(value) {
        None => Ok(()),
        Some(pointer) => Err(
            ApiError::validation(format!("{pointer}: must not contain the NUL character (\\u0000)"))
                .with_details(json!({ "field": pointer, "reason": "must not contain the NUL character" })),
        ),
    }
}

/// The JSON pointer of the first string or key holding a NUL, if any.
fn nul_at(root: &Value) -> Option<String> {
    // Every visited value with its parent's index and its own segment: a pointer is rebuilt
    // only for the value that is refused, so the walk stays linear in the document's size.
    let mut nodes: Vec<(usize, String)> = vec![(usize::MAX, String::new())];
    let mut stack: Vec<(&Value, usize)> = vec![(root, 0)];
    while let Some((value, node)) = stack.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return Some(pointer(&nodes, node)),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    nodes.push((node, i.to_string()));
                    stack.push((item, nodes.len() - 1));
                }
            }
            Value::Object(members) => {
                for (key, item) in members {
                    let segment = key.replace('~', "~0").replace('/', "~1");
                    nodes.push((node, segment.replace('\0', "\u{FFFD}")));
                    if key.contains('\0') {
                        return Some(pointer(&nodes, nodes.len() - 1));
                    }
                    stack.push((item, nodes.len() - 1));
                }
            }
            _ => {}
        }
    }
    None
}

fn pointer(nodes: &[(usize, String)], mut node: usize) -> String {
    let mut segments = Vec::new();
    while node != 0 {
        let (parent, segment) = &nodes[node];
        segments.push(segment.as_str());
        node = *parent;
    }
    segments.iter().rev().fold(String::new(), |p, s| p + "/" + s)
}

/// A platform's inbound webhook body with every escaped NUL (`\\u0000`) turned into U+FFFD.
/// A platform redelivers whatever it is refused, so a NUL a user typed cannot be answered 400
/// as on the API; it is replaced, before anything parses or stores the body, so PostgreSQL
/// and SQLite keep the same text. Linear: one pass over the bytes, copied only when changed.
pub fn replace_nul_escapes(body: Bytes) -> Bytes {
    const NUL: &[u8] = b"u0000";
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            i += 1;
            continue;
        }
        // Backslashes appear only inside strings, each starting one escape: skip it whole.
        if body.get(i + 1..i + 6) == Some(NUL) {
            let out = out.get_or_insert_with(|| body.to_vec());
            out[i + 1..i + 6].copy_from_slice(b"ufffd");
            i += 6;
        } else {
            i += 2;
        }
    }
    out.map_or(body, Bytes::from)
}

/// Refuse a request whose path or query holds an escaped NUL (`%00`) before any handler takes
/// it as a name to look up or store (PostgreSQL refuses NUL even as a query parameter).
pub async fn refuse_nul_in_uri(req: Request, next: axum::middleware::Next) -> Response {
    let uri = req.uri();
    let field = if uri.path().contains("%00") {
        Some("path")
    } else if uri.query().is_some_and(|q| q.contains("%00")) {
        Some("query")
    } else {
        None
    };
    match field {
        Some(field) => ApiError::validation(format!("the {field} must not contain the NUL character (%00)"))
            .with_details(json!({ "field": field, "reason": "must not contain the NUL character" }))
            .into_response(),
        None => next.run(req).await,
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Query parameters, with rejections in the envelope.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let field = e.path().to_string();
            ApiError::field(&field, e.into_inner().to_string())
        })
    }
}

/// For PATCH-like bodies: a missing field is `None`, an explicit `null` is `Some(None)`.
/// Use with `#[serde(default, deserialize_with = "double_option")]`.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Parse an id from the path. A malformed id names nothing that can exist, so it is a 404 like
/// any other unknown id (callers pass the noun for the message). Typed (`EndpointId`, …) or a
/// plain `Uuid`, as the caller's use of it says.
pub fn parse_id<I: From<Uuid>>(raw: &str, what: &str) -> Result<I, ApiError> {
    Uuid::parse_str(raw).map(I::from).map_err(|_| ApiError::not_found(what))
}

/// `?limit=&cursor=` on every list.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1..=100, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::field("limit", "must be between 1 and 100"));
        }
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                Uuid::parse_str(c).map_err(|_| ApiError::field("cursor", "is not a cursor returned by this API"))?,
            ),
        };
        Ok(Page { limit, after })
    }
}

/// `200 {"success": true, "data": …}`
pub struct ApiOk<T>(pub T);

impl<T: Serialize> IntoResponse for ApiOk<T> {
    fn into_response(self) -> Response {
        (StatusCode::OK, axum::Json(json!({ "success": true, "data": self.0 }))).into_response()
    }
}

/// `201 {"success": true, "data": …}`
pub struct Created<T>(pub T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (
            StatusCode::CREATED,
            axum::Json(json!({ "success": true, "data": self.0 })),
        )
            .into_response()
    }
}

/// A page of a list: `{"success": true, "data": [...], "page": {"limit", "next_cursor"}}`.
pub struct ApiPage<T> {
    pub items: Vec<T>,
    pub limit: u32,
    pub next_cursor: Option<String>,
}

impl<T> ApiPage<T> {
    /// Build from rows fetched with `Page::fetch_limit` (one extra row means "more").
    pub fn from_rows<R, I: Into<Uuid>>(
        mut rows: Vec<R>,
        page: Page,
        id: impl Fn(&R) -> I,
        map: impl FnMut(R) -> T,
    ) -> Self {
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| id(r).into().to_string())
        } else {
            None
        };
        ApiPage {
            items: rows.into_iter().map(map).collect(),
            limit: page.limit,
            next_cursor,
        }
    }
}

impl<T: Serialize> IntoResponse for ApiPage<T> {
    fn into_response(self) -> Response {
        let body = json!({
            "success": true,
            "data": self.items,
            "page": { "limit": self.limit, "next_cursor": self.next_cursor },
        });
        (StatusCode::OK, axum::Json(body)).into_response()
    }
}

/// The envelope as documented in OpenAPI.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
}

/// The error envelope as documented in OpenAPI.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// Always false.
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable UPPER_SNAKE code, e.g. VALIDATION_ERROR, NOT_FOUND, BOT_NOT_FOUND.
    pub code: String,
    pub message: String,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        role: Option<crate::store::Role>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "VALIDATION_ERROR"));
        assert_eq!(e.details.as_ref().unwrap()["field"], "name");
        let e = parse_json::<Body>(br#"{"name": "x", "role": "root"}"#).unwrap_err();
        assert!(
            e.message.starts_with("role:") && e.message.contains("unknown variant"),
            "{}",
            e.message
        );
        let e = parse_json::<Body>(br#"{"name": "x""#).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let e = parse_json::<Body>(b"not json").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let e = parse_json::<Body>(b"").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let e = parse_json::<Body>(br#"{"name": "x"} trailing"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }

    #[test]
    fn a_nul_anywhere_is_refused_naming_its_pointer() {
        let field = |body: &[u8]| parse_json::<Value>(body).unwrap_err().details.clone().unwrap()["field"].clone();
        assert_eq!(field(br#"{"a": [1, {"b/c": "x\u0000"}]}"#), "/a/1/b~1c");
        assert_eq!(field(br#"{"k\u0000": 1}"#), "/k\u{FFFD}");
        assert_eq!(field(br#"["\u0000"]"#), "/0");
        // An escaped backslash before `u0000` is not a NUL.
        assert!(parse_json::<Value>(br#"{"a": "\\u0000"}"#).is_ok());
        // As deep as serde_json parses, walked without recursion.
        let deep = format!("{}\"\\u0000\"{}", "[".repeat(120), "]".repeat(120));
        assert_eq!(field(deep.as_bytes()), "/0".repeat(120));
        let e = parse_json::<Body>(br#"{"name": "a\u0000"}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "VALIDATION_ERROR"));
    }

    #[test]
    fn inbound_nul_escapes_become_replacement_characters_and_nothing_else_changes() {
        let body = Bytes::from_static(br#"{"t": "a\u0000b\\u0000c\"\u0000", "n": 1}"#);
        let fixed = replace_nul_escapes(body);
        let v: Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v, json!({"t": "a\u{FFFD}b\\u0000c\"\u{FFFD}", "n": 1}));
        let clean = Bytes::from_static(br#"{"t": "plain \\ text"}"#);
        assert_eq!(replace_nul_escapes(clean.clone()), clean);
    }

    #[test]
    fn page_query_validates() {
        assert!(
            PageQuery {
                limit: Some(0),
                cursor: None
            }
            .page()
            .is_err()
        );
        assert!(
            PageQuery {
                limit: Some(101),
                cursor: None
            }
            .page()
            .is_err()
        );
        assert!(
            PageQuery {
                limit: None,
                cursor: Some("zz".into())
            }
            .page()
            .is_err()
        );
        assert_eq!(PageQuery::default().page().unwrap().limit, 50);
    }
}
