//! Media API: upload, list, content with Range, aliases, isolation, limits and hostile input.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::Digest;

use crate::all_media_stores;
use crate::helpers::{TestApp, assert_error};
use crate::media_helpers::{PNG, blob_keys, bot_with_key, content, new_bot, raw_part, upload, upload_raw};

all_media_stores!(upload_list_get_and_content, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    // A PNG declared as text: the bytes decide.
    let (s, body) = upload(&app, &key, &bot, "pic.txt", "text/plain", PNG).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let png = body["data"].clone();
    assert_eq!(png["content_type"], "image/png");
    assert_eq!(png["file_type"], "image");
    assert_eq!(png["file_name"], "pic.txt");
    assert_eq!(png["file_size"], PNG.len());
    assert_eq!(png["sha256"], hex::encode(sha2::Sha256::digest(PNG)));
    assert_eq!(png["media_id"], png["id"]);
    assert_eq!(png["bot_id"], bot.as_str());
    assert_eq!(png["source"], "upload");
    assert_eq!(png["status"], "stored");
    assert_eq!(png["aliases"], json!([]));
    let id = png["id"].as_str().unwrap().to_string();

    let (s, body) = app.get(&format!("/v1/api/media/{id}"), &key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"], png);

    let resp = content(&app, &key, &id, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["etag"], format!("\"{}\"", png["sha256"].as_str().unwrap()).as_str());
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG, "byte-identical");

    let pdf = b"%PDF-1.7\n1 0 obj\n".to_vec();
    let (s, body) = upload(&app, &key, &bot, "a.pdf", "application/octet-stream", &pdf).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        (&body["data"]["content_type"], &body["data"]["file_type"]),
        (&json!("application/pdf"), &json!("document"))
    );
    let (s, body) = upload(&app, &key, &bot, "notes.csv", "application/octet-stream", b"a,b\n1,2\n").await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["data"]["content_type"], "text/csv",
        "by extension when the bytes say nothing"
    );

    let list = format!("/v1/api/bots/{bot}/media");
    let (_, body) = app.get(&list, &key).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
    let (_, body) = app.get(&format!("{list}?file_type=image"), &key).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["id"], id.as_str());
    let (_, page1) = app.get(&format!("{list}?limit=2"), &key).await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    let cursor = page1["page"]["next_cursor"].as_str().unwrap();
    let (_, page2) = app.get(&format!("{list}?limit=2&cursor={cursor}"), &key).await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["file_name"], "notes.csv");
    assert!(page2["page"]["next_cursor"].is_null());
    let (s, body) = app.get(&format!("{list}?file_type=spreadsheet"), &key).await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let (s, body) = app.get(&format!("{list}?limit=0"), &key).await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
});

all_media_stores!(range_requests, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    let data: Vec<u8> = (0..100u8).collect();
    let (_, body) = upload(&app, &key, &bot, "data.bin", "application/octet-stream", &data).await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let etag = format!("\"{}\"", body["data"]["sha256"].as_str().unwrap());

    for (range, want) in [
        ("bytes=0-9", 0..10),
        ("bytes=-10", 90..100),
        ("bytes=95-", 95..100),
        ("bytes=50-1000", 50..100),
        ("bytes=7-7", 7..8),
    ] {
        let resp = content(&app, &key, &id, Some(range)).await;
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let cr = format!("bytes {}-{}/100", want.start, want.end - 1);
        assert_eq!(resp.headers()["content-range"], cr.as_str(), "{range}");
        assert_eq!(
            resp.headers()["content-length"],
            (want.end - want.start).to_string().as_str()
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[want.clone()], "{range}");
    }
    // Several ranges: the whole file.
    let resp = content(&app, &key, &id, Some("bytes=0-1,5-6")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_slice());
    // Past the end: 416 with the size.
    for range in ["bytes=100-", "bytes=500-600", "bytes=-0"] {
        let resp = content(&app, &key, &id, Some(range)).await;
        assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(resp.headers()["content-range"], "bytes */100");
    }
    // If-Range with another ETag: the whole file; with ours: the range.
    let ranged = |if_range: &str| {
        app.client
            .get(app.url(&format!("/v1/api/media/{id}/content")))
            .bearer_auth(&key)
            .header("range", "bytes=0-0")
            .header("if-range", if_range)
            .send()
    };
    assert_eq!(ranged("\"other\"").await.unwrap().status(), StatusCode::OK);
    assert_eq!(ranged(&etag).await.unwrap().status(), StatusCode::PARTIAL_CONTENT);
    let resp = app
        .client
        .get(app.url(&format!("/v1/api/media/{id}/content")))
        .bearer_auth(&key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    // No key: 401, like every media route.
    let resp = app
        .client
        .get(app.url(&format!("/v1/api/media/{id}/content")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
});

all_media_stores!(identical_bytes_are_stored_once, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    let (s1, first) = upload(&app, &key, &bot, "one.png", "image/png", PNG).await;
    let (s2, second) = upload(&app, &key, &bot, "two.png", "image/png", PNG).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK), "{second}");
    assert_eq!(
        first["data"]["id"], second["data"]["id"],
        "the existing media comes back"
    );
    assert_eq!(second["data"]["file_name"], "one.png");
    let keys = blob_keys(&app, &bot).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0], format!("{bot}/{}", first["data"]["sha256"].as_str().unwrap()));
    if matches!(app.config.media_store, hookline::config::MediaStoreConfig::Local) {
        let dir = app.dir.path().join("media").join(&bot);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "one file on disk");
    }
    // Another bot with the same bytes has its own copy.
    let (account, key_b) = app.account_with_key("B").await;
    let other = new_bot(&app, &account, &key_b, "other").await;
    let (s, _) = upload(&app, &key_b, &other, "one.png", "image/png", PNG).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(blob_keys(&app, &other).await.len(), 1);
    assert!(blob_keys(&app, "staging").await.is_empty(), "no staging leftovers");
});

