//! Every copy of one update gets the first copy's answer: Telegram (or a proxy) may deliver an
//! update again while the first copy is still sending its replies, or long after.

use std::time::Duration;

use serde_json::Value;

use crate::both_backends;
use crate::fake_telegram::Failure;
use crate::helpers::TestApp;
use crate::telegram_support::{TgBot, echo_scenario, text_update};

/// The answer without what says which copy it was.
fn answer(body: &Value) -> Value {
    let mut data = body["data"].clone();
    data.as_object_mut().expect("data").remove("duplicate");
    data
}

both_backends!(
    concurrent_and_later_copies_get_the_original_answer,
    |app: TestApp| async move {
        let Some(bot) = TgBot::start(app.backend, echo_scenario()).await else {
            return;
        };
        // A slow reply keeps the first copy busy while the others arrive.
        bot.tg
            .fail_next("sendMessage", 1, Failure::Slow(Duration::from_millis(300)));
        let update = text_update(1, 61, "hello");
        let copies = (0..5).map(|_| bot.deliver(&update));
        let mut bodies = futures::future::join_all(copies).await;
        for _ in 0..2 {
            bodies.push(bot.deliver(&update).await);
        }
        let first = answer(&bodies[0]);
        assert_eq!(first["response_sent"], true, "{first}");
        for body in &bodies {
            assert_eq!(answer(body), first, "all copies answer alike");
        }
        let originals = bodies.iter().filter(|b| b["data"].get("duplicate").is_none()).count();
        assert_eq!(originals, 1, "one copy ran, the others say duplicate: {bodies:?}");
        assert_eq!(bot.texts_to(61).len(), 1, "replied once");
    }
);
