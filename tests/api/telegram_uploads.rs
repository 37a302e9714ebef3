//! Files users send to a bot: recorded with the update, validated by the step, downloaded off
//! the request path into the media library, deduplicated, announced as `media.received`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fake_receiver::{Answer, FakeReceiver};
use crate::fake_telegram::Failure;
use crate::helpers::TestApp;
use crate::telegram_support::{TgBot, text_update, user};

fn file_step_scenario() -> Value {
    json!({
        "version": "1.0",
        "start_step": "ask",
        "steps": {
            "ask": {
                "message": { "text": "Send a scan of your passport" },
                "expected_input": {
                    "type": "file",
                    "variable": "scan",
                    "validation": { "max_size_kb": 10240, "max_size_error": "Too big: 10 MB at most" }
                },
                "next_step": "done"
            },
            "done": { "message": { "text": "Thanks, got it" } }
        }
    })
}

fn chat_json(chat: i64) -> Value {
    json!({ "id": chat, "type": "private", "first_name": "Ivan" })
}

fn photo_update(update_id: i64, chat: i64, unique: &str, file_id: &str, size: u64) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000, "from": user(chat), "chat": chat_json(chat),
            "caption": "my passport",
            "photo": [
                { "file_id": format!("{file_id}-small"), "file_unique_id": format!("{unique}-s"), "width": 90, "height": 60, "file_size": 900 },
                { "file_id": file_id, "file_unique_id": unique, "width": 1280, "height": 853, "file_size": size }
            ]
        }
    })
}

fn document_update(update_id: i64, chat: i64, unique: &str, file_id: &str, name: &str, size: u64) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000, "from": user(chat), "chat": chat_json(chat),
            "document": { "file_id": file_id, "file_unique_id": unique, "file_name": name,
                          "mime_type": "application/pdf", "file_size": size }
        }
    })
}

/// A small but real JPEG header followed by filler: sniffed as image/jpeg.
fn jpeg_bytes() -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00];
    b.extend((0..40_000u32).map(|i| (i % 251) as u8));
    b.extend([0xFF, 0xD9]);
    b
}

