//! The real 40-step onboarding scenario, driven through the webhook as Telegram would, checking
//! what Telegram receives: texts, keyboards (two buttons a row), callback answers and removed
//! keyboards.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fake_telegram::RecordedCall;
use crate::helpers::TestApp;
use crate::scenarios::chiho;
use crate::telegram_support::{TgBot, callback_update, text_update};

const CHAT: i64 = 555;

fn step_text(step: &str) -> String {
    chiho()["steps"][step]["message"]["text"].as_str().unwrap().to_string()
}

/// The scenario's buttons of a step as Telegram's inline keyboard: two a row.
fn keyboard_of(step: &str) -> Value {
    let buttons = chiho()["steps"][step]["buttons"].as_array().unwrap().clone();
    let rows: Vec<Value> = buttons
        .chunks(2)
        .map(|row| {
            Value::Array(
                row.iter()
                    .map(|b| json!({ "text": b["text"], "callback_data": b["value"] }))
                    .collect(),
            )
        })
        .collect();
    json!({ "inline_keyboard": rows })
}

struct Driver {
    bot: TgBot,
    next_update: i64,
}

impl Driver {
    async fn text(&mut self, text: &str) -> Value {
        self.next_update += 1;
        let (s, body) = self.bot.send(&text_update(self.next_update, CHAT, text)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body
    }

    async fn press(&mut self, value: &str) -> Value {
        self.next_update += 1;
        let message_id = self.last_keyboard_message_id();
        let (s, body) = self
            .bot
            .send(&callback_update(self.next_update, CHAT, value, message_id))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["event_type"], "callback.received");
        body
    }

    /// The message id Telegram gave the last message that carried a keyboard: its position
    /// among all message-creating calls (the fake numbers messages 1, 2, 3…).
    fn last_keyboard_message_id(&self) -> i64 {
        let calls = self.message_calls();
        let index = calls
            .iter()
            .rposition(|c| !c.params["reply_markup"].is_null())
            .expect("a keyboard was sent");
        index as i64 + 1
    }

    fn message_calls(&self) -> Vec<RecordedCall> {
        self.bot
            .tg
            .calls()
            .into_iter()
            .filter(|c| c.method.starts_with("send") && c.method != "sendChatAction")
            .collect()
    }

    fn last_message(&self) -> RecordedCall {
        self.message_calls().pop().expect("a message was sent")
    }
}

