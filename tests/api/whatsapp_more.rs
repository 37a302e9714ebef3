//! WhatsApp sends against the fake Graph API: media both ways, the 24-hour window, Meta's
//! rate limits and refusals, registration without the rights to, and one bot on two platforms.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fake_whatsapp::Failure;
use crate::helpers::TestApp;
use crate::media_helpers::{PNG, upload};
use crate::telegram_support::{TOKEN, echo_scenario, text_update};
use crate::whatsapp_support::*;

const USER: &str = "16505551234";

fn photo_scenario() -> Value {
    json!({"start_step": "ask", "steps": {
        "ask": {"message": {"text": "Our menu", "media": [{"type": "photo", "file_id": "menu_png"}]},
                "expected_input": {"type": "file", "variable": "receipt"}, "next_step": "done"},
        "done": {"message": {"text": "Thanks, got it"}}
    }})
}

/// Make the chat's user look silent for 25 hours (its window closed), in the database.
async fn silence(app: &TestApp, chat: &str) {
    use hookline::config::DatabaseConfig;
    let long_ago = hookline::store::now_ms() - 25 * 3600 * 1000;
    let sql = "UPDATE dialogs SET last_interaction_at = $1 WHERE chat_id = $2";
    match &app.config.database {
        DatabaseConfig::Sqlite { path } => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(sql).bind(long_ago).bind(chat).execute(&pool).await.unwrap();
        }
        DatabaseConfig::Postgres { url } => {
            let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
            sqlx::query(sql).bind(long_ago).bind(chat).execute(&pool).await.unwrap();
        }
    }
}

