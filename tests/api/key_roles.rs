//! Who manages which keys (admin keys are the admins' alone), and the limit on failed
//! authentications per client address.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_error};

fn ids_and_roles(body: &Value) -> Vec<(String, String)> {
    body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|k| (k["id"].as_str().unwrap().into(), k["role"].as_str().unwrap().into()))
        .collect()
}

both_backends!(
    account_keys_can_neither_see_nor_revoke_nor_issue_admin_keys,
    |app: TestApp| async move {
        let (a, key_a) = app.account_with_key("A").await;
        let (s, body) = app
            .post(
                &format!("/v1/api/accounts/{a}/keys"),
                &app.admin_key,
                json!({ "role": "admin", "name": "ops" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let admin_id = body["data"]["id"].as_str().unwrap().to_string();
        let admin_key = body["data"]["key"].as_str().unwrap().to_string();

        let (s, body) = app.get(&format!("/v1/api/accounts/{a}/keys"), &key_a).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let seen = ids_and_roles(&body);
        assert_eq!(seen.len(), 1, "only the account key: {seen:?}");
        assert!(
            seen.iter().all(|(id, role)| role == "account" && *id != admin_id),
            "{seen:?}"
        );
        let (_, body) = app.get(&format!("/v1/api/accounts/{a}/keys"), &app.admin_key).await;
        assert!(
            ids_and_roles(&body).contains(&(admin_id.clone(), "admin".into())),
            "an admin sees it: {body}"
        );

        let (s, body) = app
            .delete(&format!("/v1/api/accounts/{a}/keys/{admin_id}"), &key_a)
            .await;
        assert_error(s, &body, 404, "NOT_FOUND");
        let (s, body) = app.get("/v1/api/accounts", &admin_key).await;
        assert_eq!(s, StatusCode::OK, "the admin key still works: {body}");

        let (s, body) = app
            .post(
                &format!("/v1/api/accounts/{a}/keys"),
                &key_a,
                json!({ "role": "admin" }),
            )
            .await;
        assert_error(s, &body, 403, "FORBIDDEN");

        let (s, _) = app
            .delete(&format!("/v1/api/accounts/{a}/keys/{admin_id}"), &app.admin_key)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "an admin revokes it");
    }
);

/// A server that believes loopback proxies, so each test can speak for several client
/// addresses through `X-Forwarded-For`.
async fn app_limiting_failures(per_minute: u32) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| {
        c.rate_limits.auth_failures_per_minute = per_minute;
        c.rate_limits.bot_management_per_minute = 0;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
    .expect("sqlite app")
}

async fn get_as(app: &TestApp, client: &str, key: &str) -> reqwest::Response {
    app.client
        .get(app.url("/v1/api/accounts"))
        .bearer_auth(key)
        .header("x-forwarded-for", client)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_from_one_address_are_refused_with_429_before_any_key_is_checked() {
    let app = app_limiting_failures(5).await;
    let attacker = "203.0.113.9";
    for _ in 0..5 {
        let resp = get_as(&app, attacker, "hk_guess").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = get_as(&app, attacker, "hk_guess").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED", "{body}");

    // Even the right key waits: the address is refused before its key is looked at.
    let resp = get_as(&app, attacker, &app.admin_key).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another address is not affected.
    let resp = get_as(&app, "203.0.113.10", &app.admin_key).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = get_as(&app, "203.0.113.10", "hk_guess").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_requests_are_not_counted_as_failures() {
    let app = app_limiting_failures(3).await;
    let client = "198.51.100.4";
    for _ in 0..20 {
        assert_eq!(get_as(&app, client, &app.admin_key).await.status(), StatusCode::OK);
    }
    for _ in 0..3 {
        assert_eq!(
            get_as(&app, client, "hk_guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        get_as(&app, client, "hk_guess").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
