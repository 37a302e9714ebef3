//! The fake itself, driven with plain reqwest (and once with hookline's Graph API client, to
//! check the two agree on Meta's formats).

use std::time::Duration;

use axum::extract::Query;
use hookline::platforms::outbound::CallError;
use hookline::platforms::whatsapp::api::{GraphApi, GraphRefusals, OverrideTarget};
use hookline::secrets::Secret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{APP_CALLBACK, Failure, FakeWhatsApp, sign};

const TOKEN: &str = "EAAG-fake-test-token";
const PHONE: &str = "106540352242922";

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(wa: &FakeWhatsApp, path: &str, body: Value) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}{path}", wa.base_url()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(wa: &FakeWhatsApp, path: &str) -> (StatusCode, Value) {
    let response = client()
        .get(format!("{}{path}", wa.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn image(id: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": "15550001111", "type": "image", "image": {"id": id}})
}

/// A callback answering Meta's handshake for `verify_token`, as hookline's route will.
async fn callback(verify_token: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                let get = |k: &str| q.get(k).map(String::as_str);
                match hookline::platforms::whatsapp::handshake(
                    get("hub.mode"),
                    get("hub.verify_token"),
                    get("hub.challenge"),
                    verify_token,
                ) {
                    Some(challenge) => (StatusCode::OK, challenge),
                    None => (StatusCode::FORBIDDEN, String::new()),
                }
            },
        ),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test]
async fn a_send_is_answered_with_a_wamid_and_recorded() {
    let wa = FakeWhatsApp::start().await;
    assert_eq!(wa.base_url(), format!("http://{}", wa.addr));
    let text = json!({"messaging_product": "whatsapp", "to": "15550001111", "type": "text", "text": {"body": "Hi"}});
    let (status, answer) = post(&wa, &format!("/v21.0/{PHONE}/messages"), text.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["messages"][0]["id"], "wamid.FAKE1");
    assert_eq!(answer["contacts"][0]["wa_id"], "15550001111");
    let (_, second) = post(&wa, &format!("/v19.0/{PHONE}/messages"), text.clone()).await;
    assert_eq!(second["messages"][0]["id"], "wamid.FAKE2");
    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"});
    let (_, answer) = post(&wa, &format!("/v21.0/{PHONE}/messages"), read).await;
    assert_eq!(answer, json!({"success": true}));

    let sent = wa.wait_for("messages", 2, Duration::from_secs(5)).await;
    let first = &sent[0];
    assert_eq!((first.token.as_str(), first.method.as_str()), (TOKEN, "POST"));
    assert_eq!((first.kind.as_str(), first.object_id.as_str()), ("messages", PHONE));
    assert_eq!(first.body, text);
    assert!(first.files.is_empty() && first.handshake_ok.is_none());
    assert!(sent[1].at >= first.at);
    assert_eq!(wa.calls_of("read").len(), 1);
    assert_eq!(wa.calls().len(), 3);

    // A request Meta would not understand is recorded, and refused as Meta does.
    let (status, answer) = post(&wa, &format!("/v21.0/{PHONE}/nonsense"), json!({})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(2500))
    );
    assert_eq!(wa.calls_of("unknown").len(), 1);
    let anonymous = json!({"to": "1", "type": "text", "text": {"body": "x"}});
    let (_, answer) = post(&wa, &format!("/v21.0/{PHONE}/messages"), anonymous).await;
    assert_eq!(answer["error"]["code"], 100, "messaging_product is required");

    // No bearer token: Meta's 401.
    let response = client()
        .post(format!("{}/v21.0/{PHONE}/messages", wa.base_url()))
        .json(&text)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], 190);
}

#[tokio::test]
async fn an_unknown_media_id_is_refused_with_131053() {
    let wa = FakeWhatsApp::start().await;
    let path = format!("/v21.0/{PHONE}/messages");
    let (status, answer) = post(&wa, &path, image("424242")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["code"], 131053);
    assert_eq!(answer["error"]["message"], "(#131053) Media upload error");

    wa.add_media("424242", "image/jpeg", &b"jpeg"[..]);
    assert_eq!(wa.known_media(), vec!["424242".to_string()]);
    assert_eq!(post(&wa, &path, image("424242")).await.0, StatusCode::OK);
    wa.expire_media("424242");
    assert!(wa.known_media().is_empty());
    assert_eq!(post(&wa, &path, image("424242")).await.1["error"]["code"], 131053);

    let link = json!({"messaging_product": "whatsapp", "to": "1", "type": "document", "document": {"link": "https://x.test/a.pdf"}});
    assert_eq!(post(&wa, &path, link).await.0, StatusCode::OK);
    let neither = json!({"messaging_product": "whatsapp", "to": "1", "type": "video", "video": {}});
    assert_eq!(post(&wa, &path, neither).await.1["error"]["code"], 100);
}

