//! The WhatsApp webhook over HTTP against the fake Graph API: Meta's handshake and signature,
//! credentials, exactly-once processing, per-chat order in batches, receipts and choices.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fake_whatsapp::sign;
use crate::helpers::{TestApp, assert_error};
use crate::telegram_support::echo_scenario;
use crate::whatsapp_support::*;

const USER: &str = "16505551234";
const OTHER: &str = "16505559999";

both_backends!(
    handshake_echoes_the_challenge_only_for_the_verify_token,
    |app: TestApp| async move {
        let Some(bot) = WaBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        let token = bot.activation["verify_token"]
            .as_str()
            .expect("activation shows the verify token")
            .to_string();
        let get = |query: String| {
            let url = bot.app.url(&format!("{}?{query}", bot.webhook_path()));
            let client = bot.app.client.clone();
            async move {
                let r = client.get(url).send().await.unwrap();
                let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
                (r.status(), ct, r.text().await.unwrap())
            }
        };
        let (s, ct, body) = get(format!(
            "hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
        .await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "1158201444"));
        assert!(ct.unwrap().starts_with("text/plain"));
        for bad in [
            format!("hub.mode=subscribe&hub.verify_token={token}x&hub.challenge=1"),
            format!("hub.mode=unsubscribe&hub.verify_token={token}&hub.challenge=1"),
            "hub.mode=subscribe&hub.challenge=1".to_string(),
            String::new(),
        ] {
            let (s, _, body) = get(bad.clone()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{bad}");
            assert!(!body.contains("\"1\""), "the challenge is not echoed: {bad}: {body}");
        }
        // Activation already ran Meta's handshake through the override.
        let (_, status) = bot.app.get(&format!("{}/status", bot.webhook_path()), &bot.key).await;
        assert!(status["data"]["handshake_at"].is_string(), "{status}");
        assert_eq!(status["data"]["registered"], true, "{status}");
    }
);

both_backends!(signature_good_bad_and_missing, |app: TestApp| async move {
    let Some(bot) = WaBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let body = envelope(vec![text("wamid.SIG1", USER, "hi")], vec![]).to_string();
    let (s, answer) = bot.post_raw(body.clone(), None).await;
    assert_error(s, &answer, 401, "INVALID_BOT_TOKEN");
    let wrong = crate::fake_whatsapp::sign("another-secret-0000", body.as_bytes());
    let (s, answer) = bot.post_raw(body.clone(), Some(&wrong)).await;
    assert_error(s, &answer, 401, "INVALID_BOT_TOKEN");
    // A signature of other bytes (a re-serialised body) is refused as well.
    let reserialised = serde_json::from_str::<Value>(&body).unwrap().to_string() + " ";
    let (s, _) = bot
        .post_raw(reserialised, Some(&sign(APP_SECRET, body.as_bytes())))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(bot.wa.calls_of("messages").is_empty(), "nothing was processed");
    let (s, answer) = bot
        .post_raw(body.clone(), Some(&sign(APP_SECRET, body.as_bytes())))
        .await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["data"]["messages"][0]["message_id"], "wamid.SIG1");
    assert_eq!(answer["data"]["messages"][0]["event_type"], "message.received");
    let sent = bot.wait_sent(USER, 1).await;
    assert_eq!(text_of(&sent[0]), "got ", "the first message starts the dialog");
    assert_eq!(sent[0].token, ACCESS_TOKEN, "sent with the bot's access token");
    // The user's message was marked read.
    let reads = bot.wa.wait_for("read", 1, WAIT).await;
    assert_eq!(reads[0].body["message_id"], "wamid.SIG1");
    // Not a WhatsApp body at all: 400.
    let junk = json!({"object": "page", "entry": []}).to_string();
    let (s, answer) = bot
        .post_raw(junk.clone(), Some(&sign(APP_SECRET, junk.as_bytes())))
        .await;
    assert_error(s, &answer, 400, "INVALID_UPDATE_FORMAT");
});

