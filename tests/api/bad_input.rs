//! Hostile and malformed input gets the error envelope with the right status and code.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{TestApp, assert_error};

async fn raw_post(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let mut req = app.client.post(app.url(path)).bearer_auth(&app.admin_key).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

both_backends!(non_json_body_is_400, |app: TestApp| async move {
    let (s, body) = raw_post(&app, "/v1/api/accounts", Some("application/json"), "not json").await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let (s, body) = raw_post(&app, "/v1/api/accounts", Some("application/json"), "").await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let (s, body) = raw_post(&app, "/v1/api/accounts", Some("application/json"), "{\"name\": \"x\"").await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
});

both_backends!(wrong_types_name_the_field, |app: TestApp| async move {
    let (s, body) = raw_post(&app, "/v1/api/accounts", Some("application/json"), r#"{"name": 42}"#).await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], "name");
    let (s, body) = raw_post(&app, "/v1/api/accounts", Some("application/json"), r#"{}"#).await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
    assert!(body["error"]["message"].as_str().unwrap().contains("name"), "{body}");
    let (s, body) = raw_post(
        &app,
        "/v1/api/accounts",
        Some("application/json"),
        r#"{"name": "x", "nmae": "y"}"#,
    )
    .await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("nmae"),
        "unknown fields are named: {body}"
    );
    let (s, body) = raw_post(&app, "/v1/api/accounts", Some("application/json"), r#"["name"]"#).await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
});

both_backends!(unknown_enum_values_are_rejected, |app: TestApp| async move {
    let (a, _) = app.account_with_key("A").await;
    let (s, body) = raw_post(
        &app,
        &format!("/v1/api/accounts/{a}/keys"),
        Some("application/json"),
        r#"{"role": "superuser"}"#,
    )
    .await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], "role");
});

both_backends!(semantic_validation_names_the_field, |app: TestApp| async move {
    for name in ["", "   ", "a\u{0007}b", &"x".repeat(201)] {
        let (s, body) = app
            .post("/v1/api/accounts", &app.admin_key, serde_json::json!({ "name": name }))
            .await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["field"], "name");
    }
});

both_backends!(wrong_content_type_is_415, |app: TestApp| async move {
    let (s, body) = raw_post(&app, "/v1/api/accounts", Some("text/plain"), r#"{"name": "x"}"#).await;
    assert_error(s, &body, 415, "UNSUPPORTED_MEDIA_TYPE");
});

both_backends!(ten_mib_body_is_413_and_nothing_is_created, |app: TestApp| async move {
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let (s, body) = raw_post(&app, "/v1/api/accounts", Some("application/json"), huge.clone()).await;
    assert_error(s, &body, 413, "PAYLOAD_TOO_LARGE");
    // The same without a Content-Length (chunked): cut off while reading, at the limit. The
    // server stops reading there, so a client still writing may see the connection close
    // instead of the answer; either way nothing is stored.
    let stream = futures::stream::iter(
        huge.into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    // Its own client: the server may close that connection, which must not be reused below.
    let sent = reqwest::Client::new()
        .post(app.url("/v1/api/accounts"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    if let Ok(resp) = sent {
        let status = resp.status();
        assert_error(status, &resp.json().await.unwrap(), 413, "PAYLOAD_TOO_LARGE");
    }
    let (_, list) = app.get("/v1/api/accounts", &app.admin_key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
});

both_backends!(bad_query_parameters_are_400, |app: TestApp| async move {
    for q in ["limit=0", "limit=1000", "limit=abc", "limit=-1", "cursor=nope"] {
        let (s, body) = app.get(&format!("/v1/api/accounts?{q}"), &app.admin_key).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
    }
});

both_backends!(unknown_routes_and_methods_use_the_envelope, |app: TestApp| async move {
    let (s, body) = app.get("/v1/api/nothing-here", &app.admin_key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (s, body) = app
        .call(reqwest::Method::PATCH, "/v1/api/accounts", Some(&app.admin_key), None)
        .await;
    assert_error(s, &body, 405, "METHOD_NOT_ALLOWED");
});

both_backends!(
    hostile_strings_are_stored_verbatim_not_executed,
    |app: TestApp| async move {
        let name = "Robert'); DROP TABLE accounts;-- <script>alert(1)</script> 🍜";
        let (s, body) = app
            .post("/v1/api/accounts", &app.admin_key, serde_json::json!({ "name": name }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let id = body["data"]["id"].as_str().unwrap();
        let (_, body) = app.get(&format!("/v1/api/accounts/{id}"), &app.admin_key).await;
        assert_eq!(body["data"]["name"], name);
    }
);