both_backends!(chiho_onboarding_through_the_webhook, |app: TestApp| async move {
    let Some(bot) = TgBot::start(app.backend, chiho()).await else {
        return;
    };
    let mut d = Driver { bot, next_update: 100 };

    let body = d.text("/start").await;
    assert_eq!(body["data"]["event_type"], "command.received");
    assert_eq!(body["data"]["response_sent"], true);
    let welcome = d.last_message();
    assert_eq!(welcome.method, "sendMessage");
    assert_eq!(welcome.params["text"], step_text("welcome"));
    assert!(welcome.params["reply_markup"].is_null());

    d.text("Иван").await;
    assert_eq!(d.last_message().params["text"], step_text("ask_lastname"));
    d.text("Петров").await;
    let position = d.last_message();
    assert_eq!(position.params["text"], step_text("ask_position"));
    assert_eq!(position.params["reply_markup"], keyboard_of("ask_position"));

    // Text where buttons are expected: the correction, with the buttons again.
    d.text("повар").await;
    let correction = d.last_message();
    assert_eq!(
        correction.params["text"],
        "Please click one of these buttons: Фуд-гид, Повар, Менеджер, Я из офиса 🤓"
    );
    assert_eq!(correction.params["reply_markup"], keyboard_of("ask_position"));

    let before = d.bot.tg.calls().len();
    let pressed_on = d.last_keyboard_message_id();
    d.press("cook").await;
    let calls: Vec<RecordedCall> = d.bot.tg.calls()[before..].to_vec();
    assert_eq!(calls[0].method, "answerCallbackQuery", "the spinner stops first");
    assert_eq!(calls[0].params["callback_query_id"], format!("cb{}", d.next_update));
    assert_eq!(
        calls[1].method, "editMessageReplyMarkup",
        "the pressed keyboard is removed"
    );
    assert_eq!(calls[1].params["message_id"], pressed_on);
    assert!(calls[1].params["reply_markup"].is_null());
    assert_eq!(calls[2].params["text"], step_text("ask_project"));
    assert_eq!(calls[2].params["reply_markup"], keyboard_of("ask_project"));

    d.press("pyatnitskaya").await;
    assert_eq!(d.last_message().params["text"], step_text("ask_first_shift"));
    d.text("tomorrow").await;
    let error = chiho()["steps"]["ask_first_shift"]["expected_input"]["validation"]["error_message"].clone();
    assert_eq!(
        d.last_message().params["text"],
        error,
        "typed validation answers with the step's message"
    );
    d.text("10.06 10:00").await;
    assert_eq!(d.last_message().params["text"], step_text("ask_citizenship"));
    d.press("rf").await;
    let confirm = d.last_message().params["text"].as_str().unwrap().to_string();
    assert!(
        confirm.contains("Имя: Иван") && confirm.contains("Фамилия: Петров"),
        "{confirm}"
    );
    assert!(
        confirm.contains("Должность: Повар") && confirm.contains("Проект: Пятницкая"),
        "mapped: {confirm}"
    );
    assert!(
        confirm.contains("Гражданство: РФ") && confirm.contains("10.06 10:00"),
        "{confirm}"
    );
    assert_eq!(d.last_message().params["reply_markup"], keyboard_of("confirm_data"));

    // "no" goes back to the start; then through again quickly (other answers: the same input
    // at the same step within 2 s would be dropped as a double send).
    d.press("no").await;
    assert_eq!(d.last_message().params["text"], step_text("welcome"));
    for answer in ["Пётр", "Иванов"] {
        d.text(answer).await;
    }
    for value in ["manager", "aviapark"] {
        d.press(value).await;
    }
    d.text("11.06 09:30").await;
    d.press("cis").await;
    d.press("yes").await;
    assert_eq!(d.last_message().params["text"], step_text("first_day_instructions"));

    // Every information step has one button; press it until the menu.
    let menu_text = step_text("menu");
    for _ in 0..40 {
        if d.last_message().params["text"] == menu_text {
            break;
        }
        let calls = d.message_calls();
        let with_keyboard = calls
            .iter()
            .rev()
            .find(|c| !c.params["reply_markup"].is_null())
            .expect("a keyboard");
        let value = with_keyboard.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            .as_str()
            .unwrap_or_else(|| panic!("a button to press in {:?}", with_keyboard.params))
            .to_string();
        d.press(&value).await;
    }
    let menu = d.last_message();
    assert_eq!(menu.params["text"], menu_text, "reached the menu");
    assert_eq!(menu.params["reply_markup"], keyboard_of("menu"));

    // Menu → ideology (text, then its media: a document cannot share an album with videos, so
    // it goes alone and the two videos as an album) → any input → back to the menu.
    d.press("ideology").await;
    let calls = d.bot.tg.wait_for("sendMediaGroup", 1, Duration::from_secs(5)).await;
    let album = calls.last().unwrap().params["media"].as_array().unwrap().clone();
    assert_eq!(
        album.iter().map(|m| m["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["video", "video"]
    );
    assert!(
        d.bot
            .tg
            .calls_of("sendDocument")
            .iter()
            .any(|c| c.params["document"] == "ideology_file")
    );
    assert!(d.bot.texts_to(CHAT).iter().any(|t| t == "Идеология ЧиХо"));
    d.text("назад").await;
    assert_eq!(d.last_message().params["text"], menu_text);

    // The dialog's history holds both sides, in order.
    let (_, dialogs) = d
        .bot
        .app
        .get(&format!("/v1/api/bots/{}/dialogs", d.bot.bot_id), &d.bot.key)
        .await;
    let dialog = &dialogs["data"][0];
    assert_eq!(dialog["current_step"], "menu");
    assert_eq!(dialog["collected_data"]["position"], "manager");
    let id = dialog["id"].as_str().unwrap();
    let (_, history) = d
        .bot
        .app
        .get(&format!("/v1/api/dialogs/{id}/history?limit=4"), &d.bot.key)
        .await;
    let kinds: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["user", "bot", "user", "bot"]);
    assert_eq!(history["data"][1]["message_data"]["text"], step_text("welcome"));
});
