//! Trying jq expressions: `POST /v1/api/jq/test` runs one on a sample input with the same
//! bounds a delivery has, so a filter or transform can be tried before it is saved. Also the
//! check every handler that saves an expression shares.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiOk, Envelope, ErrorEnvelope};
use crate::jq::{Program, RunError};

/// Outputs a test answers at most.
const MAX_TEST_OUTPUTS: usize = 100;

/// `src` compiled, or 422 `VALIDATION_ERROR` naming `field`, the line and the column.
pub fn compile_field(field: &str, src: &str) -> ApiResult<Program> {
    Program::compile(src).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            format!("{field}: {e}"),
        )
        .with_details(json!({ "field": field, "reason": e.message, "line": e.line, "column": e.column }))
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JqTestIn {
    /// A jq expression (at most 16 KiB and 64 levels of nesting).
    pub expression: String,
    /// The input, `.`. An endpoint's filter and transform get `{"id", "type", "timestamp",
    /// "data"}`: the delivered envelope with the event's id. Default null.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: Value,
}

#[derive(Serialize, ToSchema)]
pub struct JqTestOut {
    /// Every output, in order (at most 100); empty when `error` is set.
    #[schema(value_type = Vec<Object>)]
    pub outputs: Vec<Value>,
    pub error: Option<JqTestError>,
}

#[derive(Serialize, ToSchema)]
pub struct JqTestError {
    /// `failed` (the expression raised an error or ran out of memory or stack), `timeout`
    /// (it ran longer than `jq_timeout_ms`), `too_large` (its outputs passed
    /// `jq_max_output_bytes`).
    pub kind: String,
    pub message: String,
}

#[utoipa::path(post, path = "/v1/api/jq/test", tag = "jq", request_body = JqTestIn,
    responses((status = 200, description = "The outputs, or the error the expression met at run time", body = inline(Envelope<JqTestOut>)),
              (status = 422, description = "The expression does not compile: `details` has its line and column", body = ErrorEnvelope),
              (status = 503, description = "NOT_READY: every jq evaluator is busy or none can start; retry", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn test_jq(
    State(state): State<AppState>,
    _auth: Auth,
    ApiJson(body): ApiJson<JqTestIn>,
) -> ApiResult<ApiOk<JqTestOut>> {
    let program = compile_field("expression", &body.expression)?;
    let limits = state.jq.limits(MAX_TEST_OUTPUTS);
    let error = match state.jq.run(&program, &body.input, limits).await {
        Ok(outputs) => return Ok(ApiOk(JqTestOut { outputs, error: None })),
        Err(e @ (RunError::Busy | RunError::Unavailable)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NOT_READY",
                e.to_string(),
            ));
        }
        Err(e @ RunError::Crashed) => JqTestError {
            kind: "failed".into(),
            message: e.to_string(),
        },
        Err(e) => JqTestError {
            kind: e.kind().into(),
            message: e.to_string(),
        },
    };
    Ok(ApiOk(JqTestOut {
        outputs: Vec::new(),
        error: Some(error),
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(test_jq))
}
