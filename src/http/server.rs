//! Serving client connections. hyper is driven here rather than through `axum::serve` because
//! the defences against slow and idle clients are hyper settings that `axum::serve` leaves off:
//!
//! - a deadline for a request's headers, counted from the moment the server starts waiting for
//!   them (connect, or the previous answer), so a client dribbling header bytes, or holding an
//!   idle keep-alive connection, is cut off after `http_header_timeout_ms`;
//! - a cap on connections served at once (`http_max_connections`); past it the server stops
//!   accepting, and new connections wait in the kernel's backlog until one closes.
//!
//! HTTP/1.1 only: TLS and HTTP/2 belong to a reverse proxy in front.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// What a connection is allowed, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serve `app` until `shutdown` is cancelled, then stop accepting and wait for the open
/// connections to finish their requests (the caller bounds that wait).
pub async fn serve(mut listener: TcpListener, app: Router, limits: ConnectionLimits, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        // `Listener::accept` retries transient errors itself (and backs off on EMFILE).
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = Listener::accept(&mut listener) => accepted,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(remote));
                request.map(axum::body::Body::new)
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
