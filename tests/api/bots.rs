//! Bots: CRUD, paging, account isolation, bad input.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, assert_error};

both_backends!(bot_lifecycle, |app: TestApp| async move {
    let (account, key) = app.account_with_key("Chiho").await;
    let (s, body) = app
        .post(
            &format!("/v1/api/accounts/{account}/bots"),
            &key,
            json!({ "name": "Onboarding", "description": "HR bot" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let bot = body["data"].clone();
    assert_eq!(bot["account_id"], account.as_str());
    assert_eq!(bot["is_active"], true);
    let id = bot["id"].as_str().unwrap().to_string();

    let (s, body) = app.get(&format!("/v1/api/bots/{id}"), &key).await;
    assert_eq!((s, &body["data"]["name"]), (StatusCode::OK, &json!("Onboarding")));

    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/v1/api/bots/{id}"),
            Some(&key),
            Some(json!({ "name": "HR", "is_active": false })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["name"], "HR");
    assert_eq!(body["data"]["is_active"], false);
    assert_eq!(body["data"]["description"], "HR bot", "untouched fields stay");
    let (_, body) = app
        .call(
            Method::PUT,
            &format!("/v1/api/bots/{id}"),
            Some(&key),
            Some(json!({ "description": null })),
        )
        .await;
    assert!(body["data"]["description"].is_null(), "null clears: {body}");

    let (s, body) = app.get(&format!("/v1/api/accounts/{account}/bots"), &key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);

    let (s, _) = app.delete(&format!("/v1/api/bots/{id}"), &key).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = app.get(&format!("/v1/api/bots/{id}"), &key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (s, body) = app.delete(&format!("/v1/api/bots/{id}"), &key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
});

both_backends!(bots_are_isolated_between_accounts, |app: TestApp| async move {
    let (a, key_a) = app.account_with_key("A").await;
    let (b, key_b) = app.account_with_key("B").await;
    let (_, body) = app
        .post(
            &format!("/v1/api/accounts/{a}/bots"),
            &key_a,
            json!({ "name": "A bot" }),
        )
        .await;
    let bot = body["data"]["id"].as_str().unwrap().to_string();

    // B names A's account: 403. B reaches A's bot by id: 404 (existence not revealed).
    let (s, body) = app.get(&format!("/v1/api/accounts/{a}/bots"), &key_b).await;
    assert_error(s, &body, 403, "FORBIDDEN");
    let (s, body) = app
        .post(&format!("/v1/api/accounts/{a}/bots"), &key_b, json!({ "name": "x" }))
        .await;
    assert_error(s, &body, 403, "FORBIDDEN");
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({ "name": "pwned" }))),
        (Method::DELETE, None),
    ] {
        let (s, resp) = app
            .call(method.clone(), &format!("/v1/api/bots/{bot}"), Some(&key_b), body)
            .await;
        assert_error(s, &resp, 404, "NOT_FOUND");
    }
    let (_, body) = app.get(&format!("/v1/api/bots/{bot}"), &key_a).await;
    assert_eq!(body["data"]["name"], "A bot", "A's bot is untouched");
    // B's list does not contain A's bot; admin sees both accounts' bots.
    let (_, body) = app.get(&format!("/v1/api/accounts/{b}/bots"), &key_b).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    let (s, _) = app.get(&format!("/v1/api/bots/{bot}"), &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
});

both_backends!(bot_input_is_validated, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let path = format!("/v1/api/accounts/{a}/bots");
    let (s, body) = app.post(&path, &key, json!({ "name": "" })).await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let (s, body) = app.post(&path, &key, json!({ "name": "x", "is_active": "yes" })).await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], "is_active");
    let (s, body) = app
        .post(&path, &key, json!({ "name": "x", "account_id": uuid::Uuid::now_v7() }))
        .await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], "account_id");
    let (s, body) = app
        .post(&path, &key, json!({ "name": "x", "description": "d".repeat(2001) }))
        .await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let (s, body) = app.post(&path, &key, json!({ "name": "x", "colour": "red" })).await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
    let (s, body) = app.get("/v1/api/bots/not-a-uuid", &key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (_, list) = app.get(&path, &key).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        0,
        "nothing was created by bad requests"
    );
});

both_backends!(bot_lists_page_in_creation_order, |app: TestApp| async move {
    let (a, key_a) = app.account_with_key("A").await;
    for i in 0..3 {
        app.post(
            &format!("/v1/api/accounts/{a}/bots"),
            &key_a,
            json!({ "name": format!("bot {i}") }),
        )
        .await;
    }
    let (_, page1) = app.get(&format!("/v1/api/accounts/{a}/bots?limit=2"), &key_a).await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    let cursor = page1["page"]["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .get(&format!("/v1/api/accounts/{a}/bots?limit=2&cursor={cursor}"), &key_a)
        .await;
    assert_eq!(page2["data"][0]["name"], "bot 2");
});
