//! Buttons of old keyboards: a press on the chat's current keyboard moves the dialog; a press
//! on an older one (the dialog moved on, or the same keyboard pressed twice) is answered so the
//! spinner stops, recorded as `callback.stale`, and does not move the dialog.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::telegram_support::{TgBot, callback_update, text_update};

const CHAT: i64 = 71;

fn two_menus() -> Value {
    json!({
        "version": "1.0",
        "start_step": "size",
        "steps": {
            "size": { "message": { "text": "Size?" },
                "buttons": [{ "text": "Small", "value": "s" }, { "text": "Large", "value": "l" }],
                "expected_input": { "type": "button", "variable": "size" }, "next_step": "drink" },
            "drink": { "message": { "text": "Drink?" },
                "buttons": [{ "text": "Tea", "value": "tea" }, { "text": "Small coffee", "value": "s" }],
                "expected_input": { "type": "button", "variable": "drink" }, "next_step": "done" },
            "done": { "message": { "text": "{{size}} {{drink}}" } }
        }
    })
}

/// The message id the fake gave the `n`th (1-based) message it was sent, once hookline has
/// recorded it as sent (as it has by the time a user could see it and press a button).
async fn nth_message_id(bot: &TgBot, n: usize) -> i64 {
    bot.tg.wait_for("sendMessage", n, Duration::from_secs(10)).await;
    let bot_id = bot.bot_id.parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let newest = bot
            .app
            .state
            .store
            .newest_keyboard(bot_id, "telegram", &CHAT.to_string())
            .await
            .unwrap();
        if newest.is_some_and(|(_, response)| response.is_some_and(|r| r.contains(&format!("[{n}]")))) {
            return n as i64;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "message {n} never recorded as sent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

both_backends!(
    a_press_on_an_old_keyboard_does_not_move_the_dialog,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, two_menus()).await else {
            return;
        };
        bot.deliver(&text_update(1, CHAT, "/start")).await;
        let sizes = nth_message_id(&bot, 1).await;
        // The current keyboard: the dialog moves on to the drinks.
        let body = bot.deliver(&callback_update(2, CHAT, "s", sizes)).await;
        assert_eq!(body["data"]["event_type"], "callback.received", "{body}");
        let drinks = nth_message_id(&bot, 2).await;
        assert_eq!(bot.texts_to(CHAT), ["Size?", "Drink?"]);
        // The sizes keyboard again ("s" is also a valid drink): answered, recorded, ignored.
        let body = bot.deliver(&callback_update(3, CHAT, "s", sizes)).await;
        assert_eq!(body["data"]["event_type"], "callback.stale", "{body}");
        let answered = bot.tg.wait_for("answerCallbackQuery", 2, Duration::from_secs(10)).await;
        assert!(
            answered.iter().any(|c| c.params["callback_query_id"] == "cb3"),
            "the spinner stops"
        );
        assert!(bot.event_types().await.contains(&"callback.stale".to_string()));
        // The drinks keyboard still works, and the dialog ends as the current keyboard says.
        let body = bot.deliver(&callback_update(4, CHAT, "tea", drinks)).await;
        assert_eq!(body["data"]["event_type"], "callback.received", "{body}");
        bot.tg.wait_for("sendMessage", 3, Duration::from_secs(10)).await;
        assert_eq!(bot.texts_to(CHAT), ["Size?", "Drink?", "s tea"]);
    }
);
