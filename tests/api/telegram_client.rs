//! The Bot API client against the fake Telegram: what goes over the wire and how answers are
//! classified. No hookline server is needed, so these are plain tokio tests.

use std::time::Duration;

use hookline::platforms::telegram::{
    AlbumItem, ApiCall, BotApi, CallError, FileData, MediaMethod, MediaRef, Refusals, Uploads, WebhookConfig, render,
};
use hookline::scenario::{Button, MediaItem, OutMessage};
use hookline::secrets::Secret;
use serde_json::json;

use crate::fake_telegram::{Failure, FakeTelegram};

const TOKEN: &str = "123456:AAH-very-SECRET-token";
const WAIT: Duration = Duration::from_secs(5);

fn token() -> Secret<String> {
    Secret::new(TOKEN.to_string())
}

fn api(tg: &FakeTelegram) -> BotApi {
    BotApi::new(&tg.base_url(), Duration::from_secs(5)).expect("client")
}

fn no_uploads() -> Uploads {
    Uploads::new()
}

#[tokio::test]
async fn sends_a_message_with_an_inline_keyboard() {
    let tg = FakeTelegram::start().await;
    let msg = OutMessage {
        text: "Choose <b>one</b>".into(),
        media: vec![],
        buttons: ["Yes", "No", "Later"]
            .iter()
            .map(|t| Button {
                text: t.to_string(),
                value: t.to_lowercase(),
            })
            .collect(),
    };
    let calls = render(4242, &msg);
    let sent = api(&tg).call(&token(), &calls[0], &no_uploads()).await.expect("sent");
    assert_eq!(sent.message_ids, vec![1]);
    let recorded = tg.wait_for("sendMessage", 1, WAIT).await;
    assert_eq!(recorded[0].token, TOKEN);
    assert_eq!(
        recorded[0].params,
        json!({"chat_id": 4242, "text": "Choose <b>one</b>", "parse_mode": "HTML", "reply_markup": {"inline_keyboard": [
            [{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}],
            [{"text": "Later", "callback_data": "later"}]
        ]}})
    );
    // The next send gets the next message id.
    let again = api(&tg).call(&token(), &calls[0], &no_uploads()).await.expect("sent");
    assert_eq!(again.message_ids, vec![2]);
}

#[tokio::test]
async fn answers_callbacks_and_removes_keyboards() {
    let tg = FakeTelegram::start().await;
    let api = api(&tg);
    let answer = hookline::platforms::telegram::render::answer_callback("cbq-9", None);
    let remove = hookline::platforms::telegram::render::remove_keyboard(77, 5);
    assert!(
        api.call(&token(), &answer, &no_uploads())
            .await
            .unwrap()
            .message_ids
            .is_empty()
    );
    api.call(&token(), &remove, &no_uploads()).await.unwrap();
    assert_eq!(
        tg.calls_of("answerCallbackQuery")[0].params,
        json!({"callback_query_id": "cbq-9"})
    );
    assert_eq!(
        tg.calls_of("editMessageReplyMarkup")[0].params,
        json!({"chat_id": 77, "message_id": 5})
    );
}

