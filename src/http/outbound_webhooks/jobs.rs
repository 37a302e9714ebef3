//! Testing and recovery tools of an endpoint: send an example now, replay everything that failed
//! in a time range as a background job (with progress), and delivery statistics.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::types::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Accepted, load_endpoint, parse_time};
use crate::delivery::catalogue::platform_type;
use crate::delivery::shape::{Shaped, shape};
use crate::delivery::worker::{EndpointRt, signed_headers};
use crate::delivery::{filter, sender};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiOk, Envelope, ErrorEnvelope, parse_id};
use crate::model::ids::{EndpointId, EventId, SourceId};
use crate::store::{EventBody, JobRow, new_id, now_ms, rfc3339};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestIn {
    /// A platform type sends its documented example; any other valid name sends `{"test": true}`.
    pub event_type: String,
}

#[derive(Serialize, ToSchema)]
pub struct TestOut {
    pub succeeded: bool,
    pub response_status: Option<u16>,
    pub response_body: String,
    pub latency_ms: i64,
    /// Besides the classes of the attempt log: `filtered` (the endpoint's filter declined the
    /// event; nothing was sent).
    pub error_class: Option<String>,
    pub error_message: Option<String>,
}

impl TestOut {
    /// Nothing was sent, for this reason.
    fn not_sent(class: &str, message: String) -> TestOut {
        TestOut {
            succeeded: false,
            response_status: None,
            response_body: String::new(),
            latency_ms: 0,
            error_class: Some(class.to_string()),
            error_message: Some(message),
        }
    }
}

