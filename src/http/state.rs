//! The state every handler shares: the handles of the flows and the store, built by `app`.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::http::auth::RateLimiters;
use crate::media::MediaLibrary;
use crate::secrets::Cipher;
use crate::store::Store;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Bots' media: bytes in the object store, metadata in `store`.
    pub media: MediaLibrary,
    pub config: Arc<Config>,
    pub cipher: Cipher,
    pub rate_limits: Arc<RateLimiters>,
    pub metrics: PrometheusHandle,
    /// Outbound webhooks: the group-commit writer queue, HTTP client and endpoint gates.
    pub delivery: crate::delivery::Delivery,
    /// The outbound flow's handle (the same parts as above): what `publish` and the delivery
    /// workers take.
    pub outbound: crate::delivery::Outbound,
    /// Runs users' jq expressions (`POST /v1/api/jq/test`), bounded, in sandbox processes.
    pub jq: crate::jq::Sandbox,
    /// The inbound sources flow (ingest, verification, routing).
    pub sources: crate::sources::Sources,
    /// Cancelled when the process is shutting down.
    pub shutdown: CancellationToken,
    /// Background tasks, awaited on shutdown.
    pub tasks: TaskTracker,
    /// The inbound (bot) flow: scenario cache, per-chat ordering, the Telegram client.
    pub runtime: Arc<crate::dialogs::Runtime>,
}
