//! The client against a tiny loopback server: what goes on the wire, and what comes back.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::*;

const TOKEN: &str = "EAAG-loopback-token-0123456789";

/// One request the loopback server saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    auth: Option<String>,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A server on 127.0.0.1:0 that records every request and answers with `answer`; a path
/// with a `/slow` segment answers only after two seconds.
async fn serve<F>(answer: F) -> Server
where
    F: Fn(&Seen, &str) -> Response + Clone + Send + Sync + 'static,
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (record, own_base) = (seen.clone(), base.clone());
    let app = axum::Router::new().fallback(move |req: Request| {
        let (record, answer, own_base) = (record.clone(), answer.clone(), own_base.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 24).await.unwrap_or_default();
            let one = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().map(str::to_owned),
                auth: header_text(&parts.headers, header::AUTHORIZATION),
                body: body.to_vec(),
            };
            record.lock().unwrap().push(one.clone());
            if one.path.contains("/slow") {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            answer(&one, &own_base)
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { base, seen, task }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn token() -> Secret<String> {
    Secret::new(TOKEN.to_string())
}

fn api(server: &Server) -> GraphApi {
    GraphApi::new(&server.base, Duration::from_secs(1)).unwrap()
}

fn json_answer(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn shows_no_token(e: &CallError) -> bool {
    !format!("{e:?}").contains(TOKEN) && !e.to_string().contains(TOKEN)
}

#[tokio::test]
async fn send_message_reads_the_wamid_and_sends_the_bearer_token() {
    let server = serve(|seen, _| {
        if seen.json()["status"] == "read" {
            json_answer(200, json!({"success": true}))
        } else {
            json_answer(
                200,
                json!({"messaging_product": "whatsapp", "contacts": [{"input": "15551234567", "wa_id": "15551234567"}],
                "messages": [{"id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI"}]}),
            )
        }
    })
    .await;
    let api = api(&server);
    let body = json!({"messaging_product": "whatsapp", "to": "15551234567", "type": "text", "text": {"body": "Hi"}});
    let sent = api
        .send_message(&token(), "v21.0", "106540352242922", &body)
        .await
        .unwrap();
    assert_eq!(sent.message_id.as_deref(), Some("wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI"));
    let read = api
        .send_message(
            &token(),
            "v21.0",
            "106540352242922",
            &super::super::mark_read("wamid.X"),
        )
        .await
        .unwrap();
    assert_eq!(read, Sent { message_id: None });

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v21.0/106540352242922/messages");
    assert_eq!(seen[0].auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(seen[0].json(), body);
}

#[tokio::test]
async fn error_answers_are_classified_and_never_show_the_token() {
    let server = serve(|seen, _| match seen.path.as_str() {
        // A server that echoes the request's credentials back in its error.
        "/v21.0/1/messages" => json_answer(
            400,
            json!({"error": {"message": format!("(#131026) undeliverable; you sent {}", seen.auth.clone().unwrap_or_default()),
                "type": "OAuthException", "code": 131026, "fbtrace_id": "T"}}),
        ),
        "/v21.0/2/messages" => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "12")],
            seen.auth.clone().unwrap_or_default(),
        )
            .into_response(),
        "/v21.0/3/messages" => (StatusCode::BAD_GATEWAY, "upstream gone").into_response(),
        "/v21.0/4/messages" => json_answer(
            200,
            json!({"error": {"message": "(#131047) Re-engagement message", "code": 131047}}),
        ),
        _ => json_answer(200, json!({"id": "x"})),
    })
    .await;
    let api = api(&server);
    let body = json!({"to": "1"});
    let echo = api.send_message(&token(), "v21.0", "1", &body).await.unwrap_err();
    assert!(matches!(&echo, CallError::Permanent { code: 131026, description } if description.contains("[redacted]")));
    let limited = api.send_message(&token(), "v21.0", "2", &body).await.unwrap_err();
    assert_eq!(limited, CallError::RetryAfter(12));
    let gateway = api.send_message(&token(), "v21.0", "3", &body).await.unwrap_err();
    assert_eq!(gateway, CallError::Transient("HTTP 502: upstream gone".into()));
    let window = api.send_message(&token(), "v21.0", "4", &body).await.unwrap_err();
    assert!(matches!(window, CallError::OutsideWindow(_)), "{window:?}");
    let slow = api.send_message(&token(), "v21.0", "slow", &body).await;
    let slow = slow.map(|_| ()).unwrap_err();
    assert!(
        matches!(&slow, CallError::Transient(t) if t.starts_with("timed out")),
        "{slow:?}"
    );
    let unchecked = api.send_message(&token(), "v21.0", "../../x", &body).await.unwrap_err();

    // Nothing listens on the closed port: a network error, with no URL in it.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let nowhere = GraphApi::new(&format!("http://{closed}"), Duration::from_secs(1)).unwrap();
    let refused = nowhere.send_message(&token(), "v21.0", "1", &body).await.unwrap_err();
    assert!(
        matches!(&refused, CallError::Transient(t) if t.starts_with("network error")),
        "{refused:?}"
    );

    for e in [echo, limited, gateway, window, slow, unchecked, refused] {
        assert!(shows_no_token(&e), "{e:?}");
        assert!(!format!("{e:?}").contains("127.0.0.1"), "no URL in errors: {e:?}");
    }
    assert!(!format!("{api:?}").contains(TOKEN));
}

#[tokio::test]
async fn upload_sends_the_multipart_fields_and_answers_the_id() {
    let server = serve(|_, _| json_answer(200, json!({"id": "1234567890123456"}))).await;
    let data = Bytes::from_static(b"\x89PNG fake image bytes");
    let id = api(&server)
        .upload_media(&token(), "v21.0", "42", data, "image/png", "pic\".png")
        .await
        .unwrap();
    assert_eq!(id, "1234567890123456");
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v21.0/42/media");
    assert!(seen.auth.as_deref().is_some_and(|a| a.ends_with(TOKEN)));
    let body = String::from_utf8_lossy(&seen.body);
    for part in [
        "name=\"messaging_product\"\r\n\r\nwhatsapp\r\n",
        "name=\"type\"\r\n\r\nimage/png\r\n",
        "name=\"file\"; filename=\"pic.png\"\r\nContent-Type: image/png\r\n\r\n\u{fffd}PNG fake image bytes\r\n",
    ] {
        assert!(body.contains(part), "{part:?} not in {body:?}");
    }
    let bad = api(&server)
        .upload_media(&token(), "v21.0", "42", Bytes::new(), "not a type", "x")
        .await;
    assert!(matches!(bad, Err(CallError::Permanent { code: 0, .. })));
}

#[tokio::test]
async fn media_info_and_download_from_the_same_host() {
    let server = serve(|seen, base| match seen.path.as_str() {
        "/v21.0/777" => json_answer(
            200,
            json!({"messaging_product": "whatsapp", "url": format!("{base}/dl/777?ext=1&hash=abc"),
                "mime_type": "image/jpeg", "sha256": "deadbeef", "file_size": 5, "id": "777"}),
        ),
        "/dl/777" => Response::new(Body::from("bytes")),
        _ => json_answer(
            404,
            json!({"error": {"message": "(#100) Invalid parameter", "code": 100}}),
        ),
    })
    .await;
    let api = api(&server);
    let info = api.media_info(&token(), "v21.0", "777").await.unwrap();
    assert_eq!(info.mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(info.file_size, Some(5));
    let data = api.download(&token(), &info.url, 5).await.unwrap();
    assert_eq!(&data[..], b"bytes");
    let seen = server.seen();
    assert_eq!(seen[1].path, "/dl/777");
    assert_eq!(seen[1].query.as_deref(), Some("ext=1&hash=abc"));
    assert_eq!(seen[1].auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    let slow = api.download(&token(), &format!("{}/dl/slow", server.base), 5).await;
    assert!(
        matches!(&slow, Err(CallError::Transient(t)) if t.starts_with("timed out")),
        "{slow:?}"
    );
    let unknown = api.media_info(&token(), "v21.0", "778").await.unwrap_err();
    assert!(matches!(unknown, CallError::Permanent { code: 100, .. }));
}

#[tokio::test]
async fn downloads_stop_past_the_limit() {
    let server = serve(|seen, _| match seen.path.as_str() {
        "/declared" => Response::new(Body::from(vec![7u8; 10_000])),
        _ => {
            // Chunked, with no length declared: only counting the bytes finds out.
            let chunks = (0..100).map(|_| Ok::<_, Infallible>(Bytes::from(vec![7u8; 1_000])));
            Response::new(Body::from_stream(futures::stream::iter(chunks)))
        }
    })
    .await;
    let api = api(&server);
    for path in ["/declared", "/streamed"] {
        let url = format!("{}{path}", server.base);
        let err = api.download(&token(), &url, 4_096).await.unwrap_err();
        assert_eq!(err, CallError::TooLarge { limit: 4_096 }, "{path}");
    }
    let whole = api
        .download(&token(), &format!("{}/declared", server.base), 10_000)
        .await;
    assert_eq!(whole.unwrap().len(), 10_000);
}

#[tokio::test]
async fn download_urls_off_the_api_host_are_refused_before_any_request() {
    let server = serve(|_, _| Response::new(Body::from("ok"))).await;
    let elsewhere = serve(|_, _| Response::new(Body::from("stolen"))).await;
    let api = api(&server);
    let port = elsewhere.base.rsplit(':').next().unwrap().to_string();
    for url in [
        format!("{}/x", elsewhere.base),
        format!("https://127.0.0.1:{port}/x"),
        format!("https://localhost:{port}/x"),
        format!("https://[::1]:{port}/x"),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "http://example.com/x".to_string(),
        format!("ftp://127.0.0.1:{port}/x"),
        format!("{}/x", server.base.replace("http://", "http://user:pw@")),
        "not a url".to_string(),
    ] {
        let err = api.download(&token(), &url, 100).await.unwrap_err();
        assert!(
            matches!(&err, CallError::Permanent { code: 0, description } if description.starts_with("media URL refused")),
            "{url}: {err:?}"
        );
        assert!(shows_no_token(&err));
    }
    assert!(elsewhere.seen().is_empty(), "the token went to another host");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = serve(|_, _| Response::new(Body::from("stolen"))).await;
    let target = format!("{}/steal", elsewhere.base);
    let server = serve(move |_, _| (StatusCode::FOUND, [(header::LOCATION, target.clone())]).into_response()).await;
    let api = api(&server);
    let err = api
        .download(&token(), &format!("{}/dl/1", server.base), 100)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Permanent { code: 302, .. }), "{err:?}");
    let err = api.media_info(&token(), "v21.0", "1").await.unwrap_err();
    assert!(matches!(err, CallError::Permanent { code: 302, .. }), "{err:?}");
    assert!(elsewhere.seen().is_empty());
}

#[path = "api_override_tests.rs"]
mod overrides;
