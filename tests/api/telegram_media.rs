//! Scenario media sent well: a stored file is uploaded once, then sent by Telegram's cached
//! file id; a rejected cached id falls back to uploading again; aliases are per bot.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;
use crate::media_helpers::{PNG, upload};
use crate::telegram_support::{TgBot, text_update};

fn media_scenario() -> serde_json::Value {
    json!({
        "version": "1.0",
        "start_step": "hello",
        "steps": {
            "hello": {
                "message": { "text": "Welcome!", "media": [{ "type": "image", "file_id": "welcome_image" }] },
                "buttons": [{ "text": "Go", "value": "go" }],
                "expected_input": { "type": "button", "variable": "choice" },
                "next_step": "hello"
            }
        }
    })
}

both_backends!(
    scenario_media_is_uploaded_once_then_sent_by_cached_file_id,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, media_scenario()).await else {
            return;
        };
        let (s, body) = upload(&bot.app, &bot.key, &bot.bot_id, "welcome.png", "image/png", PNG).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let media_id = body["data"]["id"].as_str().unwrap().to_string();
        let (s, body) = bot
            .app
            .post(
                &format!("/v1/api/media/{media_id}/platform-id"),
                &bot.key,
                json!({ "platform": "telegram", "file_id": "welcome_image" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");

        // First send: the bytes are uploaded, with the text as caption and the buttons attached.
        bot.send(&text_update(1, 71, "/start")).await;
        let first = bot.tg.calls_of("sendPhoto").pop().expect("a photo was sent");
        assert_eq!(first.files.len(), 1, "uploaded as a file part");
        assert_eq!(first.params["caption"], "Welcome!");
        assert_eq!(
            first.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            "go"
        );

        // Second send: by Telegram's file id, no upload.
        bot.send(&text_update(2, 71, "/start")).await;
        let second = bot.tg.calls_of("sendPhoto").pop().unwrap();
        assert!(second.files.is_empty(), "sent by cached file id: {:?}", second.params);
        let cached = second.params["photo"].as_str().unwrap().to_string();

        // Telegram forgets the id: the send falls back to uploading, and the new id is cached.
        bot.tg.reject_file_id(&cached);
        let (s, body) = bot.send(&text_update(3, 71, "/start")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body["data"]["response_sent"], true, "{body}");
        let calls = bot.tg.calls_of("sendPhoto");
        let last = calls.last().unwrap();
        assert_eq!(last.files.len(), 1, "re-uploaded after the rejection");
        assert_eq!(calls.len(), 4, "rejected by id once, then uploaded");
    }
);

both_backends!(an_alias_of_another_bot_is_not_used, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, media_scenario()).await else {
        return;
    };
    // Another bot of the same account owns `welcome_image`; this bot has no such file.
    let (s, other) = bot
        .app
        .post(
            &format!("/v1/api/accounts/{}/bots", bot.account),
            &bot.key,
            json!({ "name": "other" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let other = other["data"]["id"].as_str().unwrap().to_string();
    let (_, body) = upload(&bot.app, &bot.key, &other, "w.png", "image/png", PNG).await;
    let media_id = body["data"]["id"].as_str().unwrap().to_string();
    bot.app
        .post(
            &format!("/v1/api/media/{media_id}/platform-id"),
            &bot.key,
            json!({ "platform": "telegram", "file_id": "welcome_image" }),
        )
        .await;
    bot.send(&text_update(1, 72, "/start")).await;
    let sent = bot.tg.calls_of("sendPhoto").pop().expect("a photo was sent");
    assert!(sent.files.is_empty(), "no upload of the other bot's file");
    assert_eq!(sent.params["photo"], "welcome_image", "the alias went out as written");
});

fn menu_scenario() -> serde_json::Value {
    json!({
        "version": "1.0",
        "start_step": "menu",
        "steps": {
            "menu": {
                "message": { "text": "Our menu", "media": [{ "type": "image", "file_id": "menu_jpg" }] },
                "buttons": [{ "text": "Order", "value": "order" }],
                "expected_input": { "type": "button", "variable": "choice" },
                "next_step": "menu"
            }
        }
    })
}

both_backends!(
    a_missing_alias_warns_at_upload_until_the_media_exists,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, menu_scenario()).await else {
            return;
        };
        let warnings = upload_version(&bot).await;
        assert!(
            warnings.contains("'menu_jpg' is not in the bot's media library yet"),
            "{warnings}"
        );
        let (_, body) = upload(&bot.app, &bot.key, &bot.bot_id, "menu.png", "image/png", PNG).await;
        let media_id = body["data"]["id"].as_str().unwrap().to_string();
        let (s, _) = bot
            .app
            .post(
                &format!("/v1/api/media/{media_id}/platform-id"),
                &bot.key,
                json!({ "platform": "telegram", "file_id": "menu_jpg" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let warnings = upload_version(&bot).await;
        assert!(!warnings.contains("menu_jpg"), "{warnings}");
    }
);

both_backends!(
    missing_media_still_sends_text_and_buttons_and_records_a_warning,
    |app: TestApp| async move {
        use crate::fake_receiver::{Answer, FakeReceiver};
        let Some(bot) = TgBot::start(app.backend, menu_scenario()).await else {
            return;
        };
        let receiver = FakeReceiver::start(Answer::Status(200)).await;
        bot.subscribe(&receiver.url(), &["media.missing"]).await;
        // Not in the library, and Telegram does not know it as a file id either.
        bot.tg.reject_file_id("menu_jpg");
        bot.deliver(&text_update(1, 73, "/start")).await;
        bot.tg
            .wait_for("sendMessage", 1, std::time::Duration::from_secs(10))
            .await;
        let sent = bot.tg.calls_of("sendMessage").pop().expect("the text went out");
        assert_eq!(sent.params["text"], "Our menu");
        assert_eq!(
            sent.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "order",
            "with its buttons"
        );

        let (_, dialog) = bot
            .app
            .get(&format!("/v1/api/bots/{}/dialogs/telegram/73", bot.bot_id), &bot.key)
            .await;
        let id = dialog["data"]["id"].as_str().unwrap().to_string();
        let (_, history) = bot.app.get(&format!("/v1/api/dialogs/{id}/history"), &bot.key).await;
        assert!(
            history.to_string().contains("media.missing") && history.to_string().contains("menu_jpg"),
            "the warning is on the dialog: {history}"
        );
        let events = receiver.wait_for(1, std::time::Duration::from_secs(10)).await;
        let event = events[0].json();
        assert_eq!(event["type"], "media.missing");
        assert_eq!(event["data"]["media"][0], "menu_jpg", "{event}");
        assert_eq!(event["data"]["chat_id"], "73");
    }
);

async fn upload_version(bot: &TgBot) -> String {
    let (s, body) = bot
        .app
        .post(
            &format!("/v1/api/bots/{}/scenarios", bot.bot_id),
            &bot.key,
            json!({ "name": "Menu", "scenario_data": menu_scenario() }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["data"]["warnings"].to_string()
}

fn album_scenario() -> serde_json::Value {
    json!({
        "version": "1.0",
        "start_step": "specials",
        "steps": {
            "specials": {
                "message": {
                    "text": "Today's specials",
                    "media": [
                        { "type": "image", "file_id": "dish_a" },
                        { "type": "image", "file_id": "dish_b" },
                        { "type": "document", "file_id": "menu_pdf" }
                    ]
                },
                "buttons": [{ "text": "Order", "value": "order" }],
                "expected_input": { "type": "button", "variable": "choice" },
                "next_step": "specials"
            }
        }
    })
}

/// Upload `bytes` to the bot and give them `alias`.
async fn stored_with_alias(bot: &TgBot, name: &str, declared: &str, bytes: &[u8], alias: &str) {
    let (s, body) = upload(&bot.app, &bot.key, &bot.bot_id, name, declared, bytes).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let media_id = body["data"]["id"].as_str().unwrap().to_string();
    let (s, body) = bot
        .app
        .post(
            &format!("/v1/api/media/{media_id}/platform-id"),
            &bot.key,
            json!({ "platform": "telegram", "file_id": alias }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

both_backends!(
    three_mixed_items_go_as_an_album_a_document_and_the_buttons,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, album_scenario()).await else {
            return;
        };
        let second_png = [PNG, b"another picture".as_slice()].concat();
        stored_with_alias(&bot, "a.png", "image/png", PNG, "dish_a").await;
        stored_with_alias(&bot, "b.png", "image/png", &second_png, "dish_b").await;
        stored_with_alias(&bot, "menu.pdf", "application/pdf", b"%PDF-1.4\n%menu\n", "menu_pdf").await;

        let order = |bot: &TgBot| -> Vec<String> { bot.tg.calls().iter().map(|c| c.method.clone()).collect() };
        let first = bot.deliver(&text_update(1, 74, "/start")).await;
        assert_eq!(first["data"]["response_sent"], true, "{first}");
        let sends: Vec<String> = order(&bot).into_iter().filter(|m| m.starts_with("send")).collect();
        assert_eq!(sends, ["sendMessage", "sendMediaGroup", "sendDocument", "sendMessage"]);
        let album = bot.tg.calls_of("sendMediaGroup").pop().unwrap();
        assert_eq!(album.files.len(), 2, "both pictures uploaded");
        assert_eq!(album.params["media"][0]["type"], "photo");
        assert_eq!(album.params["media"][1]["type"], "photo");
        assert_eq!(bot.tg.calls_of("sendDocument").pop().unwrap().files.len(), 1);
        let buttons = bot.tg.calls_of("sendMessage").pop().unwrap();
        assert_eq!(
            buttons.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "order",
            "the buttons come after the media"
        );

        // The second run sends every file by the id Telegram gave it: no upload at all.
        bot.deliver(&text_update(2, 74, "/start")).await;
        let album = bot.tg.calls_of("sendMediaGroup").pop().unwrap();
        assert!(album.files.is_empty(), "{:?}", album.params);
        let ids: Vec<&str> = album.params["media"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["media"].as_str().unwrap())
            .collect();
        assert!(ids.iter().all(|id| id.starts_with("fake-file-")), "{ids:?}");
        let doc = bot.tg.calls_of("sendDocument").pop().unwrap();
        assert!(doc.files.is_empty(), "{:?}", doc.params);
        assert!(doc.params["document"].as_str().unwrap().starts_with("fake-file-"));
    }
);
