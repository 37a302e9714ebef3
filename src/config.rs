//! One typed, validated configuration, loaded in layers:
//! defaults → optional TOML file (`--config`) → `HOOKLINE_*` environment → command-line flags.
//!
//! Every setting is declared once in [`SETTINGS`] with its file key, its environment name and
//! its help text. Each layer only supplies raw strings; [`Config::resolve`] parses them once and
//! names the setting *and where the bad value came from* when it fails, so an operator never has
//! to guess which of three places to fix.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::secrets::Secret;

/// A setting hookline understands.
pub struct Setting {
    /// Key in the TOML file (dotted for tables, e.g. `rate_limits.media_per_minute`).
    pub key: &'static str,
    /// Environment variable.
    pub env: &'static str,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

/// The catalogue of settings; the README's configuration reference mirrors it.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        env: "HOOKLINE_LISTEN",
        default: Some("127.0.0.1:8080"),
        help: "address the HTTP server binds",
    },
    Setting {
        key: "data_dir",
        env: "HOOKLINE_DATA_DIR",
        default: Some("./hookline-data"),
        help: "where the SQLite database, the generated master key and local media live",
    },
    Setting {
        key: "database_url",
        env: "HOOKLINE_DATABASE_URL",
        default: None,
        help: "postgres://… for PostgreSQL (several nodes), sqlite://path for a specific SQLite file; default: SQLite in data_dir (DATABASE_URL is read too)",
    },
    Setting {
        key: "public_url",
        env: "HOOKLINE_PUBLIC_URL",
        default: None,
        help: "externally reachable base URL (https://…); platform webhooks are registered under it",
    },
    Setting {
        key: "master_key",
        env: "HOOKLINE_MASTER_KEY",
        default: None,
        help: "base64 of 32 bytes; encrypts stored secrets. SQLite: generated into data_dir on first start if absent. PostgreSQL: required, the same on every node",
    },
    Setting {
        key: "log_level",
        env: "HOOKLINE_LOG_LEVEL",
        default: Some("info"),
        help: "tracing filter, e.g. info or hookline=debug,info",
    },
    Setting {
        key: "log_format",
        env: "HOOKLINE_LOG_FORMAT",
        default: Some("text"),
        help: "text or json",
    },
    Setting {
        key: "max_body_bytes",
        env: "HOOKLINE_MAX_BODY_BYTES",
        default: Some("1048576"),
        help: "largest accepted JSON request body, in bytes (413 above it)",
    },
    Setting {
        key: "request_timeout_secs",
        env: "HOOKLINE_REQUEST_TIMEOUT_SECS",
        default: Some("30"),
        help: "a request still running after this many seconds is answered 503",
    },
    Setting {
        key: "http_header_timeout_ms",
        env: "HOOKLINE_HTTP_HEADER_TIMEOUT_MS",
        default: Some("10000"),
        help: "a client must send a request's headers within this many ms of connecting or of its previous answer; otherwise (or when idle that long) the connection is closed",
    },
    Setting {
        key: "http_max_connections",
        env: "HOOKLINE_HTTP_MAX_CONNECTIONS",
        default: Some("1024"),
        help: "client connections served at once; more wait to be accepted until one closes",
    },
    Setting {
        key: "sqlite_synchronous",
        env: "HOOKLINE_SQLITE_SYNCHRONOUS",
        default: Some("full"),
        help: "full (every commit survives power loss) or normal (WAL: survives a process crash, the last commits may be lost on power loss)",
    },
    Setting {
        key: "rate_limits.bot_management_per_minute",
        env: "HOOKLINE_RATE_LIMIT_BOT_MANAGEMENT",
        default: Some("100"),
        help: "management API requests per minute per API key (0 = unlimited)",
    },
    Setting {
        key: "rate_limits.webhooks_per_minute",
        env: "HOOKLINE_RATE_LIMIT_WEBHOOKS",
        default: Some("1000"),
        help: "webhook requests per minute per API key or bot (0 = unlimited)",
    },
    Setting {
        key: "rate_limits.media_per_minute",
        env: "HOOKLINE_RATE_LIMIT_MEDIA",
        default: Some("50"),
        help: "media API requests per minute per API key (0 = unlimited)",
    },
    Setting {
        key: "rate_limits.auth_failures_per_minute",
        env: "HOOKLINE_RATE_LIMIT_AUTH_FAILURES",
        default: Some("30"),
        help: "API requests with a wrong or revoked key per minute per client address before it gets 429 (0 = unlimited)",
    },
    Setting {
        key: "media_store",
        env: "HOOKLINE_MEDIA_STORE",
        default: Some("local"),
        help: "where media bytes live: local (data_dir/media) or s3 (any S3-compatible store, see media_s3_*)",
    },
    Setting {
        key: "media_s3_bucket",
        env: "HOOKLINE_MEDIA_S3_BUCKET",
        default: None,
        help: "S3 bucket for media (required with media_store = s3; it must exist)",
    },
    Setting {
        key: "media_s3_endpoint",
        env: "HOOKLINE_MEDIA_S3_ENDPOINT",
        default: None,
        help: "S3-compatible endpoint URL, e.g. http://127.0.0.1:9000 (default: the provider's, from the region); path-style requests",
    },
    Setting {
        key: "media_s3_region",
        env: "HOOKLINE_MEDIA_S3_REGION",
        default: Some("us-east-1"),
        help: "S3 region",
    },
    Setting {
        key: "media_s3_access_key_id",
        env: "HOOKLINE_MEDIA_S3_ACCESS_KEY_ID",
        default: None,
        help: "S3 access key id (without it, the store's usual credential chain applies)",
    },
    Setting {
        key: "media_s3_secret_access_key",
        env: "HOOKLINE_MEDIA_S3_SECRET_ACCESS_KEY",
        default: None,
        help: "S3 secret access key (never logged)",
    },
    Setting {
        key: "media_max_upload_bytes",
        env: "HOOKLINE_MEDIA_MAX_UPLOAD_BYTES",
        default: Some("52428800"),
        help: "largest media file accepted, in bytes (413 above it); default 50 MiB",
    },
    Setting {
        key: "delivery_allowed_networks",
        env: "HOOKLINE_DELIVERY_ALLOWED_NETWORKS",
        default: Some(""),
        help: "comma-separated CIDRs that outbound webhooks may reach although private or loopback",
    },
    Setting {
        key: "dialog_inputs_per_minute",
        env: "HOOKLINE_DIALOG_INPUTS_PER_MINUTE",
        default: Some("30"),
        help: "inputs a chat may send per minute before the bot asks it to slow down",
    },
    Setting {
        key: "dialog_duplicate_window_ms",
        env: "HOOKLINE_DIALOG_DUPLICATE_WINDOW_MS",
        default: Some("2000"),
        help: "the same input at the same step within this window is dropped as a double send",
    },
    Setting {
        key: "telegram_api_url",
        env: "HOOKLINE_TELEGRAM_API_URL",
        default: Some("https://api.telegram.org"),
        help: "base URL of the Telegram Bot API (tests point it at a fake)",
    },
    Setting {
        key: "telegram_request_timeout_ms",
        env: "HOOKLINE_TELEGRAM_REQUEST_TIMEOUT_MS",
        default: Some("30000"),
        help: "timeout of one Bot API call; a reply being sent is leased for this long plus 5 s",
    },
    Setting {
        key: "telegram_reply_deadline_ms",
        env: "HOOKLINE_TELEGRAM_REPLY_DEADLINE_MS",
        default: Some("2000"),
        help: "how long the webhook waits for Telegram to accept the replies before answering (they are sent later anyway)",
    },
    Setting {
        key: "telegram_outbound_rate_limit",
        env: "HOOKLINE_TELEGRAM_OUTBOUND_RATE_LIMIT",
        default: Some("true"),
        help: "pace replies to Telegram's limits (30/s per bot, about 1/s per private chat, 20/min per group)",
    },
    Setting {
        key: "whatsapp_api_url",
        env: "HOOKLINE_WHATSAPP_API_URL",
        default: Some("https://graph.facebook.com"),
        help: "base URL of Meta's Graph API for WhatsApp (tests point it at a fake)",
    },
    Setting {
        key: "whatsapp_api_version",
        env: "HOOKLINE_WHATSAPP_API_VERSION",
        default: Some("v21.0"),
        help: "Graph API version used unless a bot's WhatsApp credential names its own",
    },
    Setting {
        key: "whatsapp_request_timeout_ms",
        env: "HOOKLINE_WHATSAPP_REQUEST_TIMEOUT_MS",
        default: Some("30000"),
        help: "timeout of one Graph API call",
    },
    Setting {
        key: "whatsapp_messages_per_second",
        env: "HOOKLINE_WHATSAPP_MESSAGES_PER_SECOND",
        default: Some("80"),
        help: "replies sent per second per business phone number (Meta's default throughput); 0 turns pacing off",
    },
    Setting {
        key: "whatsapp_mark_read",
        env: "HOOKLINE_WHATSAPP_MARK_READ",
        default: Some("true"),
        help: "mark each WhatsApp message a bot receives as read (the user sees blue ticks)",
    },
    Setting {
        key: "telegram_download_max_bytes",
        env: "HOOKLINE_TELEGRAM_DOWNLOAD_MAX_BYTES",
        default: Some("20971520"),
        help: "largest file a user sends that is downloaded (the Bot API serves 20 MB); larger ones are recorded as too_large",
    },
    Setting {
        key: "telegram_source_networks",
        env: "HOOKLINE_TELEGRAM_SOURCE_NETWORKS",
        default: Some(""),
        help: "comma-separated CIDRs Telegram webhooks must come from (`telegram` = Telegram's published ranges); empty = no check",
    },
    Setting {
        key: "trusted_proxies",
        env: "HOOKLINE_TRUSTED_PROXIES",
        default: Some(""),
        help: "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed",
    },
    Setting {
        key: "delivery_enabled",
        env: "HOOKLINE_DELIVERY_ENABLED",
        default: Some("true"),
        help: "run outbound webhook delivery workers on this node (false: publish only)",
    },
    Setting {
        key: "delivery_retry_schedule_secs",
        env: "HOOKLINE_DELIVERY_RETRY_SCHEDULE",
        default: Some("0,5,300,1800,7200,18000,36000,36000"),
        help: "seconds before each delivery attempt (first = immediately), comma-separated; ±20% jitter is added",
    },
    Setting {
        key: "delivery_concurrency",
        env: "HOOKLINE_DELIVERY_CONCURRENCY",
        default: Some("256"),
        help: "webhook requests in flight at once on this node",
    },
    Setting {
        key: "delivery_max_in_flight",
        env: "HOOKLINE_DELIVERY_MAX_IN_FLIGHT",
        default: Some("64"),
        help: "default per-endpoint cap of concurrent requests (an endpoint's max_in_flight overrides it)",
    },
    Setting {
        key: "delivery_poll_ms",
        env: "HOOKLINE_DELIVERY_POLL_MS",
        default: Some("200"),
        help: "how often an idle worker looks for due deliveries (publishes on this node wake it at once)",
    },
    Setting {
        key: "delivery_lease_secs",
        env: "HOOKLINE_DELIVERY_LEASE_SECS",
        default: Some("90"),
        help: "how long a claimed delivery stays leased to its node; a crashed node's work is retried after it. Attempts are cut off 1 s before the lease ends",
    },
    Setting {
        key: "delivery_disable_after_secs",
        env: "HOOKLINE_DELIVERY_DISABLE_AFTER_SECS",
        default: Some("432000"),
        help: "an endpoint failing continuously for this long is disabled (default 5 days)",
    },
    Setting {
        key: "delivery_breaker_cooldown_ms",
        env: "HOOKLINE_DELIVERY_BREAKER_COOLDOWN_MS",
        default: Some("30000"),
        help: "how long the circuit breaker pauses an endpoint after 5 consecutive failures before probing it",
    },
    Setting {
        key: "webhook_retention_secs",
        env: "HOOKLINE_WEBHOOK_RETENTION_SECS",
        default: Some("2592000"),
        help: "webhook events and attempts older than this are removed (default 30 days); so are the chat flow's finished rows (inbox, sent replies), kept at least 48 h",
    },
    Setting {
        key: "jq_timeout_ms",
        env: "HOOKLINE_JQ_TIMEOUT_MS",
        default: Some("100"),
        help: "longest one jq filter or transform may run; past it the evaluation is stopped (its process killed)",
    },
    Setting {
        key: "jq_max_output_bytes",
        env: "HOOKLINE_JQ_MAX_OUTPUT_BYTES",
        default: Some("1048576"),
        help: "largest output of one jq evaluation (all its outputs together, as JSON)",
    },
    Setting {
        key: "jq_workers",
        env: "HOOKLINE_JQ_WORKERS",
        default: None,
        help: "jq sandbox processes, each running one evaluation at a time (default: one per core, at least 2)",
    },
    Setting {
        key: "jq_memory_mb",
        env: "HOOKLINE_JQ_MEMORY_MB",
        default: Some("512"),
        help: "memory (address space, MiB) each jq sandbox process may map beyond its size at start",
    },
];