#[tokio::test]
async fn uploads_can_be_described_and_downloaded() {
    let wa = FakeWhatsApp::start().await;
    let part = reqwest::multipart::Part::bytes(b"%PDF-1.7 fake".to_vec())
        .file_name("doc.pdf")
        .mime_str("application/pdf")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "application/pdf")
        .part("file", part);
    let response = client()
        .post(format!("{}/v21.0/{PHONE}/media", wa.base_url()))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert_eq!(wa.known_media(), vec![id.clone()]);
    let upload = &wa.calls_of("media_upload")[0];
    let file = &upload.files[0];
    assert_eq!(
        (file.field.as_str(), file.file_name.as_deref()),
        ("file", Some("doc.pdf"))
    );
    assert_eq!((file.mime_type.as_deref(), file.size), (Some("application/pdf"), 13));
    assert_eq!(upload.body["type"], "application/pdf");

    let (status, info) = get(&wa, &format!("/v21.0/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["url"], format!("{}/download/{id}", wa.base_url()));
    assert_eq!(
        (info["mime_type"].as_str(), info["file_size"].as_u64()),
        (Some("application/pdf"), Some(13))
    );
    assert_eq!(info["sha256"].as_str().map(str::len), Some(64));
    let bytes = client()
        .get(info["url"].as_str().unwrap())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(&bytes.bytes().await.unwrap()[..], b"%PDF-1.7 fake");
    let anonymous = client().get(info["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (status, unknown) = get(&wa, "/v21.0/31337").await;
    assert_eq!(
        (status, unknown["error"]["code"].as_i64()),
        (StatusCode::NOT_FOUND, Some(100))
    );
}

#[tokio::test]
async fn overrides_are_set_only_after_the_handshake() {
    let wa = FakeWhatsApp::start().await;
    let (hook, _task) = callback("good-verify-token").await;
    let setting =
        |token: &str| json!({"webhook_configuration": {"override_callback_uri": hook, "verify_token": token}});

    let (status, answer) = post(&wa, &format!("/v21.0/{PHONE}"), setting("bad-token")).await;
    assert_eq!(
        (status, answer["error"]["code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(2200))
    );
    assert_eq!(wa.override_url(), None);
    let (status, answer) = post(&wa, &format!("/v21.0/{PHONE}"), setting("good-verify-token")).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"success": true})));
    assert_eq!(wa.override_url().as_deref(), Some(hook.as_str()));
    let attempts: Vec<Option<bool>> = wa.calls_of("override").iter().map(|c| c.handshake_ok).collect();
    assert_eq!(attempts, vec![Some(false), Some(true)]);

    wa.link_phone_to_waba(PHONE, "555");
    let waba_hook = format!("{hook}?level=waba");
    let waba_setting = json!({"override_callback_uri": waba_hook, "verify_token": "good-verify-token"});
    assert_eq!(
        post(&wa, "/v21.0/555/subscribed_apps", waba_setting).await.0,
        StatusCode::OK
    );
    let (_, status) = get(&wa, &format!("/v21.0/{PHONE}?fields=webhook_configuration")).await;
    assert_eq!(
        status["webhook_configuration"],
        json!({"phone_number": hook, "whatsapp_business_account": waba_hook, "application": APP_CALLBACK})
    );
    let (_, apps) = get(&wa, "/v21.0/555/subscribed_apps").await;
    assert_eq!(apps["data"][0]["override_callback_uri"], waba_hook.as_str());

    // Removing: the phone's with an empty URI, the WABA's by subscribing without parameters.
    let remove = json!({"webhook_configuration": {"override_callback_uri": ""}});
    assert_eq!(post(&wa, &format!("/v21.0/{PHONE}"), remove).await.0, StatusCode::OK);
    assert_eq!(
        post(&wa, "/v21.0/555/subscribed_apps", Value::Null).await.0,
        StatusCode::OK
    );
    assert_eq!(wa.override_url(), None);
    let (_, status) = get(&wa, &format!("/v21.0/{PHONE}?fields=webhook_configuration")).await;
    assert_eq!(status["webhook_configuration"], json!({"application": APP_CALLBACK}));
    let deleted = client()
        .delete(format!("{}/v21.0/555/subscribed_apps", wa.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(get(&wa, "/v21.0/555/subscribed_apps").await.1, json!({"data": []}));

    wa.deny_override();
    let (status, answer) = get(&wa, &format!("/v21.0/{PHONE}?fields=webhook_configuration")).await;
    assert_eq!(
        (status, answer["error"]["code"].as_i64()),
        (StatusCode::FORBIDDEN, Some(200))
    );
    wa.allow_override();
    assert_eq!(get(&wa, "/v21.0/555/subscribed_apps").await.0, StatusCode::OK);
}

#[tokio::test]
async fn failures_are_scripted_per_kind() {
    let wa = FakeWhatsApp::start().await;
    let path = format!("/v21.0/{PHONE}/messages");
    let text = json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {"body": "x"}});
    wa.fail_next("messages", 1, Failure::RateLimited(130429, Some(3)));
    let response = client()
        .post(format!("{}{path}", wa.base_url()))
        .bearer_auth(TOKEN)
        .json(&text)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], 130429);
    assert_eq!(post(&wa, &path, text.clone()).await.0, StatusCode::OK);

    wa.fail_next("messages", 1, Failure::ServerError);
    assert_eq!(
        post(&wa, &path, text.clone()).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    wa.fail_next("messages", 1, Failure::Custom(418, json!({"teapot": true})));
    assert_eq!(
        post(&wa, &path, text.clone()).await,
        (StatusCode::IM_A_TEAPOT, json!({"teapot": true}))
    );
    let graph = Failure::Graph {
        http: 400,
        code: 131026,
        message: "(#131026) Message undeliverable".into(),
    };
    wa.fail_next("media_info", 1, graph);
    assert_eq!(get(&wa, "/v21.0/1").await.1["error"]["code"], 131026);
    wa.fail_next("messages", 1, Failure::Slow(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    assert_eq!(post(&wa, &path, text).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn the_graph_client_and_the_fake_agree() {
    let wa = FakeWhatsApp::start().await;
    let api = GraphApi::new(&wa.base_url(), Duration::from_secs(5)).unwrap();
    let token = Secret::new(TOKEN.to_string());
    let id = api
        .upload_media(&token, "v21.0", PHONE, b"png bytes"[..].into(), "image/png", "a.png")
        .await
        .unwrap();
    let sent = api.send_message(&token, "v21.0", PHONE, &image(&id)).await.unwrap();
    assert_eq!(sent.message_id.as_deref(), Some("wamid.FAKE1"));
    let info = api.media_info(&token, "v21.0", &id).await.unwrap();
    assert_eq!(&api.download(&token, &info.url, 1_000).await.unwrap()[..], b"png bytes");
    assert_eq!(
        api.download(&token, &info.url, 3).await,
        Err(CallError::TooLarge { limit: 3 })
    );

    wa.expire_media(&id);
    let err = api.send_message(&token, "v21.0", PHONE, &image(&id)).await.unwrap_err();
    assert!(err.is_rejected_media_id(), "{err:?}");
    wa.fail_next("messages", 1, Failure::RateLimited(131056, None));
    let err = api.send_message(&token, "v21.0", PHONE, &image("x")).await.unwrap_err();
    assert_eq!(err, CallError::RetryAfter(6));

    let (hook, _task) = callback("verify").await;
    let target = OverrideTarget::PhoneNumber(PHONE.into());
    let verify = Secret::new("verify".to_string());
    api.set_override(&token, "v21.0", &target, &hook, &verify)
        .await
        .unwrap();
    let status = api.override_status(&token, "v21.0", &target).await.unwrap();
    assert_eq!(status.callback_url.as_deref(), Some(hook.as_str()));
    wa.deny_override();
    let err = api.remove_override(&token, "v21.0", &target).await.unwrap_err();
    assert!(err.is_permission_denied(), "{err:?}");
}

#[test]
fn signatures_pass_hooklines_check() {
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    let header = sign("app-secret", body);
    assert!(header.starts_with("sha256=") && header.len() == 71);
    assert!(hookline::platforms::whatsapp::signature_ok(
        b"app-secret",
        body,
        Some(&header)
    ));
    assert!(!hookline::platforms::whatsapp::signature_ok(
        b"other",
        body,
        Some(&header)
    ));
}
