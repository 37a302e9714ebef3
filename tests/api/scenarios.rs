//! Scenario versions over HTTP: create, upload (JSON, YAML, GET INN wrapper, multipart),
//! validation errors with every problem, versions, activation (rollback), isolation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_error};

pub const CHIHO: &str = include_str!("../fixtures/chiho_onboarding.json");

pub fn chiho() -> Value {
    serde_json::from_str(CHIHO).unwrap()
}

/// An account key and a bot of that account.
pub async fn bot_with_key(app: &TestApp) -> (String, String) {
    let (account, key) = app.account_with_key("Chiho").await;
    let (s, body) = app
        .post(
            &format!("/v1/api/accounts/{account}/bots"),
            &key,
            json!({ "name": "HR" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    (body["data"]["id"].as_str().unwrap().to_string(), key)
}

async fn send(key: &str, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = req.bearer_auth(key).send().await.unwrap();
    (resp.status(), resp.json::<Value>().await.unwrap())
}

fn tiny(text: &str) -> Value {
    json!({ "version": "1.0", "steps": { "welcome": { "type": "message", "message": { "text": text } } } })
}

both_backends!(create_get_list_and_roll_back_versions, |app: TestApp| async move {
    let (bot, key) = bot_with_key(&app).await;
    let path = format!("/v1/api/bots/{bot}/scenarios");
    let (s, v1) = app
        .post(
            &path,
            &key,
            json!({ "name": "Onboarding", "version": "1.0", "scenario_data": chiho() }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v1}");
    let v1 = v1["data"].clone();
    assert_eq!(v1["version_number"], 1);
    assert_eq!(v1["is_active"], true);
    assert!(
        !v1["warnings"].as_array().unwrap().is_empty(),
        "media aliases are warned about"
    );
    // The document comes back in document order (the first key is the start step).
    let first_key = v1["scenario_data"]["steps"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert_eq!(first_key, "welcome");

    let (_, v2) = app
        .post(&path, &key, json!({ "name": "Tiny", "scenario_data": tiny("hi") }))
        .await;
    let v2 = v2["data"].clone();
    assert_eq!(
        (v2["version_number"].clone(), v2["version"].clone()),
        (json!(2), json!("2"))
    );

    let (_, list) = app.get(&path, &key).await;
    let list = list["data"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], v2["id"], "newest first");
    assert_eq!(list[1]["is_active"], false, "creating v2 deactivated v1");
    let (_, active) = app.get(&format!("{path}?active_only=true"), &key).await;
    assert_eq!(active["data"].as_array().unwrap().len(), 1);
    assert_eq!(active["data"][0]["id"], v2["id"]);

    // Roll back.
    let v1_id = v1["id"].as_str().unwrap();
    let (s, body) = app
        .call(
            Method::POST,
            &format!("/v1/api/scenarios/{v1_id}/activate"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["is_active"], true);
    let (_, v2_now) = app
        .get(&format!("/v1/api/scenarios/{}", v2["id"].as_str().unwrap()), &key)
        .await;
    assert_eq!(v2_now["data"]["is_active"], false);
});

both_backends!(put_with_a_document_makes_a_new_version, |app: TestApp| async move {
    let (bot, key) = bot_with_key(&app).await;
    let (_, v1) = app
        .post(
            &format!("/v1/api/bots/{bot}/scenarios"),
            &key,
            json!({ "name": "T", "scenario_data": tiny("a") }),
        )
        .await;
    let v1_id = v1["data"]["id"].as_str().unwrap().to_string();
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/v1/api/scenarios/{v1_id}"),
            Some(&key),
            Some(json!({ "scenario_data": tiny("b") })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_ne!(body["data"]["id"], v1_id.as_str(), "a new version");
    assert_eq!(body["data"]["version_number"], 2);
    assert_eq!(body["data"]["is_active"], true);
    let (_, old) = app.get(&format!("/v1/api/scenarios/{v1_id}"), &key).await;
    assert_eq!(
        old["data"]["scenario_data"]["steps"]["welcome"]["message"]["text"], "a",
        "old version unchanged"
    );
    // Labels change in place.
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/v1/api/scenarios/{v1_id}"),
            Some(&key),
            Some(json!({ "name": "Renamed", "is_active": false })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (body["data"]["name"].clone(), body["data"]["id"].clone()),
        (json!("Renamed"), json!(v1_id))
    );
});

both_backends!(invalid_scenarios_list_every_problem, |app: TestApp| async move {
    let (bot, key) = bot_with_key(&app).await;
    let mut broken = chiho();
    broken["steps"]["welcome"]["next_step"] = json!("nowhere");
    broken["steps"]["confirm_data"]["next_step"]["conditions"][0]["if"] = json!("data_confirmed == 'yes");
    broken["start_step"] = json!("missing_start");
    let (s, body) = app
        .post(
            &format!("/v1/api/bots/{bot}/scenarios"),
            &key,
            json!({ "name": "B", "scenario_data": broken }),
        )
        .await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    let errors: Vec<&Value> = problems.iter().filter(|p| p["severity"] == "error").collect();
    assert!(
        errors
            .iter()
            .any(|p| p["step"] == "welcome" && p["field"] == "next_step"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|p| p["step"] == "confirm_data" && p["message"].as_str().unwrap().contains("position")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|p| p["field"] == "start_step"), "{errors:?}");
    let (_, list) = app.get(&format!("/v1/api/bots/{bot}/scenarios"), &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "nothing stored");

    for bad in [
        json!({}),
        json!({ "steps": [] }),
        json!({ "steps": "x" }),
        json!({ "steps": { "a": { "type": "dance" } } }),
    ] {
        let (s, body) = app
            .post(
                &format!("/v1/api/bots/{bot}/scenarios"),
                &key,
                json!({ "name": "B", "scenario_data": bad }),
            )
            .await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
    }
});

both_backends!(
    upload_accepts_json_yaml_wrapper_and_multipart,
    |app: TestApp| async move {
        let (bot, key) = bot_with_key(&app).await;
        let url = app.url(&format!("/v1/api/bots/{bot}/scenarios/upload"));
        let (s, body) = send(
            &key,
            app.client
                .post(&url)
                .header("content-type", "application/json")
                .body(CHIHO),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["data"]["name"], "ЧиХо Onboarding Bot");

        let wrapper = json!({ "file_content": CHIHO });
        let (s, body) = send(&key, app.client.post(&url).json(&wrapper)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");

        let yaml = "version: '1.0'\nname: Yaml bot\nsteps:\n  hello:\n    message:\n      text: Hi {{user.first_name}}\n    next_step: bye\n  bye:\n    message:\n      text: Bye\n";
        let (s, body) = send(
            &key,
            app.client
                .post(&url)
                .header("content-type", "application/yaml")
                .body(yaml),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["data"]["name"], "Yaml bot");
        assert_eq!(body["data"]["scenario_data"]["steps"]["hello"]["next_step"], "bye");

        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(CHIHO.as_bytes().to_vec()).file_name("chiho.json"),
        );
        let (s, body) = send(
            &key,
            app.client
                .post(format!("{url}?name=From%20form&activate=false"))
                .multipart(form),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(
            (body["data"]["name"].clone(), body["data"]["is_active"].clone()),
            (json!("From form"), json!(false))
        );

        // Bad uploads: malformed JSON, malformed YAML, wrapper with a non-string, multipart without a file.
        let (s, body) = send(
            &key,
            app.client
                .post(&url)
                .header("content-type", "application/json")
                .body("{nope"),
        )
        .await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        let (s, body) = send(
            &key,
            app.client
                .post(&url)
                .header("content-type", "application/yaml")
                .body("a: [b"),
        )
        .await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        let (s, body) = send(&key, app.client.post(&url).json(&json!({ "file_content": 5 }))).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        let form = reqwest::multipart::Form::new().text("other", "x");
        let (s, body) = send(&key, app.client.post(&url).multipart(form)).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        let (s, body) = send(
            &key,
            app.client
                .post(&url)
                .header("content-type", "application/json")
                .body("[1,2]"),
        )
        .await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
    }
);

both_backends!(scenarios_are_isolated_between_accounts, |app: TestApp| async move {
    let (bot, key) = bot_with_key(&app).await;
    let (_, other_key) = app.account_with_key("Other").await;
    let (_, v1) = app
        .post(
            &format!("/v1/api/bots/{bot}/scenarios"),
            &key,
            json!({ "name": "T", "scenario_data": tiny("a") }),
        )
        .await;
    let id = v1["data"]["id"].as_str().unwrap().to_string();
    for (method, path) in [
        (Method::GET, format!("/v1/api/scenarios/{id}")),
        (Method::DELETE, format!("/v1/api/scenarios/{id}")),
        (Method::POST, format!("/v1/api/scenarios/{id}/activate")),
        (Method::GET, format!("/v1/api/bots/{bot}/scenarios")),
    ] {
        let (s, body) = app.call(method, &path, Some(&other_key), None).await;
        assert_error(s, &body, 404, "NOT_FOUND");
    }
    let (s, body) = app
        .post(
            &format!("/v1/api/bots/{bot}/scenarios"),
            &other_key,
            json!({ "name": "T", "scenario_data": tiny("x") }),
        )
        .await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (s, _) = app.get(&format!("/v1/api/scenarios/{id}"), &key).await;
    assert_eq!(s, StatusCode::OK);
});

both_backends!(deleting_versions_and_bots, |app: TestApp| async move {
    let (bot, key) = bot_with_key(&app).await;
    let (_, v1) = app
        .post(
            &format!("/v1/api/bots/{bot}/scenarios"),
            &key,
            json!({ "name": "T", "scenario_data": tiny("a") }),
        )
        .await;
    let id = v1["data"]["id"].as_str().unwrap().to_string();
    // The active version is deleted once it is no longer active.
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/v1/api/scenarios/{id}"),
            Some(&key),
            Some(json!({ "is_active": false })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = app.delete(&format!("/v1/api/scenarios/{id}"), &key).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = app.get(&format!("/v1/api/scenarios/{id}"), &key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (_, v2) = app
        .post(
            &format!("/v1/api/bots/{bot}/scenarios"),
            &key,
            json!({ "name": "T", "scenario_data": tiny("a") }),
        )
        .await;
    let id2 = v2["data"]["id"].as_str().unwrap().to_string();
    app.delete(&format!("/v1/api/bots/{bot}"), &key).await;
    let (s, body) = app.get(&format!("/v1/api/scenarios/{id2}"), &key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
});