#[tokio::test]
async fn classifies_429_500_and_timeouts() {
    let tg = FakeTelegram::start().await;
    let call = render(1, &OutMessage::text("hi")).remove(0);
    tg.fail_next("sendMessage", 1, Failure::RetryAfter(7));
    tg.fail_next("sendMessage", 1, Failure::ServerError);
    tg.fail_next("sendMessage", 1, Failure::Slow(Duration::from_millis(1500)));
    tg.fail_next(
        "sendMessage",
        1,
        Failure::Custom(
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: group chat was upgraded",
            "parameters": {"migrate_to_chat_id": -100777}}),
        ),
    );
    tg.fail_next(
        "sendMessage",
        1,
        Failure::Custom(
            403,
            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
        ),
    );
    let quick = BotApi::new(&tg.base_url(), Duration::from_millis(300)).unwrap();
    let empty = no_uploads();
    assert_eq!(quick.call(&token(), &call, &empty).await, Err(CallError::RetryAfter(7)));
    assert!(matches!(
        quick.call(&token(), &call, &empty).await,
        Err(CallError::Transient(_))
    ));
    match quick.call(&token(), &call, &empty).await {
        Err(e @ CallError::Transient(_)) => assert!(e.to_string().contains("timed out"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        quick.call(&token(), &call, &empty).await,
        Err(CallError::Migrated(-100777))
    );
    assert!(matches!(
        quick.call(&token(), &call, &empty).await,
        Err(CallError::Blocked(_))
    ));
    // The script is used up: the next call succeeds.
    assert!(quick.call(&token(), &call, &empty).await.is_ok());
    let arrivals = tg.wait_for("sendMessage", 6, WAIT).await;
    assert!(
        arrivals.windows(2).all(|w| w[0].at <= w[1].at),
        "recorded in arrival order"
    );
}

#[tokio::test]
async fn a_rejected_file_id_is_recognised() {
    let tg = FakeTelegram::start().await;
    tg.reject_file_id("AgACAgIAAxkBAAIBexpired");
    let call = ApiCall::SendMedia {
        method: MediaMethod::Photo,
        chat_id: 1,
        media: MediaRef::FileId("AgACAgIAAxkBAAIBexpired".into()),
        caption: Some("cat".into()),
        reply_markup: None,
    };
    let err = api(&tg).call(&token(), &call, &no_uploads()).await.unwrap_err();
    assert!(err.is_rejected_file_id(), "{err:?}");
    // A good file id is sent by reference.
    let ok = ApiCall::SendMedia {
        method: MediaMethod::Photo,
        chat_id: 1,
        media: MediaRef::FileId("AgAC-good".into()),
        caption: Some("cat".into()),
        reply_markup: None,
    };
    let sent = api(&tg).call(&token(), &ok, &no_uploads()).await.unwrap();
    assert_eq!(sent.file_ids, vec!["AgAC-good".to_string()]);
    let recorded = tg.calls_of("sendPhoto");
    assert_eq!(
        recorded[1].params,
        json!({"chat_id": 1, "photo": "AgAC-good", "caption": "cat", "parse_mode": "HTML"})
    );
}

#[tokio::test]
async fn uploads_files_as_multipart() {
    let tg = FakeTelegram::start().await;
    let mut uploads = Uploads::new();
    for (id, name, size) in [("m1", "cat.jpg", 2048), ("m2", "dog.png", 10)] {
        uploads.insert(
            id.into(),
            FileData {
                file_name: name.into(),
                mime_type: Some("image/jpeg".into()),
                data: vec![7u8; size].into(),
            },
        );
    }
    // One item with a keyboard: multipart with the keyboard as a JSON field.
    let msg = OutMessage {
        text: "A cat".into(),
        media: vec![MediaItem {
            kind: "image".into(),
            file_id: "cat".into(),
            caption: None,
        }],
        buttons: vec![Button {
            text: "Nice".into(),
            value: "nice".into(),
        }],
    };
    let mut call = render(9, &msg).remove(0);
    if let ApiCall::SendMedia { media, .. } = &mut call {
        *media = MediaRef::Upload { media_id: "m1".into() };
    }
    let sent = api(&tg).call(&token(), &call, &uploads).await.unwrap();
    assert_eq!(
        sent.file_ids,
        vec!["fake-file-1".to_string()],
        "the new file id comes back to be cached"
    );
    let recorded = &tg.calls_of("sendPhoto")[0];
    assert_eq!(recorded.files[0].field, "photo");
    assert_eq!(recorded.files[0].file_name.as_deref(), Some("cat.jpg"));
    assert_eq!(recorded.files[0].size, 2048);
    assert_eq!(recorded.params["caption"], "A cat");
    assert_eq!(
        recorded.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "nice"
    );
    // An album mixing an upload and a cached file id.
    let album = ApiCall::SendMediaGroup {
        chat_id: 9,
        items: vec![
            AlbumItem {
                kind: MediaMethod::Photo,
                media: MediaRef::Upload { media_id: "m2".into() },
                caption: Some("dog".into()),
            },
            AlbumItem {
                kind: MediaMethod::Photo,
                media: MediaRef::FileId("fake-file-1".into()),
                caption: None,
            },
        ],
    };
    let sent = api(&tg).call(&token(), &album, &uploads).await.unwrap();
    assert_eq!(sent.message_ids.len(), 2);
    let recorded = &tg.calls_of("sendMediaGroup")[0];
    assert_eq!(
        recorded.params["media"],
        json!([{"type": "photo", "media": "attach://file_0", "caption": "dog", "parse_mode": "HTML"},
               {"type": "photo", "media": "fake-file-1"}])
    );
    assert_eq!(
        (recorded.files[0].field.as_str(), recorded.files[0].size),
        ("file_0", 10)
    );
    // Unresolved media is refused locally, before any request.
    let alias = ApiCall::SendMedia {
        method: MediaMethod::Document,
        chat_id: 9,
        media: MediaRef::Alias("price_list".into()),
        caption: None,
        reply_markup: None,
    };
    let before = tg.calls().len();
    assert!(matches!(
        api(&tg).call(&token(), &alias, &uploads).await,
        Err(CallError::Permanent { code: 0, .. })
    ));
    assert_eq!(tg.calls().len(), before);
}

#[tokio::test]
async fn get_file_then_download_with_a_size_cap() {
    let tg = FakeTelegram::start().await;
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    tg.add_file("BQACdoc", "documents/file_1.pdf", bytes.clone());
    let api = api(&tg);
    let info = api.get_file(&token(), "BQACdoc").await.unwrap();
    assert_eq!(info.file_size, Some(100_000));
    let path = info.file_path.unwrap();
    assert_eq!(
        api.download_file(&token(), &path, 1 << 20).await.unwrap().as_ref(),
        bytes.as_slice()
    );
    assert_eq!(
        api.download_file(&token(), &path, 1000).await,
        Err(CallError::TooLarge { limit: 1000 })
    );
    assert!(api.get_file(&token(), "unknown").await.is_err());
    assert!(matches!(
        api.download_file(&token(), "../../etc/passwd", 10).await,
        Err(CallError::Permanent { code: 0, .. })
    ));
}

#[tokio::test]
async fn webhook_set_status_delete() {
    let tg = FakeTelegram::start().await;
    let api = api(&tg);
    let me = api.get_me(&token()).await.unwrap();
    assert_eq!(me.username.as_deref(), Some("fake_bot"));
    let config = WebhookConfig {
        url: "https://hooks.example.com/v1/api/webhooks/telegram/b1".into(),
        secret_token: Some(Secret::new("s3cr3t-webhook".into())),
        allowed_updates: Some(vec!["message".into(), "callback_query".into()]),
        max_connections: Some(40),
        drop_pending_updates: true,
    };
    api.set_webhook(&token(), &config).await.unwrap();
    assert_eq!(tg.webhook()["secret_token"], "s3cr3t-webhook");
    assert_eq!(tg.webhook()["drop_pending_updates"], true);
    let status = api.get_webhook_info(&token()).await.unwrap();
    assert_eq!(status.url, config.url);
    assert_eq!(status.max_connections, Some(40));
    assert_eq!(status.allowed_updates, config.allowed_updates);
    assert_eq!(status.ip_address.as_deref(), Some("127.0.0.1"));
    api.delete_webhook(&token(), false).await.unwrap();
    let status = api.get_webhook_info(&token()).await.unwrap();
    assert_eq!((status.url.as_str(), status.pending_update_count), ("", 0));
    assert!(
        !format!("{config:?}").contains("s3cr3t"),
        "Debug of the config hides the secret"
    );
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let tg = FakeTelegram::start().await;
    let call = render(1, &OutMessage::text("hi")).remove(0);
    tg.fail_next("sendMessage", 1, Failure::ServerError);
    tg.fail_next("sendMessage", 1, Failure::Slow(Duration::from_millis(800)));
    tg.fail_next("sendMessage", 1, Failure::Custom(400, json!({"ok": false})));
    let quick = BotApi::new(&tg.base_url(), Duration::from_millis(200)).unwrap();
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(quick.call(&token(), &call, &no_uploads()).await.unwrap_err());
    }
    errors.push(quick.download_file(&token(), "missing/file.bin", 10).await.unwrap_err());
    // Nothing listens on port 9 of the loopback: a connection error carries no URL either.
    let closed = BotApi::new("http://127.0.0.1:9", Duration::from_millis(500)).unwrap();
    errors.push(closed.call(&token(), &call, &no_uploads()).await.unwrap_err());
    errors.push(closed.get_me(&token()).await.unwrap_err());
    errors.push(closed.download_file(&token(), "a/b", 10).await.unwrap_err());
    for e in &errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(
                !text.contains("SECRET") && !text.contains("123456"),
                "token leaked: {text}"
            );
        }
    }
    assert!(!format!("{quick:?}").contains("SECRET"));
}
