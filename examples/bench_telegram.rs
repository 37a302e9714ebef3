//! Load benchmark of the Telegram webhook path: updates per second and handler latency through
//! the full path (secret check, parse, scenario engine, one durable transaction, reply sent to a
//! local fake Bot API), on SQLite or PostgreSQL.
//!
//! cargo run --release --example bench_telegram -- [--clients 64] [--seconds 10] [--rate 0]
//!   HOOKLINE_BENCH_DATABASE_URL=postgres://… selects PostgreSQL (a fresh schema is created).
//!   --rate N paces the whole load at N updates/s (0 = as fast as the clients go).
//!   --wrk: wrk sends the updates from a second process (`--clients` connections, distinct
//!   updates over 6,400 chats) instead of in-process clients.
//!
//! The fake Bot API and the server share this process (and the machine's cores); so do the
//! in-process clients, which make their numbers a lower bound for the server alone. wrk, a
//! load generator written in C, costs the machine far less per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use hookline::app::Application;
use hookline::config::Config;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[path = "shared/bench.rs"]
mod bench;
#[path = "shared/wrk.rs"]
mod wrk;

use bench::{arg, choose_database, percentile};

/// wrk's script: each request a new update (ids unique across wrk's threads), in one of 3,200
/// chats per thread (6,400 in all, as many as the in-process clients use), with the bot's
/// secret token.
const WRK_SCRIPT: &str = r#"
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  local id = tid * 100000000 + n
  local chat = 10000 + tid * 100000 + (n % 3200)
  local body = string.format('{"update_id":%d,"message":{"message_id":%d,"date":0,"text":"m%d","chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"B"}}}', id, id, n, chat, chat)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Telegram-Bot-Api-Secret-Token"] = "SECRET"}, body)
end
"#;

/// A Bot API that accepts everything at once; `counter` counts the calls.
async fn fake_bot_api(counter: Arc<AtomicU64>) -> String {
    let app = Router::new().route(
        "/{*rest}",
        post(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed) as i64;
            async move { axum::Json(json!({ "ok": true, "result": { "message_id": n, "date": 0, "chat": { "id": 1, "type": "private" } } })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let clients = arg("--clients", 64) as usize;
    let seconds = arg("--seconds", 10);
    let rate = arg("--rate", 0);
    let use_wrk = std::env::args().any(|a| a == "--wrk");
    hookline::app::install_tls_provider();
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_data_dir(dir.path());
    config.listen = "127.0.0.1:0".parse()?;
    let replies = Arc::new(AtomicU64::new(0));
    config.telegram_api_url = fake_bot_api(replies.clone()).await;
    config.public_url = Some("https://bench.example".into());
    config.telegram_outbound_rate_limit = false;
    config.rate_limits.webhooks_per_minute = 0;
    config.rate_limits.bot_management_per_minute = 0;
    config.dialog_inputs_per_minute = u32::MAX;
    let backend = choose_database(&mut config).await?;
    let mut app = Application::build(config).await?;
    let admin = app.take_bootstrap_key().map(|k| k.expose().clone()).unwrap_or_default();
    let base = format!("http://{}", app.local_addr());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until(shutdown.clone()));

    let http = reqwest::Client::builder().pool_max_idle_per_host(clients * 2).build()?;
    let call = |path: String, body: Value| {
        let req = http.post(format!("{base}{path}")).bearer_auth(&admin).json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let account = call("/v1/api/accounts".into(), json!({ "name": "bench" })).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = call(format!("/v1/api/accounts/{account}/bots"), json!({ "name": "bench" })).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        format!("/v1/api/bots/{bot}/platforms"),
        json!({ "platform": "telegram", "credentials": { "token": "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } }),
    )
    .await;
    let scenario = json!({ "start_step": "echo", "steps": { "echo": {
        "message": { "text": "got {{last}}" }, "expected_input": { "type": "text", "variable": "last" }, "next_step": "echo" } } });
    call(
        format!("/v1/api/bots/{bot}/scenarios"),
        json!({ "name": "echo", "scenario_data": scenario }),
    )
    .await;
    let secret = "bench_secret".to_string();
    call(
        format!("/v1/api/webhooks/telegram/{bot}/set"),
        json!({ "secret_token": secret }),
    )
    .await;
    let url = format!("{base}/v1/api/webhooks/telegram/{bot}");

    if use_wrk {
        let script = WRK_SCRIPT.replace("SECRET", &secret);
        let before = replies.load(Ordering::Relaxed);
        let report = wrk::run(&script, clients, seconds, &url).await;
        print!("{}", report.text);
        println!(
            "wrk backend={backend} connections={clients} seconds={seconds}: {} updates answered 2xx, {:.0} updates/s, {} non-2xx, {} replies sent to the Bot API",
            report.requests - report.non_2xx.min(report.requests),
            report.ok_per_sec(),
            report.non_2xx,
            replies.load(Ordering::Relaxed) - before,
        );
        shutdown.cancel();
        return Ok(());
    }

    let next_update = Arc::new(AtomicU64::new(1));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let interval = (rate > 0).then(|| Duration::from_secs_f64(clients as f64 / rate as f64));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, secret, next_update) = (http.clone(), url.clone(), secret.clone(), next_update.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            // Clients start spread over one interval, so the paced load arrives evenly rather
            // than in bursts of `clients` requests at the same instant.
            if let Some(every) = interval {
                tokio::time::sleep(every.mul_f64(c as f64 / clients as f64)).await;
            }
            let mut ticker = interval.map(tokio::time::interval);
            let mut i = 0u64;
            while Instant::now() < deadline {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                // Each client talks in its own handful of chats, one update at a time.
                let chat = 10_000 + (c as i64) * 100 + (i % 100) as i64;
                let id = next_update.fetch_add(1, Ordering::Relaxed);
                let update = json!({ "update_id": id, "message": { "message_id": id, "date": 0, "text": format!("m{i}"),
                    "chat": { "id": chat, "type": "private" }, "from": { "id": chat, "is_bot": false, "first_name": "B" } } });
                let started = Instant::now();
                let ok = http
                    .post(&url)
                    .header("X-Telegram-Bot-Api-Secret-Token", &secret)
                    .json(&update)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                latencies.push(started.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                }
                i += 1;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    println!(
        "backend={backend} clients={clients} rate={} seconds={seconds}: {} updates, {:.0} updates/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
        if rate == 0 { "max".to_string() } else { rate.to_string() },
        all.len(),
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
    );
    shutdown.cancel();
    Ok(())
}