/// Where a raw value came from; used in error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => write!(f, "the default"),
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// Raw values by setting key, each remembering its source. Later layers overwrite earlier ones.
#[derive(Default, Debug)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, Source)>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}` (from {source_desc}): {reason}")]
pub struct ConfigError {
    pub key: String,
    pub source_desc: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: &str, source: &Source, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_string(),
            source_desc: source.to_string(),
            reason: reason.into(),
        }
    }
}

impl Layers {
    /// Defaults only.
    pub fn defaults() -> Self {
        let mut layers = Layers::default();
        for s in SETTINGS {
            if let Some(d) = s.default {
                layers.values.insert(s.key, (d.to_string(), Source::Default));
            }
        }
        layers
    }

    /// Read a TOML file. Unknown keys are errors: a typo must not silently keep a default.
    pub fn file(mut self, path: &std::path::Path) -> Result<Self, ConfigError> {
        let source = Source::File(path.to_path_buf());
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("config", &source, format!("cannot read: {e}")))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("config", &source, e.message().to_string()))?;
        let mut flat = Vec::new();
        flatten("", &toml::Value::Table(table), &mut flat);
        for (key, value) in flat {
            let setting = SETTINGS
                .iter()
                .find(|s| s.key == key)
                .ok_or_else(|| ConfigError::new(&key, &source, "unknown setting"))?;
            self.values.insert(setting.key, (value, source.clone()));
        }
        Ok(self)
    }

    /// Overlay `HOOKLINE_*` variables (and `DATABASE_URL` below `HOOKLINE_DATABASE_URL`).
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(url) = lookup("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.values.insert("database_url", (url, Source::Env("DATABASE_URL")));
        }
        for s in SETTINGS {
            if let Some(v) = lookup(s.env) {
                self.values.insert(s.key, (v, Source::Env(s.env)));
            }
        }
        self
    }

    /// Overlay one command-line flag (highest precedence).
    pub fn flag(mut self, key: &'static str, value: Option<String>) -> Self {
        if let Some(v) = value {
            let name = SETTINGS.iter().find(|s| s.key == key).map(|s| s.key).unwrap_or(key);
            self.values.insert(name, (v, Source::Flag(name)));
        }
        self
    }

    fn get(&self, key: &str) -> Option<&(String, Source)> {
        self.values.get(key).filter(|(v, _)| !v.is_empty())
    }

    fn parse<T>(&self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some((raw, source)) => parse(raw.trim())
                .map(Some)
                .map_err(|reason| ConfigError::new(key, source, reason)),
        }
    }

    fn required<T>(&self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        self.parse(key, parse)?
            .ok_or_else(|| ConfigError::new(key, &Source::Default, "a value is required"))
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        toml::Value::Array(items) => {
            let joined: Vec<String> = items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.push((prefix.to_string(), joined.join(",")));
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How hard SQLite syncs to disk on commit (see docs/durability in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteSync {
    Full,
    Normal,
}

/// Requests per minute by route category (0 = unlimited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub bot_management_per_minute: u32,
    pub webhooks_per_minute: u32,
    pub media_per_minute: u32,
    pub auth_failures_per_minute: u32,
}

/// Where media bytes are kept.
#[derive(Clone, Debug)]
pub enum MediaStoreConfig {
    /// `{data_dir}/media`.
    Local,
    /// Any S3-compatible store.
    S3(S3Config),
}

/// An S3-compatible bucket. `Debug` hides the secret key.
#[derive(Clone, Debug)]
pub struct S3Config {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret<String>>,
}

/// The WhatsApp adapter's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct WhatsAppConfig {
    pub api_url: String,
    pub api_version: String,
    pub request_timeout: Duration,
    /// 0: not paced.
    pub messages_per_second: u32,
    pub mark_read: bool,
}

/// Outbound webhook delivery knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryConfig {
    pub enabled: bool,
    pub retry_schedule_secs: Vec<f64>,
    pub concurrency: usize,
    pub max_in_flight: u32,
    pub poll: Duration,
    pub lease: Duration,
    pub disable_after: Duration,
    pub breaker_cooldown: Duration,
    pub retention: Duration,
}

