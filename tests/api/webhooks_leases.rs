//! On SQLite one node owns the database, so at start it gives back every delivery lease of its
//! previous run: a delivery a crash left leased goes out right after the restart, not after
//! `delivery_lease_secs`.

use std::time::Duration;

use serde_json::json;
use sqlx::Connection;

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::Backend;
use crate::webhooks::webhook_app;

/// Far below the default 90 s lease the delivery would otherwise wait out.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_left_leased_by_a_crash_goes_out_right_after_a_restart() {
    let rx = FakeReceiver::start(Answer::Status(500)).await;
    // After a failed first attempt the next one would come only in an hour.
    let app = webhook_app(Backend::Sqlite, |c| c.delivery.retry_schedule_secs = vec![0.0, 3600.0])
        .await
        .expect("sqlite app");
    let (a, key) = app.account_with_key("A").await;
    app.endpoint(&a, &key, json!({"url": rx.url()})).await;
    app.publish(&a, &key, json!({"event_type": "order.created", "payload": {}}))
        .await;
    rx.wait_for(1, WAIT).await;

    let hookline::config::DatabaseConfig::Sqlite { path } = &app.config.database else {
        unreachable!("an SQLite app");
    };
    let mut db = sqlx::SqliteConnection::connect_with(&sqlx::sqlite::SqliteConnectOptions::new().filename(path))
        .await
        .unwrap();
    // The first attempt's outcome is recorded (its lease given back) before the row is made
    // to look as a crash mid-attempt leaves it: due now, leased to a node for 90 s more.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (attempts, lease_until): (i64, i64) =
            sqlx::query_as("SELECT attempts, lease_until FROM webhook_deliveries")
                .fetch_one(&mut db)
                .await
                .unwrap();
        if attempts == 1 && lease_until == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first attempt was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let now = hookline::store::now_ms();
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = $1, lease_owner = $2, lease_until = $3")
        .bind(now)
        .bind(uuid::Uuid::now_v7())
        .bind(now + 90_000)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();

    rx.set(Answer::Status(200));
    let _app = app.restart().await;
    rx.wait_for(2, WAIT).await;
}
