//! The webhook override calls against the loopback server of `loopback_tests`.

use serde_json::json;

use super::*;

#[tokio::test]
async fn override_calls_use_meta_shapes() {
    let server = serve(|seen, _| match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/v21.0/55") => json_answer(
            200,
            json!({"webhook_configuration": {"phone_number": "https://hook/p", "application": "https://app/w"}, "id": "55"}),
        ),
        ("GET", "/v21.0/66/subscribed_apps") => json_answer(
            200,
            json!({"data": [{"whatsapp_business_api_data": {"id": "9", "name": "App"}, "override_callback_uri": "https://hook/w"}]}),
        ),
        _ => json_answer(200, json!({"success": true})),
    })
    .await;
    let api = api(&server);
    let (phone, waba) = (
        OverrideTarget::PhoneNumber("55".into()),
        OverrideTarget::Waba("66".into()),
    );
    let verify = Secret::new("verify-me".to_string());
    for target in [&phone, &waba] {
        api.set_override(&token(), "v21.0", target, "https://hook/x", &verify)
            .await
            .unwrap();
        api.remove_override(&token(), "v21.0", target).await.unwrap();
    }
    let phone_status = api.override_status(&token(), "v21.0", &phone).await.unwrap();
    assert_eq!(phone_status.callback_url.as_deref(), Some("https://hook/p"));
    assert_eq!(phone_status.level.as_deref(), Some("phone_number"));
    let waba_status = api.override_status(&token(), "v21.0", &waba).await.unwrap();
    assert_eq!(waba_status.level.as_deref(), Some("whatsapp_business_account"));

    let seen = server.seen();
    let shape: Vec<(&str, &str, Option<&str>, Value)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str(), s.query.as_deref(), s.json()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                "POST",
                "/v21.0/55",
                None,
                json!({"webhook_configuration": {"override_callback_uri": "https://hook/x", "verify_token": "verify-me"}})
            ),
            (
                "POST",
                "/v21.0/55",
                None,
                json!({"webhook_configuration": {"override_callback_uri": ""}})
            ),
            (
                "POST",
                "/v21.0/66/subscribed_apps",
                None,
                json!({"override_callback_uri": "https://hook/x", "verify_token": "verify-me"})
            ),
            ("POST", "/v21.0/66/subscribed_apps", None, Value::Null),
            ("GET", "/v21.0/55", Some("fields=webhook_configuration"), Value::Null),
            ("GET", "/v21.0/66/subscribed_apps", None, Value::Null),
        ]
    );
    assert!(
        seen.iter()
            .all(|s| s.auth.as_deref() == Some(&*format!("Bearer {TOKEN}")))
    );
    assert!(
        seen[3].body.is_empty(),
        "removing a WABA override subscribes again without parameters"
    );

    let too_long = format!("https://hook/{}", "a".repeat(200));
    let err = api
        .set_override(&token(), "v21.0", &phone, &too_long, &verify)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Permanent { code: 0, .. }));
    assert_eq!(server.seen().len(), 6, "refused locally");
}

#[tokio::test]
async fn a_failed_override_names_neither_secret() {
    let server = serve(|seen, _| {
        json_answer(
            400,
            json!({"error": {"message": format!("Callback verification failed: {}", String::from_utf8_lossy(&seen.body)),
                "type": "OAuthException", "code": 2200, "fbtrace_id": "T"}}),
        )
    })
    .await;
    let verify = Secret::new("verify-token-secret".to_string());
    let target = OverrideTarget::Waba("66".into());
    let err = api(&server)
        .set_override(&token(), "v21.0", &target, "https://hook/x", &verify)
        .await
        .unwrap_err();
    let shown = format!("{err:?} {err}");
    assert!(
        shown.contains("2200") && !shown.contains("verify-token-secret") && !shown.contains(TOKEN),
        "{shown}"
    );
}