#[utoipa::path(post, path = "/v1/api/webhooks/endpoints/{endpoint_id}/test", tag = "outbound-webhooks", request_body = TestIn,
    responses((status = 200, description = "The attempt's result (nothing is stored or retried)", body = inline(Envelope<TestOut>)),
              (status = 400, description = "Invalid field", body = ErrorEnvelope), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn test_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<TestIn>,
) -> ApiResult<ApiOk<TestOut>> {
    let row = load_endpoint(&state, &auth, &endpoint_id).await?;
    if !filter::valid_type_name(&body.event_type) {
        return Err(ApiError::field("event_type", "is not a valid event type name"));
    }
    let now = now_ms();
    let endpoint = EndpointRt::from_row(&state.outbound, &row, now).map_err(ApiError::internal)?;
    let payload = platform_type(&body.event_type)
        .map(|t| (t.example)())
        .unwrap_or_else(|| json!({ "test": true }));
    let event = EventBody {
        id: EventId::new(),
        event_id: format!("test_{}", new_id().simple()),
        event_type: body.event_type,
        payload: Some(payload.to_string()),
        created_at: now,
    };
    // What the endpoint would get: its filter and transform apply to a test too.
    let (text, added) = match shape(&state.jq, &endpoint, &event).await {
        Shaped::Send { body, headers } => (body, headers),
        Shaped::Filtered(note) => return Ok(ApiOk(TestOut::not_sent("filtered", note))),
        Shaped::Failed(f) => return Ok(ApiOk(TestOut::not_sent(f.class, f.message))),
    };
    let headers = signed_headers(&endpoint, &event, &text, added, now);
    let answer = sender::send(
        state.delivery.client(),
        state.delivery.guard(),
        sender::Request {
            url: &endpoint.url,
            headers,
            body: text,
            timeout: endpoint.timeout,
        },
        now,
    )
    .await;
    Ok(ApiOk(TestOut {
        succeeded: answer.succeeded,
        response_status: answer.status,
        response_body: answer.body,
        latency_ms: answer.latency_ms,
        error_class: answer.error_class.map(str::to_string),
        error_message: answer.error_message,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverIn {
    /// RFC 3339: the range's start — deliveries that failed (recover), or requests received
    /// (a source's replay), at or after this time…
    pub since: String,
    /// …and before this one (default: now).
    #[serde(default)]
    pub until: Option<String>,
}

impl RecoverIn {
    /// The range in ms, `until` defaulting to just after `now`; refused when empty.
    pub fn range(&self, now: i64) -> ApiResult<(i64, i64)> {
        let since = parse_time("since", Some(&self.since))?.ok_or_else(|| ApiError::field("since", "is required"))?;
        let until = parse_time("until", self.until.as_deref())?.unwrap_or(now + 1);
        if until <= since {
            return Err(ApiError::field("until", "must be after since"));
        }
        Ok((since, until))
    }
}

#[derive(Serialize, ToSchema)]
pub struct JobOut {
    pub id: Uuid,
    /// The endpoint a `recover` job requeues deliveries of.
    #[schema(value_type = Option<Uuid>)]
    pub endpoint_id: Option<EndpointId>,
    /// The source a `source_replay` job routes requests of again.
    #[schema(value_type = Option<Uuid>)]
    pub source_id: Option<SourceId>,
    /// recover or source_replay.
    pub kind: String,
    /// running, completed or failed.
    pub status: String,
    #[schema(value_type = Object)]
    pub params: Value,
    pub total: i64,
    pub done: i64,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<JobRow> for JobOut {
    fn from(j: JobRow) -> Self {
        JobOut {
            id: j.id,
            endpoint_id: Some(j.endpoint_id).filter(|e| !e.into_uuid().is_nil()),
            source_id: j.source_id,
            kind: j.kind,
            status: j.status,
            params: j.params.0,
            total: j.total,
            done: j.done,
            error: j.error,
            created_at: rfc3339(j.created_at),
            updated_at: rfc3339(j.updated_at),
        }
    }
}

#[utoipa::path(post, path = "/v1/api/webhooks/endpoints/{endpoint_id}/recover", tag = "outbound-webhooks", request_body = RecoverIn,
    responses((status = 202, description = "Job started; follow it at /v1/api/webhooks/jobs/{job_id}", body = inline(Envelope<JobOut>)),
              (status = 400, description = "Invalid field", body = ErrorEnvelope), (status = 404, description = "Not found", body = ErrorEnvelope),
              (status = 409, description = "The endpoint is disabled", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn recover_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<RecoverIn>,
) -> ApiResult<Accepted<JobOut>> {
    let e = load_endpoint(&state, &auth, &endpoint_id).await?;
    if !e.enabled {
        return Err(ApiError::conflict("the endpoint is disabled; enable it first"));
    }
    let now = now_ms();
    let (since, until) = body.range(now)?;
    let job = JobRow {
        id: new_id(),
        account_id: e.account_id,
        endpoint_id: e.id,
        source_id: None,
        kind: "recover".into(),
        status: "running".into(),
        params: Json(json!({ "since": rfc3339(since), "until": rfc3339(until) })),
        total: state.store.count_failed(e.id, since, until).await?,
        done: 0,
        error: None,
        created_at: now,
        updated_at: now,
    };
    state.store.create_job(&job).await?;
    let s = state.clone();
    let (job_id, endpoint, total) = (job.id, e.id, job.total);
    state.tasks.spawn(async move {
        let mut done = 0i64;
        let result: anyhow::Result<()> = async {
            loop {
                // Requeued rows leave the `failed` set, so each chunk takes the next ones.
                let n = s.store.requeue_failed(endpoint, since, until, 500).await? as i64;
                done += n;
                s.delivery.wake();
                if n == 0 || s.shutdown.is_cancelled() {
                    break;
                }
                s.store
                    .update_job(job_id, "running", total.max(done), done, None)
                    .await?;
            }
            Ok(())
        }
        .await;
        let (status, error) = match &result {
            Ok(()) => ("completed", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        if let Err(e) = s
            .store
            .update_job(job_id, status, total.max(done), done, error.as_deref())
            .await
        {
            tracing::error!(%job_id, error = %e, "cannot record a recover job's end");
        }
    });
    Ok(Accepted(job.into()))
}

#[utoipa::path(get, path = "/v1/api/webhooks/jobs/{job_id}", tag = "outbound-webhooks",
    responses((status = 200, description = "Progress", body = inline(Envelope<JobOut>)), (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_job(State(state): State<AppState>, auth: Auth, Path(job_id): Path<String>) -> ApiResult<ApiOk<JobOut>> {
    let id = parse_id(&job_id, "job")?;
    match state.store.get_job(id).await? {
        Some(j) if auth.can_access(j.account_id) => Ok(ApiOk(j.into())),
        _ => Err(ApiError::not_found("job")),
    }
}

#[derive(Serialize, ToSchema)]
pub struct WindowStats {
    pub attempts: i64,
    pub succeeded: i64,
    /// 0–1; null without attempts.
    pub success_rate: Option<f64>,
    pub latency_p50_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
    pub latency_p99_ms: Option<i64>,
    /// True when the window had more attempts than were sampled (the newest 100,000).
    pub sampled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct StatsOut {
    pub last_1h: WindowStats,
    pub last_24h: WindowStats,
    pub last_7d: WindowStats,
}

const SAMPLE_CAP: i64 = 100_000;

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

async fn window(state: &AppState, endpoint: EndpointId, since: i64) -> ApiResult<WindowStats> {
    let samples = state.store.attempt_samples(endpoint, since, SAMPLE_CAP).await?;
    let mut latencies: Vec<i64> = samples.iter().map(|(l, _)| *l).collect();
    latencies.sort_unstable();
    let attempts = samples.len() as i64;
    let succeeded = samples.iter().filter(|(_, ok)| *ok).count() as i64;
    Ok(WindowStats {
        attempts,
        succeeded,
        success_rate: (attempts > 0).then(|| succeeded as f64 / attempts as f64),
        latency_p50_ms: percentile(&latencies, 50.0),
        latency_p95_ms: percentile(&latencies, 95.0),
        latency_p99_ms: percentile(&latencies, 99.0),
        sampled: attempts >= SAMPLE_CAP,
    })
}

#[utoipa::path(get, path = "/v1/api/webhooks/endpoints/{endpoint_id}/stats", tag = "outbound-webhooks",
    responses((status = 200, description = "Attempts, success rate and latency percentiles", body = inline(Envelope<StatsOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn endpoint_stats(
    State(state): State<AppState>,
    auth: Auth,
    Path(endpoint_id): Path<String>,
) -> ApiResult<ApiOk<StatsOut>> {
    let e = load_endpoint(&state, &auth, &endpoint_id).await?;
    let now = now_ms();
    const HOUR: i64 = 3_600_000;
    Ok(ApiOk(StatsOut {
        last_1h: window(&state, e.id, now - HOUR).await?,
        last_24h: window(&state, e.id, now - 24 * HOUR).await?,
        last_7d: window(&state, e.id, now - 7 * 24 * HOUR).await?,
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(test_endpoint))
        .routes(routes!(recover_endpoint))
        .routes(routes!(get_job))
        .routes(routes!(endpoint_stats))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
