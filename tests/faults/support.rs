//! What every fault test needs: the real `hookline` binary as a child process that can be killed
//! with SIGKILL and started again on the same store, a fresh PostgreSQL database per test, the
//! few API calls that set up an account and an endpoint, and a receiver of outbound webhooks that
//! records every request and notices two concurrent attempts of one delivery.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_hookline");

/// How long a node may take to print its startup line and answer `/ready` on a loaded machine.
const STARTUP: Duration = Duration::from_secs(60);

/// Where a node keeps its data: a fresh SQLite file in its data dir, or a PostgreSQL database.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// A fresh PostgreSQL database for one test, or None (skipped, noted on stderr) when
/// `HOOKLINE_TEST_DATABASE_URL` is not set; with `HOOKLINE_REQUIRE_POSTGRES=1` a missing
/// database fails the test instead.
pub async fn fresh_postgres(test_name: &str) -> Option<Backend> {
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
    let name = format!("faults_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to HOOKLINE_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create a database for the fault test");
    admin.close().await;
    Some(Backend::Postgres(with_database(&base, &name)))
}

/// `base` with its database name replaced by `name` (query parameters kept).
fn with_database(base: &str, name: &str) -> String {
    let (head, query) = base.split_once('?').map_or((base, None), |(h, q)| (h, Some(q)));
    let authority_start = head.find("://").map_or(0, |i| i + 3);
    let path_start = head[authority_start..]
        .find('/')
        .map_or(head.len(), |i| authority_start + i);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}/{name}{query}", &head[..path_start])
}

/// How to start a node, kept so that it can be started again on the same store.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub data_dir: PathBuf,
    pub envs: Vec<(String, String)>,
}

impl NodeSpec {
    /// A node on `backend` with its own data dir under `root`, named `name`, and `envs`.
    pub fn new(root: &Path, name: &str, backend: &Backend, envs: &[(&str, &str)]) -> NodeSpec {
        let data_dir = root.join(name);
        std::fs::create_dir_all(&data_dir).expect("node data dir");
        let mut envs: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Backend::Postgres(url) = backend {
            // Every node of one database must share the master key that seals its secrets.
            let key = hookline::secrets::encode_master_key(&[7u8; 32]);
            envs.push(("HOOKLINE_DATABASE_URL".into(), url.clone()));
            envs.push(("HOOKLINE_MASTER_KEY".into(), key));
        }
        NodeSpec { data_dir, envs }
    }

    /// Start `hookline serve` on a free port; returns once it answers `/ready` with 200.
    pub async fn start(&self) -> Node {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("node.log"))
            .expect("node log file");
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.data_dir)
            .env_remove("HOOKLINE_DATABASE_URL")
            .env_remove("DATABASE_URL")
            .env("HOOKLINE_LOG_LEVEL", "warn")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn hookline");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut admin_key = None;
        let addr = tokio::time::timeout(STARTUP, async {
            loop {
                let line = lines.next_line().await.ok().flatten().unwrap_or_else(|| {
                    panic!(
                        "hookline exited before listening; see {}/node.log",
                        self.data_dir.display()
                    )
                });
                if let Some(k) = line.strip_prefix("Admin API key (shown once, store it now): ") {
                    admin_key = Some(k.trim().to_string());
                }
                if let Some(rest) = line.strip_prefix("hookline listening on http://") {
                    return rest.split_whitespace().next().unwrap_or_default().to_string();
                }
            }
        })
        .await
        .expect("startup line within 60 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let node = Node {
            child,
            base: format!("http://{addr}"),
            admin_key,
        };
        node.wait_ready().await;
        node
    }
}

/// A running `hookline serve` child process.
pub struct Node {
    pub child: Child,
    /// `http://127.0.0.1:port`
    pub base: String,
    /// Printed only by the node that created the database.
    pub admin_key: Option<String>,
}

