//! The generated document, operation by operation: what the shared causes promise is listed,
//! with the error envelope, and a route's own descriptions are kept.

use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(crate::http::openapi()).unwrap()
}

/// `(method, path, operation)` for every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

fn statuses(op: &Value) -> Vec<&str> {
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn every_operation_lists_the_statuses_its_shape_can_produce() {
    let doc = document();
    let ops = operations(&doc);
    assert!(ops.len() > 50, "the whole API is documented: {}", ops.len());
    for (method, path, op) in &ops {
        let listed = statuses(op);
        let has = |s: &str| listed.contains(&s);
        let what = format!("{method} {path} lists {listed:?}");
        assert!(has("500") && has("503"), "{what}");
        let api_key = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if api_key {
            assert!(has("401") && has("403") && has("429"), "{what}");
        }
        if path.contains('{') {
            assert!(has("404"), "{what}");
        }
        if op.get("requestBody").is_some() {
            assert!(has("400") && has("413") && has("415") && has("422"), "{what}");
        }
        if api_key && method != "get" {
            assert!(has("409"), "{what}");
        }
    }
}

#[test]
fn every_error_answer_is_the_error_envelope() {
    let doc = document();
    let mut wrong = Vec::new();
    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let code: u16 = status.parse().unwrap();
            let schema = &response["content"]["application/json"]["schema"];
            if code >= 400 && schema["$ref"] != "#/components/schemas/ErrorEnvelope" {
                wrong.push(format!("{method} {path} {status}: {response}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "error answers without the envelope:\n{}",
        wrong.join("\n")
    );
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
}

#[test]
fn rate_limits_and_unavailability_say_when_to_retry() {
    let doc = document();
    let op = &doc["paths"]["/v1/api/accounts"]["post"];
    for status in ["429", "503"] {
        assert!(
            op["responses"][status]["headers"]["Retry-After"].is_object(),
            "{status}: {}",
            op["responses"][status]
        );
    }
}

#[test]
fn a_routes_own_description_of_a_status_is_kept() {
    let doc = document();
    let webhook = &doc["paths"]["/v1/api/webhooks/telegram/{bot_id}"]["post"]["responses"];
    let text = webhook["401"]["description"].as_str().unwrap();
    assert!(text.contains("secret"), "the Telegram webhook's own 401: {text}");
    let text = webhook["403"]["description"].as_str().unwrap();
    assert!(text.contains("telegram_source_networks"), "not a key's role: {text}");
}

#[test]
fn media_routes_document_their_real_content_types() {
    let doc = document();
    let content = &doc["paths"]["/v1/api/media/{media_id}/content"]["get"]["responses"];
    for status in ["200", "206"] {
        let types: Vec<&String> = content[status]["content"].as_object().unwrap().keys().collect();
        assert_eq!(types, ["*/*"], "the stored file's own type, not JSON: {status}");
    }
    let upload = &doc["paths"]["/v1/api/bots/{bot_id}/media"]["post"]["requestBody"]["content"];
    assert!(upload["multipart/form-data"].is_object(), "{upload}");
}

#[test]
fn operation_ids_are_unique() {
    let doc = document();
    let mut seen = std::collections::HashMap::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        if let Some(first) = seen.insert(id.clone(), format!("{method} {path}")) {
            panic!("operationId `{id}` names both {first} and {method} {path}");
        }
    }
}