async fn media_row(bot: &TgBot, id: &str) -> Value {
    let (s, body) = bot.app.get(&format!("/v1/api/media/{id}"), &bot.key).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// Poll until the media row leaves `pending`.
async fn settled(bot: &TgBot, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = media_row(bot, id).await;
        if row["status"] != "pending" || Instant::now() > deadline {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn dialog_data(bot: &TgBot, chat: i64) -> Value {
    let (s, body) = bot
        .app
        .get(
            &format!("/v1/api/bots/{}/dialogs/telegram/{chat}", bot.bot_id),
            &bot.key,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["data"]["collected_data"].clone()
}

both_backends!(
    a_photo_is_stored_and_a_too_large_document_refused,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, file_step_scenario()).await else {
            return;
        };
        let receiver = FakeReceiver::start(Answer::Status(200)).await;
        bot.subscribe(&receiver.url(), &["media.received"]).await;
        let photo = jpeg_bytes();
        bot.tg.add_file("ph-1", "photos/file_1.jpg", photo.clone());

        let (s, _) = bot.send(&text_update(1, 71, "/start")).await;
        assert_eq!(s, StatusCode::OK);
        // 25 MB: over the step's limit and over what the Bot API lets a bot download.
        let (s, ack) = bot
            .send(&document_update(
                2,
                71,
                "doc-uniq",
                "doc-1",
                "scan.pdf",
                25 * 1024 * 1024,
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{ack}");
        assert_eq!(bot.texts_to(71).last().unwrap(), "Too big: 10 MB at most");
        assert_eq!(
            dialog_data(&bot, 71).await["scan"],
            Value::Null,
            "the refused file is not kept"
        );

        let (s, ack) = bot
            .send(&photo_update(3, 71, "ph-uniq", "ph-1", photo.len() as u64))
            .await;
        assert_eq!(s, StatusCode::OK, "{ack}");
        assert_eq!(bot.texts_to(71).last().unwrap(), "Thanks, got it");
        let scan = dialog_data(&bot, 71).await["scan"].clone();
        assert_eq!(scan["kind"], "photo", "{scan}");
        assert_eq!(scan["caption"], "my passport");
        assert_eq!(scan["size"], photo.len());
        let media_id = scan["media_id"]
            .as_str()
            .expect("the step keeps the media id")
            .to_string();

        let row = settled(&bot, &media_id).await;
        assert_eq!(row["status"], "stored", "{row}");
        assert_eq!(row["source"], "user");
        assert_eq!(row["chat_id"], "71");
        assert_eq!(row["user_id"], "71");
        assert_eq!(row["content_type"], "image/jpeg");
        assert_eq!(row["file_size"], photo.len());
        let got = bot
            .app
            .client
            .get(bot.app.url(&format!("/v1/api/media/{media_id}/content")))
            .bearer_auth(&bot.key)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.bytes().await.unwrap().to_vec(), photo, "byte-identical");
        let get_file = bot.tg.calls_of("getFile");
        assert_eq!(get_file.len(), 1, "only the photo is fetched");
        assert_eq!(get_file[0].params["file_id"], "ph-1", "the largest size");

        // The big document is in the library as metadata, with a status that says why.
        let (_, list) = bot
            .app
            .get(&format!("/v1/api/bots/{}/media", bot.bot_id), &bot.key)
            .await;
        let rows = list["data"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{list}");
        let doc = rows
            .iter()
            .find(|r| r["file_name"] == "scan.pdf")
            .expect("document row");
        assert_eq!(doc["status"], "too_large", "{doc}");
        assert_eq!(doc["file_size"], 25 * 1024 * 1024);

        // media.received, once the bytes are in: with the library's id and status.
        let events = receiver.wait_for(2, Duration::from_secs(15)).await;
        let bodies: Vec<Value> = events.iter().map(|r| r.json()).collect();
        assert!(bodies.iter().all(|b| b["type"] == "media.received"), "{bodies:?}");
        let stored = bodies
            .iter()
            .find(|b| b["data"]["media"]["media_id"] == media_id.as_str())
            .unwrap_or_else(|| panic!("no event for the photo: {bodies:?}"));
        assert_eq!(stored["data"]["media"]["status"], "stored");
        assert_eq!(stored["data"]["media"]["size"], photo.len());
        assert_eq!(stored["data"]["media"]["sha256"], row["sha256"]);
        assert_eq!(stored["data"]["chat_id"], "71");
        let large = bodies
            .iter()
            .find(|b| b["data"]["media"]["status"] == "too_large")
            .unwrap_or_else(|| panic!("no event for the document: {bodies:?}"));
        assert_eq!(large["data"]["media"]["media_id"], doc["id"]);
    }
);

both_backends!(the_same_file_is_stored_once, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, file_step_scenario()).await else {
        return;
    };
    let photo = jpeg_bytes();
    bot.tg.add_file("ph-a", "photos/a.jpg", photo.clone());
    for chat in [81, 82] {
        bot.deliver(&text_update(chat * 10, chat, "/start")).await;
    }
    // The same picture, from two users, and again from the first (a forward has new file ids
    // but the same file_unique_id).
    bot.deliver(&photo_update(811, 81, "same-uniq", "ph-a", photo.len() as u64))
        .await;
    bot.deliver(&photo_update(821, 82, "same-uniq", "ph-a", photo.len() as u64))
        .await;
    let first = dialog_data(&bot, 81).await["scan"]["media_id"].clone();
    let second = dialog_data(&bot, 82).await["scan"]["media_id"].clone();
    assert!(first.is_string(), "{first}");
    assert_eq!(first, second, "one library row for one file");
    let row = settled(&bot, first.as_str().unwrap()).await;
    assert_eq!(row["status"], "stored", "{row}");
    bot.deliver(&photo_update(
        812,
        81,
        "same-uniq",
        "ph-a-forwarded",
        photo.len() as u64,
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, list) = bot
        .app
        .get(&format!("/v1/api/bots/{}/media", bot.bot_id), &bot.key)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(bot.tg.calls_of("getFile").len(), 1, "downloaded once");
});

both_backends!(downloads_retry_and_survive_a_restart, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, file_step_scenario()).await else {
        return;
    };
    let photo = jpeg_bytes();
    bot.tg.add_file("ph-r", "photos/r.jpg", photo.clone());
    // Telegram fails the first attempts; the update is still answered at once.
    bot.tg.fail_next("getFile", 2, Failure::ServerError);
    bot.deliver(&text_update(1, 91, "/start")).await;
    let (s, ack) = bot
        .send(&photo_update(2, 91, "r-uniq", "ph-r", photo.len() as u64))
        .await;
    assert_eq!(s, StatusCode::OK, "{ack}");
    let media_id = dialog_data(&bot, 91).await["scan"]["media_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, body) = bot
        .app
        .get(&format!("/v1/api/media/{media_id}/content"), &bot.key)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "MEDIA_PENDING");

    // Stop the server while the download waits for its retry, and start it again.
    bot.tg.wait_for("getFile", 1, Duration::from_secs(10)).await;
    let bot = bot.restart().await;
    let row = settled(&bot, &media_id).await;
    assert_eq!(row["status"], "stored", "{row}");
    assert_eq!(bot.tg.calls_of("getFile").len(), 3, "two failures, then success");
});

both_backends!(
    a_file_that_cannot_be_fetched_is_marked_failed,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, file_step_scenario()).await else {
            return;
        };
        // No file registered: getFile answers 400, which retrying cannot fix.
        bot.deliver(&text_update(1, 95, "/start")).await;
        bot.deliver(&document_update(2, 95, "gone-uniq", "gone", "a.pdf", 1000))
            .await;
        let media_id = dialog_data(&bot, 95).await["scan"]["media_id"]
            .as_str()
            .unwrap()
            .to_string();
        let row = settled(&bot, &media_id).await;
        assert_eq!(row["status"], "failed", "{row}");
        assert!(row["status_reason"].as_str().unwrap().contains("400"), "{row}");
        let (s, body) = bot
            .app
            .get(&format!("/v1/api/media/{media_id}/content"), &bot.key)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
        assert!(!body.to_string().contains(crate::telegram_support::TOKEN));
    }
);
