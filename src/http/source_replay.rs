//! Replaying a source's requests through routing again: one at once, or a time range as a
//! background job whose progress is read at `/v1/api/webhooks/jobs/{job_id}`. Useful after
//! fixing a transform, adding an endpoint, or when routing failed.

use axum::extract::{Path, State};
use serde_json::json;
use sqlx::types::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::outbound_webhooks::Accepted;
use super::outbound_webhooks::jobs::{JobOut, RecoverIn};
use super::source_ingest::{IngestAck, ack};
use super::sources::load_source;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiOk, Envelope, ErrorEnvelope, parse_id};
use crate::model::ids::{EndpointId, SourceId, SourceRequestId};
use crate::sources::{IngestAnswer, Sources, ingest};
use crate::store::{JobRow, Store, new_id, now_ms, rfc3339};

/// Requests replayed per page of a range job.
const PAGE: i64 = 200;

#[utoipa::path(post, path = "/v1/api/sources/{source_id}/requests/{request_id}/replay", tag = "sources",
    responses((status = 200, description = "Routed again with the source's current settings, logged as a new request", body = inline(Envelope<IngestAck>)),
              (status = 404, description = "Not found", body = ErrorEnvelope),
              (status = 409, description = "The request was never verified", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn replay_source_request(
    State(state): State<AppState>,
    auth: Auth,
    Path((source_id, request_id)): Path<(String, String)>,
) -> ApiResult<ApiOk<IngestAck>> {
    let s = load_source(&state, &auth, &source_id).await?;
    let id: SourceRequestId = parse_id(&request_id, "request")?;
    let record = match state.store.get_ingest(id).await? {
        Some(r) if r.source_id == s.id => r,
        _ => return Err(ApiError::not_found("request")),
    };
    match ingest::replay(&state.sources, &record).await? {
        IngestAnswer::Unauthorized(why) => Err(ApiError::conflict(why)),
        answer => ack(answer).ok_or_else(|| ApiError::not_found("source")).map(ApiOk),
    }
}

#[utoipa::path(post, path = "/v1/api/sources/{source_id}/replay", tag = "sources", request_body = RecoverIn,
    responses((status = 202, description = "Job started; follow it at /v1/api/webhooks/jobs/{job_id}. It replays the verified requests of the range (not the provider's redeliveries, not earlier replays)", body = inline(Envelope<JobOut>)),
              (status = 400, description = "Invalid field", body = ErrorEnvelope), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn replay_source_range(
    State(state): State<AppState>,
    auth: Auth,
    Path(source_id): Path<String>,
    ApiJson(body): ApiJson<RecoverIn>,
) -> ApiResult<Accepted<JobOut>> {
    let s = load_source(&state, &auth, &source_id).await?;
    let now = now_ms();
    let (since, until) = body.range(now)?;
    let job = JobRow {
        id: new_id(),
        account_id: s.account_id,
        endpoint_id: EndpointId::from(uuid::Uuid::nil()),
        source_id: Some(s.id),
        kind: "source_replay".into(),
        status: "running".into(),
        params: Json(json!({ "since": rfc3339(since), "until": rfc3339(until) })),
        total: state.store.count_replayable_ingest(s.id, since, until).await?,
        done: 0,
        error: None,
        created_at: now,
        updated_at: now,
    };
    state.store.create_job(&job).await?;
    let (store, sources, shutdown) = (state.store.clone(), state.sources.clone(), state.shutdown.clone());
    let (job_id, total) = (job.id, job.total);
    state.tasks.spawn(async move {
        let result = replay_range(&store, &sources, &shutdown, job_id, s.id, (since, until), total).await;
        let (status, error) = match &result {
            Ok(_) => ("completed", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        let done = result.as_ref().map_or(0, |d| *d);
        if let Err(e) = store
            .update_job(job_id, status, total.max(done), done, error.as_deref())
            .await
        {
            tracing::error!(%job_id, error = %e, "cannot record a replay job's end");
        }
    });
    Ok(Accepted(job.into()))
}

/// Replay the range page by page, recording progress; answers how many were replayed. The
/// page cursor is the request id, so the new rows a replay writes (later ids, marked as
/// replays) are never taken again.
async fn replay_range(
    store: &Store,
    sources: &Sources,
    shutdown: &tokio_util::sync::CancellationToken,
    job_id: uuid::Uuid,
    source_id: SourceId,
    (since, until): (i64, i64),
    total: i64,
) -> anyhow::Result<i64> {
    let mut after = SourceRequestId::from(uuid::Uuid::nil());
    let mut done = 0i64;
    loop {
        let page = store.replayable_ingest(source_id, since, until, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for record in &page {
            ingest::replay(sources, record).await?;
            done += 1;
        }
        store.update_job(job_id, "running", total.max(done), done, None).await?;
        if shutdown.is_cancelled() {
            anyhow::bail!("stopped by a shutdown after {done} requests");
        }
    }
    Ok(done)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(replay_source_request))
        .routes(routes!(replay_source_range))
}
