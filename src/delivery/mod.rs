//! Outbound webhooks: events published by the API or by the bot flow, fanned out to the
//! endpoints that subscribe to them, delivered signed and at least once.
//!
//! Pure cores: [`signing`], [`retry`], [`filter`], [`gate`] (circuit breaker, rate limit,
//! in-flight cap), [`ssrf`] (address classification), [`catalogue`] (platform event types).
//! Shells: [`writer`] (group commit of publishes and outcomes), [`worker`] (leased claims,
//! sending, rescheduling), [`shape`] (an endpoint's jq filter and transform), [`sender`] (one
//! HTTP request), [`maintenance`] (retention, metrics, recover jobs).
//!
//! Durability: [`publish`] answers only after the transaction holding the events *and* their
//! pending deliveries committed, so an acknowledged event always has its deliveries.

pub mod catalogue;
pub mod endpoint_headers;
pub use crate::model::filter;
pub mod gate;
pub mod maintenance;
pub mod retry;
pub mod schema;
pub mod sender;
pub mod shape;
pub mod signing;
pub mod worker;
pub mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::model::ids::{AccountId, EndpointId, EventId};
use crate::secrets::Cipher;
use crate::store::{EventToWrite, PublishBatch, StoreError};

/// An event to publish.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The publisher's id for idempotency; generated when absent.
    pub event_id: Option<String>,
    pub event_type: String,
    pub payload: Value,
    pub labels: Vec<String>,
}

/// What publishing answered for one event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Published {
    #[schema(value_type = Uuid)]
    pub id: EventId,
    pub event_id: String,
    /// True when this `event_id` was published before; `id` is then the original's.
    pub duplicate: bool,
}

/// Most events in one publish call.
pub const MAX_BATCH: usize = 1_000;
/// Most labels on an event or an endpoint.
pub const MAX_LABELS: usize = 20;

/// Delivery knobs resolved from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub enabled: bool,
    pub schedule: Vec<f64>,
    pub concurrency: usize,
    pub poll: Duration,
    pub lease_ms: i64,
    pub disable_after_ms: i64,
    pub breaker_cooldown_ms: i64,
    pub max_in_flight: u32,
    pub retention_ms: i64,
    pub writers: usize,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            enabled: c.delivery.enabled,
            schedule: c.delivery.retry_schedule_secs.clone(),
            concurrency: c.delivery.concurrency,
            poll: c.delivery.poll,
            lease_ms: c.delivery.lease.as_millis() as i64,
            disable_after_ms: c.delivery.disable_after.as_millis() as i64,
            breaker_cooldown_ms: c.delivery.breaker_cooldown.as_millis() as i64,
            max_in_flight: c.delivery.max_in_flight,
            retention_ms: c.delivery.retention.as_millis() as i64,
            writers: 1,
        }
    }
}

/// What the outbound flow (publishing, the writers, the workers, maintenance) needs from the
/// application, and nothing more: built by `app` from its parts. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    pub store: crate::store::Store,
    pub delivery: Delivery,
    /// Runs endpoints' jq filters and transforms.
    pub jq: crate::jq::Sandbox,
    /// Opens endpoint secrets and header values.
    pub cipher: Cipher,
    /// Cancelled when the process is shutting down.
    pub shutdown: CancellationToken,
    /// The background tasks, awaited on shutdown.
    pub tasks: TaskTracker,
}

/// Why a publish was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A field of the request is invalid: which one (`events[3].payload`) and why.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writers are gone (the process is shutting down).
    #[error("the event writer has stopped")]
    Stopped,
    #[error("cannot encode the payload: {0}")]
    Encode(#[from] serde_json::Error),
}