both_backends!(credentials_are_checked_and_never_shown, |app: TestApp| async move {
    let Some(bot) = WaBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let (s, body) = bot
        .app
        .get(&format!("/v1/api/bots/{}/platforms/whatsapp", bot.bot_id), &bot.key)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let text = body.to_string();
    assert!(!text.contains(ACCESS_TOKEN) && !text.contains(APP_SECRET), "{text}");
    assert_eq!(body["data"]["credentials"]["phone_number_id"], NUMBER_ID);
    assert_eq!(body["data"]["credentials"]["app_secret"], "****");
    let path = format!("/v1/api/bots/{}/platforms", bot.bot_id);
    for (credentials, field) in [
        (
            json!({"access_token": ACCESS_TOKEN, "app_secret": APP_SECRET}),
            "credentials.phone_number_id",
        ),
        (
            json!({"phone_number_id": "+1 650 555", "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET}),
            "credentials.phone_number_id",
        ),
        (
            json!({"phone_number_id": NUMBER_ID, "app_secret": APP_SECRET}),
            "credentials.access_token",
        ),
        (
            json!({"phone_number_id": NUMBER_ID, "access_token": ACCESS_TOKEN}),
            "credentials.app_secret",
        ),
        (
            json!({"phone_number_id": NUMBER_ID, "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET,
            "template": {"name": "has space", "language": "en"}}),
            "credentials.template",
        ),
    ] {
        let (s, body) = bot
            .app
            .post(
                &path,
                &bot.key,
                json!({"platform": "whatsapp", "credentials": credentials}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
});

both_backends!(
    a_redelivered_message_is_processed_once_even_concurrently,
    |app: TestApp| async move {
        let Some(bot) = WaBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        let body = envelope(vec![text("wamid.DUP1", USER, "once")], vec![]);
        let copies = futures::future::join_all((0..6).map(|_| bot.post(&body))).await;
        assert!(copies.iter().all(|(s, _)| *s == StatusCode::OK), "{copies:?}");
        let first = copies
            .iter()
            .filter(|(_, b)| b["data"]["messages"][0]["duplicate"] != true)
            .count();
        assert_eq!(
            first, 1,
            "one copy processed it, the others were told it is a duplicate: {copies:?}"
        );
        let later = bot.deliver(&body).await;
        assert_eq!(later["data"]["messages"][0]["duplicate"], true);
        bot.wait_sent(USER, 1).await;
        // A marker message after the copies: once its reply is out, nothing more is coming for them.
        bot.deliver(&envelope(vec![text("wamid.DUP2", USER, "marker")], vec![]))
            .await;
        let sent = bot.wait_sent(USER, 2).await;
        let texts: Vec<String> = sent.iter().map(text_of).collect();
        assert_eq!(texts, ["got ", "got marker"]);
    }
);

both_backends!(a_batch_keeps_each_chats_order, |app: TestApp| async move {
    let Some(bot) = WaBot::start(app.backend, echo_scenario()).await else {
        return;
    };
    let body = envelope(
        vec![
            text("wamid.B1", USER, "one"),
            text("wamid.B2", OTHER, "uno"),
            text("wamid.B3", USER, "two"),
        ],
        vec![],
    );
    let answer = bot.deliver(&body).await;
    let ids: Vec<&str> = answer["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["wamid.B1", "wamid.B2", "wamid.B3"],
        "the answer lists the messages in body order"
    );
    let to_user: Vec<String> = bot.wait_sent(USER, 2).await.iter().map(text_of).collect();
    assert_eq!(
        to_user,
        ["got ", "got two"],
        "one starts the dialog, two is echoed after it"
    );
    let to_other: Vec<String> = bot.wait_sent(OTHER, 1).await.iter().map(text_of).collect();
    assert_eq!(to_other, ["got "]);
    // Each chat has its own dialog, and the dialogs API says which platform.
    let (_, dialogs) = bot
        .app
        .get(&format!("/v1/api/bots/{}/dialogs", bot.bot_id), &bot.key)
        .await;
    let list = dialogs["data"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{dialogs}");
    assert!(list.iter().all(|d| d["platform"] == "whatsapp"));
});

both_backends!(
    receipts_update_the_reply_and_publish_events,
    |app: TestApp| async move {
        let Some(bot) = WaBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        bot.deliver(&envelope(vec![text("wamid.R1", USER, "hello")], vec![]))
            .await;
        // Once nothing is pending, the fake has answered the send (it records a call before
        // it answers it).
        bot.settle().await;
        let wamid = bot
            .wa
            .answered_ids()
            .last()
            .cloned()
            .expect("the fake gave the reply an id");
        // The sent mark is committed with the next group; the receipt waits for it.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let answer = bot
                .deliver(&envelope(vec![], vec![status(&wamid, USER, "delivered")]))
                .await;
            if answer["data"]["receipts"]["recorded"] == 1 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receipt never found its reply: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delivered = bot.wait_event("message.delivered").await;
        assert_eq!(
            (delivered["message_id"].as_str(), delivered["chat_id"].as_str()),
            (Some(wamid.as_str()), Some(USER))
        );
        // Out of order and repeated: a late "sent" and a second "delivered" change nothing.
        let answer = bot
            .deliver(&envelope(
                vec![],
                vec![
                    status(&wamid, USER, "sent"),
                    status(&wamid, USER, "delivered"),
                    status(&wamid, USER, "read"),
                ],
            ))
            .await;
        assert_eq!(
            answer["data"]["receipts"],
            json!({"recorded": 1, "unknown": 0, "stale": 2, "unreadable": 0})
        );
        bot.wait_event("message.read").await;
        let answer = bot
            .deliver(&envelope(
                vec![],
                vec![failed_status("wamid.NOT_OURS", USER, 131026, "Message undeliverable")],
            ))
            .await;
        assert_eq!(answer["data"]["receipts"]["unknown"], 1);
        let types: Vec<String> = bot.events().await.into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            types.iter().filter(|t| *t == "message.delivered").count(),
            1,
            "{types:?}"
        );
        assert_eq!(types.iter().filter(|t| *t == "message.read").count(), 1, "{types:?}");
        // The dialog's replies show the receipt.
        let (_, dialogs) = bot
            .app
            .get(&format!("/v1/api/bots/{}/dialogs", bot.bot_id), &bot.key)
            .await;
        let id = dialogs["data"][0]["id"].as_str().unwrap();
        let (_, replies) = bot.app.get(&format!("/v1/api/dialogs/{id}/replies"), &bot.key).await;
        let reply = replies["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["platform_message_id"] == wamid.as_str())
            .cloned()
            .expect("the reply is listed");
        assert_eq!(reply["receipt"], "read");
        assert_eq!(reply["status"], "sent");
    }
);

fn choices_scenario() -> Value {
    let buttons = |n: usize, prefix: &str| -> Vec<Value> {
        (1..=n)
            .map(|i| json!({"text": format!("{prefix} {i}"), "value": format!("{prefix}{i}")}))
            .collect()
    };
    json!({"start_step": "two", "steps": {
        "two": {"message": {"text": "Two?"}, "buttons": buttons(2, "yes"), "expected_input": {"type": "button", "variable": "a"}, "next_step": "five"},
        "five": {"message": {"text": "Five?"}, "buttons": buttons(5, "row"), "expected_input": {"type": "button", "variable": "b"}, "next_step": "twelve"},
        "twelve": {"message": {"text": "Twelve?"}, "buttons": buttons(12, "dish"), "expected_input": {"type": "button", "variable": "c"}, "next_step": "done"},
        "done": {"message": {"text": "{{a}} {{b}} {{c}}"}}
    }})
}

both_backends!(
    two_five_and_twelve_buttons_by_button_list_row_and_typed_number,
    |app: TestApp| async move {
        let Some(bot) = WaBot::start(app.backend, choices_scenario()).await else {
            return;
        };
        bot.deliver(&envelope(vec![text("wamid.C1", USER, "/start")], vec![]))
            .await;
        let sent = bot.wait_sent(USER, 1).await;
        let two = &sent[0].body;
        assert_eq!(two["interactive"]["type"], "button");
        assert_eq!(two["interactive"]["action"]["buttons"][1]["reply"]["id"], "yes2");
        bot.deliver(&envelope(vec![button_reply("wamid.C2", USER, "yes2", "yes 2")], vec![]))
            .await;
        let sent = bot.wait_sent(USER, 2).await;
        let five = &sent[1].body;
        assert_eq!(five["interactive"]["type"], "list");
        assert_eq!(five["interactive"]["action"]["sections"][0]["rows"][4]["id"], "row5");
        bot.deliver(&envelope(vec![list_reply("wamid.C3", USER, "row4", "row 4")], vec![]))
            .await;
        let sent = bot.wait_sent(USER, 3).await;
        let twelve = text_of(&sent[2]);
        assert!(
            twelve.starts_with("Twelve?") && twelve.contains("12. dish 12"),
            "{twelve}"
        );
        bot.deliver(&envelope(vec![text("wamid.C4", USER, "11")], vec![])).await;
        let sent = bot.wait_sent(USER, 4).await;
        assert_eq!(text_of(&sent[3]), "yes2 row4 dish11");
    }
);
