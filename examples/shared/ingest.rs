//! The `ingest` mode of `bench_webhooks`: a source with the GitHub preset (HMAC-SHA256) routed
//! to one endpoint, loaded by wrk from a second process. Every request carries its own
//! delivery id (GitHub's duplicate key), so each one is verified, logged, published and, with
//! delivery on, delivered to the local receiver.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::json;

use super::{Args, Receiver, account_and_endpoint, post, server, wrk};

pub async fn run(a: &Args, http: &reqwest::Client, rx: &Receiver, backend: &str) {
    let (base, key, stop, _) = server(a, true).await;
    let account = account_and_endpoint(http, &base, &key, &format!("http://{}/", rx.addr)).await;
    let source = post(
        http,
        &format!("{base}/v1/api/accounts/{account}/sources"),
        &key,
        json!({"name": "bench", "verification": {"type": "github"}, "event_type": ".headers[\"x-github-event\"]"}),
    )
    .await;
    let id = source["data"]["id"].as_str().expect("source created").to_string();
    let secret = http
        .get(format!("{base}/v1/api/sources/{id}/secret"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["data"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let body = r#"{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","commits":[{"id":"6113728f","message":"Menu: add ramen"}]}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let script = format!(
        r#"local n = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-Hub-Signature-256"] = "{signature}"
function request()
  n = n + 1
  wrk.headers["X-GitHub-Delivery"] = tid .. "-" .. n
  return wrk.format()
end
"#
    );
    let url = format!("{base}/v1/api/sources/{id}/ingest");
    let before = rx.count.load(Ordering::Relaxed);
    let report = wrk::run(&script, a.clients, a.secs, &url).await;
    print!("{}", report.text);
    let accepted = report.requests - report.non_2xx.min(report.requests);
    println!(
        "wrk ingest ({backend}, {} connections, GitHub HMAC preset, durable, routed to one endpoint): {accepted} accepted in {:.1} s = {:.0} requests/s, {} non-2xx",
        a.clients,
        report.secs,
        report.ok_per_sec(),
        report.non_2xx,
    );
    // Every accepted request became an event for the endpoint: wait until all are delivered.
    let started = Instant::now();
    let want = before + accepted;
    while rx.count.load(Ordering::Relaxed) < want && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "  delivered {} of {accepted} within {:.1} s after the load stopped",
        rx.count.load(Ordering::Relaxed) - before,
        started.elapsed().as_secs_f64()
    );
    stop.cancel();
}
