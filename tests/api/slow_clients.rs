//! Slow and idle clients cannot hold the server's connections: headers must arrive within
//! `http_header_timeout_ms`, idle keep-alive connections are closed after it, and at most
//! `http_max_connections` are served at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp};

/// Far above every timeout here: only a server that never closes reaches it.
const BOUND: Duration = Duration::from_secs(30);

/// Read until the server closes the connection (EOF or reset); what it sent before.
async fn read_until_closed(mut read: impl AsyncRead + Unpin) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server did not close the connection within {BOUND:?}"
    );
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_client_dribbling_headers_is_cut_off_after_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http_header_timeout = timeout)
        .await
        .unwrap();
    let started = Instant::now();
    let (read, mut write) = TcpStream::connect(app.addr).await.unwrap().into_split();
    write.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    // A header line every 50 ms, for as long as the socket takes them: the server, not the
    // client, must end this.
    let dribbler = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let n = counter.load(Ordering::SeqCst);
            if write.write_all(format!("x-slow-{n}: y\r\n").as_bytes()).await.is_err() {
                break;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let answer = read_until_closed(read).await;
    dribbler.abort();
    assert!(started.elapsed() >= timeout, "closed after {:?}", started.elapsed());
    assert!(!answer.contains("200 OK"), "the request was never served: {answer}");
    assert!(
        sent.load(Ordering::SeqCst) >= 2,
        "the client kept sending header bytes until it was cut off"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let timeout = Duration::from_millis(500);
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http_header_timeout = timeout)
        .await
        .unwrap();
    let (read, mut write) = TcpStream::connect(app.addr).await.unwrap().into_split();
    write
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answered_and_closed = read_until_closed(read).await;
    assert!(answered_and_closed.starts_with("HTTP/1.1 200"), "{answered_and_closed}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let timeout = Duration::from_secs(2);
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.http_header_timeout = timeout;
        c.http_max_connections = 2;
    })
    .await
    .unwrap();
    let started = Instant::now();
    // Two silent connections take both slots until the header timeout closes them.
    let idle = [
        TcpStream::connect(app.addr).await.unwrap(),
        TcpStream::connect(app.addr).await.unwrap(),
    ];
    let (read, mut write) = TcpStream::connect(app.addr).await.unwrap().into_split();
    write
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(read).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= timeout,
        "served after {:?}: the third connection did not wait for a slot",
        started.elapsed()
    );
    drop(idle);
}
