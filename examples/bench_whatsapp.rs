//! Load benchmark of the WhatsApp webhook path: messages per second and handler latency through
//! the full path (signature check, parse, scenario engine, one durable transaction, the reply
//! and the read receipt sent to a local fake Graph API), on SQLite or PostgreSQL.
//!
//! cargo run --release --example bench_whatsapp -- [--clients 64] [--seconds 10] [--rate 0]
//!   HOOKLINE_BENCH_DATABASE_URL=postgres://… selects PostgreSQL (a fresh schema is created).
//!   --rate N paces the whole load at N messages/s (0 = as fast as the clients go).
//!   --wrk: wrk sends the messages from a second process (`--clients` connections). wrk cannot
//!   sign, so the bodies and their signatures are made first and written to a file wrk reads;
//!   each is a distinct message (one per body, as Meta usually sends them) in one of 6,400
//!   chats.
//!
//! Meta does not wait for replies, so the webhook answers once the message is durable; the
//! replies leave in the background. The figure counts answered messages; the replies the fake
//! received are printed beside it.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::any;
use hmac::{KeyInit, Mac};
use hookline::app::Application;
use hookline::config::Config;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[path = "shared/bench.rs"]
mod bench;
#[path = "shared/wrk.rs"]
mod wrk;

use bench::{arg, choose_database, percentile};

const APP_SECRET: &str = "bench-app-secret-0123456789";
const NUMBER_ID: &str = "106540352242922";

/// wrk's script: thread `t` of 2 reads every other line of the prepared file (`signature body`)
/// and posts them in turn.
const WRK_SCRIPT: &str = r#"
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local sigs, bodies, n = {}, {}, 0
function init(args)
  local i = 0
  for line in io.lines("BODIES") do
    if i % 2 == tid then
      local sp = line:find(" ")
      sigs[#sigs + 1] = line:sub(1, sp - 1)
      bodies[#bodies + 1] = line:sub(sp + 1)
    end
    i = i + 1
  end
end
request = function()
  n = n % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = sigs[n]}, bodies[n])
end
"#;

/// A Graph API that accepts everything at once; `counter` counts the calls.
async fn fake_graph_api(counter: Arc<AtomicU64>) -> String {
    let app = Router::new().route(
        "/{*rest}",
        any(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move { axum::Json(json!({ "messaging_product": "whatsapp", "success": true, "messages": [{ "id": format!("wamid.BENCH{n}") }] })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// One message's webhook body, as Meta sends it.
fn body(n: u64, chat: u64) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": NUMBER_ID},
        "contacts": [{"profile": {"name": "B"}, "wa_id": chat.to_string()}],
        "messages": [{"from": chat.to_string(), "id": format!("wamid.IN{n}"), "timestamp": "1700000000", "type": "text", "text": {"body": format!("m{n}")}}]
    }}]}]})
    .to_string()
}

fn sign(body: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A server with a WhatsApp bot running an echo scenario; (base URL, bot id, what stops it).
async fn start_server(
    dir: &std::path::Path,
    graph: String,
) -> anyhow::Result<(String, String, &'static str, CancellationToken)> {
    let mut config = Config::for_data_dir(dir);
    config.listen = "127.0.0.1:0".parse()?;
    config.whatsapp.api_url = graph;
    config.whatsapp.messages_per_second = 0;
    config.public_url = Some("https://bench.example".into());
    config.rate_limits.webhooks_per_minute = 0;
    config.rate_limits.bot_management_per_minute = 0;
    config.dialog_inputs_per_minute = u32::MAX;
    let backend = choose_database(&mut config).await?;
    let mut app = Application::build(config).await?;
    let admin = app.take_bootstrap_key().map(|k| k.expose().clone()).unwrap_or_default();
    let base = format!("http://{}", app.local_addr());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until(shutdown.clone()));
    let http = reqwest::Client::new();
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
        json!({ "platform": "whatsapp", "credentials": {
            "phone_number_id": NUMBER_ID, "access_token": "EAAG-bench-token-0000", "app_secret": APP_SECRET } }),
    )
    .await;
    let scenario = json!({ "start_step": "echo", "steps": { "echo": {
        "message": { "text": "got {{last}}" }, "expected_input": { "type": "text", "variable": "last" }, "next_step": "echo" } } });
    call(
        format!("/v1/api/bots/{bot}/scenarios"),
        json!({ "name": "echo", "scenario_data": scenario }),
    )
    .await;
    Ok((base, bot, backend, shutdown))
}

/// Write `count` signed bodies, one `signature body` per line, for wrk.
fn write_bodies(count: u64) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!("hookline-wa-bodies-{}.txt", std::process::id()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for n in 0..count {
        let b = body(n, 10_000 + n % 6_400);
        writeln!(out, "{} {b}", sign(&b))?;
    }
    out.flush()?;
    Ok(path)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let clients = arg("--clients", 64) as usize;
    let seconds = arg("--seconds", 10);
    let rate = arg("--rate", 0);
    let use_wrk = std::env::args().any(|a| a == "--wrk");
    hookline::app::install_tls_provider();
    let dir = tempfile::tempdir()?;
    let calls = Arc::new(AtomicU64::new(0));
    let (base, bot, backend, shutdown) = start_server(dir.path(), fake_graph_api(calls.clone()).await).await?;
    let url = format!("{base}/v1/api/webhooks/whatsapp/{bot}");

    if use_wrk {
        // Enough distinct messages for 20,000/s; wrk wraps around (duplicates) past them.
        let count = seconds * 20_000;
        let file = write_bodies(count)?;
        let script = WRK_SCRIPT.replace("BODIES", &file.display().to_string());
        let before = calls.load(Ordering::Relaxed);
        let report = wrk::run(&script, clients, seconds, &url).await;
        let _ = std::fs::remove_file(&file);
        print!("{}", report.text);
        println!(
            "wrk backend={backend} connections={clients} seconds={seconds}: {} messages answered 2xx, {:.0} messages/s, {} non-2xx, {} calls to the Graph API (replies and read receipts){}",
            report.requests - report.non_2xx.min(report.requests),
            report.ok_per_sec(),
            report.non_2xx,
            calls.load(Ordering::Relaxed) - before,
            if report.requests > count {
                " — more requests than prepared bodies: the rest were duplicates"
            } else {
                ""
            },
        );
        shutdown.cancel();
        return Ok(());
    }

    let http = reqwest::Client::builder().pool_max_idle_per_host(clients * 2).build()?;
    let next = Arc::new(AtomicU64::new(1));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let interval = (rate > 0).then(|| Duration::from_secs_f64(clients as f64 / rate as f64));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, next) = (http.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            // Clients start spread over one interval, so a paced load arrives evenly.
            if let Some(every) = interval {
                tokio::time::sleep(every.mul_f64(c as f64 / clients as f64)).await;
            }
            let mut ticker = interval.map(tokio::time::interval);
            let mut i = 0u64;
            while Instant::now() < deadline {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                let chat = 10_000 + (c as u64) * 100 + i % 100;
                let b = body(next.fetch_add(1, Ordering::Relaxed), chat);
                let signature = sign(&b);
                let started = Instant::now();
                let ok = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("X-Hub-Signature-256", signature)
                    .body(b)
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
        "backend={backend} clients={clients} rate={} seconds={seconds}: {} messages, {:.0} messages/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}, {} Graph API calls",
        if rate == 0 { "max".to_string() } else { rate.to_string() },
        all.len(),
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        calls.load(Ordering::Relaxed),
    );
    shutdown.cancel();
    Ok(())
}
