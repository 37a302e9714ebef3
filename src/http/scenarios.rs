//! Scenarios: every create or upload is a new immutable version of the bot's
//! scenario; one version per bot is active; activating an old version rolls back.

use crate::model::ids::BotId;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::validate_name;
use super::auth::Auth;
use super::bots::load_bot;
use super::extract::{ApiJson, ApiOk, ApiQuery, Created, Envelope, ErrorEnvelope, body_bytes, parse_id};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::scenario::document::{self, DocumentError};
use crate::scenario::parts::unchecked_media_message;
use crate::scenario::{Problem, Scenario, Severity};
use crate::store::{Bot, NewScenario, ScenarioPatch, ScenarioRecord, rfc3339};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioIn {
    /// Accepted for GET INN compatibility; must equal the bot in the path.
    pub bot_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    /// Free-form label; defaults to the version number.
    pub version: Option<String>,
    /// The scenario document (format "1.0").
    #[schema(value_type = Object)]
    pub scenario_data: Value,
    /// Make this version the active one (default true).
    pub is_active: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ScenarioPatchIn {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub version: Option<String>,
    /// A new document: creates a new version (documents are immutable) and answers with it.
    #[schema(value_type = Option<Object>)]
    pub scenario_data: Option<Value>,
    /// true activates this version, false deactivates it.
    pub is_active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct ScenarioOut {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub bot_id: BotId,
    pub name: String,
    pub description: Option<String>,
    pub version: String,
    /// 1, 2, 3… in upload order.
    pub version_number: i32,
    #[schema(value_type = Object)]
    pub scenario_data: Value,
    pub is_active: bool,
    /// Validation warnings found at upload (errors are refused).
    #[schema(value_type = Vec<Object>)]
    pub warnings: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ScenarioRecord> for ScenarioOut {
    fn from(s: ScenarioRecord) -> Self {
        ScenarioOut {
            id: s.id,
            bot_id: s.bot_id,
            name: s.name,
            description: s.description,
            version: s.version,
            version_number: s.version_number,
            scenario_data: serde_json::from_str(&s.scenario_data).unwrap_or(Value::Null),
            is_active: s.is_active,
            warnings: serde_json::from_str(&s.warnings).unwrap_or_else(|_| json!([])),
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

/// Compile the document; errors become 400 VALIDATION_ERROR listing every problem.
fn check_document(doc: &Value) -> ApiResult<(Scenario, Vec<Problem>)> {
    match Scenario::compile(doc) {
        Ok(compiled) => Ok(compiled),
        Err(problems) => {
            let errors: Vec<&Problem> = problems.iter().filter(|p| p.severity == Severity::Error).collect();
            let first = errors.first().map(|p| p.to_string()).unwrap_or_default();
            Err(
                ApiError::validation(format!("scenario has {} error(s); first: {first}", errors.len()))
                    .with_details(json!({ "problems": problems })),
            )
        }
    }
}

/// Runs CPU work on a scenario document (parsing, compiling, serialising) on a blocking thread:
/// the limits keep it to milliseconds, but a tenant uploading large documents in a loop must not
/// hold the async workers that answer everyone else.
async fn off_workers<T: Send + 'static>(work: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

/// A document refused before compiling: 400 naming the document (`scenario_data`).
fn document_error(e: DocumentError) -> ApiError {
    ApiError::field("scenario_data", e.to_string())
}

/// Check the scenario's media against the bot's library: the compiler's "unchecked" warning is
/// dropped for references the library has, and says plainly that the others are missing. A
/// warning, not an error: media may be uploaded after the scenario. At send time a missing item
/// is passed to the platform as a file id as written; if refused, the text and buttons still go.
async fn check_media(
    state: &AppState,
    bot_id: BotId,
    scenario: &Scenario,
    warnings: &mut Vec<Problem>,
) -> ApiResult<()> {
    let refs = scenario.media_refs();
    if refs.is_empty() {
        return Ok(());
    }
    let aliases = state
        .media
        .existing_alias_names(bot_id)
        .await
        .map_err(ApiError::internal)?;
    for r in refs {
        let known = aliases.contains(&r)
            || (Uuid::parse_str(&r).is_ok()
                && state
                    .media
                    .resolve(bot_id, &r)
                    .await
                    .map_err(ApiError::internal)?
                    .is_some());
        let unchecked = unchecked_media_message(&r);
        if known {
            warnings.retain(|p| p.message != unchecked);
        } else {
            for p in warnings.iter_mut().filter(|p| p.message == unchecked) {
                p.message = format!(
                    "'{r}' is not in the bot's media library yet: upload it and give it this alias, or it is sent to the platform as a file id as written"
                );
            }
        }
    }
    Ok(())
}

async fn store_version(
    state: &AppState,
    bot: &Bot,
    doc: Value,
    name: &str,
    description: Option<&str>,
    version: Option<&str>,
    activate: bool,
) -> ApiResult<ScenarioRecord> {
    if let Some(v) = version
        && (v.is_empty() || v.chars().count() > 100)
    {
        return Err(ApiError::field("version", "must be 1–100 characters"));
    }
    let (scenario, mut warnings, data) = off_workers(move || {
        let (scenario, warnings) = check_document(&doc)?;
        let data = serde_json::to_string(&doc).map_err(ApiError::internal)?;
        Ok((scenario, warnings, data))
    })
    .await?;
    check_media(state, bot.id, &scenario, &mut warnings).await?;
    if state.store.get_credential(bot.id, "whatsapp").await?.is_some() {
        warnings.extend(crate::platforms::whatsapp::degrade::warnings(&scenario));
    }
    let warnings = serde_json::to_string(&warnings).map_err(ApiError::internal)?;
    let record = state
        .store
        .create_scenario(NewScenario {
            bot_id: bot.id,
            name,
            description,
            version,
            data: &data,
            warnings: &warnings,
            activate,
        })
        .await?;
    Ok(record)
}

#[utoipa::path(post, path = "/v1/api/bots/{bot_id}/scenarios", tag = "scenarios", request_body = ScenarioIn,
    responses((status = 201, description = "A new version", body = inline(Envelope<ScenarioOut>)),
              (status = 400, description = "Invalid scenario: `details.problems` lists {step, field, message}", body = ErrorEnvelope),
              (status = 404, description = "No such bot", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn create_scenario(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    ApiJson(body): ApiJson<ScenarioIn>,
) -> ApiResult<Created<ScenarioOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    if body.bot_id.is_some_and(|id| id != bot.id.into_uuid()) {
        return Err(ApiError::field("bot_id", "must match the bot id in the path"));
    }
    let name = validate_name("name", &body.name)?;
    let record = store_version(
        &state,
        &bot,
        body.scenario_data,
        &name,
        body.description.as_deref(),
        body.version.as_deref(),
        body.is_active.unwrap_or(true),
    )
    .await?;
    Ok(Created(record.into()))
}

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Name of the new version (default: the document's `name`).
    pub name: Option<String>,
    /// Make it the active version (default true).
    pub activate: Option<bool>,
}

/// Read the uploaded document: a JSON document, `{"file_content": "<JSON text>"}` (GET INN), a
/// YAML document (`application/yaml`), or a multipart form with a `file` part.
async fn read_upload(req: Request, state: &AppState) -> ApiResult<Value> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|e| ApiError::validation(format!("invalid multipart body: {}", e.body_text())))?;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::validation(format!("invalid multipart body: {}", e.body_text())))?
        {
            if field.name() == Some("file") {
                let file_name = field.file_name().unwrap_or_default().to_ascii_lowercase();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::validation(format!("cannot read `file`: {}", e.body_text())))?;
                let yaml = file_name.ends_with(".yaml") || file_name.ends_with(".yml");
                return off_workers(move || parse_document(&bytes, yaml)).await;
            }
        }
        return Err(ApiError::field("file", "the multipart form has no `file` part"));
    }
    let yaml = content_type.contains("yaml");
    let bytes = body_bytes(req, state).await?;
    off_workers(move || {
        let doc = parse_document(&bytes, yaml)?;
        // GET INN's upload body wraps the document as a string.
        match doc.get("file_content") {
            Some(Value::String(text)) if doc.get("steps").is_none() => parse_document(text.as_bytes(), false),
            Some(_) if doc.get("steps").is_none() => {
                Err(ApiError::field("file_content", "must be the scenario as a JSON string"))
            }
            _ => Ok(doc),
        }
    })
    .await
}

/// Parses an uploaded document's bytes (bounded in size and, for YAML, in nesting first).
fn parse_document(bytes: &[u8], yaml: bool) -> ApiResult<Value> {
    let doc = if yaml {
        document::from_yaml_bytes(bytes)
    } else {
        document::from_json_bytes(bytes)
    }
    .map_err(document_error)?;
    // PostgreSQL cannot store a NUL character: refused alike on both backends.
    super::extract::refuse_nul(&doc)?;
    Ok(doc)
}

#[utoipa::path(post, path = "/v1/api/bots/{bot_id}/scenarios/upload", tag = "scenarios", params(UploadQuery),
    request_body(description = "The scenario document as JSON, YAML (`application/yaml`), `{\"file_content\": \"…\"}`, or multipart with a `file` part", content_type = "application/json", content = Object),
    responses((status = 201, description = "A new version", body = inline(Envelope<ScenarioOut>)),
              (status = 400, description = "Invalid document", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn upload_scenario(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    req: Request,
) -> ApiResult<Created<ScenarioOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let doc = read_upload(req, &state).await?;
    let name = match q.name.as_deref().or_else(|| doc.get("name").and_then(Value::as_str)) {
        Some(n) if !n.trim().is_empty() => validate_name("name", n)?,
        _ => "Uploaded scenario".to_string(),
    };
    let version = doc.get("version").and_then(Value::as_str).map(str::to_string);
    let description = doc.get("description").and_then(Value::as_str).map(str::to_string);
    let record = store_version(
        &state,
        &bot,
        doc,
        &name,
        description.as_deref(),
        version.as_deref(),
        q.activate.unwrap_or(true),
    )
    .await?;
    Ok(Created(record.into()))
}

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the active version.
    pub active_only: Option<bool>,
    /// 1..=100, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/api/bots/{bot_id}/scenarios", tag = "scenarios", params(ListQuery),
    responses((status = 200, description = "Versions, newest first", body = inline(Envelope<Vec<ScenarioOut>>))),
    security(("api_key" = [])))]
async fn list_scenarios(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<super::extract::ApiPage<ScenarioOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let page = super::extract::PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let rows = state
        .store
        .list_scenarios(bot.id, q.active_only.unwrap_or(false), page.after, page.fetch_limit())
        .await?;
    Ok(super::extract::ApiPage::from_rows(
        rows,
        page,
        |s| s.id,
        ScenarioOut::from,
    ))
}

/// A version the caller may see (404 otherwise).
async fn load_scenario(state: &AppState, auth: &Auth, raw_id: &str) -> ApiResult<ScenarioRecord> {
    let id = parse_id(raw_id, "scenario")?;
    let scenario = state
        .store
        .get_scenario(id)
        .await?
        .ok_or_else(|| ApiError::not_found("scenario"))?;
    let owner = state
        .store
        .get_bot(scenario.bot_id)
        .await?
        .ok_or_else(|| ApiError::not_found("scenario"))?;
    if !auth.can_access(owner.account_id) {
        return Err(ApiError::not_found("scenario"));
    }
    Ok(scenario)
}

#[utoipa::path(get, path = "/v1/api/scenarios/{scenario_id}", tag = "scenarios",
    responses((status = 200, description = "OK", body = inline(Envelope<ScenarioOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_scenario(
    State(state): State<AppState>,
    auth: Auth,
    Path(scenario_id): Path<String>,
) -> ApiResult<ApiOk<ScenarioOut>> {
    Ok(ApiOk(load_scenario(&state, &auth, &scenario_id).await?.into()))
}

#[utoipa::path(put, path = "/v1/api/scenarios/{scenario_id}", tag = "scenarios", request_body = ScenarioPatchIn,
    responses((status = 200, description = "The updated version, or the new version when `scenario_data` was given", body = inline(Envelope<ScenarioOut>)),
              (status = 400, description = "Invalid input", body = ErrorEnvelope),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn update_scenario(
    State(state): State<AppState>,
    auth: Auth,
    Path(scenario_id): Path<String>,
    ApiJson(body): ApiJson<ScenarioPatchIn>,
) -> ApiResult<ApiOk<ScenarioOut>> {
    let current = load_scenario(&state, &auth, &scenario_id).await?;
    let name = body.name.as_deref().map(|n| validate_name("name", n)).transpose()?;
    if let Some(doc) = body.scenario_data {
        // Documents are immutable: a new document is a new version carrying the labels.
        let bot = state
            .store
            .get_bot(current.bot_id)
            .await?
            .ok_or_else(|| ApiError::not_found("scenario"))?;
        let description = match &body.description {
            Some(d) => d.clone(),
            None => current.description.clone(),
        };
        let activate = body.is_active.unwrap_or(current.is_active);
        let record = store_version(
            &state,
            &bot,
            doc,
            name.as_deref().unwrap_or(&current.name),
            description.as_deref(),
            body.version.as_deref(),
            activate,
        )
        .await?;
        return Ok(ApiOk(record.into()));
    }
    if let Some(v) = &body.version
        && (v.is_empty() || v.chars().count() > 100)
    {
        return Err(ApiError::field("version", "must be 1–100 characters"));
    }
    let patch = ScenarioPatch {
        name,
        description: body.description,
        version: body.version,
    };
    let mut record = state
        .store
        .update_scenario_meta(current.id, patch)
        .await?
        .ok_or_else(|| ApiError::not_found("scenario"))?;
    if let Some(active) = body.is_active
        && active != record.is_active
    {
        record = state
            .store
            .set_scenario_active(record.id, active)
            .await?
            .ok_or_else(|| ApiError::not_found("scenario"))?;
    }
    Ok(ApiOk(record.into()))
}

#[utoipa::path(post, path = "/v1/api/scenarios/{scenario_id}/activate", tag = "scenarios",
    responses((status = 200, description = "Now the bot's active version", body = inline(Envelope<ScenarioOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn activate_scenario(
    State(state): State<AppState>,
    auth: Auth,
    Path(scenario_id): Path<String>,
) -> ApiResult<ApiOk<ScenarioOut>> {
    let current = load_scenario(&state, &auth, &scenario_id).await?;
    let record = state
        .store
        .set_scenario_active(current.id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("scenario"))?;
    Ok(ApiOk(record.into()))
}

#[utoipa::path(delete, path = "/v1/api/scenarios/{scenario_id}", tag = "scenarios",
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "Not found", body = ErrorEnvelope),
              (status = 409, description = "`CONFLICT`: the version is the bot's active one; activate another version or deactivate it first", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_scenario(
    State(state): State<AppState>,
    auth: Auth,
    Path(scenario_id): Path<String>,
) -> ApiResult<StatusCode> {
    let current = load_scenario(&state, &auth, &scenario_id).await?;
    // Deleting the active version would leave the bot silently answering nothing.
    if current.is_active {
        return Err(ApiError::conflict(
            "this is the bot's active scenario: activate another version, or deactivate this one (PUT with is_active false), before deleting it",
        ));
    }
    state.store.delete_scenario(current.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_scenario, list_scenarios))
        .routes(routes!(upload_scenario))
        .routes(routes!(get_scenario, update_scenario, delete_scenario))
        .routes(routes!(activate_scenario))
}
