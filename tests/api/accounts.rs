//! Accounts and API keys: creation, listing, isolation, revocation.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, assert_error};

both_backends!(admin_creates_and_reads_accounts, |app: TestApp| async move {
    let (s, body) = app
        .post("/v1/api/accounts", &app.admin_key, json!({ "name": "  Chiho Moscow " }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["name"], "Chiho Moscow", "name is trimmed");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    assert!(body["data"]["created_at"].as_str().unwrap().ends_with('Z'));

    let (s, body) = app.get(&format!("/v1/api/accounts/{id}"), &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"]["id"], id.as_str());

    let (s, body) = app.get("/v1/api/accounts", &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["page"]["next_cursor"], serde_json::Value::Null);
});

both_backends!(account_lists_page_with_cursor, |app: TestApp| async move {
    for i in 0..5 {
        app.post("/v1/api/accounts", &app.admin_key, json!({ "name": format!("a{i}") }))
            .await;
    }
    let (_, first) = app.get("/v1/api/accounts?limit=2", &app.admin_key).await;
    let names: Vec<_> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a0", "a1"]);
    let cursor = first["page"]["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get(&format!("/v1/api/accounts?limit=2&cursor={cursor}"), &app.admin_key)
        .await;
    assert_eq!(second["data"][0]["name"], "a2");
    let cursor = second["page"]["next_cursor"].as_str().unwrap();
    let (_, third) = app
        .get(&format!("/v1/api/accounts?limit=2&cursor={cursor}"), &app.admin_key)
        .await;
    assert_eq!(third["data"].as_array().unwrap().len(), 1);
    assert!(third["page"]["next_cursor"].is_null());
});

both_backends!(account_key_sees_only_its_account, |app: TestApp| async move {
    let (a, key_a) = app.account_with_key("A").await;
    let (b, _key_b) = app.account_with_key("B").await;

    let (s, body) = app.get("/v1/api/accounts", &key_a).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()]);

    let (s, _) = app.get(&format!("/v1/api/accounts/{a}"), &key_a).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = app.get(&format!("/v1/api/accounts/{b}"), &key_a).await;
    assert_error(s, &body, 403, "FORBIDDEN");
    let (s, body) = app.get(&format!("/v1/api/accounts/{b}/keys"), &key_a).await;
    assert_error(s, &body, 403, "FORBIDDEN");
    let (s, body) = app.post(&format!("/v1/api/accounts/{b}/keys"), &key_a, json!({})).await;
    assert_error(s, &body, 403, "FORBIDDEN");

    // An account key may not create accounts nor mint admin keys.
    let (s, body) = app.post("/v1/api/accounts", &key_a, json!({ "name": "evil" })).await;
    assert_error(s, &body, 403, "FORBIDDEN");
    let (s, body) = app
        .post(
            &format!("/v1/api/accounts/{a}/keys"),
            &key_a,
            json!({ "role": "admin" }),
        )
        .await;
    assert_error(s, &body, 403, "FORBIDDEN");
    // ... but it may create another key for its own account.
    let (s, body) = app
        .post(
            &format!("/v1/api/accounts/{a}/keys"),
            &key_a,
            json!({ "name": "second" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["role"], "account");
});

both_backends!(keys_are_shown_once_and_revocable, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let (s, body) = app.get(&format!("/v1/api/accounts/{a}/keys"), &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    let listed = &body["data"][0];
    assert!(
        listed.get("key").is_none(),
        "a listed key never carries the secret: {listed}"
    );
    assert!(key.starts_with(listed["prefix"].as_str().unwrap()));
    assert!(
        !body.to_string().contains(&key),
        "the key must not appear in any listing"
    );
    let key_id = listed["id"].as_str().unwrap().to_string();

    let (s, _) = app.get(&format!("/v1/api/accounts/{a}"), &key).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .delete(&format!("/v1/api/accounts/{a}/keys/{key_id}"), &app.admin_key)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = app.get(&format!("/v1/api/accounts/{a}"), &key).await;
    assert_error(s, &body, 401, "UNAUTHORIZED");
    let (s, body) = app
        .delete(&format!("/v1/api/accounts/{a}/keys/{key_id}"), &app.admin_key)
        .await;
    assert_error(s, &body, 404, "NOT_FOUND");
});

both_backends!(
    keys_of_another_account_cannot_be_revoked_through_mine,
    |app: TestApp| async move {
        let (a, key_a) = app.account_with_key("A").await;
        let (b, _) = app.account_with_key("B").await;
        let (_, body) = app.get(&format!("/v1/api/accounts/{b}/keys"), &app.admin_key).await;
        let b_key_id = body["data"][0]["id"].as_str().unwrap().to_string();
        let (s, body) = app
            .delete(&format!("/v1/api/accounts/{a}/keys/{b_key_id}"), &key_a)
            .await;
        assert_error(s, &body, 404, "NOT_FOUND");
        let (_, body) = app.get(&format!("/v1/api/accounts/{b}/keys"), &app.admin_key).await;
        assert!(body["data"][0]["revoked_at"].is_null(), "B's key is untouched");
    }
);

both_backends!(missing_and_bad_keys_are_401, |app: TestApp| async move {
    let (s, body) = app.call(reqwest::Method::GET, "/v1/api/accounts", None, None).await;
    assert_error(s, &body, 401, "UNAUTHORIZED");
    let (s, body) = app.get("/v1/api/accounts", "hk_not-a-real-key").await;
    assert_error(s, &body, 401, "UNAUTHORIZED");
    let resp = app
        .client
        .get(app.url("/v1/api/accounts"))
        .header("Authorization", format!("Basic {}", app.admin_key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
});

both_backends!(unknown_and_malformed_account_ids_are_404, |app: TestApp| async move {
    let (s, body) = app
        .get(&format!("/v1/api/accounts/{}", uuid::Uuid::now_v7()), &app.admin_key)
        .await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (s, body) = app.get("/v1/api/accounts/not-a-uuid", &app.admin_key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (s, body) = app.get("/v1/api/accounts/'%20OR%201=1--", &app.admin_key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
});

both_backends!(rate_limit_answers_429_with_retry_after, |_app: TestApp| async move {
    let app = TestApp::spawn_with(_app.backend, |c| c.rate_limits.bot_management_per_minute = 3)
        .await
        .unwrap();
    for _ in 0..3 {
        let (s, _) = app.get("/v1/api/accounts", &app.admin_key).await;
        assert_eq!(s, StatusCode::OK);
    }
    let resp = app
        .client
        .get(app.url("/v1/api/accounts"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // Another key has its own budget (created directly in the store: the admin key is spent).
    let other = hookline::secrets::generate_api_key();
    app.state
        .store
        .create_api_key(hookline::store::NewKey {
            account_id: None,
            role: hookline::store::Role::Admin,
            name: "other",
            hash: &other.hash,
            prefix: &other.display_prefix,
        })
        .await
        .unwrap();
    let (s, _) = app.get("/v1/api/accounts", other.plaintext.expose()).await;
    assert_eq!(s, StatusCode::OK);
});

both_backends!(graceful_restart_keeps_accounts_and_keys, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let app = app.restart().await;
    let (s, body) = app.get(&format!("/v1/api/accounts/{a}"), &key).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = app.get("/v1/api/accounts", &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
});