/// The jq sandbox's bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct JqConfig {
    pub timeout: Duration,
    pub max_output_bytes: usize,
    /// None: one per core, at least 2.
    pub workers: Option<usize>,
    pub memory_mb: u64,
    /// The executable started as the sandbox; None: this one. Not a setting: tests that run
    /// the server inside their own binary point it at hookline's.
    pub exe: Option<PathBuf>,
}

/// Which database hookline runs on.
#[derive(Clone, Debug)]
pub enum DatabaseConfig {
    Sqlite { path: PathBuf },
    Postgres { url: Secret<String> },
}

impl DatabaseConfig {
    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseConfig::Sqlite { .. } => "sqlite",
            DatabaseConfig::Postgres { .. } => "postgres",
        }
    }
}

/// The resolved configuration. `Debug` never prints a secret.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub public_url: Option<String>,
    pub master_key: Option<Secret<[u8; 32]>>,
    pub log_level: String,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub http_header_timeout: Duration,
    pub http_max_connections: usize,
    pub sqlite_synchronous: SqliteSync,
    pub rate_limits: RateLimits,
    pub delivery_allowed_networks: Vec<IpNet>,
    pub dialog_inputs_per_minute: u32,
    pub dialog_duplicate_window_ms: i64,
    pub telegram_api_url: String,
    pub telegram_reply_deadline: Duration,
    pub telegram_request_timeout: Duration,
    pub telegram_outbound_rate_limit: bool,
    pub telegram_source_networks: Vec<IpNet>,
    pub trusted_proxies: Vec<IpNet>,
    pub media_store: MediaStoreConfig,
    pub media_max_upload_bytes: u64,
    pub telegram_download_max_bytes: u64,
    pub delivery: DeliveryConfig,
    pub whatsapp: WhatsAppConfig,
    pub jq: JqConfig,
}

