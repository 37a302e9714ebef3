//! The real 40-step onboarding scenario, driven through the WhatsApp webhook as Meta would,
//! checking what the Graph API receives: texts, reply buttons, lists, media messages.

use serde_json::{Value, json};

use crate::both_backends;
use crate::fake_whatsapp::RecordedCall;
use crate::helpers::TestApp;
use crate::scenarios::chiho;
use crate::whatsapp_support::*;

const USER: &str = "79991234567";

fn step_text(step: &str) -> String {
    chiho()["steps"][step]["message"]["text"].as_str().unwrap().to_string()
}

struct Driver {
    bot: WaBot,
    next: u32,
    /// Messages to the user seen so far.
    seen: usize,
}

impl Driver {
    async fn post(&mut self, message: Value) -> Vec<RecordedCall> {
        let answer = self.bot.deliver(&envelope(vec![message], vec![])).await;
        assert_eq!(answer["data"]["messages"][0]["duplicate"], Value::Null, "{answer}");
        // Every input's replies are queued before the answer: once none is pending, all of
        // them went out.
        self.bot.settle().await;
        let sent = self.bot.sent_to(USER);
        assert!(sent.len() > self.seen, "an answer to every input");
        let fresh = sent[self.seen..].to_vec();
        self.seen = sent.len();
        fresh
    }

    fn id(&mut self) -> String {
        self.next += 1;
        format!("wamid.CHIHO{}", self.next)
    }

    async fn text(&mut self, body: &str) -> Vec<RecordedCall> {
        let id = self.id();
        self.post(text(&id, USER, body)).await
    }

    /// Choose `value` on the last message that offered choices, the way WhatsApp sends it.
    async fn choose(&mut self, value: &str) -> Vec<RecordedCall> {
        let offered = self.last_choices();
        let id = self.id();
        match offered["interactive"]["type"].as_str() {
            Some("list") => self.post(list_reply(&id, USER, value, value)).await,
            _ => self.post(button_reply(&id, USER, value, value)).await,
        }
    }

    fn last_choices(&self) -> Value {
        self.bot
            .sent_to(USER)
            .into_iter()
            .rev()
            .find(|c| c.body["type"] == "interactive")
            .map(|c| c.body)
            .expect("a message with choices")
    }

    /// The first choice of the last message that offered choices.
    fn first_choice(&self) -> String {
        let m = self.last_choices();
        let value = match m["interactive"]["type"].as_str() {
            Some("list") => &m["interactive"]["action"]["sections"][0]["rows"][0]["id"],
            _ => &m["interactive"]["action"]["buttons"][0]["reply"]["id"],
        };
        value.as_str().unwrap().to_string()
    }

    fn last_text(&self) -> String {
        text_of(self.bot.sent_to(USER).last().unwrap())
    }
}

both_backends!(chiho_onboarding_over_whatsapp, |app: TestApp| async move {
    let Some(bot) = WaBot::start(app.backend, chiho()).await else {
        return;
    };
    let mut d = Driver { bot, next: 0, seen: 0 };

    d.text("/start").await;
    assert_eq!(d.last_text(), step_text("welcome"));
    d.text("Иван").await;
    assert_eq!(d.last_text(), step_text("ask_lastname"));
    d.text("Петров").await;
    let position = d.last_choices();
    assert_eq!(d.last_text(), step_text("ask_position"));
    assert_eq!(
        position["interactive"]["type"], "list",
        "four choices are a list: {position}"
    );
    // A typed label is taken as the choice on WhatsApp.
    d.text("Повар").await;
    // Fourteen projects: more than a list holds, so a numbered list to type from.
    let projects = d.last_text();
    assert!(projects.starts_with(&step_text("ask_project")), "{projects}");
    assert!(projects.contains("\n1. Пятницкая\n"), "{projects}");
    d.text("1").await;
    assert_eq!(d.last_text(), step_text("ask_first_shift"));
    d.text("tomorrow").await;
    let error = chiho()["steps"]["ask_first_shift"]["expected_input"]["validation"]["error_message"].clone();
    assert_eq!(
        json!(d.last_text()),
        error,
        "typed validation answers with the step's message"
    );
    d.text("10.06 10:00").await;
    assert_eq!(d.last_text(), step_text("ask_citizenship"));
    d.choose("rf").await;
    let confirm = d.last_text();
    assert!(
        confirm.contains("Имя: Иван") && confirm.contains("Фамилия: Петров"),
        "{confirm}"
    );
    assert!(confirm.contains("Должность: Повар"), "mapped: {confirm}");
    d.choose("yes").await;
    assert_eq!(d.last_text(), step_text("first_day_instructions"));

    // Every information step has one button; choose it until the menu.
    let menu_text = step_text("menu");
    for _ in 0..40 {
        if d.last_text() == menu_text {
            break;
        }
        let value = d.first_choice();
        d.choose(&value).await;
    }
    assert_eq!(d.last_text(), menu_text, "reached the menu");

    // Menu → ideology: its text, then each media item as its own message.
    let sent = d.choose("ideology").await;
    let kinds: Vec<&str> = sent.iter().map(|c| c.body["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"document"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "video").count(), 2, "{kinds:?}");
    d.text("назад").await;
    assert_eq!(d.last_text(), menu_text);

    let (_, dialogs) = d
        .bot
        .app
        .get(&format!("/v1/api/bots/{}/dialogs", d.bot.bot_id), &d.bot.key)
        .await;
    let dialog = &dialogs["data"][0];
    assert_eq!(dialog["platform"], "whatsapp");
    assert_eq!(dialog["current_step"], "menu");
    assert_eq!(dialog["collected_data"]["position"], "cook");
});
