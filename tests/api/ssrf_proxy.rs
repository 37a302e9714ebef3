//! Outbound webhooks ignore proxies named in hookline's environment: a proxy would receive the
//! host name and resolve it itself, so the SSRF guard would never see the address reached, and
//! the attempt would show the tenant whatever the proxy fetched. The real binary runs with
//! `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` pointing at a recording fake proxy on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::process::{Node, client, start_node};

const PROXY_BODY: &str = "PROXIED-CONTENT";

/// Counts the connections it accepts and answers each request with [`PROXY_BODY`].
struct FakeProxy {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl FakeProxy {
    async fn start() -> FakeProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PROXY_BODY}",
                        PROXY_BODY.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        FakeProxy { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Send the endpoint's test event: the attempt's result comes back in the answer, so the test
/// waits on it rather than on time.
async fn test_send(node: &Node, key: &str, endpoint: &str) -> Value {
    let resp = client()
        .post(format!(
            "http://{}/v1/api/webhooks/endpoints/{endpoint}/test",
            node.addr
        ))
        .bearer_auth(key)
        .json(&json!({ "event_type": "proxy.check" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["data"].clone()
}

#[tokio::test]
async fn deliveries_ignore_environment_proxies_and_the_guard_judges_the_real_address() {
    let proxy = FakeProxy::start().await;
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("HTTP_PROXY", proxy.url.as_str()),
        ("HTTPS_PROXY", proxy.url.as_str()),
        ("ALL_PROXY", proxy.url.as_str()),
        ("http_proxy", proxy.url.as_str()),
        ("https_proxy", proxy.url.as_str()),
        ("all_proxy", proxy.url.as_str()),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ];
    let with_loopback_allowed = [
        env.clone(),
        vec![("HOOKLINE_DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")],
    ]
    .concat();

    // A node that may reach loopback: the delivery goes to the receiver itself, not the proxy.
    let mut node = start_node(dir.path(), &with_loopback_allowed).await;
    let key = node.admin_key.clone().unwrap();
    let http = client();
    let base = format!("http://{}", node.addr);
    let account: Value = http
        .post(format!("{base}/v1/api/accounts"))
        .bearer_auth(&key)
        .json(&json!({ "name": "proxied" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = account["data"]["id"].as_str().unwrap().to_string();
    // A host name, so that a proxy (not hookline) would be the one to resolve it.
    let url = format!("http://localhost:{}/hook", rx.addr.port());
    let resp = http
        .post(format!("{base}/v1/api/accounts/{account}/webhooks/endpoints"))
        .bearer_auth(&key)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let endpoint: Value = resp.json().await.unwrap();
    let endpoint = endpoint["data"]["id"].as_str().unwrap().to_string();
    let sent = test_send(&node, &key, &endpoint).await;
    assert_eq!(sent["succeeded"], true, "{sent}");
    assert_eq!(
        sent["response_body"], "answer body",
        "the receiver answered, not the proxy: {sent}"
    );
    assert_eq!(rx.count(), 1);
    assert_eq!(proxy.connections(), 0, "nothing was handed to the proxy");
    node.child.start_kill().unwrap();
    node.child.wait().await.unwrap();

    // The same endpoint from a node that may not reach loopback: the guard resolves the name
    // itself and refuses 127.0.0.1; the proxy never gets the chance to fetch it.
    env.push(("HOOKLINE_LOG_LEVEL", "error"));
    let node = start_node(dir.path(), &env).await;
    let sent = test_send(&node, &key, &endpoint).await;
    assert_eq!(sent["succeeded"], false, "{sent}");
    assert_eq!(sent["error_class"], "refused", "{sent}");
    assert!(
        !sent.to_string().contains(PROXY_BODY),
        "no proxy content in the attempt: {sent}"
    );
    assert_eq!(rx.count(), 1, "the refused attempt reached no one");
    assert_eq!(proxy.connections(), 0, "nothing was handed to the proxy");
}
