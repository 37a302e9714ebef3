//! The media library as the platform code calls it: users' files, size limits, the platform
//! file id cache.

use bytes::Bytes;
use futures::Stream;
use hookline::media::{BlobError, IncomingMeta, MediaError};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::all_media_stores;
use crate::helpers::{TestApp, assert_error};
use crate::media_helpers::{PNG, blob_keys, bot_with_key, upload};

/// A body of one chunk, as a platform download would stream it.
pub fn once(bytes: &'static [u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures::stream::iter([Ok(Bytes::from_static(bytes))])
}

fn meta(unique: &str) -> IncomingMeta {
    IncomingMeta {
        chat_id: "1001".into(),
        user_id: Some("77".into()),
        file_unique_id: unique.into(),
        kind: None,
        file_name: Some("photo.jpg".into()),
        content_type: Some("image/jpeg".into()),
        caption: Some("my cat".into()),
    }
}

all_media_stores!(users_files_are_stored_and_deduplicated, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    let bot_id: hookline::model::ids::BotId = bot.parse().unwrap();
    let lib = &app.state.media;
    let first = lib.store_incoming(bot_id, meta("AQAD1"), once(PNG)).await.unwrap();
    assert_eq!(
        (first.source.as_str(), first.status.as_str(), first.kind.as_str()),
        ("user", "stored", "image")
    );
    assert_eq!(first.content_type, "image/png", "sniffed, not the declared jpeg");
    assert_eq!(
        (first.chat_id.as_deref(), first.user_id.as_deref()),
        (Some("1001"), Some("77"))
    );
    assert_eq!(first.caption.as_deref(), Some("my cat"));
    assert_eq!(lib.find_incoming(bot_id, "AQAD1").await.unwrap(), Some(first.clone()));

    // The same platform file again: the first row, the body is not even read.
    let again = lib
        .store_incoming(bot_id, meta("AQAD1"), once(b"different bytes"))
        .await
        .unwrap();
    assert_eq!(again, first);
    // Another platform file with the same bytes: a new row, the same blob.
    let mut voice = meta("AQAD2");
    voice.kind = Some("voice".into());
    let second = lib.store_incoming(bot_id, voice, once(PNG)).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(second.kind, "voice", "the platform's finer kind is kept");
    assert_eq!(second.storage_key, first.storage_key);
    assert_eq!(blob_keys(&app, &bot).await.len(), 1);
    assert_eq!(lib.read(&second).await.unwrap().as_ref(), PNG);

    // Served like any media, listed with its source.
    let (s, body) = app.get(&format!("/v1/api/media/{}", first.id), &key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"]["source"], "user");
    assert_eq!(body["data"]["caption"], "my cat");
    let (_, list) = app
        .get(&format!("/v1/api/bots/{bot}/media?file_type=voice"), &key)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
});

all_media_stores!(too_large_and_failed_files_are_recorded, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    let bot_id: hookline::model::ids::BotId = bot.parse().unwrap();
    let lib = &app.state.media;
    let mut doc = meta("BIG1");
    doc.kind = Some("document".into());
    doc.file_name = Some("../scan.pdf".into());
    doc.content_type = Some("application/pdf".into());
    let big = lib
        .record_too_large(bot_id, doc.clone(), 25 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!((big.status.as_str(), big.size), ("too_large", 25 * 1024 * 1024));
    assert!(big.status_reason.as_deref().unwrap().contains("26214400"));
    assert_eq!(
        (big.file_name.as_str(), big.content_type.as_str()),
        ("scan.pdf", "application/pdf")
    );
    assert!(big.storage_key.is_none() && big.sha256.is_none());
    assert_eq!(lib.record_too_large(bot_id, doc, 1).await.unwrap(), big, "deduplicated");
    let failed = lib
        .record_failed(bot_id, meta("GONE"), "download failed: 400")
        .await
        .unwrap();
    assert_eq!(failed.status, "failed");
    // Not resolvable for sending, and no content to serve.
    assert!(lib.resolve(bot_id, &big.id.to_string()).await.unwrap().is_none());
    let (s, body) = app.get(&format!("/v1/api/media/{}/content", big.id), &key).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (_, body) = app.get(&format!("/v1/api/media/{}", big.id), &key).await;
    assert_eq!(body["data"]["status"], "too_large");
    assert!(blob_keys(&app, &bot).await.is_empty());
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_files_over_the_limit_are_refused_without_a_trace() {
    use crate::media_helpers::{Blobs, spawn_media};
    let app = spawn_media(crate::helpers::Backend::Sqlite, Blobs::Local, |c| {
        c.media_max_upload_bytes = 10
    })
    .await
    .unwrap();
    let (_, bot) = bot_with_key(&app, "A").await;
    let bot_id: hookline::model::ids::BotId = bot.parse().unwrap();
    let err = app
        .state
        .media
        .store_incoming(bot_id, meta("X"), once(b"0123456789A"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::Blob(BlobError::TooLarge { limit: 10 })),
        "{err}"
    );
    assert!(app.state.media.find_incoming(bot_id, "X").await.unwrap().is_none());
    assert!(blob_keys(&app, &bot).await.is_empty());
    assert!(blob_keys(&app, "staging").await.is_empty());
    // A body that fails midway leaves nothing either.
    let failing = futures::stream::iter([
        Ok(Bytes::from_static(b"01")),
        Err(std::io::Error::other("connection reset")),
    ]);
    let err = app
        .state
        .media
        .store_incoming(bot_id, meta("Y"), failing)
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::Blob(BlobError::Body(_))), "{err}");
    assert!(blob_keys(&app, "staging").await.is_empty());
}

