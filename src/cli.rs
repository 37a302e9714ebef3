//! The command line: `serve`, `migrate`, `accounts`, `keys`, `master-key`, `openapi`, `scenario`,
//! `completions`, `version`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::Application;
use crate::config::{Config, Layers};
use crate::model::ids::AccountId;
use crate::secrets::{encode_master_key, generate_api_key, random_bytes};
use crate::store::{NewKey, Role, Store};

#[derive(Parser, Debug)]
#[command(
    name = "hookline",
    version,
    about = "Webhook platform: runs Telegram/WhatsApp bots from JSON scenarios and delivers signed, durable outbound webhooks.",
    long_about = "hookline runs zero-config on an embedded SQLite database in ./hookline-data.\n\
                  Start it with `hookline serve`; on first start it prints an admin API key.\n\
                  Settings come from defaults, then --config FILE (TOML), then HOOKLINE_* variables, then flags."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings that may also come from the config file or the environment.
#[derive(Args, Debug, Default)]
pub struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [env: HOOKLINE_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Data directory for SQLite and local files [env: HOOKLINE_DATA_DIR] [default: ./hookline-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// postgres://… or sqlite://… [env: HOOKLINE_DATABASE_URL, DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Externally reachable base URL [env: HOOKLINE_PUBLIC_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// Log filter [env: HOOKLINE_LOG_LEVEL] [default: info].
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// text or json [env: HOOKLINE_LOG_FORMAT] [default: text].
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

impl ConfigArgs {
    /// defaults → file → environment → flags.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut layers = Layers::defaults();
        if let Some(path) = &self.config {
            layers = layers.file(path)?;
        }
        let layers = layers
            .env(|k| std::env::var(k).ok())
            .flag("listen", self.listen.clone())
            .flag("data_dir", self.data_dir.clone())
            .flag("database_url", self.database_url.clone())
            .flag("public_url", self.public_url.clone())
            .flag("log_level", self.log_level.clone())
            .flag("log_format", self.log_format.clone());
        Ok(Config::resolve(&layers)?)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (HTTP API, platform webhooks, delivery workers).
    Serve,
    /// Apply pending database migrations and exit (`serve` also does this).
    Migrate,
    /// Manage accounts (tenants).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print a new random master key (for HOOKLINE_MASTER_KEY).
    MasterKey,
    /// Print the OpenAPI document (the same as GET /openapi.json).
    Openapi,
    /// Check or try scenario documents locally, without a server.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// Print a shell completion script, e.g. `hookline completions bash > /etc/bash_completion.d/hookline`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the version.
    Version,
    /// The jq evaluation sandbox `serve` starts for itself: length-prefixed JSON requests on
    /// stdin, answers on stdout (see `hookline::jq`). Not for people.
    #[command(hide = true)]
    JqSandbox {
        /// Address-space limit of this process.
        #[arg(long, default_value_t = 512)]
        memory_mb: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum ScenarioCommand {
    /// Print every problem of a scenario file (JSON or YAML). Exit 1 on errors, 0 with only warnings.
    Validate { file: PathBuf },
    /// Chat with a scenario in the terminal: type replies, a number to press a button, /start,
    /// :vars to show the collected variables, :quit to leave.
    Chat { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Create an account and print its id.
    Create { name: String },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create an API key and print it (shown once).
    Create {
        /// Account the key belongs to.
        #[arg(long)]
        account: AccountId,
        /// account (only this account) or admin (every account).
        #[arg(long, value_enum, default_value = "account")]
        role: RoleArg,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Revoke an API key by its id.
    Revoke { key_id: Uuid },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum RoleArg {
    Admin,
    Account,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Scenario(command) => run_scenario(command),
        Command::JqSandbox { memory_mb } => crate::jq::child::main(memory_mb),
        Command::Version => {
            println!("hookline {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "hookline", &mut std::io::stdout());
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::http::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::MasterKey => {
            println!("{}", encode_master_key(&random_bytes()));
            Ok(())
        }
        Command::Serve => serve(cli.config.load()?).await,
        Command::Migrate => {
            let config = cli.config.load()?;
            let store = open_store(&config).await?;
            store.close().await;
            println!("migrations applied ({})", config.database.backend_name());
            Ok(())
        }
        Command::Accounts(AccountsCommand::Create { name }) => {
            let store = open_store(&cli.config.load()?).await?;
            let name =
                crate::http::accounts::validate_name("name", &name).map_err(|e| anyhow::anyhow!(e.message.clone()))?;
            let account = store.create_account(&name).await?;
            store.close().await;
            println!("{}", account.id);
            Ok(())
        }
        Command::Keys(KeysCommand::Create { account, role, name }) => {
            let store = open_store(&cli.config.load()?).await?;
            store
                .get_account(account)
                .await?
                .with_context(|| format!("account {account} not found"))?;
            let key = generate_api_key();
            let role = match role {
                RoleArg::Admin => Role::Admin,
                RoleArg::Account => Role::Account,
            };
            let record = store
                .create_api_key(NewKey {
                    account_id: Some(account),
                    role,
                    name: &name,
                    hash: &key.hash,
                    prefix: &key.display_prefix,
                })
                .await?;
            store.close().await;
            eprintln!("key id {} ({}); the key is shown only once:", record.id, role.as_str());
            println!("{}", key.plaintext.expose());
            Ok(())
        }
        Command::Keys(KeysCommand::Revoke { key_id }) => {
            let store = open_store(&cli.config.load()?).await?;
            let revoked = store.revoke_api_key(key_id).await?;
            store.close().await;
            anyhow::ensure!(revoked, "no live API key with id {key_id}");
            println!("revoked {key_id}");
            Ok(())
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database, config.sqlite_synchronous).await?;
    store.migrate().await?;
    Ok(store)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    crate::telemetry::init_logging(&config.log_level, config.log_format);
    let data_dir = config.data_dir.display().to_string();
    let backend = config.database.backend_name();
    let mut app = Application::build(config).await?;
    if let Some(key) = app.take_bootstrap_key() {
        println!("Admin API key (shown once, store it now): {}", key.expose());
        // Pasted as printed, this creates a first account: the key is filled in, and the JSON
        // content type is said, since curl's `-d` alone sends a form (answered 415).
        println!(
            "Next: curl -H 'Authorization: Bearer {}' -H 'content-type: application/json' -d '{{\"name\":\"My restaurant\"}}' http://{}/v1/api/accounts",
            key.expose(),
            app.local_addr()
        );
    }
    // Install the signal handlers before announcing readiness, so a SIGTERM that follows the
    // startup line is always handled gracefully.
    let signals = ShutdownSignals::install()?;
    println!(
        "hookline listening on http://{} (backend {backend}, data dir {data_dir})",
        app.local_addr()
    );
    tracing::info!(address = %app.local_addr(), backend, data_dir, "hookline started");
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        trigger.cancel();
    });
    app.run_until(shutdown).await?;
    tracing::info!("hookline stopped");
    Ok(())
}

/// SIGTERM and SIGINT (Ctrl-C), registered up front.
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    #[cfg(unix)]
    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }

    #[cfg(not(unix))]
    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Read a scenario file: YAML by extension, JSON otherwise, with the same size and nesting
/// limits as an upload.
fn read_scenario_file(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    use crate::scenario::document;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (doc, kind) = if ext == "yaml" || ext == "yml" {
        (document::from_yaml_bytes(&bytes), "YAML")
    } else {
        (document::from_json_bytes(&bytes), "JSON")
    };
    doc.with_context(|| format!("{} is not valid {kind} for a scenario", path.display()))
}

fn run_scenario(command: ScenarioCommand) -> anyhow::Result<()> {
    use crate::scenario::{Scenario, Severity, format_problems, run_chat};
    match command {
        ScenarioCommand::Validate { file } => {
            let doc = read_scenario_file(&file)?;
            match Scenario::compile(&doc) {
                Ok((scenario, warnings)) => {
                    print!("{}", format_problems(&warnings));
                    println!(
                        "{}: ok ({} steps, start '{}', {} warning(s))",
                        file.display(),
                        scenario.step_ids().count(),
                        scenario.start_step(),
                        warnings.len()
                    );
                    Ok(())
                }
                Err(problems) => {
                    print!("{}", format_problems(&problems));
                    let errors = problems.iter().filter(|p| p.severity == Severity::Error).count();
                    println!("{}: {errors} error(s)", file.display());
                    std::process::exit(1);
                }
            }
        }
        ScenarioCommand::Chat { file } => {
            let doc = read_scenario_file(&file)?;
            let (scenario, _) = Scenario::compile(&doc)
                .map_err(|problems| anyhow::anyhow!("the scenario has errors:\n{}", format_problems(&problems)))?;
            let stdin = std::io::stdin();
            run_chat(&scenario, stdin.lock(), std::io::stdout(), crate::store::now_ms)?;
            Ok(())
        }
    }
}