all_media_stores!(aliases_are_scoped_to_the_bot, |app: TestApp| async move {
    let (account, key) = app.account_with_key("A").await;
    let bot1 = new_bot(&app, &account, &key, "one").await;
    let bot2 = new_bot(&app, &account, &key, "two").await;
    let (_, m1) = upload(&app, &key, &bot1, "w.png", "image/png", PNG).await;
    let (_, m2) = upload(&app, &key, &bot2, "w.png", "image/png", PNG).await;
    let (_, m3) = upload(&app, &key, &bot1, "x.pdf", "application/pdf", b"%PDF-1.4\n").await;
    let id = |m: &serde_json::Value| m["data"]["id"].as_str().unwrap().to_string();
    let (m1, m2, m3) = (id(&m1), id(&m2), id(&m3));
    let alias = json!({ "platform": "telegram", "file_id": "welcome_image" });
    let (s, body) = app
        .post(&format!("/v1/api/media/{m1}/platform-id"), &key, alias.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["aliases"], json!(["welcome_image"]));
    assert_eq!(
        body["data"]["platform_file_ids"],
        json!({ "telegram": "welcome_image" })
    );
    let (s, body) = app
        .post(&format!("/v1/api/media/{m2}/platform-id"), &key, alias.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "another bot may use the same alias: {body}");
    let (s, body) = app
        .post(&format!("/v1/api/media/{m3}/platform-id"), &key, alias.clone())
        .await;
    assert_error(s, &body, 409, "CONFLICT");
    // Setting it again on the same media is fine.
    let (s, _) = app.post(&format!("/v1/api/media/{m1}/platform-id"), &key, alias).await;
    assert_eq!(s, StatusCode::OK);

    let lib = &app.state.media;
    let b1: hookline::model::ids::BotId = bot1.parse().unwrap();
    let b2: hookline::model::ids::BotId = bot2.parse().unwrap();
    let r1 = lib.resolve(b1, "welcome_image").await.unwrap().unwrap();
    let r2 = lib.resolve(b2, "welcome_image").await.unwrap().unwrap();
    assert_eq!((r1.id.to_string(), r2.id.to_string()), (m1.clone(), m2.clone()));
    assert_eq!(lib.resolve(b1, &m3).await.unwrap().unwrap().id.to_string(), m3);
    assert!(lib.resolve(b2, &m3).await.unwrap().is_none(), "another bot's media id");
    assert!(lib.resolve(b1, "nope").await.unwrap().is_none());
    assert!(lib.existing_alias_names(b1).await.unwrap().contains("welcome_image"));

    // Replacing the alias for the platform frees the old name.
    let (s, body) = app
        .post(
            &format!("/v1/api/media/{m1}/platform-id"),
            &key,
            json!({ "platform": "telegram", "file_id": "hello.v2" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"]["aliases"], json!(["hello.v2"]));
    assert!(lib.resolve(b1, "welcome_image").await.unwrap().is_none());

    let path = format!("/v1/api/media/{m3}/platform-id");
    for (bad, field) in [
        (json!({ "platform": "telegram", "file_id": "" }), "file_id"),
        (json!({ "platform": "telegram", "file_id": "has space" }), "file_id"),
        (json!({ "platform": "telegram", "file_id": "a".repeat(101) }), "file_id"),
        (json!({ "platform": "telegram", "file_id": "../x/y" }), "file_id"),
        (json!({ "platform": "Tele gram", "file_id": "ok" }), "platform"),
    ] {
        let (s, body) = app.post(&path, &key, bad).await;
        assert_error(s, &body, 400, "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["field"], field);
    }
    let (s, body) = app.post(&path, &key, json!({ "platform": "telegram" })).await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
    let (s, body) = app
        .post(
            &path,
            &key,
            json!({ "platform": "telegram", "file_id": "x", "extra": 1 }),
        )
        .await;
    assert_error(s, &body, 422, "VALIDATION_ERROR");
});

all_media_stores!(another_accounts_media_is_unreachable, |app: TestApp| async move {
    let (key_a, bot) = bot_with_key(&app, "A").await;
    let (_, key_b) = app.account_with_key("B").await;
    let (_, body) = upload(&app, &key_a, &bot, "a.png", "image/png", PNG).await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    for (method, path, body) in [
        (Method::GET, format!("/v1/api/media/{id}"), None),
        (Method::GET, format!("/v1/api/media/{id}/content"), None),
        (Method::DELETE, format!("/v1/api/media/{id}"), None),
        (
            Method::POST,
            format!("/v1/api/media/{id}/platform-id"),
            Some(json!({ "platform": "telegram", "file_id": "stolen" })),
        ),
        (Method::GET, format!("/v1/api/bots/{bot}/media"), None),
    ] {
        let (s, resp) = app.call(method.clone(), &path, Some(&key_b), body).await;
        assert_error(s, &resp, 404, "NOT_FOUND");
    }
    let (s, body) = upload(&app, &key_b, &bot, "b.png", "image/png", b"other bytes").await;
    assert_error(s, &body, 404, "NOT_FOUND");
    // Malformed ids are 404 too.
    let (s, body) = app.get("/v1/api/media/not-a-uuid", &key_a).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    // A's media is untouched; the admin reaches it.
    let (s, body) = app.get(&format!("/v1/api/media/{id}"), &key_a).await;
    assert_eq!((s, body["data"]["aliases"].clone()), (StatusCode::OK, json!([])));
    let (s, _) = app.get(&format!("/v1/api/media/{id}"), &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(blob_keys(&app, &bot).await.len(), 1);
});

all_media_stores!(malformed_uploads_store_nothing, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    let ct = "multipart/form-data; boundary=XBOUNDARY";
    let (s, body) = upload_raw(&app, &key, &bot, ct, b"this is not multipart".to_vec()).await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    // Cut off in the middle of the part.
    let mut cut = raw_part(b"a.bin", &[7u8; 1000]);
    cut.truncate(300);
    let (s, body) = upload_raw(&app, &key, &bot, ct, cut).await;
    assert_error(s, &body, 400, "VALIDATION_ERROR");
    let (s, body) = upload_raw(&app, &key, &bot, "application/json", b"{}".to_vec()).await;
    assert_error(s, &body, 415, "UNSUPPORTED_MEDIA_TYPE");
    let (s, body) = upload_raw(&app, &key, &bot, "multipart/form-data", b"x".to_vec()).await;
    assert_error(s, &body, 415, "UNSUPPORTED_MEDIA_TYPE");
    // No `file` part.
    let form = reqwest::multipart::Form::new().text("name", "x");
    let resp = app
        .client
        .post(app.url(&format!("/v1/api/bots/{bot}/media")))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error(status, &body, 400, "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], "file");
    // Unknown bot, no key.
    let (s, body) = upload(&app, &key, &uuid::Uuid::now_v7().to_string(), "a", "image/png", PNG).await;
    assert_error(s, &body, 404, "NOT_FOUND");
    let (s, _) = app
        .call(Method::POST, &format!("/v1/api/bots/{bot}/media"), None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (_, list) = app.get(&format!("/v1/api/bots/{bot}/media"), &key).await;
    assert_eq!(list["data"], json!([]));
    assert!(blob_keys(&app, &bot).await.is_empty());
    assert!(blob_keys(&app, "staging").await.is_empty());
});

all_media_stores!(hostile_file_names_are_stored_safely, |app: TestApp| async move {
    let (key, bot) = bot_with_key(&app, "A").await;
    let ct = "multipart/form-data; boundary=XBOUNDARY";
    let long = "n".repeat(1000);
    for (raw, want) in [
        (b"../../etc/passwd".to_vec(), "passwd".to_string()),
        (b"..\\..\\boot.ini".to_vec(), "boot.ini".to_string()),
        // Header syntax admits tabs; other control characters are covered by unit tests.
        (b"a\tb\tc.txt".to_vec(), "abc.txt".to_string()),
        ("evil\u{202e}gnp.exe".as_bytes().to_vec(), "evilgnp.exe".to_string()),
        ("отчёт 'q';x.pdf".as_bytes().to_vec(), "отчёт 'q';x.pdf".to_string()),
        (long.as_bytes().to_vec(), "n".repeat(255)),
        (b"..".to_vec(), "file".to_string()),
    ] {
        // Distinct bytes each time, so each is a new media item.
        let data = format!("data for {want}");
        let (s, body) = upload_raw(&app, &key, &bot, ct, raw_part(&raw, data.as_bytes())).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["data"]["file_name"], want.as_str());
        let id = body["data"]["id"].as_str().unwrap().to_string();
        let resp = content(&app, &key, &id, None).await;
        let cd = resp.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(cd.starts_with("attachment; filename=\""), "{cd}");
        assert!(cd.contains("filename*=UTF-8''"), "{cd}");
        assert!(!cd.contains('/') && !cd.contains('\\'), "{cd}");
        assert!(cd.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{cd}");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_bytes());
    }
    assert!(!app.dir.path().join("etc").exists());
    for key in blob_keys(&app, &bot).await {
        assert!(
            key.starts_with(&format!("{bot}/")) && key.len() == bot.len() + 65,
            "{key}"
        );
    }
});

all_media_stores!(
    deleting_media_and_bots_removes_rows_and_blobs,
    |app: TestApp| async move {
        let (key, bot) = bot_with_key(&app, "A").await;
        let (_, a) = upload(&app, &key, &bot, "a.png", "image/png", PNG).await;
        let (_, b) = upload(&app, &key, &bot, "b.bin", "application/octet-stream", b"bbbb").await;
        let a = a["data"]["id"].as_str().unwrap().to_string();
        let b = b["data"]["id"].as_str().unwrap().to_string();
        app.post(
            &format!("/v1/api/media/{a}/platform-id"),
            &key,
            json!({ "platform": "telegram", "file_id": "pic" }),
        )
        .await;
        assert_eq!(blob_keys(&app, &bot).await.len(), 2);
        let (s, _) = app.delete(&format!("/v1/api/media/{b}"), &key).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, body) = app.get(&format!("/v1/api/media/{b}"), &key).await;
        assert_error(s, &body, 404, "NOT_FOUND");
        let (s, body) = app.delete(&format!("/v1/api/media/{b}"), &key).await;
        assert_error(s, &body, 404, "NOT_FOUND");
        assert_eq!(blob_keys(&app, &bot).await.len(), 1);

        // A user's copy of the same bytes shares the blob: deleting the upload keeps it.
        let bot_id: hookline::model::ids::BotId = bot.parse().unwrap();
        let meta = hookline::media::IncomingMeta {
            chat_id: "42".into(),
            file_unique_id: "u1".into(),
            ..Default::default()
        };
        let user = app
            .state
            .media
            .store_incoming(bot_id, meta, crate::media_lib::once(PNG))
            .await
            .unwrap();
        assert_eq!(blob_keys(&app, &bot).await.len(), 1);
        let (s, _) = app.delete(&format!("/v1/api/media/{a}"), &key).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(blob_keys(&app, &bot).await.len(), 1, "still named by the user's copy");
        assert!(
            app.state.media.resolve(bot_id, "pic").await.unwrap().is_none(),
            "alias went with it"
        );

        let (s, _) = app.delete(&format!("/v1/api/bots/{bot}"), &key).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert!(
            app.state.store.get_media(user.id).await.unwrap().is_none(),
            "rows cascade"
        );
        assert!(blob_keys(&app, &bot).await.is_empty(), "blobs go with the bot");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_uploads_are_413_with_a_small_limit() {
    use crate::helpers::Backend;
    use crate::media_helpers::{Blobs, spawn_media};
    for (backend, blobs) in [
        (Backend::Sqlite, Blobs::Local),
        (Backend::Sqlite, Blobs::S3),
        (Backend::Postgres, Blobs::Local),
    ] {
        let Some(app) = spawn_media(backend, blobs, |c| c.media_max_upload_bytes = 1024).await else {
            continue;
        };
        let (key, bot) = bot_with_key(&app, "A").await;
        // Caught while streaming (declared length within the slack)…
        let (s, body) = upload(&app, &key, &bot, "big.bin", "application/octet-stream", &[1u8; 4096]).await;
        assert_error(s, &body, 413, "PAYLOAD_TOO_LARGE");
        // …and up front from Content-Length.
        let (s, body) = upload(
            &app,
            &key,
            &bot,
            "huge.bin",
            "application/octet-stream",
            &vec![2u8; 300_000],
        )
        .await;
        assert_error(s, &body, 413, "PAYLOAD_TOO_LARGE");
        // Exactly the limit is fine.
        let (s, body) = upload(&app, &key, &bot, "ok.bin", "application/octet-stream", &[3u8; 1024]).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (_, list) = app.get(&format!("/v1/api/bots/{bot}/media"), &key).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(blob_keys(&app, &bot).await.len(), 1);
        assert!(blob_keys(&app, "staging").await.is_empty(), "no partial upload left");
    }
}
