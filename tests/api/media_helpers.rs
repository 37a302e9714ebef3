//! Media test harness: every media test runs on SQLite and PostgreSQL, each with the local store
//! and with an S3-compatible store (`HOOKLINE_TEST_S3_ENDPOINT`, started by `.ci/run`).

use std::io::Write;

use hookline::config::{MediaStoreConfig, S3Config};
use hookline::secrets::Secret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blobs {
    Local,
    S3,
}

/// Run a media test on {SQLite, PostgreSQL} × {local, S3}.
#[macro_export]
macro_rules! all_media_stores {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::helpers::Backend;
            use $crate::media_helpers::{Blobs, spawn_media};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = spawn_media(Backend::Sqlite, Blobs::Local, |_| {}).await {
                    ($body)(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = spawn_media(Backend::Postgres, Blobs::Local, |_| {}).await {
                    ($body)(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_s3() {
                if let Some(app) = spawn_media(Backend::Sqlite, Blobs::S3, |_| {}).await {
                    ($body)(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_s3() {
                if let Some(app) = spawn_media(Backend::Postgres, Blobs::S3, |_| {}).await {
                    ($body)(app).await;
                }
            }
        }
    };
}

/// A server whose media live in `blobs`, with the media rate limit off (tests make many
/// requests). None when the database or the S3 server is not configured (reported as skipped;
/// under `CI=true` a missing S3 server fails instead).
pub async fn spawn_media(
    backend: Backend,
    blobs: Blobs,
    tweak: impl FnOnce(&mut hookline::config::Config),
) -> Option<TestApp> {
    let store = match blobs {
        Blobs::Local => MediaStoreConfig::Local,
        Blobs::S3 => MediaStoreConfig::S3(s3_bucket().await?),
    };
    TestApp::spawn_with(backend, move |c| {
        c.media_store = store;
        c.rate_limits.media_per_minute = 0;
        tweak(c);
    })
    .await
}

/// A fresh bucket on the test S3 server.
async fn s3_bucket() -> Option<S3Config> {
    let name = std::thread::current().name().unwrap_or("test").to_string();
    let Ok(endpoint) = std::env::var("HOOKLINE_TEST_S3_ENDPOINT") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but HOOKLINE_TEST_S3_ENDPOINT is not set: .ci/run must start the S3 server");
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (S3): {name} — set HOOKLINE_TEST_S3_ENDPOINT to an S3-compatible server to run it"
        );
        return None;
    };
    let bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
    // The test server accepts unsigned bucket creation; hookline itself never creates buckets.
    let resp = reqwest::Client::new()
        .put(format!("{}/{bucket}", endpoint.trim_end_matches('/')))
        .send()
        .await
        .expect("S3 test server reachable");
    assert!(resp.status().is_success(), "create bucket: {}", resp.status());
    Some(S3Config {
        bucket,
        endpoint: Some(endpoint.trim_end_matches('/').to_string()),
        region: "us-east-1".into(),
        access_key_id: Some("testing".into()),
        secret_access_key: Some(Secret::new("testing".into())),
    })
}

/// A PNG header: enough for content sniffing.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// An account, its key and one bot: (key, bot id).
pub async fn bot_with_key(app: &TestApp, name: &str) -> (String, String) {
    let (account, key) = app.account_with_key(name).await;
    let bot = new_bot(app, &account, &key, "bot").await;
    (key, bot)
}

pub async fn new_bot(app: &TestApp, account: &str, key: &str, name: &str) -> String {
    let (s, body) = app
        .post(
            &format!("/v1/api/accounts/{account}/bots"),
            key,
            json!({ "name": name }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_string()
}

/// Upload through reqwest's multipart encoder.
pub async fn upload(
    app: &TestApp,
    key: &str,
    bot: &str,
    name: &str,
    declared: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(name.to_string())
        .mime_str(declared)
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let resp = app
        .client
        .post(app.url(&format!("/v1/api/bots/{bot}/media")))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .expect("upload sent");
    let status = resp.status();
    (
        status,
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null),
    )
}

/// Upload a hand-built multipart body (for names an encoder would clean up).
pub async fn upload_raw(app: &TestApp, key: &str, bot: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(app.url(&format!("/v1/api/bots/{bot}/media")))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload sent");
    let status = resp.status();
    (
        status,
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null),
    )
}

/// One `file` part with a raw (unescaped) filename.
pub fn raw_part(filename: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = b"--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".to_vec();
    body.extend_from_slice(filename);
    body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    body.extend_from_slice(data);
    body.extend_from_slice(b"\r\n--XBOUNDARY--\r\n");
    body
}

pub async fn content(app: &TestApp, key: &str, media: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("/v1/api/media/{media}/content")))
        .bearer_auth(key);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.expect("content request")
}

/// Blob keys the bot has in the object store.
pub async fn blob_keys(app: &TestApp, bot: &str) -> Vec<String> {
    app.state.media.blobs().list(bot).await.expect("list blobs")
}
