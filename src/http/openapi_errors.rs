//! The error answers of every operation in the OpenAPI document, derived from the operation's
//! shape (API key or not, path parameters, query, request body, method) after all routes are
//! merged. The causes are shared by every route — the auth extractor, the rate limiter, the
//! body and content-type checks, the timeout and readiness middleware, the store's conflicts —
//! so deriving them here means a new route cannot forget one. A route's own annotation wins:
//! a status it documents itself is left as it wrote it.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{Content, Header, OpenApi, Ref, RefOr, Response};

/// The `ErrorEnvelope` component every error answer uses.
const ENVELOPE: &str = "ErrorEnvelope";

/// Which shared causes apply to one operation.
#[derive(Clone, Copy)]
struct Shape {
    api_key: bool,
    path_params: bool,
    query_params: bool,
    body: bool,
    writes: bool,
}

impl Shape {
    fn of(method: &str, path: &str, op: &Operation) -> Shape {
        let has_param = |kind: ParameterIn| {
            op.parameters.iter().flatten().any(|p| match p {
                RefOr::T(p) => p.parameter_in == kind,
                RefOr::Ref(_) => false,
            })
        };
        Shape {
            api_key: op.security.as_ref().is_some_and(|s| !s.is_empty()),
            path_params: path.contains('{'),
            query_params: has_param(ParameterIn::Query),
            body: op.request_body.is_some(),
            writes: method != "get",
        }
    }

    /// `(status, description, retry_after)` for every cause that applies.
    fn statuses(self) -> Vec<(u16, &'static str, bool)> {
        let mut out = Vec::new();
        if self.body || self.query_params || self.path_params {
            out.push((400, "VALIDATION_ERROR: malformed JSON, a bad query parameter or a value that breaks a rule (`details.field`)", false));
        }
        if self.api_key {
            out.push((
                401,
                "UNAUTHORIZED: no `Authorization: Bearer <key>`, or an unknown or revoked key",
                false,
            ));
            out.push((403, "FORBIDDEN: the key's role or account may not do this", false));
        }
        if self.path_params {
            out.push((
                404,
                "NOT_FOUND: no such resource (also another account's, whose existence is not revealed)",
                false,
            ));
        }
        if self.api_key && self.writes {
            out.push((
                409,
                "CONFLICT: the resource already exists, or its state does not allow this",
                false,
            ));
        }
        if self.body {
            out.push((413, "PAYLOAD_TOO_LARGE: the body is over the configured limit", false));
            out.push((
                415,
                "UNSUPPORTED_MEDIA_TYPE: the body's content type is not one this route reads",
                false,
            ));
            out.push((
                422,
                "VALIDATION_ERROR: well-formed JSON with a wrong type, a missing or unknown field (`details.field`)",
                false,
            ));
        }
        if self.api_key {
            out.push((429, "RATE_LIMITED: over the key's budget for this route category, or too many failed authentications from this address; see `Retry-After`", true));
        }
        out.push((
            500,
            "INTERNAL_ERROR: a fault of hookline's; the detail is in its log, never in the answer",
            false,
        ));
        out.push((503, "TIMEOUT, NOT_READY or STORAGE_FULL: the request ran too long, the database is unreachable or full; see `Retry-After`", true));
        out
    }
}

fn error_response(description: &str, retry_after: bool) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(RefOr::Ref(Ref::from_schema_name(ENVELOPE)))),
    );
    if retry_after {
        response = response.header("Retry-After", Header::new(Object::with_type(Type::Integer)));
    }
    response.build()
}

/// Add the shared error answers to every operation of `openapi`.
pub fn document_errors(mut openapi: OpenApi) -> OpenApi {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let ops = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            for (status, description, retry_after) in Shape::of(method, path, op).statuses() {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(error_response(description, retry_after)));
            }
        }
    }
    openapi
}

#[cfg(test)]
#[path = "openapi_errors_tests.rs"]
mod tests;
