//! Sending one signed request and classifying what happened. Success is 2xx only; redirects are
//! not followed; the first 8 KiB of the answer are kept.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::ssrf::Guard;

pub const MAX_BODY_KEPT: usize = 8 * 1024;

/// The HTTP client every delivery shares: connection reuse, no redirects, the SSRF guard as
/// its resolver. Proxies named in the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`)
/// are ignored: a proxy receives the host name and resolves it itself, so the guard would never
/// see the address the request reaches. A client that cannot be built is a startup error;
/// there is no unguarded fallback.
pub fn client(guard: Guard) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(guard))
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .user_agent(concat!("hookline/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One request to send.
pub struct Request<'a> {
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub timeout: Duration,
}

/// What came back.
#[derive(Clone, Debug)]
pub struct Answer {
    pub succeeded: bool,
    pub status: Option<u16>,
    pub headers: Value,
    pub body: String,
    /// dns, connect, tls, timeout, status, refused (SSRF guard), request.
    pub error_class: Option<&'static str>,
    pub error_message: Option<String>,
    pub latency_ms: i64,
    /// From `Retry-After` on 429/503, in ms.
    pub retry_after_ms: Option<i64>,
}

pub async fn send(client: &reqwest::Client, guard: &Guard, req: Request<'_>, now_ms: i64) -> Answer {
    let started = Instant::now();
    // reqwest skips the resolver for IP-literal hosts, so those are checked here.
    if let Some(refusal) = literal_refusal(guard, req.url) {
        return failure("refused", refusal, 0);
    }
    let mut builder = client
        .post(req.url)
        .timeout(req.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let result = builder.body(req.body).send().await;
    let elapsed = || started.elapsed().as_millis() as i64;
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            let (class, message) = classify(&e);
            return failure(class, message, elapsed());
        }
    };
    let status = response.status();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        headers.insert(
            name.as_str().to_string(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    let retry_after_ms = if status.as_u16() == 429 || status.as_u16() == 503 {
        response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| super::retry::parse_retry_after(v, now_ms))
    } else {
        None
    };
    let (body, body_error) = read_prefix(response, MAX_BODY_KEPT).await;
    let latency_ms = elapsed();
    let succeeded = status.is_success() && body_error.is_none();
    Answer {
        succeeded,
        status: Some(status.as_u16()),
        headers: Value::Object(headers),
        body,
        error_class: if succeeded {
            None
        } else {
            Some(if body_error.is_some() { "connect" } else { "status" })
        },
        error_message: body_error.or_else(|| (!succeeded).then(|| format!("receiver answered {status}"))),
        latency_ms,
        retry_after_ms,
    }
}

/// Keep the first `limit` bytes of the body; stop reading after that.
async fn read_prefix(mut response: reqwest::Response, limit: usize) -> (String, Option<String>) {
    let mut kept: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if kept.len() >= limit {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return (String::from_utf8_lossy(&kept).into_owned(), Some(classify(&e).1)),
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), None)
}

/// An answer for a request that failed before any response (or was never sent).
pub fn failure(class: &'static str, message: String, latency_ms: i64) -> Answer {
    Answer {
        succeeded: false,
        status: None,
        headers: Value::Object(Map::new()),
        body: String::new(),
        error_class: Some(class),
        error_message: Some(message),
        latency_ms,
        retry_after_ms: None,
    }
}

fn literal_refusal(guard: &Guard, url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let ip: std::net::IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    guard.check(ip).err()
}

/// Error class for the attempt log, and a message without internals worth hiding (no secrets
/// are in a transport error).
fn classify(e: &reqwest::Error) -> (&'static str, String) {
    let chain = error_chain(e);
    let class = if e.is_timeout() {
        "timeout"
    } else if chain.contains("delivery_allowed_networks") {
        "refused"
    } else if chain.contains("dns error") || chain.contains("cannot resolve") || chain.contains("failed to lookup") {
        "dns"
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake") {
        "tls"
    } else {
        "connect"
    };
    (class, chain)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Request headers as logged: the signature and the endpoint's custom headers (which often carry
/// credentials) are masked.
pub fn logged_headers(headers: &[(String, String)]) -> Value {
    let map: BTreeMap<&str, &str> = headers
        .iter()
        .map(|(k, v)| {
            let shown = match k.as_str() {
                "webhook-id" | "webhook-timestamp" => v.as_str(),
                "webhook-signature" => "v1,****",
                _ => "****",
            };
            (k.as_str(), shown)
        })
        .collect();
    serde_json::to_value(map).unwrap_or(Value::Null)
}
