//! `TestApp`: a running server with a fresh database, plus request helpers.

use std::io::Write;
use std::net::SocketAddr;

use hookline::app::{AppState, Application};
use hookline::config::{Config, DatabaseConfig};

use hookline::secrets::Secret;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Run a test body against SQLite and (when configured) PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                ($body)(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await {
                    ($body)(app).await;
                }
            }
        }
    };
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub admin_key: String,
    pub state: AppState,
    pub backend: Backend,
    pub config: Config,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub dir: tempfile::TempDir,
}

/// A fresh PostgreSQL schema for one test, or None (skipped) when no database is configured.
pub async fn postgres_url(test_name: &str) -> Option<String> {
    let Ok(base) = std::env::var("HOOKLINE_TEST_DATABASE_URL") else {
        if std::env::var("HOOKLINE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("HOOKLINE_REQUIRE_POSTGRES=1 but HOOKLINE_TEST_DATABASE_URL is not set");
        }
        // Written past the test harness's capture so the skip is visible in every run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (PostgreSQL): {test_name} — set HOOKLINE_TEST_DATABASE_URL to run it"
        );
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to HOOKLINE_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Start a server; `tweak` adjusts the configuration first.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        hookline::app::install_tls_provider();
        if let Ok(filter) = std::env::var("HOOKLINE_TEST_LOG") {
            hookline::telemetry::init_logging(&filter, hookline::config::LogFormat::Text);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::for_data_dir(dir.path());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.sqlite_synchronous = hookline::config::SqliteSync::Normal;
        // The server runs inside this test binary, which is not hookline: the jq sandbox is
        // started from the hookline binary Cargo built for these tests.
        config.jq.exe = Some(env!("CARGO_BIN_EXE_hookline").into());
        if backend == Backend::Postgres {
            let name = std::thread::current().name().unwrap_or("test").to_string();
            let url = postgres_url(&name).await?;
            config.database = DatabaseConfig::Postgres { url: Secret::new(url) };
            config.master_key = Some(Secret::new([42u8; 32]));
        }
        tweak(&mut config);
        Some(Self::start(config, backend, dir).await)
    }

    pub async fn start(config: Config, backend: Backend, dir: tempfile::TempDir) -> TestApp {
        let kept = config.clone();
        let mut app = Application::build(config).await.expect("application builds");
        let admin_key = app.take_bootstrap_key().map(|k| k.expose().clone()).unwrap_or_default();
        let addr = app.local_addr();
        let state = app.state().clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run_until(shutdown.clone()));
        TestApp {
            addr,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("client"),
            admin_key,
            state,
            backend,
            config: kept,
            shutdown,
            server: Some(server),
            dir,
        }
    }

    /// Stop gracefully, then start a new server on the same database and data dir.
    pub async fn restart(mut self) -> TestApp {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stopped cleanly");
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        let mut config = self.config.clone();
        config.listen = "127.0.0.1:0".parse().expect("addr");
        let mut app = Self::start(config, self.backend, dir).await;
        app.admin_key = self.admin_key.clone();
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Send a request with an optional bearer key and JSON body; returns status and JSON body
    /// (`Value::Null` when the body is empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let resp = self.client.get(self.url("/metrics")).send().await.expect("metrics");
        resp.text().await.expect("metrics text")
    }

    /// Create an account (as admin) and an account-scoped key for it: (account id, key).
    pub async fn account_with_key(&self, name: &str) -> (String, String) {
        let (s, body) = self
            .post("/v1/api/accounts", &self.admin_key, serde_json::json!({ "name": name }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let id = body["data"]["id"].as_str().unwrap().to_string();
        let (s, body) = self
            .post(
                &format!("/v1/api/accounts/{id}/keys"),
                &self.admin_key,
                serde_json::json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        (id, body["data"]["key"].as_str().unwrap().to_string())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Assert the error envelope: status, `success: false` and the code.
#[track_caller]
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "body: {body}");
    assert_eq!(body["success"], Value::Bool(false), "body: {body}");
    assert_eq!(body["error"]["code"], want_code, "body: {body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
}
