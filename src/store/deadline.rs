//! Deadlines on PostgreSQL calls. A database that goes away without a reset (a failover, a NAT
//! or a firewall dropping the connection's state) leaves a query waiting for an answer that
//! never comes: without a deadline the HTTP request waits out its own timeout and a background
//! worker stops for good. sqlx has no TCP keepalive or socket timeout for PostgreSQL, so every
//! call gets a deadline here instead, and a connection whose call missed one is never reused:
//! its half-read answer could still arrive, and the next call on it would wait as long.
//!
//! SQLite is a file of this process: it has no network to lose, and keeps its busy timeout.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPoolOptions};

use super::StoreError;

/// Longest one store call (a query, or a whole transaction) may take on PostgreSQL. Far above
/// what any call takes when the database answers (a group commit of thousands of rows takes
/// well under a second), well below an HTTP client's patience.
pub const CALL: Duration = Duration::from_secs(5);

/// Longest a call waits for a connection (the pool is full, or a new connection does not
/// complete its handshake).
pub const ACQUIRE: Duration = Duration::from_secs(3);

/// Longest `/ready` waits for the database: it is asked often and must answer quickly either way.
pub const READY: Duration = Duration::from_millis(1500);

/// Longest a connection handed back to the pool may take to prove it still answers.
const RELEASE_CHECK: Duration = Duration::from_secs(2);

/// The PostgreSQL pool's options: a short acquire timeout, and a check with a deadline on every
/// connection handed back. sqlx pings a returned connection without a deadline; on a silent
/// server that ping would keep the connection's pool slot forever. This check runs first and,
/// when the connection does not answer in time, has sqlx drop it instead. A connection left
/// inside a failed transaction is dropped too (`discard`).
///
/// Each new connection also asks the server to probe it with TCP keepalives (see
/// [`SERVER_KEEPALIVE`]). The client side notices a dead connection by the deadlines; the
/// server would otherwise keep the backend of a connection lost in a network partition — and
/// the row locks of its open transaction, which other nodes then wait on — for the operating
/// system's default of two hours.
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .acquire_timeout(ACQUIRE)
        .after_connect(|conn: &mut PgConnection, _| Box::pin(async move { ask_for_keepalives(conn).await }))
        .after_release(|conn: &mut PgConnection, _| {
            Box::pin(async move {
                let check = async {
                    if !super::discard::reusable(&mut *conn).await {
                        return Ok(false);
                    }
                    sqlx::Connection::ping(&mut *conn).await.map(|()| true)
                };
                match tokio::time::timeout(RELEASE_CHECK, check).await {
                    Ok(Ok(keep)) => Ok(keep),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(missed()),
                }
            })
        })
}

/// Session settings that make the server notice a vanished client within about a minute: a
/// probe after 30 s of silence, then every 10 s, given up after 3 unanswered; unacknowledged
/// data abandoned after 30 s.
pub const SERVER_KEEPALIVE: [(&str, &str); 4] = [
    ("tcp_keepalives_idle", "30"),
    ("tcp_keepalives_interval", "10"),
    ("tcp_keepalives_count", "3"),
    ("tcp_user_timeout", "30000"),
];

/// Apply [`SERVER_KEEPALIVE`]. A server that refuses one (an older version, a pooler in
/// between) keeps its own setting: worth a warning, not a failed connection.
async fn ask_for_keepalives(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    for (name, value) in SERVER_KEEPALIVE {
        let set = sqlx::query("SELECT set_config($1, $2, false)")
            .bind(name)
            .bind(value)
            .execute(&mut *conn);
        match tokio::time::timeout(CALL, set).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(setting = name, error = %e, "the database refused a keepalive setting"),
            Err(_) => return Err(missed()),
        }
    }
    Ok(())
}

/// What a call that missed its deadline returns.
pub trait MissedDeadline {
    fn missed_deadline() -> Self;
}

impl<T> MissedDeadline for Result<T, sqlx::Error> {
    fn missed_deadline() -> Self {
        Err(missed())
    }
}

impl<T> MissedDeadline for Result<T, StoreError> {
    fn missed_deadline() -> Self {
        Err(StoreError::Unavailable(missed().to_string()))
    }
}

fn missed() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the database did not answer within the deadline",
    ))
}

/// Run one store call under [`CALL`]. A call cut short drops its connection mid-answer; the
/// pool's release check (see [`pool_options`]) then closes it rather than reuse it.
pub async fn within<T: MissedDeadline>(call: impl Future<Output = T>) -> T {
    within_for(CALL, call).await
}

/// [`within`] with the readiness check's shorter deadline.
pub async fn within_ready<T: MissedDeadline>(call: impl Future<Output = T>) -> T {
    within_for(READY, call).await
}

async fn within_for<T: MissedDeadline>(limit: Duration, call: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, call).await {
        Ok(answer) => answer,
        Err(_) => {
            metrics::counter!("database_deadline_missed_total").increment(1);
            T::missed_deadline()
        }
    }
}

/// Whether an error means the database could not be reached or stopped answering (as opposed
/// to refusing a statement): no connection, a broken or silent one, or a server shutting down.
pub fn means_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL's connection exceptions (class 08), a server shutting down or starting
        // (57P01–57P03) and "too many connections" (53300).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_errors_are_told_from_refused_statements() {
        assert!(means_unreachable(&sqlx::Error::PoolTimedOut));
        assert!(means_unreachable(&missed()));
        assert!(means_unreachable(&sqlx::Error::Io(
            std::io::ErrorKind::ConnectionReset.into()
        )));
        assert!(!means_unreachable(&sqlx::Error::RowNotFound));
        assert!(!means_unreachable(&sqlx::Error::Protocol("odd".into())));
        assert!(matches!(
            StoreError::from(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
    }

    /// Each pooled connection carries the keepalive settings, so the server ends the backend of
    /// a client lost in a partition (and releases its locks) within about a minute.
    #[tokio::test]
    async fn every_connection_asks_the_server_for_keepalives_postgres() {
        let Ok(url) = std::env::var("HOOKLINE_TEST_DATABASE_URL") else {
            assert!(
                std::env::var("HOOKLINE_REQUIRE_POSTGRES").is_err(),
                "HOOKLINE_REQUIRE_POSTGRES is set but HOOKLINE_TEST_DATABASE_URL is not"
            );
            eprintln!("SKIPPED (PostgreSQL): keepalive settings — set HOOKLINE_TEST_DATABASE_URL to run it");
            return;
        };
        let pool = pool_options().max_connections(2).connect(&url).await.unwrap();
        for (name, want) in SERVER_KEEPALIVE {
            let got: String = sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(got, want, "{name}");
        }
        pool.close().await;
    }

    #[tokio::test]
    async fn a_call_that_never_answers_ends_at_its_deadline_as_unavailable() {
        let started = std::time::Instant::now();
        let answer: Result<(), StoreError> = within_for(Duration::from_millis(50), std::future::pending()).await;
        assert!(matches!(answer, Err(StoreError::Unavailable(_))), "{answer:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let answer: Result<(), sqlx::Error> = within_for(Duration::from_millis(50), std::future::pending()).await;
        assert!(matches!(
            StoreError::from(answer.unwrap_err()),
            StoreError::Unavailable(_)
        ));
    }
}