impl Config {
    /// Parse and validate the merged layers.
    pub fn resolve(layers: &Layers) -> Result<Config, ConfigError> {
        let data_dir: PathBuf = layers.required("data_dir", |s| Ok(PathBuf::from(s)))?;
        let database = match layers.parse("database_url", parse_database_url)? {
            Some(db) => db,
            None => DatabaseConfig::Sqlite {
                path: data_dir.join("hookline.db"),
            },
        };
        Ok(Config {
            listen: layers.required("listen", |s| {
                s.parse::<SocketAddr>()
                    .map_err(|e| format!("expected HOST:PORT such as 127.0.0.1:8080 ({e})"))
            })?,
            data_dir,
            database,
            public_url: layers.parse("public_url", parse_public_url)?,
            master_key: layers.parse("master_key", |s| crate::secrets::parse_master_key(s).map(Secret::new))?,
            log_level: layers.required("log_level", |s| {
                tracing_subscriber::EnvFilter::try_new(s)
                    .map(|_| s.to_string())
                    .map_err(|e| e.to_string())
            })?,
            log_format: layers.required("log_format", |s| match s {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected `text` or `json`".into()),
            })?,
            max_body_bytes: layers.required("max_body_bytes", |s| {
                parse_positive::<usize>(s).and_then(|n| {
                    if n < 1024 {
                        Err("must be at least 1024".into())
                    } else {
                        Ok(n)
                    }
                })
            })?,
            request_timeout: layers
                .required("request_timeout_secs", parse_positive::<u64>)
                .map(Duration::from_secs)?,
            http_header_timeout: layers
                .required("http_header_timeout_ms", parse_positive::<u64>)
                .map(Duration::from_millis)?,
            http_max_connections: layers.required("http_max_connections", |s| {
                parse_positive::<usize>(s).and_then(|n| {
                    if n > 1_000_000 {
                        Err("must be at most 1000000".into())
                    } else {
                        Ok(n)
                    }
                })
            })?,
            sqlite_synchronous: layers.required("sqlite_synchronous", |s| match s.to_ascii_lowercase().as_str() {
                "full" => Ok(SqliteSync::Full),
                "normal" => Ok(SqliteSync::Normal),
                _ => Err("expected `full` or `normal`".into()),
            })?,
            rate_limits: resolve_rate_limits(layers)?,
            delivery_allowed_networks: layers
                .parse("delivery_allowed_networks", parse_networks)?
                .unwrap_or_default(),
            dialog_inputs_per_minute: layers.required("dialog_inputs_per_minute", parse_positive::<u32>)?,
            dialog_duplicate_window_ms: layers.required("dialog_duplicate_window_ms", |s| {
                s.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| "expected milliseconds (0 or more)".to_string())
            })?,
            telegram_api_url: layers.required("telegram_api_url", parse_public_url)?,
            telegram_reply_deadline: layers
                .required("telegram_reply_deadline_ms", |s| {
                    s.parse::<u64>()
                        .map_err(|_| "expected milliseconds (0 or more)".to_string())
                })
                .map(Duration::from_millis)?,
            telegram_request_timeout: layers
                .required("telegram_request_timeout_ms", parse_positive::<u64>)
                .map(Duration::from_millis)?,
            telegram_outbound_rate_limit: layers.required("telegram_outbound_rate_limit", parse_bool)?,
            telegram_source_networks: layers
                .parse("telegram_source_networks", |s| {
                    parse_networks(&s.replace("telegram", TELEGRAM_NETWORKS))
                })?
                .unwrap_or_default(),
            trusted_proxies: layers.parse("trusted_proxies", parse_networks)?.unwrap_or_default(),
            media_store: resolve_media_store(layers)?,
            media_max_upload_bytes: layers.required("media_max_upload_bytes", parse_positive::<u64>)?,
            telegram_download_max_bytes: layers.required("telegram_download_max_bytes", parse_positive::<u64>)?,
            delivery: resolve_delivery(layers)?,
            whatsapp: resolve_whatsapp(layers)?,
            jq: resolve_jq(layers)?,
        })
    }

    /// Defaults with everything under `data_dir`; the starting point for tests and tools.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        let dir: PathBuf = data_dir.into();
        let layers = Layers::defaults().flag("data_dir", Some(dir.to_string_lossy().into_owned()));
        // The defaults are valid by construction; a failure here is a bug in SETTINGS.
        Config::resolve(&layers).unwrap_or_else(|e| panic!("built-in defaults are invalid: {e}"))
    }
}