all_media_stores!(platform_file_ids_are_cached_per_media, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    let (_, body) = upload(&app, &key, &bot, "w.png", "image/png", PNG).await;
    let id = Uuid::parse_str(body["data"]["id"].as_str().unwrap()).unwrap();
    let bot_id: hookline::model::ids::BotId = bot.parse().unwrap();
    let lib = &app.state.media;
    assert_eq!(lib.cached_platform_id(id, "telegram").await.unwrap(), None);
    lib.cache_platform_id(id, "telegram", "AgACAgIAAxkBAAI").await.unwrap();
    assert_eq!(
        lib.cached_platform_id(id, "telegram").await.unwrap().as_deref(),
        Some("AgACAgIAAxkBAAI")
    );
    lib.cache_platform_id(id, "telegram", "newer").await.unwrap();
    assert_eq!(
        lib.cached_platform_id(id, "telegram").await.unwrap().as_deref(),
        Some("newer")
    );
    assert_eq!(
        lib.cached_platform_id(id, "whatsapp").await.unwrap(),
        None,
        "per platform"
    );
    // A cached platform id is never an alias.
    assert!(lib.resolve(bot_id, "newer").await.unwrap().is_none());
    let (_, body) = app.get(&format!("/v1/api/media/{id}"), &key).await;
    assert_eq!(body["data"]["platform_file_ids"], serde_json::json!({}));
    lib.forget_platform_id(id, "telegram").await.unwrap();
    assert_eq!(lib.cached_platform_id(id, "telegram").await.unwrap(), None);
    lib.forget_platform_id(id, "telegram").await.unwrap();
});

all_media_stores!(the_sweep_removes_only_blobs_no_row_names, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    let (s, body) = upload(&app, &key, &bot, "kept.png", "image/png", PNG).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let media_id = body["data"]["id"].as_str().unwrap().to_string();
    // What a crash between a blob's write and its row's commit leaves behind.
    let blobs = app.state.media.blobs();
    let staged = blobs.stage(once(b"orphaned bytes"), 1 << 20).await.unwrap();
    let orphan = format!("{bot}/{}", staged.sha256);
    blobs.publish(staged, &orphan).await.unwrap();
    assert_eq!(blob_keys(&app, &bot).await.len(), 2);

    // Young blobs are never touched: an upload's row may be about to commit.
    let lib = &app.state.media;
    assert_eq!(
        lib.sweep_orphans(std::time::Duration::from_secs(3600)).await.unwrap(),
        0
    );
    assert_eq!(lib.sweep_orphans(std::time::Duration::ZERO).await.unwrap(), 1);
    let left = blob_keys(&app, &bot).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!left.contains(&orphan));
    let resp = crate::media_helpers::content(&app, &key, &media_id, None).await;
    assert_eq!(resp.status(), StatusCode::OK, "the named blob is still served");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG);
});