both_backends!(
    media_goes_out_uploaded_once_and_comes_in_to_a_file_step,
    |app: TestApp| async move {
        let Some(bot) = WaBot::start(app.backend, photo_scenario()).await else {
            return;
        };
        let (s, body) = upload(&bot.app, &bot.key, &bot.bot_id, "menu.png", "image/png", PNG).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let media_id = body["data"]["id"].as_str().unwrap().to_string();
        let (s, body) = bot
            .app
            .post(
                &format!("/v1/api/media/{media_id}/platform-id"),
                &bot.key,
                json!({"platform": "whatsapp", "file_id": "menu_png"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");

        // Out: uploaded to the number's media once, then sent by the cached id.
        bot.deliver(&envelope(vec![text("wamid.M1", USER, "/start")], vec![]))
            .await;
        let sent = bot.wait_sent(USER, 1).await;
        let uploads = bot.wa.calls_of("media_upload");
        assert_eq!(uploads.len(), 1, "uploaded once");
        assert_eq!(sent[0].body["type"], "image");
        assert_eq!(sent[0].body["image"]["caption"], "Our menu");
        let first_id = sent[0].body["image"]["id"].as_str().unwrap().to_string();
        assert!(bot.wa.known_media().contains(&first_id), "sent by the uploaded id");

        // In: a photo to the file step, fetched through the Graph API and kept in the library.
        bot.wa
            .add_media("1500000001", "image/jpeg", b"\xff\xd8\xff\xe0jpeg-bytes".to_vec());
        bot.deliver(&envelope(vec![image("wamid.M2", USER, "1500000001")], vec![]))
            .await;
        let sent = bot.wait_sent(USER, 2).await;
        assert_eq!(text_of(&sent[1]), "Thanks, got it");
        let (_, dialog) = bot
            .app
            .get(
                &format!("/v1/api/bots/{}/dialogs/whatsapp/{USER}", bot.bot_id),
                &bot.key,
            )
            .await;
        let receipt = dialog["data"]["collected_data"]["receipt"].clone();
        assert_eq!(receipt["kind"], "photo", "{dialog}");
        let stored = receipt["media_id"].as_str().expect("the library's id").to_string();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (_, row) = bot.app.get(&format!("/v1/api/media/{stored}"), &bot.key).await;
            if row["data"]["status"] == "stored" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the photo was not stored: {row}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let got = bot
            .app
            .client
            .get(bot.app.url(&format!("/v1/api/media/{stored}/content")))
            .bearer_auth(&bot.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.bytes().await.unwrap().to_vec(),
            b"\xff\xd8\xff\xe0jpeg-bytes".to_vec()
        );

        // Again: the cached id. Then Meta forgets it: uploaded again, and the new id is used.
        bot.deliver(&envelope(vec![text("wamid.M3", USER, "/start")], vec![]))
            .await;
        let sent = bot.wait_sent(USER, 3).await;
        assert_eq!(sent[2].body["image"]["id"], first_id.as_str(), "the cached id");
        assert_eq!(bot.wa.calls_of("media_upload").len(), 1);
        bot.wa.expire_media(&first_id);
        bot.deliver(&envelope(vec![text("wamid.M4", USER, "/start")], vec![]))
            .await;
        bot.settle().await;
        assert_eq!(
            bot.wa.calls_of("media_upload").len(),
            2,
            "uploaded again after the refusal"
        );
        let images: Vec<Value> = bot
            .sent_to(USER)
            .into_iter()
            .map(|c| c.body)
            .filter(|b| b["type"] == "image")
            .collect();
        let last = images.last().unwrap();
        assert_ne!(last["image"]["id"], first_id.as_str(), "the re-uploaded id: {images:?}");
    }
);

both_backends!(
    the_24_hour_window_without_a_template_fails_the_reply,
    |app: TestApp| async move {
        let scenario = json!({"start_step": "a", "steps": {
            "a": {"message": {"text": "Hi"}, "expected_input": {"type": "text", "variable": "x"}, "next_step": "b"},
            "b": {"message": {"text": "Later"}, "auto_next": true, "auto_next_delay": 0.3, "next_step": "c"},
            "c": {"message": {"text": "Reminder for {{x}}"}}
        }});
        let Some(bot) = WaBot::start(app.backend, scenario).await else {
            return;
        };
        bot.deliver(&envelope(vec![text("wamid.W1", USER, "/start")], vec![]))
            .await;
        bot.wait_sent(USER, 1).await;
        bot.deliver(&envelope(vec![text("wamid.W2", USER, "Ann")], vec![]))
            .await;
        bot.wait_sent(USER, 2).await;
        // The user goes silent before the timer fires.
        silence(&bot.app, USER).await;
        let failed = bot.wait_event("message.failed").await;
        assert_eq!(failed["reason"], "outside_window", "{failed}");
        assert_eq!(failed["chat_id"], USER);
        assert!(failed["error"].as_str().unwrap().contains("24 hours"), "{failed}");
        assert_eq!(bot.sent_to(USER).len(), 2, "nothing free-form went out");
    }
);

both_backends!(
    the_24_hour_window_with_a_template_sends_it_once,
    |app: TestApp| async move {
        let scenario = json!({"start_step": "a", "steps": {
            "a": {"message": {"text": "Hi"}, "expected_input": {"type": "text", "variable": "x"}, "next_step": "b"},
            "b": {"message": {"text": "Later"}, "auto_next": true, "auto_next_delay": 0.3, "next_step": "c"},
            "c": {"message": {"text": "Reminder for {{x}}"}, "auto_next": true, "auto_next_delay": 0.1, "next_step": "d"},
            "d": {"message": {"text": "And again"}}
        }});
        let settings = json!({"template": {"name": "order_reminder", "language": "en_US", "parameters": ["{{x}}"]}});
        let Some(bot) = WaBot::start_with(app.backend, scenario, settings, |_| {}).await else {
            return;
        };
        bot.deliver(&envelope(vec![text("wamid.T1", USER, "/start")], vec![]))
            .await;
        bot.wait_sent(USER, 1).await;
        bot.deliver(&envelope(vec![text("wamid.T2", USER, "Ann")], vec![]))
            .await;
        bot.wait_sent(USER, 2).await;
        silence(&bot.app, USER).await;
        let sent = bot.wait_sent(USER, 3).await;
        assert_eq!(sent[2].body["type"], "template", "{:?}", sent[2].body);
        assert_eq!(sent[2].body["template"]["name"], "order_reminder");
        assert_eq!(
            sent[2].body["template"]["components"][0]["parameters"][0]["text"],
            "Ann"
        );
        // The next free-form reply of the same closed window is not another template.
        let failed = bot.wait_event("message.failed").await;
        assert_eq!(failed["reason"], "outside_window");
        assert_eq!(
            bot.sent_to(USER)
                .iter()
                .filter(|c| c.body["type"] == "template")
                .count(),
            1
        );
    }
);

both_backends!(
    rate_limited_then_sent_and_a_permanent_refusal_fails,
    |app: TestApp| async move {
        let Some(bot) = WaBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        bot.wa.fail_next("messages", 1, Failure::RateLimited(130429, Some(1)));
        bot.deliver(&envelope(vec![text("wamid.L1", USER, "first")], vec![]))
            .await;
        let sent = bot.wait_sent(USER, 2).await;
        assert_eq!(sent[1].body, sent[0].body, "sent again after Meta's limit");
        assert!(
            sent[1].at.duration_since(sent[0].at) >= std::time::Duration::from_millis(900),
            "waited as asked"
        );

        bot.wa.fail_next(
            "messages",
            1,
            Failure::Graph {
                http: 400,
                code: 131026,
                message: "Message undeliverable".into(),
            },
        );
        bot.deliver(&envelope(vec![text("wamid.L2", USER, "second")], vec![]))
            .await;
        let failed = bot.wait_event("message.failed").await;
        assert_eq!(failed["reason"], "rejected", "{failed}");
        assert!(failed["error"].as_str().unwrap().contains("131026"), "{failed}");
        // The Graph API's error is kept on the reply and shown by the dialogs API.
        let (_, dialog) = bot
            .app
            .get(
                &format!("/v1/api/bots/{}/dialogs/whatsapp/{USER}", bot.bot_id),
                &bot.key,
            )
            .await;
        let id = dialog["data"]["id"].as_str().unwrap();
        let (_, replies) = bot.app.get(&format!("/v1/api/dialogs/{id}/replies"), &bot.key).await;
        let failed_reply = replies["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == "failed")
            .cloned()
            .expect("a failed reply");
        assert!(
            failed_reply["last_error"]
                .as_str()
                .unwrap()
                .contains("Message undeliverable"),
            "{failed_reply}"
        );
        assert_eq!(failed_reply["attempts"], 1, "never retried");
    }
);

both_backends!(
    without_rights_activation_says_what_to_paste,
    |app: TestApp| async move {
        let Some(bot) = WaBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        assert_eq!(bot.activation["registered"], true, "{}", bot.activation);
        // Deactivation removes the override; activating again without the rights says what to do.
        let (s, body) = bot
            .app
            .post(&format!("/v1/api/bots/{}/deactivate", bot.bot_id), &bot.key, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(bot.wa.override_url(), None, "deactivation removed the override");
        bot.wa.deny_override();
        let (s, body) = bot
            .app
            .post(&format!("/v1/api/bots/{}/activate", bot.bot_id), &bot.key, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let webhook = &body["data"]["webhooks"]["whatsapp"];
        assert_eq!(webhook["registered"], false, "{body}");
        assert_eq!(
            webhook["callback_url"],
            format!("https://hooks.example.com/v1/api/webhooks/whatsapp/{}", bot.bot_id)
        );
        assert_eq!(
            webhook["verify_token"], bot.activation["verify_token"],
            "the same token as before"
        );
        assert!(webhook["note"].as_str().unwrap().contains("dashboard"), "{webhook}");
        let (s, status) = bot.app.get(&format!("{}/status", bot.webhook_path()), &bot.key).await;
        assert_eq!(s, StatusCode::OK, "{status}");
        assert!(
            status["data"]["note"].as_str().unwrap().contains("dashboard"),
            "{status}"
        );
        assert!(status["data"]["last_error"].is_string(), "{status}");
    }
);

both_backends!(
    one_bot_on_both_platforms_runs_one_scenario_in_separate_dialogs,
    |app: TestApp| async move {
        let tg = crate::fake_telegram::FakeTelegram::start().await;
        let tg_base = tg.base_url();
        let Some(bot) = WaBot::start_with(app.backend, echo_scenario(), json!({}), |c| {
            c.telegram_api_url = tg_base;
            c.telegram_outbound_rate_limit = false;
        })
        .await
        else {
            return;
        };
        let (s, body) = bot
            .app
            .post(
                &format!("/v1/api/bots/{}/platforms", bot.bot_id),
                &bot.key,
                json!({"platform": "telegram", "credentials": {"token": TOKEN}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = bot
            .app
            .post(&format!("/v1/api/bots/{}/activate", bot.bot_id), &bot.key, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["webhooks"]["telegram"]["registered"], true, "{body}");
        assert_eq!(body["data"]["webhooks"]["whatsapp"]["registered"], true, "{body}");
        let secret = tg.webhook()["secret_token"].as_str().unwrap().to_string();

        // The same chat id on both platforms: two dialogs, one scenario.
        let chat: i64 = USER.parse().unwrap();
        bot.deliver(&envelope(vec![text("wamid.X1", USER, "from whatsapp")], vec![]))
            .await;
        let resp = bot
            .app
            .client
            .post(bot.app.url(&format!("/v1/api/webhooks/telegram/{}", bot.bot_id)))
            .header("X-Telegram-Bot-Api-Secret-Token", &secret)
            .json(&text_update(1, chat, "from telegram"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let sent = bot.wait_sent(USER, 1).await;
        assert_eq!(text_of(&sent[0]), "got ", "a new dialog shows its first step");
        let tg_sent = tg.wait_for("sendMessage", 1, WAIT).await;
        assert_eq!(tg_sent[0].params["text"], "got ");
        let (_, dialogs) = bot
            .app
            .get(&format!("/v1/api/bots/{}/dialogs", bot.bot_id), &bot.key)
            .await;
        let mut platforms: Vec<(String, String)> = dialogs["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["platform"].as_str().unwrap().to_string(),
                    d["platform_chat_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        platforms.sort();
        assert_eq!(
            platforms,
            [
                ("telegram".to_string(), USER.to_string()),
                ("whatsapp".to_string(), USER.to_string())
            ]
        );
        // Each dialog goes on by itself.
        bot.deliver(&envelope(vec![text("wamid.X2", USER, "again")], vec![]))
            .await;
        assert_eq!(text_of(&bot.wait_sent(USER, 2).await[1]), "got again");
        assert_eq!(tg.calls_of("sendMessage").len(), 1, "nothing went to Telegram for it");
    }
);

both_backends!(
    metas_own_131047_sends_the_template_or_fails_the_reply,
    |app: TestApp| async move {
        let settings = json!({"template": {"name": "come_back", "language": "en", "parameters": ["{{last}}"]}});
        let Some(bot) = WaBot::start_with(app.backend, echo_scenario(), settings, |_| {}).await else {
            return;
        };
        let closed = Failure::Graph {
            http: 400,
            code: 131047,
            message: "Re-engagement message".into(),
        };
        bot.deliver(&envelope(vec![text("wamid.E1", USER, "hi")], vec![])).await;
        bot.wait_sent(USER, 1).await;
        // Meta says the window is closed although the user just wrote: the template goes instead.
        bot.wa.fail_next("messages", 1, closed.clone());
        bot.deliver(&envelope(vec![text("wamid.E2", USER, "late")], vec![]))
            .await;
        bot.settle().await;
        let sent = bot.sent_to(USER);
        assert_eq!(sent.len(), 3, "the refused reply, then the template");
        assert_eq!(sent[2].body["type"], "template");
        assert_eq!(
            sent[2].body["template"]["components"][0]["parameters"][0]["text"],
            "late"
        );
        assert!(
            bot.events().await.iter().all(|(t, _)| t != "message.failed"),
            "the template stood in"
        );
    }
);