/// The WhatsApp settings.
fn resolve_whatsapp(layers: &Layers) -> Result<WhatsAppConfig, ConfigError> {
    Ok(WhatsAppConfig {
        api_url: layers.required("whatsapp_api_url", parse_public_url)?,
        api_version: layers.required("whatsapp_api_version", |s| {
            let ok = s.len() <= 10
                && s.strip_prefix('v')
                    .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
            ok.then(|| s.to_string())
                .ok_or_else(|| "expected a Graph API version such as v21.0".to_string())
        })?,
        request_timeout: Duration::from_millis(layers.required("whatsapp_request_timeout_ms", parse_positive::<u64>)?),
        messages_per_second: layers.required("whatsapp_messages_per_second", |s| {
            s.parse::<u32>()
                .map_err(|_| "expected messages per second (0 or more)".to_string())
        })?,
        mark_read: layers.required("whatsapp_mark_read", parse_bool)?,
    })
}

/// The outbound delivery settings.
fn resolve_delivery(layers: &Layers) -> Result<DeliveryConfig, ConfigError> {
    Ok(DeliveryConfig {
        enabled: layers.required("delivery_enabled", parse_bool)?,
        retry_schedule_secs: layers.required("delivery_retry_schedule_secs", parse_schedule)?,
        concurrency: layers.required("delivery_concurrency", parse_positive::<usize>)?,
        max_in_flight: layers.required("delivery_max_in_flight", parse_positive::<u32>)?,
        poll: Duration::from_millis(layers.required("delivery_poll_ms", parse_positive::<u64>)?),
        lease: Duration::from_secs(layers.required("delivery_lease_secs", |s| {
            parse_positive::<u64>(s).and_then(|n| {
                // Attempts are cut off one second before their lease ends (see the
                // worker), so a lease needs room for at least one second of sending.
                if n < 2 { Err("must be at least 2".into()) } else { Ok(n) }
            })
        })?),
        disable_after: Duration::from_secs(layers.required("delivery_disable_after_secs", parse_positive::<u64>)?),
        breaker_cooldown: Duration::from_millis(
            layers.required("delivery_breaker_cooldown_ms", parse_positive::<u64>)?,
        ),
        retention: Duration::from_secs(layers.required("webhook_retention_secs", parse_positive::<u64>)?),
    })
}

