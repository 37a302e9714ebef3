//! Telegram's outbound limits hold under concurrency: counted where Telegram would count them,
//! at the fake Bot API, in every 1-second window of arrival times.

use std::time::{Duration, Instant};

use crate::fake_telegram::RecordedCall;
use crate::helpers::Backend;
use crate::telegram_support::{TgBot, echo_scenario, text_update};

/// The most calls that arrived within any 1-second window.
fn busiest_second(calls: &[RecordedCall]) -> usize {
    let mut at: Vec<Instant> = calls.iter().map(|c| c.at).collect();
    at.sort();
    (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| t.duration_since(at[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn paced_bot() -> TgBot {
    TgBot::start_with(Backend::Sqlite, echo_scenario(), |c| {
        c.telegram_outbound_rate_limit = true
    })
    .await
    .expect("sqlite app")
}

/// One private chat flooded with updates at once: after the burst of 3, one reply per second,
/// so no second ever sees more than burst + rate = 4 (before: 10 replies in 4 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_private_chat_gets_its_burst_then_one_reply_per_second() {
    let bot = paced_bot().await;
    let n = 8;
    let updates: Vec<_> = (1..=n).map(|i| text_update(i, 41, &format!("message {i}"))).collect();
    let sends = updates.iter().map(|u| bot.send(u));
    for (status, body) in futures::future::join_all(sends).await {
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    }
    let calls = bot
        .tg
        .wait_for("sendMessage", n as usize, Duration::from_secs(30))
        .await;
    let busiest = busiest_second(&calls);
    println!("pacing: private chat replies={} busiest_second={busiest}", calls.len());
    assert!(busiest <= 4, "{busiest} replies in one second to one private chat");
    assert_eq!(bot.texts_to(41).len(), n as usize);
}

/// 90 chats writing at once: the bot's overall budget of 30 per second holds (before: 39).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ninety_chats_at_once_stay_within_the_bots_budget_per_second() {
    let bot = paced_bot().await;
    let updates: Vec<_> = (1..=90).map(|i| text_update(i, 1000 + i, "hello")).collect();
    let sends = updates.iter().map(|u| bot.send(u));
    for (status, body) in futures::future::join_all(sends).await {
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    }
    let calls = bot.tg.wait_for("sendMessage", 90, Duration::from_secs(30)).await;
    let busiest = busiest_second(&calls);
    println!("pacing: 90 chats replies={} busiest_second={busiest}", calls.len());
    assert!(busiest <= 30, "{busiest} sends in one second against a budget of 30");
}
