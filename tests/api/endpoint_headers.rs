//! Endpoint custom header values are sealed in the database, never shown back by the API, and
//! still sent as they were given; values stored in clear by older versions are sealed at start.

use reqwest::StatusCode;
use serde_json::json;

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::helpers::TestApp;

/// The `headers` column of every endpoint, as text, read straight from the database.
async fn stored_headers(app: &TestApp) -> Vec<String> {
    use hookline::config::DatabaseConfig;
    match &app.config.database {
        DatabaseConfig::Sqlite { path } => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query_scalar("SELECT headers FROM webhook_endpoints")
                .fetch_all(&pool)
                .await
                .unwrap()
        }
        DatabaseConfig::Postgres { url } => {
            let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
            sqlx::query_scalar("SELECT headers::text FROM webhook_endpoints")
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    }
}

/// Write `headers` in clear, as versions before sealing did.
async fn store_in_clear(app: &TestApp, headers: &str) {
    use hookline::config::DatabaseConfig;
    match &app.config.database {
        DatabaseConfig::Sqlite { path } => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query("UPDATE webhook_endpoints SET headers = $1")
                .bind(headers)
                .execute(&pool)
                .await
                .unwrap();
        }
        DatabaseConfig::Postgres { url } => {
            let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
            sqlx::query("UPDATE webhook_endpoints SET headers = $1::jsonb")
                .bind(headers)
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

async fn send_test(app: &TestApp, key: &str, ep: &str) {
    let (s, b) = app
        .post(
            &format!("/v1/api/webhooks/endpoints/{ep}/test"),
            key,
            json!({"event_type": "header.check"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["succeeded"], true, "{b}");
}

crate::webhook_test!(header_values_are_sealed_at_rest, |app: TestApp| async move {
    let rx = FakeReceiver::start(Answer::Status(200)).await;
    let (a, key) = app.account_with_key("A").await;
    let ep = app
        .endpoint(
            &a,
            &key,
            json!({"url": rx.url(), "headers": {"authorization": "Bearer sealed-value-1"}}),
        )
        .await;
    let stored = stored_headers(&app).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].contains("authorization"), "{stored:?}");
    assert!(
        !stored[0].contains("sealed-value-1"),
        "no clear value in the database: {stored:?}"
    );
    let (_, shown) = app.get(&format!("/v1/api/webhooks/endpoints/{ep}"), &key).await;
    assert_eq!(shown["data"]["headers"]["authorization"], "****", "{shown}");
    send_test(&app, &key, &ep).await;
    assert_eq!(rx.received()[0].header("authorization"), "Bearer sealed-value-1");

    let (s, b) = app
        .patch(
            &format!("/v1/api/webhooks/endpoints/{ep}"),
            &key,
            json!({"headers": {"x-api-key": "patched-value-2"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!stored_headers(&app).await[0].contains("patched-value-2"));
    send_test(&app, &key, &ep).await;
    assert_eq!(rx.received()[1].header("x-api-key"), "patched-value-2");

    // A row written in clear before values were sealed: still sent, and sealed at the next start.
    store_in_clear(&app, r#"{"x-api-key": "legacy-value-3"}"#).await;
    let app = app.restart().await;
    let stored = stored_headers(&app).await;
    assert!(stored[0].contains("x-api-key"), "{stored:?}");
    assert!(!stored[0].contains("legacy-value-3"), "sealed at start: {stored:?}");
    send_test(&app, &key, &ep).await;
    assert_eq!(rx.received()[2].header("x-api-key"), "legacy-value-3");
});