/// The jq sandbox's bounds. Its memory limit must leave room for the process itself.
fn resolve_jq(layers: &Layers) -> Result<JqConfig, ConfigError> {
    Ok(JqConfig {
        timeout: Duration::from_millis(layers.required("jq_timeout_ms", parse_positive::<u64>)?),
        max_output_bytes: layers.required("jq_max_output_bytes", parse_positive::<usize>)?,
        workers: layers.parse("jq_workers", |s| {
            parse_positive::<usize>(s).and_then(|n| {
                if n > 256 {
                    Err("must be at most 256".into())
                } else {
                    Ok(n)
                }
            })
        })?,
        memory_mb: layers.required("jq_memory_mb", |s| {
            parse_positive::<u64>(s).and_then(|n| {
                if n < 64 {
                    Err("must be at least 64".into())
                } else {
                    Ok(n)
                }
            })
        })?,
        exe: None,
    })
}

/// The API's per-key request budgets.
fn resolve_rate_limits(layers: &Layers) -> Result<RateLimits, ConfigError> {
    Ok(RateLimits {
        bot_management_per_minute: layers.required("rate_limits.bot_management_per_minute", parse_u32)?,
        webhooks_per_minute: layers.required("rate_limits.webhooks_per_minute", parse_u32)?,
        media_per_minute: layers.required("rate_limits.media_per_minute", parse_u32)?,
        auth_failures_per_minute: layers.required("rate_limits.auth_failures_per_minute", parse_u32)?,
    })
}

fn resolve_media_store(layers: &Layers) -> Result<MediaStoreConfig, ConfigError> {
    let kind = layers.required("media_store", |s| match s.to_ascii_lowercase().as_str() {
        "local" => Ok(false),
        "s3" => Ok(true),
        _ => Err("expected `local` or `s3`".into()),
    })?;
    if !kind {
        return Ok(MediaStoreConfig::Local);
    }
    let text = |s: &str| Ok::<_, String>(s.to_string());
    let bucket = layers
        .parse("media_s3_bucket", text)?
        .ok_or_else(|| ConfigError::new("media_s3_bucket", &Source::Default, "required when media_store = s3"))?;
    Ok(MediaStoreConfig::S3(S3Config {
        bucket,
        endpoint: layers.parse("media_s3_endpoint", parse_public_url)?,
        region: layers.required("media_s3_region", text)?,
        access_key_id: layers.parse("media_s3_access_key_id", text)?,
        secret_access_key: layers.parse("media_s3_secret_access_key", |s| Ok(Secret::new(s.to_string())))?,
    }))
}

fn parse_positive<T: std::str::FromStr + PartialEq + Default>(s: &str) -> Result<T, String> {
    let n = s
        .parse::<T>()
        .map_err(|_| "expected a positive whole number".to_string())?;
    if n == T::default() {
        Err("must be greater than 0".into())
    } else {
        Ok(n)
    }
}

