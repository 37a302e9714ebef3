//! Start-up and the running application: the state every handler shares (built here from its
//! parts), the HTTP server and the background workers, all under one shutdown token.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, DatabaseConfig};
pub use crate::http::AppState;
use crate::http::auth::RateLimiters;
use crate::media::MediaLibrary;
pub use crate::secrets::install_tls_provider;
use crate::secrets::{Cipher, Secret, encode_master_key, generate_api_key, parse_master_key, random_bytes};
use crate::store::Store;

/// A built application: database open and migrated, listener bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    bootstrap_key: Option<Secret<String>>,
}

impl Application {
    /// Open the store, migrate, load the master key, issue the first admin key on a fresh
    /// database, and bind the listener (port 0 picks a free port, for tests).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        install_tls_provider();
        let uses_data_dir = matches!(config.database, DatabaseConfig::Sqlite { .. })
            || matches!(config.media_store, crate::config::MediaStoreConfig::Local);
        if uses_data_dir {
            make_private(&config.data_dir, true)?;
        }
        let store = Store::connect(&config.database, config.sqlite_synchronous)
            .await
            .with_context(|| format!("cannot open the {} database", config.database.backend_name()))?;
        if let DatabaseConfig::Sqlite { path } = &config.database {
            // The database holds sealed secrets and every chat: private to hookline's user,
            // like the files SQLite creates next to it (they take the database's mode).
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                make_private(Path::new(&file), false)?;
            }
        }
        store.migrate().await.context("database migration failed")?;
        // One node owns an SQLite file, so every lease in it was this node's before it stopped.
        store
            .release_leases_of_previous_run()
            .await
            .context("cannot give back the previous run's leases")?;
        let master_key = load_master_key(&config)?;
        let bootstrap_key = issue_bootstrap_key(&store).await?;
        let media = MediaLibrary::new(store.clone(), &config).context("cannot open the media store")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let config = Arc::new(config);
        let cipher = Cipher::new(&master_key);
        crate::delivery::endpoint_headers::seal_stored_in_clear(&store, &cipher)
            .await
            .context("cannot seal endpoint header values stored in clear")?;
        let runtime = crate::dialogs::Runtime::new(
            store.clone(),
            cipher.clone(),
            config.clone(),
            media.clone(),
            platforms(&config)?,
        )?;
        let delivery = crate::delivery::Delivery::new(&config, store.deliveries_notify())
            .context("cannot build the outbound webhook HTTP client")?;
        let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
        let jq = crate::jq::Sandbox::new(sandbox_config(&config));
        let outbound = crate::delivery::Outbound {
            store: store.clone(),
            delivery: delivery.clone(),
            jq: jq.clone(),
            cipher: cipher.clone(),
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
        };
        let sources = crate::sources::Sources::new(outbound.clone());
        let state = AppState {
            store,
            sources,
            media,
            rate_limits: RateLimiters::new(&config.rate_limits),
            cipher,
            delivery,
            outbound,
            jq,
            metrics: crate::telemetry::metrics_handle(),
            config,
            runtime,
            shutdown,
            tasks,
        };
        Ok(Application {
            listener,
            state,
            bootstrap_key,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.listen)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The admin key created on a fresh database; `None` on every later start.
    pub fn take_bootstrap_key(&mut self) -> Option<Secret<String>> {
        self.bootstrap_key.take()
    }

    /// Serve until `shutdown` is cancelled: stop accepting, finish in-flight requests, stop the
    /// workers, close the database.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Application { listener, state, .. } = self;
        spawn_maintenance(&state);
        crate::dialogs::workers::spawn(state.runtime.clone(), &state.tasks, state.shutdown.clone());
        crate::delivery::Delivery::spawn(&state.outbound);
        let app = crate::http::router(state.clone());
        let token = state.shutdown.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            token.cancel();
        });
        let limits = crate::http::server::ConnectionLimits {
            header_timeout: state.config.http_header_timeout,
            max_connections: state.config.http_max_connections,
        };
        let server = crate::http::server::serve(listener, app, limits, shutdown.clone());
        // In-flight requests get a bounded time to finish once shutdown starts.
        let drain_limit = async {
            shutdown.cancelled().await;
            tokio::time::sleep(std::time::Duration::from_secs(15)).await;
        };
        tokio::select! {
            _ = server => {},
            _ = drain_limit => tracing::warn!("in-flight requests did not finish within 15 s; stopping anyway"),
        }
        state.shutdown.cancel();
        state.tasks.close();
        // Workers stop at their next step; one stuck on a dead peer must not hold the exit.
        if tokio::time::timeout(std::time::Duration::from_secs(10), state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within 10 s; exiting anyway");
        }
        // Closing waits for every connection to come back; a task still stuck holds one.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), state.store.close()).await;
        Ok(())
    }
}

