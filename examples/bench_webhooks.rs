//! Load generator for outbound webhooks (not a test; run it in release mode):
//!
//! ```text
//! cargo run --release --example bench_webhooks -- publish  [--clients 64] [--secs 10]
//! cargo run --release --example bench_webhooks -- batch    [--clients 4] [--size 1000] [--secs 10]
//! cargo run --release --example bench_webhooks -- deliver  [--events 100000]
//! cargo run --release --example bench_webhooks -- latency  [--rate 2000] [--secs 10]
//! cargo run --release --example bench_webhooks -- memory   [--events 1000000]
//! cargo run --release --example bench_webhooks -- ingest   [--clients 64] [--secs 10]   (wrk; a source)
//! ```
//! Add `--postgres postgres://…` to run on PostgreSQL (a fresh schema is created), and
//! `--sync normal` for SQLite's `synchronous=NORMAL` (default FULL).
//!
//! The server runs in this process on loopback with a fresh database, beside a local receiver
//! that answers 200 and counts; both share the machine with the load generator.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hookline::app::Application;
use hookline::config::{Config, DatabaseConfig, SqliteSync};
use hookline::secrets::Secret;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[path = "shared/wrk.rs"]
mod wrk;

#[path = "shared/ingest.rs"]
mod ingest;

struct Args {
    mode: String,
    clients: usize,
    secs: u64,
    size: usize,
    events: usize,
    rate: u64,
    postgres: Option<String>,
    sync: SqliteSync,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        mode: it.next().unwrap_or_else(|| "publish".into()),
        clients: 64,
        secs: 10,
        size: 1000,
        events: 0,
        rate: 2000,
        postgres: None,
        sync: SqliteSync::Full,
    };
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_default();
        match flag.as_str() {
            "--clients" => a.clients = v.parse().unwrap_or(64),
            "--secs" => a.secs = v.parse().unwrap_or(10),
            "--size" => a.size = v.parse().unwrap_or(1000),
            "--events" => a.events = v.parse().unwrap_or(0),
            "--rate" => a.rate = v.parse().unwrap_or(2000),
            "--postgres" => a.postgres = Some(v),
            "--sync" => {
                a.sync = if v == "normal" {
                    SqliteSync::Normal
                } else {
                    SqliteSync::Full
                }
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A receiver that answers 200 and records, per request, the publish time carried in the payload.
struct Receiver {
    addr: std::net::SocketAddr,
    count: Arc<AtomicU64>,
    latencies_us: Arc<std::sync::Mutex<Vec<u64>>>,
}

async fn receiver(epoch: Instant) -> Receiver {
    let count = Arc::new(AtomicU64::new(0));
    let latencies_us = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, l) = (count.clone(), latencies_us.clone());
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            c.fetch_add(1, Ordering::Relaxed);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(sent) = v["data"]["sent_us"].as_u64()
            {
                let now = epoch.elapsed().as_micros() as u64;
                l.lock().unwrap().push(now.saturating_sub(sent));
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    Receiver {
        addr,
        count,
        latencies_us,
    }
}

async fn server(a: &Args, delivery: bool) -> (String, String, CancellationToken, hookline::app::AppState) {
    hookline::app::install_tls_provider();
    // Kept past this function (the server runs on); removed at the end of `main`, so repeated
    // runs do not fill the disk with their databases (a million-event run leaves ~1 GB).
    let dir = tempfile::tempdir().unwrap().keep();
    let _ = DATA_DIR.set(dir.clone());
    let mut config = Config::for_data_dir(&dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.sqlite_synchronous = a.sync;
    config.rate_limits.bot_management_per_minute = 0;
    config.rate_limits.webhooks_per_minute = 0;
    config.delivery_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    config.delivery.enabled = delivery;
    config.max_body_bytes = 16 * 1024 * 1024;
    config.log_level = "warn".into();
    if let Some(url) = &a.postgres {
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&pool)
            .await
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        config.database = DatabaseConfig::Postgres {
            url: Secret::new(format!("{url}{sep}options=-c%20search_path%3D{schema}")),
        };
        config.master_key = Some(Secret::new([7u8; 32]));
    }
    let mut app = Application::build(config).await.unwrap();
    let key = app.take_bootstrap_key().unwrap().expose().clone();
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until(stop.clone()));
    (base, key, stop, state)
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: serde_json::Value) -> serde_json::Value {
    let r = http.post(url).bearer_auth(key).json(&body).send().await.unwrap();
    r.json().await.unwrap()
}

async fn account_and_endpoint(http: &reqwest::Client, base: &str, key: &str, target: &str) -> String {
    let acc = post(http, &format!("{base}/v1/api/accounts"), key, json!({"name": "bench"})).await;
    let id = acc["data"]["id"].as_str().unwrap().to_string();
    post(
        http,
        &format!("{base}/v1/api/accounts/{id}/webhooks/endpoints"),
        key,
        json!({"url": target, "max_in_flight": 256}),
    )
    .await;
    id
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    hookline::app::install_tls_provider();
    let a = args();
    let epoch = Instant::now();
    let rx = receiver(epoch).await;
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build().unwrap();
    let backend = if a.postgres.is_some() { "postgres" } else { "sqlite" };
    match a.mode.as_str() {
        "publish" | "batch" => {
            // Delivery off: this measures the durable write path (events + deliveries).
            let (base, key, stop, _) = server(&a, false).await;
            let account = account_and_endpoint(&http, &base, &key, &format!("http://{}/", rx.addr)).await;
            let batch = a.mode == "batch";
            let url = if batch {
                format!("{base}/v1/api/accounts/{account}/webhooks/events/batch")
            } else {
                format!("{base}/v1/api/accounts/{account}/webhooks/events")
            };
            let body = if batch {
                let events: Vec<_> = (0..a.size)
                    .map(|i| json!({"event_type": "order.created", "payload": {"i": i, "total": 980}}))
                    .collect();
                json!({ "events": events })
            } else {
                json!({"event_type": "order.created", "payload": {"total": 980, "items": ["ramen"]}})
            };
            let body = Arc::new(serde_json::to_vec(&body).unwrap());
            let per_req = if batch { a.size as u64 } else { 1 };
            let done = Arc::new(AtomicU64::new(0));
            let errors = Arc::new(AtomicU64::new(0));
            let until = Instant::now() + Duration::from_secs(a.secs);
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..a.clients {
                let (http, url, key, body, done, errors) = (
                    http.clone(),
                    url.clone(),
                    key.clone(),
                    body.clone(),
                    done.clone(),
                    errors.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < until {
                        let r = http
                            .post(&url)
                            .bearer_auth(&key)
                            .header("content-type", "application/json")
                            .body(body.as_ref().clone())
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status() == 202 => {
                                done.fetch_add(per_req, Ordering::Relaxed);
                            }
                            other => {
                                // The first few errors are shown: a count alone hides the cause.
                                if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                    match other {
                                        Ok(r) => {
                                            eprintln!("error: {} {}", r.status(), r.text().await.unwrap_or_default())
                                        }
                                        Err(e) => eprintln!("error: {e}"),
                                    }
                                }
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            let n = done.load(Ordering::Relaxed);
            println!(
                "{} ({backend}, {} clients{}): {n} events in {secs:.1} s = {:.0} events/s durable, {} errors",
                a.mode,
                a.clients,
                if batch {
                    format!(", {} per batch", a.size)
                } else {
                    String::new()
                },
                n as f64 / secs,
                errors.load(Ordering::Relaxed)
            );
            stop.cancel();
        }
        "wrk" | "echo" => {
            // The same durable publish path, loaded by wrk from a second process: the load
            // generator then costs what the issue's reference figure (axum echo, wrk) cost.
            let (url, key, stop) = if a.mode == "echo" {
                // Calibration: a bare axum JSON echo, the issue's yardstick for this machine.
                let app = axum::Router::new().route(
                    "/echo",
                    axum::routing::post(|body: axum::Json<serde_json::Value>| async move { body }),
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let url = format!("http://{}/echo", listener.local_addr().unwrap());
                let stop = CancellationToken::new();
                let s = stop.clone();
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(s.cancelled_owned())
                        .await
                });
                (url, "none".to_string(), stop)
            } else {
                let (base, key, stop, _) = server(&a, false).await;
                let account = account_and_endpoint(&http, &base, &key, &format!("http://{}/", rx.addr)).await;
                (format!("{base}/v1/api/accounts/{account}/webhooks/events"), key, stop)
            };
            let body = r#"{"event_type":"order.created","payload":{"total":980,"items":["ramen"]}}"#;
            let script = format!(
                "wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {key}\"\n"
            );
            let report = wrk::run(&script, a.clients, a.secs, &url).await;
            print!("{}", report.text);
            println!(
                "wrk {} ({backend}, {} connections): {} accepted in {:.1} s = {:.0} events/s durable, {} non-2xx",
                a.mode,
                a.clients,
                report.requests - report.non_2xx.min(report.requests),
                report.secs,
                report.ok_per_sec(),
                report.non_2xx,
            );
            stop.cancel();
        }
        "deliver" => {
            let events = if a.events == 0 { 100_000 } else { a.events };
            let (base, key, stop, _) = server(&a, true).await;
            let account = account_and_endpoint(&http, &base, &key, &format!("http://{}/", rx.addr)).await;
            let url = format!("{base}/v1/api/accounts/{account}/webhooks/events/batch");
            let started = Instant::now();
            let chunk: Vec<_> = (0..1000)
                .map(|i| json!({"event_type": "order.created", "payload": {"i": i}}))
                .collect();
            let body = json!({ "events": chunk });
            for _ in 0..events / 1000 {
                post(&http, &url, &key, body.clone()).await;
            }
            let published = started.elapsed().as_secs_f64();
            while rx.count.load(Ordering::Relaxed) < (events / 1000 * 1000) as u64 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "deliver ({backend}): {events} events published in {published:.1} s and delivered in {secs:.1} s = {:.0} deliveries/s end to end",
                events as f64 / secs
            );
            stop.cancel();
        }
        "latency" => {
            let (base, key, stop, _) = server(&a, true).await;
            let account = account_and_endpoint(&http, &base, &key, &format!("http://{}/", rx.addr)).await;
            let url = format!("{base}/v1/api/accounts/{account}/webhooks/events");
            let total = a.rate * a.secs;
            let interval = Duration::from_secs_f64(1.0 / a.rate as f64);
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for _ in 0..total {
                tick.tick().await;
                let (http, url, key) = (http.clone(), url.clone(), key.clone());
                let sent = epoch.elapsed().as_micros() as u64;
                tokio::spawn(async move {
                    let _ = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"event_type": "order.created", "payload": {"sent_us": sent}}))
                        .send()
                        .await;
                });
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while rx.count.load(Ordering::Relaxed) < total && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut l = rx.latencies_us.lock().unwrap().clone();
            l.sort_unstable();
            println!(
                "latency ({backend}, {} events/s for {} s): {} delivered, publish→receiver p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                a.rate,
                a.secs,
                l.len(),
                pct(&l, 50.0),
                pct(&l, 95.0),
                pct(&l, 99.0),
                pct(&l, 100.0)
            );
            stop.cancel();
        }
        "memory" => {
            let events = if a.events == 0 { 1_000_000 } else { a.events };
            let down = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap()
            };
            let (base, key, stop, state) = server(&a, true).await;
            let account = account_and_endpoint(&http, &base, &key, &format!("http://{down}/")).await;
            let url = format!("{base}/v1/api/accounts/{account}/webhooks/events/batch");
            let chunk: Vec<_> = (0..1000).map(|i| json!({"event_type": "order.created", "payload": {"i": i, "note": "queued for a receiver that is down"}})).collect();
            let body = json!({ "events": chunk });
            let started = Instant::now();
            let mut peak = 0f64;
            for i in 0..events / 1000 {
                post(&http, &url, &key, body.clone()).await;
                if i % 50 == 0 {
                    peak = peak.max(rss_mib());
                }
            }
            println!(
                "memory ({backend}): queued {events} events in {:.1} s; RSS {:.0} MiB (peak while publishing {:.0} MiB)",
                started.elapsed().as_secs_f64(),
                rss_mib(),
                peak.max(rss_mib())
            );
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                hookline::delivery::maintenance::update_gauges(&state.outbound).await;
                let (depth, _) = state.store.queue_depth(hookline::store::now_ms()).await.unwrap();
                peak = peak.max(rss_mib());
                println!(
                    "  +{:.0} s: queue depth {depth}, RSS {:.0} MiB",
                    started.elapsed().as_secs_f64(),
                    rss_mib()
                );
            }
            println!(
                "memory ({backend}): peak RSS {peak:.0} MiB with {events} events queued (whole process: server, generator, receiver)"
            );
            stop.cancel();
        }
        "ingest" => ingest::run(&a, &http, &rx, backend).await,
        other => panic!("unknown mode {other}: publish, batch, wrk, echo, deliver, latency, memory or ingest"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(dir) = DATA_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The SQLite server's data folder, removed when the benchmark ends.
static DATA_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
