//! Event-type JSON Schemas over the API: a schema is compiled when saved (what would not be
//! enforced is refused, naming the problem), and publishes are checked against it, the error
//! naming the payload's location.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};

async fn save_type(app: &TestApp, account: &str, key: &str, name: &str, schema: Value) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/api/accounts/{account}/webhooks/event-types"),
        key,
        json!({ "name": name, "schema": schema }),
    )
    .await
}

async fn publish(app: &TestApp, account: &str, key: &str, name: &str, payload: Value) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/api/accounts/{account}/webhooks/events"),
        key,
        json!({ "event_type": name, "payload": payload }),
    )
    .await
}

crate::webhook_test!(schemas_are_enforced_in_full_on_publish, |app: TestApp| async move {
    let (a, key) = app.account_with_key("A").await;
    let schema = json!({
        "type": "object",
        "required": ["card", "email", "points"],
        "$defs": { "card": { "type": "string", "pattern": "^C-[0-9]{4}$" } },
        "properties": {
            "card": { "$ref": "#/$defs/card" },
            "email": { "format": "email" },
            "points": { "multipleOf": 10, "not": { "const": 0 } },
            "tier": { "oneOf": [{ "enum": ["gold"] }, { "type": "integer" }] },
            "note": { "anyOf": [{ "type": "string" }, { "type": "null" }] }
        }
    });
    let (s, body) = save_type(&app, &a, &key, "loyalty.joined", schema).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let good = json!({"card": "C-1234", "email": "ivan@example.com", "points": 20, "tier": "gold", "note": null});
    let (s, body) = publish(&app, &a, &key, "loyalty.joined", good.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");

    let bad = [
        ("card", json!("C-12"), "/card"),
        ("email", json!("not-an-email"), "/email"),
        ("points", json!(15), "/points"),
        ("points", json!(0), "/points"),
        ("tier", json!("silver"), "/tier"),
        ("note", json!(5), "/note"),
    ];
    for (field, value, at) in bad {
        let mut payload = good.clone();
        payload[field] = value;
        let (s, body) = publish(&app, &a, &key, "loyalty.joined", payload).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["field"], "payload", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{at}: ")), "{field}: {message}");
    }

    // A changed schema applies to the next publish.
    let (s, body) = app
        .patch(
            "/v1/api/webhooks/event-types/loyalty.joined",
            &key,
            json!({ "schema": { "properties": { "card": { "pattern": "^X" } } } }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = publish(&app, &a, &key, "loyalty.joined", good).await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let (s, body) = publish(&app, &a, &key, "loyalty.joined", json!({"card": "X-1"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
});

crate::webhook_test!(
    schemas_that_would_not_be_enforced_are_refused,
    |app: TestApp| async move {
        let (a, key) = app.account_with_key("A").await;
        let refused = [
            (
                json!({"properties": {"points": {"type": "integer", "minimun": 0}}}),
                "minimun",
            ),
            (
                json!({"$ref": "https://schemas.example.com/order.json"}),
                "cannot fetch",
            ),
            (json!({"properties": {"email": {"format": "emial"}}}), "emial"),
            (json!({"type": "strng"}), "/type"),
        ];
        for (schema, named) in refused {
            let (s, body) = save_type(&app, &a, &key, "order.checked", schema.clone()).await;
            assert_error(s, &body, 400, "VALIDATION_ERROR");
            assert_eq!(body["error"]["details"]["field"], "schema", "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(named), "{schema}: {message}");
        }
        let (s, body) = save_type(&app, &a, &key, "order.checked", json!({"type": "object"})).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = app
            .patch(
                "/v1/api/webhooks/event-types/order.checked",
                &key,
                json!({ "schema": { "anyOf": [{ "maxLenght": 3 }] } }),
            )
            .await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("/anyOf/0/maxLenght"),
            "{body}"
        );
    }
);
