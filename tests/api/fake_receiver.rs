//! A fake webhook receiver: a real axum server on loopback whose answer can be changed while a
//! test runs (200, 500, 410, 429 with Retry-After, slow, connection reset), recording every
//! request with its headers, body and arrival time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    /// 429 with `Retry-After: secs`.
    TooMany(u64),
    /// 200 after this long.
    Slow(Duration),
    /// Close the connection without answering.
    Reset,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Since the receiver started.
    pub at: Duration,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Clone)]
struct Shared {
    answer: Arc<Mutex<Answer>>,
    received: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<Mutex<(u32, u32)>>,
    started: Instant,
}

pub struct FakeReceiver {
    pub addr: SocketAddr,
    shared: Shared,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeReceiver {
    pub async fn start(answer: Answer) -> FakeReceiver {
        let shared = Shared {
            answer: Arc::new(Mutex::new(answer)),
            received: Arc::new(Mutex::new(Vec::new())),
            in_flight: Arc::new(Mutex::new((0, 0))),
            started: Instant::now(),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeReceiver {
            addr,
            shared,
            _server: server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    /// Most requests that were ever open at once.
    pub fn max_in_flight(&self) -> u32 {
        self.shared.in_flight.lock().unwrap().1
    }

    /// Wait until at least `n` requests arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests at the receiver, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let at = s.started.elapsed();
    s.received.lock().unwrap().push(Received { headers, body, at });
    {
        let mut f = s.in_flight.lock().unwrap();
        f.0 += 1;
        f.1 = f.1.max(f.0);
    }
    let answer = s.answer.lock().unwrap().clone();
    let response = match answer {
        Answer::Status(code) => (StatusCode::from_u16(code).unwrap(), "answer body").into_response(),
        Answer::TooMany(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs.to_string())],
            "slow down",
        )
            .into_response(),
        Answer::Slow(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "late").into_response()
        }
        Answer::Reset => {
            s.in_flight.lock().unwrap().0 -= 1;
            // Dropping the connection mid-request: panic the handler's task? No — answer with
            // an aborted body stream, which hyper turns into a connection reset.
            let stream = futures::stream::once(async { Err::<Bytes, std::io::Error>(std::io::Error::other("reset")) });
            return Response::builder()
                .status(200)
                .body(axum::body::Body::from_stream(stream))
                .unwrap();
        }
    };
    s.in_flight.lock().unwrap().0 -= 1;
    response
}
