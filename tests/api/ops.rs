//! Health, readiness, metrics, OpenAPI and the offline docs page.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(health_and_ready, |app: TestApp| async move {
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (s, body) = app.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"]["status"], "ready");
    let backend = match app.backend {
        crate::helpers::Backend::Sqlite => "sqlite",
        crate::helpers::Backend::Postgres => "postgres",
    };
    assert_eq!(body["data"]["backend"], backend);
});

both_backends!(metrics_count_requests_by_route_and_status, |app: TestApp| async move {
    app.get("/v1/api/accounts", &app.admin_key).await;
    app.get("/v1/api/accounts", "wrong").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("hookline_http_requests_total"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("hookline_http_requests_total")
            && l.contains("route=\"/v1/api/accounts\"")
            && l.contains("status=\"401\"")),
        "{text}"
    );
    assert!(
        text.contains("hookline_http_request_duration_seconds_bucket"),
        "latency histogram: {text}"
    );
});

both_backends!(request_ids_are_returned, |app: TestApp| async move {
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    let resp = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123", "a caller's id is kept");
});

/// Every route the API serves, as documented. Adding a route means adding it here too.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("post", "/v1/api/accounts"),
    ("get", "/v1/api/accounts"),
    ("get", "/v1/api/accounts/{account_id}"),
    ("post", "/v1/api/accounts/{account_id}/keys"),
    ("get", "/v1/api/accounts/{account_id}/keys"),
    ("delete", "/v1/api/accounts/{account_id}/keys/{key_id}"),
    ("post", "/v1/api/accounts/{account_id}/bots"),
    ("get", "/v1/api/accounts/{account_id}/bots"),
    ("get", "/v1/api/bots/{bot_id}"),
    ("put", "/v1/api/bots/{bot_id}"),
    ("delete", "/v1/api/bots/{bot_id}"),
    ("post", "/v1/api/bots/{bot_id}/scenarios"),
    ("get", "/v1/api/bots/{bot_id}/scenarios"),
    ("post", "/v1/api/bots/{bot_id}/scenarios/upload"),
    ("get", "/v1/api/scenarios/{scenario_id}"),
    ("put", "/v1/api/scenarios/{scenario_id}"),
    ("delete", "/v1/api/scenarios/{scenario_id}"),
    ("post", "/v1/api/scenarios/{scenario_id}/activate"),
    ("post", "/v1/api/bots/{bot_id}/activate"),
    ("post", "/v1/api/bots/{bot_id}/deactivate"),
    ("get", "/v1/api/bots/{bot_id}/dialogs"),
    ("get", "/v1/api/bots/{bot_id}/dialogs/{platform}/{chat_id}"),
    ("get", "/v1/api/bots/{bot_id}/platforms"),
    ("post", "/v1/api/bots/{bot_id}/platforms"),
    ("get", "/v1/api/bots/{bot_id}/platforms/{platform}"),
    ("put", "/v1/api/bots/{bot_id}/platforms/{platform}"),
    ("delete", "/v1/api/bots/{bot_id}/platforms/{platform}"),
    ("get", "/v1/api/dialogs/{dialog_id}"),
    ("put", "/v1/api/dialogs/{dialog_id}"),
    ("delete", "/v1/api/dialogs/{dialog_id}"),
    ("get", "/v1/api/dialogs/{dialog_id}/history"),
    ("get", "/v1/api/dialogs/{dialog_id}/replies"),
    ("post", "/v1/api/webhooks/telegram/{bot_id}"),
    ("post", "/v1/api/webhooks/telegram/{bot_id}/delete"),
    ("get", "/v1/api/webhooks/whatsapp/{bot_id}"),
    ("post", "/v1/api/webhooks/whatsapp/{bot_id}"),
    ("post", "/v1/api/webhooks/whatsapp/{bot_id}/set"),
    ("get", "/v1/api/webhooks/whatsapp/{bot_id}/status"),
    ("post", "/v1/api/webhooks/whatsapp/{bot_id}/delete"),
    ("post", "/v1/api/webhooks/telegram/{bot_id}/set"),
    ("get", "/v1/api/webhooks/telegram/{bot_id}/status"),
    ("post", "/v1/api/bots/{bot_id}/media"),
    ("get", "/v1/api/bots/{bot_id}/media"),
    ("get", "/v1/api/media/{media_id}"),
    ("delete", "/v1/api/media/{media_id}"),
    ("get", "/v1/api/media/{media_id}/content"),
    ("post", "/v1/api/media/{media_id}/platform-id"),
    ("post", "/v1/api/accounts/{account_id}/webhooks/endpoints"),
    ("get", "/v1/api/accounts/{account_id}/webhooks/endpoints"),
    ("get", "/v1/api/webhooks/endpoints/{endpoint_id}"),
    ("patch", "/v1/api/webhooks/endpoints/{endpoint_id}"),
    ("delete", "/v1/api/webhooks/endpoints/{endpoint_id}"),
    ("get", "/v1/api/webhooks/endpoints/{endpoint_id}/secret"),
    ("post", "/v1/api/webhooks/endpoints/{endpoint_id}/secret/rotate"),
    ("post", "/v1/api/webhooks/endpoints/{endpoint_id}/test"),
    ("post", "/v1/api/webhooks/endpoints/{endpoint_id}/recover"),
    ("get", "/v1/api/webhooks/endpoints/{endpoint_id}/stats"),
    ("get", "/v1/api/webhooks/endpoints/{endpoint_id}/attempts"),
    ("post", "/v1/api/accounts/{account_id}/webhooks/event-types"),
    ("get", "/v1/api/accounts/{account_id}/webhooks/event-types"),
    ("get", "/v1/api/webhooks/event-types/{name}"),
    ("patch", "/v1/api/webhooks/event-types/{name}"),
    ("delete", "/v1/api/webhooks/event-types/{name}"),
    ("post", "/v1/api/accounts/{account_id}/webhooks/events"),
    ("get", "/v1/api/accounts/{account_id}/webhooks/events"),
    ("post", "/v1/api/accounts/{account_id}/webhooks/events/batch"),
    ("get", "/v1/api/webhooks/events/{event_id}"),
    ("get", "/v1/api/webhooks/events/{event_id}/attempts"),
    ("post", "/v1/api/webhooks/events/{event_id}/resend"),
    ("get", "/v1/api/webhooks/attempts/{attempt_id}"),
    ("get", "/v1/api/webhooks/jobs/{job_id}"),
    ("post", "/v1/api/jq/test"),
    ("post", "/v1/api/accounts/{account_id}/sources"),
    ("get", "/v1/api/accounts/{account_id}/sources"),
    ("get", "/v1/api/sources/{source_id}"),
    ("patch", "/v1/api/sources/{source_id}"),
    ("delete", "/v1/api/sources/{source_id}"),
    ("get", "/v1/api/sources/{source_id}/secret"),
    ("post", "/v1/api/sources/{source_id}/secret/rotate"),
    ("post", "/v1/api/sources/{source_id}/ingest"),
    ("get", "/v1/api/sources/{source_id}/ingest"),
    ("get", "/v1/api/sources/{source_id}/requests"),
    ("get", "/v1/api/sources/{source_id}/requests/{request_id}"),
    ("post", "/v1/api/sources/{source_id}/requests/{request_id}/replay"),
    ("post", "/v1/api/sources/{source_id}/replay"),
];

#[tokio::test]
async fn openapi_is_version_3_and_lists_every_route() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await.unwrap();
    let (s, doc) = app.call(reqwest::Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    for (method, path) in ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from /openapi.json"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "a documented route is missing from ROUTES (or vice versa)"
    );
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

#[tokio::test]
async fn docs_page_is_served_from_the_binary() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await.unwrap();
    let html = app
        .client
        .get(app.url("/docs/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page must not load anything from another host"
    );
    let js = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.bytes().await.unwrap().len() > 100_000,
        "the bundle is vendored into the binary"
    );
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    assert!(
        init.contains(r#""validatorUrl": "none""#),
        "no outside validator is called: {init}"
    );
}