/// How often unreferenced media blobs are looked for, and how old one must be to go.
const ORPHAN_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
const ORPHAN_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Periodic housekeeping.
fn spawn_maintenance(state: &AppState) {
    let (media, store, shutdown, node) = (
        state.media.clone(),
        state.store.clone(),
        state.shutdown.clone(),
        state.runtime.node_id.clone(),
    );
    state.tasks.spawn(async move {
        let mut tick = tokio::time::interval(ORPHAN_SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    // One node at a time: the sweep lists the whole object store.
                    if matches!(store.try_lease("media_orphan_sweep", &node, ORPHAN_SWEEP_EVERY.as_millis() as i64).await, Ok(true))
                        && let Err(e) = media.sweep_orphans(ORPHAN_MIN_AGE).await
                    {
                        tracing::warn!(error = %e, "media orphan sweep failed");
                    }
                },
            }
        }
    });

    let (metrics, shutdown) = (state.metrics.clone(), state.shutdown.clone());
    state.tasks.spawn(crate::telemetry::run_periodically(
        crate::telemetry::METRICS_UPKEEP_EVERY,
        move || metrics.run_upkeep(),
        shutdown.cancelled_owned(),
    ));

    let limits = state.rate_limits.clone();
    let shutdown = state.shutdown.clone();
    state.tasks.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => limits.shrink(),
            }
        }
    });
}

async fn issue_bootstrap_key(store: &Store) -> anyhow::Result<Option<Secret<String>>> {
    let key = generate_api_key();
    let issued = store.bootstrap_admin_key(&key.hash, &key.display_prefix).await?;
    Ok(issued.then_some(key.plaintext))
}

/// The key that encrypts stored secrets. Configured, or on SQLite generated once into the data
/// dir (mode 0600). PostgreSQL nodes must all share one key, so there it must be configured.
fn load_master_key(config: &Config) -> anyhow::Result<Secret<[u8; 32]>> {
    if let Some(key) = &config.master_key {
        return Ok(key.clone());
    }
    match &config.database {
        DatabaseConfig::Postgres { .. } => anyhow::bail!(
            "invalid setting `master_key`: HOOKLINE_MASTER_KEY is required with PostgreSQL (every node must use the same key); \
             generate one with `hookline master-key`"
        ),
        DatabaseConfig::Sqlite { .. } => read_or_create_key_file(&config.data_dir.join("master.key")),
    }
}

fn read_or_create_key_file(path: &Path) -> anyhow::Result<Secret<[u8; 32]>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_master_key(&text)
            .map(Secret::new)
            .map_err(|e| anyhow::anyhow!("invalid master key file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let key: [u8; 32] = random_bytes();
            write_private(path, &encode_master_key(&key))?;
            Ok(Secret::new(key))
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Restrict `path` to its owner (0700 for a directory, created if missing; 0600 for an
/// existing file). A file that does not exist is left alone.
fn make_private(path: &Path, dir: bool) -> anyhow::Result<()> {
    if dir {
        std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    } else if !path.exists() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if dir { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot make {} private", path.display()))?;
    }
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The jq sandbox's settings from the configuration.
fn sandbox_config(config: &Config) -> crate::jq::SandboxConfig {
    let mut c = crate::jq::SandboxConfig::new();
    if let Some(exe) = &config.jq.exe {
        c.exe = exe.clone();
    }
    if let Some(workers) = config.jq.workers {
        c.workers = workers;
    }
    c.memory_mb = config.jq.memory_mb;
    c.limits.timeout = config.jq.timeout;
    c.limits.max_output_bytes = config.jq.max_output_bytes;
    c
}

/// The platforms bots talk through. A new platform's adapter is added here.
fn platforms(config: &Config) -> anyhow::Result<crate::platforms::Platforms> {
    let telegram = crate::platforms::telegram::Telegram::new(
        &config.telegram_api_url,
        config.telegram_request_timeout,
        config.telegram_outbound_rate_limit,
    )
    .map_err(|e| anyhow::anyhow!("cannot build the Telegram client: {e}"))?;
    let whatsapp = crate::platforms::whatsapp::WhatsApp::new(&config.whatsapp)
        .map_err(|e| anyhow::anyhow!("cannot build the WhatsApp client: {e}"))?;
    Ok(crate::platforms::Platforms::new(vec![
        Arc::new(telegram),
        Arc::new(whatsapp),
    ]))
}