impl PublishError {
    fn field(field: &str, message: impl Into<String>) -> Self {
        PublishError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The outbound side's shared parts: the writer queue, the HTTP client, the per-endpoint gates
/// and caches. Cheap to clone.
#[derive(Clone)]
pub struct Delivery {
    pub(crate) inner: Arc<Inner>,
}

/// A cached lookup: when it was fetched (ms), and what was found.
pub(crate) type Cached<T> = (i64, Option<T>);
/// (account, event type name).
pub(crate) type SchemaKey = (AccountId, String);

pub(crate) struct Inner {
    pub tx: mpsc::Sender<writer::Write>,
    pub rx: writer::WriteRx,
    /// Woken after a group with publishes commits, so workers claim at once.
    pub published: Arc<Notify>,
    pub guard: crate::ssrf::Guard,
    pub client: reqwest::Client,
    /// This process's lease-holder id.
    pub node_id: Uuid,
    pub settings: Settings,
    pub gates: Mutex<HashMap<EndpointId, gate::Gate>>,
    pub endpoints: Mutex<HashMap<EndpointId, Cached<Arc<worker::EndpointRt>>>>,
    /// Account event-type schemas, compiled, cached briefly: (fetched at, schema or None).
    pub schemas: Mutex<HashMap<SchemaKey, Cached<Arc<CompiledSchema>>>>,
}

/// An event type's schema as compiled, with the `updated_at` of the row it came from: a
/// refetch that finds the same row keeps it rather than compiling again.
pub(crate) struct CompiledSchema {
    updated_at: i64,
    /// Refused only for a schema saved before it was checked on save.
    validator: Result<jsonschema::Validator, schema::SchemaError>,
}

impl Delivery {
    /// `published` is notified whenever deliveries are written (the store's
    /// [`deliveries_notify`](crate::store::Store::deliveries_notify)), waking a worker.
    /// Fails only when the HTTP client cannot be built (its TLS setup).
    pub fn new(config: &Config, published: Arc<Notify>) -> Result<Delivery, reqwest::Error> {
        let guard = crate::ssrf::Guard::new(config.delivery_allowed_networks.clone());
        let (tx, rx) = mpsc::channel(65_536);
        let mut settings = Settings::from_config(config);
        if matches!(config.database, crate::config::DatabaseConfig::Postgres { .. }) {
            // PostgreSQL commits in parallel; a few writers keep its connections busy.
            settings.writers = 4;
        }
        Ok(Delivery {
            inner: Arc::new(Inner {
                tx,
                rx: Arc::new(tokio::sync::Mutex::new(rx)),
                published,
                client: sender::client(guard.clone())?,
                guard,
                node_id: Uuid::new_v4(),
                settings,
                gates: Mutex::new(HashMap::new()),
                endpoints: Mutex::new(HashMap::new()),
                schemas: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn guard(&self) -> &crate::ssrf::Guard {
        &self.inner.guard
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    pub fn node_id(&self) -> Uuid {
        self.inner.node_id
    }

    /// Wake the workers (new due deliveries were written outside the writer).
    pub fn wake(&self) {
        self.inner.published.notify_one();
    }

    /// Forget cached endpoint and schema state (after a change through the API).
    pub fn invalidate(&self, endpoint_id: Option<EndpointId>) {
        if let Ok(mut cache) = self.inner.endpoints.lock() {
            match endpoint_id {
                Some(id) => {
                    cache.remove(&id);
                }
                None => cache.clear(),
            }
        }
        if let Ok(mut schemas) = self.inner.schemas.lock() {
            schemas.clear();
        }
    }

    /// Start the writers, and the workers and maintenance unless delivery is disabled.
    pub fn spawn(state: &Outbound) {
        let d = &state.delivery.inner;
        let writers: Vec<_> = (0..d.settings.writers)
            .map(|_| {
                writer::run(
                    state.store.clone(),
                    d.rx.clone(),
                    d.published.clone(),
                    state.shutdown.clone(),
                )
            })
            .collect();
        writer::start(&state.tasks, writers, state.store.single_writer());
        if d.settings.enabled {
            state.tasks.spawn(worker::run(state.clone()));
        }
        maintenance::spawn(state);
    }
}

/// Durably record events and their deliveries (one transaction / group commit); idempotent per
/// (account, event_id). Validation errors name the field (`events[3].payload`).
pub async fn publish(
    state: &Outbound,
    account_id: AccountId,
    events: Vec<NewEvent>,
) -> Result<Vec<Published>, PublishError> {
    if events.is_empty() {
        return Err(PublishError::field("events", "must contain at least one event"));
    }
    if events.len() > MAX_BATCH {
        return Err(PublishError::field(
            "events",
            format!("at most {MAX_BATCH} events per request"),
        ));
    }
    let single = events.len() == 1;
    let mut prepared = Vec::with_capacity(events.len());
    for (i, ev) in events.into_iter().enumerate() {
        let at = |f: &str| {
            if single {
                f.to_string()
            } else {
                format!("events[{i}].{f}")
            }
        };
        prepared.push(prepare(state, account_id, ev, &at).await?);
    }
    let rows = commit(
        state,
        PublishBatch {
            account_id,
            events: prepared,
            ingest: None,
        },
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Published {
            id: r.id,
            event_id: r.event_id,
            duplicate: r.duplicate,
        })
        .collect())
}

/// Durably record a source's request in its ingest log, with the event it became when there is
/// one, in one transaction of the group commit: the provider is answered only after both are
/// on disk. The event is checked as [`publish`] checks it; a refused one writes nothing.
pub async fn publish_ingest(
    state: &Outbound,
    account_id: AccountId,
    event: Option<NewEvent>,
    row: crate::store::sources::IngestRow,
) -> Result<Option<Published>, PublishError> {
    let events = match event {
        Some(ev) => vec![prepare(state, account_id, ev, &|f: &str| f.to_string()).await?],
        None => Vec::new(),
    };
    let batch = PublishBatch {
        account_id,
        events,
        ingest: Some(Box::new(row)),
    };
    Ok(commit(state, batch).await?.into_iter().next().map(|r| Published {
        id: r.id,
        event_id: r.event_id,
        duplicate: r.duplicate,
    }))
}

/// Hand a batch to the group-commit writers; its rows once the group committed.
async fn commit(state: &Outbound, batch: PublishBatch) -> Result<Vec<crate::store::PublishedRow>, PublishError> {
    let (reply, answer) = oneshot::channel();
    let write = writer::Write::Publish { batch, reply };
    state
        .delivery
        .inner
        .tx
        .send(write)
        .await
        .map_err(|_| PublishError::Stopped)?;
    Ok(answer.await.map_err(|_| PublishError::Stopped)??)
}

async fn prepare(
    state: &Outbound,
    account_id: AccountId,
    ev: NewEvent,
    at: &(dyn Fn(&str) -> String + Sync),
) -> Result<EventToWrite, PublishError> {
    if !filter::valid_type_name(&ev.event_type) {
        return Err(PublishError::field(
            &at("event_type"),
            "must be 1-100 characters of letters, digits, '.', '_' or '-'",
        ));
    }
    let event_id = match ev.event_id {
        Some(id) => {
            if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
                return Err(PublishError::field(
                    &at("event_id"),
                    "must be 1-200 characters without control characters",
                ));
            }
            id
        }
        None => format!("evt_{}", crate::store::new_id().simple()),
    };
    if ev.labels.len() > MAX_LABELS || !ev.labels.iter().all(|l| filter::valid_label(l)) {
        return Err(PublishError::field(
            &at("labels"),
            format!("at most {MAX_LABELS} labels of 1-100 characters without spaces or commas"),
        ));
    }
    if let Some(compiled) = account_schema(state, account_id, &ev.event_type).await? {
        let checked = match &compiled.validator {
            Ok(validator) => schema::check(validator, &ev.payload),
            Err(e) => Err(format!("the event type's schema cannot be applied ({e}); replace it")),
        };
        if let Err(why) = checked {
            return Err(PublishError::field(
                &at("payload"),
                format!("does not match the event type's schema: {why}"),
            ));
        }
    }
    let payload = serde_json::to_string(&ev.payload)?;
    Ok(EventToWrite {
        id: EventId::new(),
        event_id,
        event_type: ev.event_type,
        payload,
        labels: ev.labels,
    })
}

/// The schema an account attached to one of its event types, compiled; looked up again after a
/// second (another node may have changed it), compiled again only if its row changed.
async fn account_schema(
    state: &Outbound,
    account_id: AccountId,
    name: &str,
) -> Result<Option<Arc<CompiledSchema>>, StoreError> {
    let now = crate::store::now_ms();
    let key = (account_id, name.to_string());
    let cached = match state.delivery.inner.schemas.lock() {
        Ok(cache) => cache.get(&key).cloned(),
        Err(_) => None,
    };
    if let Some((at, compiled)) = &cached
        && now - at < 1_000
    {
        return Ok(compiled.clone());
    }
    let row = state.store.get_event_type(account_id, name).await?;
    let compiled = row.and_then(|t| {
        let saved = t.schema?;
        match cached.and_then(|(_, c)| c) {
            Some(c) if c.updated_at == t.updated_at => Some(c),
            _ => Some(Arc::new(CompiledSchema {
                updated_at: t.updated_at,
                validator: schema::build(&saved.0),
            })),
        }
    });
    if let Ok(mut cache) = state.delivery.inner.schemas.lock() {
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (now, compiled.clone()));
    }
    Ok(compiled)
}