/// Telegram's published webhook source ranges.
pub const TELEGRAM_NETWORKS: &str = "149.154.160.0/20,91.108.4.0/22";

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_u32(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .map_err(|_| "expected a whole number (0 = unlimited)".to_string())
}

fn parse_database_url(s: &str) -> Result<DatabaseConfig, String> {
    if let Some(rest) = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")) {
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err("sqlite:// needs a file path, e.g. sqlite://./hookline.db".into());
        }
        return Ok(DatabaseConfig::Sqlite {
            path: PathBuf::from(path),
        });
    }
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        return Ok(DatabaseConfig::Postgres {
            url: Secret::new(s.to_string()),
        });
    }
    Err("expected a postgres://… or sqlite://… URL".into())
}

fn parse_public_url(s: &str) -> Result<String, String> {
    let trimmed = s.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or("expected an absolute http:// or https:// URL")?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err("expected an absolute URL with a host".into());
    }
    Ok(trimmed.to_string())
}

fn parse_networks(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{p}` is not a CIDR such as 127.0.0.0/8"))
        })
        .collect()
}

/// A retry schedule: parse `0,5,300` (seconds, fractions allowed) into a schedule of 1..=20 non-negative delays.
pub fn parse_schedule(s: &str) -> Result<Vec<f64>, String> {
    let items: Result<Vec<f64>, String> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && (0.0..=86_400.0 * 7.0).contains(v))
                .ok_or_else(|| format!("`{p}` is not a delay in seconds between 0 and 604800"))
        })
        .collect();
    let items = items?;
    if items.is_empty() || items.len() > 20 {
        return Err("expected 1 to 20 comma-separated delays in seconds".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedules_are_parsed_and_bounded() {
        assert_eq!(parse_schedule("0, 0.5,2").unwrap(), vec![0.0, 0.5, 2.0]);
        assert!(parse_schedule("").is_err());
        assert!(parse_schedule("-1").is_err());
        assert!(parse_schedule("x").is_err());
        assert!(parse_schedule("NaN").is_err());
        assert!(parse_schedule(&vec!["1"; 21].join(",")).is_err());
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_valid_and_zero_config() {
        let c = Config::resolve(&Layers::defaults()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(matches!(c.database, DatabaseConfig::Sqlite { ref path } if path.ends_with("hookline.db")));
        assert_eq!(c.rate_limits.media_per_minute, 50);
        assert_eq!(c.sqlite_synchronous, SqliteSync::Full);
        assert_eq!(c.jq.timeout, Duration::from_millis(100));
        assert_eq!((c.jq.workers, c.jq.memory_mb), (None, 512));
    }

    #[test]
    fn jq_bounds_are_checked() {
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_JQ_MEMORY_MB", "8")]));
        let err = Config::resolve(&layers).unwrap_err().to_string();
        assert!(err.contains("HOOKLINE_JQ_MEMORY_MB"), "{err}");
        let layers = Layers::defaults().env(env_of(&[
            ("HOOKLINE_JQ_WORKERS", "3"),
            ("HOOKLINE_JQ_TIMEOUT_MS", "250"),
        ]));
        let c = Config::resolve(&layers).unwrap();
        assert_eq!((c.jq.workers, c.jq.timeout), (Some(3), Duration::from_millis(250)));
    }

    #[test]
    fn layers_apply_in_order_file_env_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookline.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1000\"\nlog_format = \"json\"\n[rate_limits]\nmedia_per_minute = 7\n",
        )
        .unwrap();
        let layers = Layers::defaults()
            .file(&file)
            .unwrap()
            .env(env_of(&[("HOOKLINE_LISTEN", "127.0.0.1:2000")]))
            .flag("log_level", Some("debug".into()));
        let c = Config::resolve(&layers).unwrap();
        assert_eq!(c.listen.port(), 2000, "env beats file");
        assert_eq!(c.log_format, LogFormat::Json, "file beats default");
        assert_eq!(c.rate_limits.media_per_minute, 7);
        assert_eq!(c.log_level, "debug");
        let layers = Layers::defaults()
            .env(env_of(&[("HOOKLINE_LISTEN", "127.0.0.1:2000")]))
            .flag("listen", Some("127.0.0.1:3000".into()));
        assert_eq!(Config::resolve(&layers).unwrap().listen.port(), 3000, "flag beats env");
    }

    #[test]
    fn invalid_values_name_the_setting_and_source() {
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_LISTEN", "nope")]));
        let err = Config::resolve(&layers).unwrap_err().to_string();
        assert!(err.contains("`listen`") && err.contains("HOOKLINE_LISTEN"), "{err}");

        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_LOG_FORMAT", "xml")]));
        assert!(Config::resolve(&layers).unwrap_err().to_string().contains("log_format"));

        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_DATABASE_URL", "mysql://x")]));
        assert!(
            Config::resolve(&layers)
                .unwrap_err()
                .to_string()
                .contains("database_url")
        );

        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_MASTER_KEY", "short")]));
        let err = Config::resolve(&layers).unwrap_err().to_string();
        assert!(
            err.contains("master_key") && !err.contains("short"),
            "never echo a secret: {err}"
        );
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = Layers::defaults().file(&file).unwrap_err().to_string();
        assert!(err.contains("lisen") && err.contains("unknown"), "{err}");
    }

    #[test]
    fn database_url_selects_backend_and_database_url_alias_works() {
        let layers = Layers::defaults().env(env_of(&[("DATABASE_URL", "postgres://u@h/db")]));
        assert_eq!(Config::resolve(&layers).unwrap().database.backend_name(), "postgres");
        let layers = Layers::defaults().env(env_of(&[
            ("DATABASE_URL", "postgres://u@h/db"),
            ("HOOKLINE_DATABASE_URL", "sqlite://x.db"),
        ]));
        assert!(
            matches!(Config::resolve(&layers).unwrap().database, DatabaseConfig::Sqlite { ref path } if path == &PathBuf::from("x.db"))
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
        let layers = Layers::defaults().env(env_of(&[
            ("HOOKLINE_MASTER_KEY", &key),
            ("HOOKLINE_DATABASE_URL", "postgres://user:hunter2@h/db"),
        ]));
        let dbg = format!("{:?}", Config::resolve(&layers).unwrap());
        assert!(!dbg.contains("hunter2") && !dbg.contains(&key), "{dbg}");
    }

    #[test]
    fn telegram_keyword_expands_to_its_ranges() {
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_TELEGRAM_SOURCE_NETWORKS", "telegram")]));
        let nets = Config::resolve(&layers).unwrap().telegram_source_networks;
        assert_eq!(nets.len(), 2);
        assert!(nets[0].contains(&"149.154.167.99".parse::<std::net::IpAddr>().unwrap()));
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_TELEGRAM_OUTBOUND_RATE_LIMIT", "maybe")]));
        assert!(
            Config::resolve(&layers)
                .unwrap_err()
                .to_string()
                .contains("telegram_outbound_rate_limit")
        );
    }

    #[test]
    fn media_store_settings_resolve() {
        let c = Config::resolve(&Layers::defaults()).unwrap();
        assert!(matches!(c.media_store, MediaStoreConfig::Local));
        assert_eq!(c.media_max_upload_bytes, 50 * 1024 * 1024);
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_MEDIA_STORE", "s3")]));
        let err = Config::resolve(&layers).unwrap_err().to_string();
        assert!(err.contains("media_s3_bucket"), "{err}");
        let layers = Layers::defaults().env(env_of(&[
            ("HOOKLINE_MEDIA_STORE", "s3"),
            ("HOOKLINE_MEDIA_S3_BUCKET", "media"),
            ("HOOKLINE_MEDIA_S3_ENDPOINT", "http://127.0.0.1:9000/"),
            ("HOOKLINE_MEDIA_S3_SECRET_ACCESS_KEY", "hunter2"),
        ]));
        let c = Config::resolve(&layers).unwrap();
        let MediaStoreConfig::S3(s3) = &c.media_store else {
            panic!("expected s3")
        };
        assert_eq!((s3.bucket.as_str(), s3.region.as_str()), ("media", "us-east-1"));
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_MEDIA_MAX_UPLOAD_BYTES", "0")]));
        assert!(Config::resolve(&layers).is_err());
    }

    #[test]
    fn networks_parse_cidrs_and_plain_addresses() {
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8, ::1")]));
        assert_eq!(Config::resolve(&layers).unwrap().delivery_allowed_networks.len(), 2);
    }

    #[test]
    fn delivery_settings_parse_and_name_bad_values() {
        let c = Config::resolve(&Layers::defaults()).unwrap();
        assert_eq!(c.delivery.retry_schedule_secs.len(), 8);
        assert!(c.delivery.enabled);
        let layers = Layers::defaults().env(env_of(&[
            ("HOOKLINE_DELIVERY_RETRY_SCHEDULE", "0,0.2,0.4"),
            ("HOOKLINE_DELIVERY_ENABLED", "false"),
        ]));
        let c = Config::resolve(&layers).unwrap();
        assert_eq!(c.delivery.retry_schedule_secs, vec![0.0, 0.2, 0.4]);
        assert!(!c.delivery.enabled);
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_DELIVERY_RETRY_SCHEDULE", "soon")]));
        let err = Config::resolve(&layers).unwrap_err().to_string();
        assert!(
            err.contains("delivery_retry_schedule_secs") && err.contains("HOOKLINE_DELIVERY_RETRY_SCHEDULE"),
            "{err}"
        );
        let layers = Layers::defaults().env(env_of(&[("HOOKLINE_DELIVERY_LEASE_SECS", "1")]));
        assert!(Config::resolve(&layers).is_err());
    }
}