impl Node {
    async fn wait_ready(&self) {
        let http = client();
        let deadline = Instant::now() + STARTUP;
        loop {
            let ready = http.get(format!("{}/ready", self.base)).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never answered /ready with 200",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the process gets no chance to flush, commit or answer anything more.
    pub async fn kill_9(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reap the killed node");
    }
}

pub fn client() -> reqwest::Client {
    hookline::app::install_tls_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Settings every fault test wants: outbound webhooks to loopback allowed, no rate limits on
/// the API, quick polls, a short lease (so a killed node's claims come back within the test)
/// and quick retries.
pub const FAST_NODE: &[(&str, &str)] = &[
    ("HOOKLINE_DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ("HOOKLINE_RATE_LIMIT_BOT_MANAGEMENT", "0"),
    ("HOOKLINE_RATE_LIMIT_WEBHOOKS", "0"),
    ("HOOKLINE_DELIVERY_POLL_MS", "20"),
    ("HOOKLINE_DELIVERY_LEASE_SECS", "3"),
    ("HOOKLINE_DELIVERY_RETRY_SCHEDULE", "0,0.2,0.2,0.5,0.5,1,1,1,1,1"),
];

/// POST `body` with `key`; panics unless the answer is `want`; returns the answer's `data`.
pub async fn post_ok(http: &reqwest::Client, url: &str, key: &str, body: Value, want: u16) -> Value {
    let resp = http
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, want, "POST {url}: {answer}");
    answer["data"].clone()
}

/// A new account; returns its id.
pub async fn create_account(http: &reqwest::Client, base: &str, admin: &str, name: &str) -> String {
    let data = post_ok(
        http,
        &format!("{base}/v1/api/accounts"),
        admin,
        json!({ "name": name }),
        201,
    )
    .await;
    data["id"].as_str().expect("account id").to_string()
}

/// An outbound webhook endpoint of `account` pointing at `url`, with at most `max_in_flight`
/// requests open at once per node.
pub async fn create_endpoint(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    account: &str,
    url: &str,
    max_in_flight: u32,
) {
    let body = json!({ "url": url, "max_in_flight": max_in_flight });
    post_ok(
        http,
        &format!("{base}/v1/api/accounts/{account}/webhooks/endpoints"),
        admin,
        body,
        201,
    )
    .await;
}

/// Wait until `done()` holds, polling; panics with `what()` after `timeout`.
pub async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "waited {timeout:?}: {}", what());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One request the receiver got: its `webhook-id` and the event's payload.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub webhook_id: String,
    pub data: Value,
}

#[derive(Default)]
struct Record {
    deliveries: Vec<Delivery>,
    in_flight: HashMap<String, u32>,
    overlaps: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    record: Arc<Mutex<Record>>,
    delay: Duration,
}

/// A loopback receiver of outbound webhooks: answers 200 after `delay`, records every request,
/// and flags a request whose `webhook-id` is already being received (two concurrent attempts of
/// one delivery). A slow answer keeps attempts open long enough for such overlap to show.
pub struct Receiver {
    pub url: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    pub async fn start(delay: Duration) -> Receiver {
        let shared = Shared {
            record: Arc::default(),
            delay,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("receiver address"));
        let app = axum::Router::new().fallback(receive).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, shared, server }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Wait until an event with each of these `data.seq` values was received; panics naming the
    /// missing ones after `timeout`.
    pub async fn wait_for_seqs(&self, want: &HashSet<u64>, timeout: Duration) {
        let missing = || {
            let got: HashSet<u64> = self
                .lock()
                .deliveries
                .iter()
                .filter_map(|d| d.data["seq"].as_u64())
                .collect();
            want.iter().filter(|s| !got.contains(s)).copied().collect::<Vec<_>>()
        };
        let what = || {
            let m = missing();
            let sample = &m[..m.len().min(5)];
            format!(
                "{} of {} acknowledged events never reached the endpoint (e.g. {sample:?})",
                m.len(),
                want.len()
            )
        };
        wait_until(timeout, || missing().is_empty(), what).await;
    }

    /// `webhook-id`s that were received twice at the same time.
    pub fn overlaps(&self) -> Vec<String> {
        self.lock().overlaps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.shared.record.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The event a publisher sends as number `seq`: its own `event_id`, so a resend is recognised.
pub fn seq_event(seq: u64) -> Value {
    json!({ "event_type": "order.created", "event_id": format!("seq-{seq}"), "payload": { "seq": seq } })
}

/// What the endpoint received, checked: each `data.seq` arrived under one `webhook-id` (its
/// `event_id` never became two events). Returns the events received and the repeated
/// deliveries among them.
pub fn one_event_per_seq(deliveries: &[Delivery]) -> (usize, usize) {
    let mut ids_per_seq: HashMap<u64, HashSet<&str>> = HashMap::new();
    for d in deliveries {
        if let Some(seq) = d.data["seq"].as_u64() {
            ids_per_seq.entry(seq).or_default().insert(&d.webhook_id);
        }
    }
    let split: Vec<_> = ids_per_seq.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(split.is_empty(), "an event_id became two events: {split:?}");
    (ids_per_seq.len(), deliveries.len() - ids_per_seq.len())
}

/// Leaves the in-flight count of a `webhook-id` even when the sender hangs up mid-request and
/// the handler is dropped.
struct InFlight {
    shared: Shared,
    id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut record = self.shared.record.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = record.in_flight.get_mut(&self.id) {
            *n = n.saturating_sub(1);
        }
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let data = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)["data"].clone();
    {
        let mut record = shared.record.lock().unwrap_or_else(|e| e.into_inner());
        let open = record.in_flight.entry(webhook_id.clone()).or_default();
        *open += 1;
        if *open > 1 {
            record.overlaps.push(webhook_id.clone());
        }
        record.deliveries.push(Delivery {
            webhook_id: webhook_id.clone(),
            data,
        });
    }
    let _open = InFlight {
        shared: shared.clone(),
        id: webhook_id,
    };
    tokio::time::sleep(shared.delay).await;
    StatusCode::OK
}

#[test]
fn the_database_name_is_replaced_and_the_query_kept() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "f1"),
        "postgres://postgres@127.0.0.1:5432/f1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "f2"), "postgres://h/f2");
}

/// The overlap check must be able to fail: two requests of one `webhook-id` open at once are
/// flagged, one after the other are not.
#[tokio::test]
async fn the_receiver_flags_only_concurrent_requests_of_one_delivery() {
    let rx = Receiver::start(Duration::from_millis(300)).await;
    let http = client();
    let post = |id: &'static str| http.post(&rx.url).header("webhook-id", id).body("{}").send();
    post("msg_a").await.expect("first");
    post("msg_a").await.expect("again, after the first ended");
    assert!(rx.overlaps().is_empty(), "{:?}", rx.overlaps());
    let (one, two) = tokio::join!(post("msg_b"), post("msg_b"));
    one.expect("one");
    two.expect("two");
    assert_eq!(rx.overlaps(), vec!["msg_b".to_string()]);
    assert_eq!(rx.deliveries().len(), 4);
}
