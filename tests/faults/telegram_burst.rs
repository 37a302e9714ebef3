//! A Telegram burst killed mid-run: many chats send updates the way Telegram does (one chat's
//! updates one after another, chats in parallel, an update without a 2xx delivered again until it
//! gets one), hookline is killed with SIGKILL mid-burst and restarted on the same store. Every
//! acknowledged update is answered at the fake Bot API, one chat's replies keep their order, each
//! update is processed once (one `message.received` event per update), and replies sent twice
//! are counted.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_telegram::FakeTelegram;
use crate::support::{
    Backend, FAST_NODE, NodeSpec, Receiver, client, create_account, fresh_postgres, post_ok, wait_until,
};

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const CHATS: i64 = 24;
const PER_CHAT: i64 = 15;
const KILL_AFTER: usize = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_burst_killed_mid_run_sqlite_answers_every_update_in_order() {
    telegram_burst_killed_mid_run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_burst_killed_mid_run_postgres_answers_every_update_in_order() {
    if let Some(backend) = fresh_postgres("faults::telegram_burst::postgres").await {
        telegram_burst_killed_mid_run(backend).await;
    }
}

/// What the senders saw.
#[derive(Default)]
struct Sent {
    /// Updates answered 2xx.
    acknowledged: usize,
    /// Of those, answered `duplicate: true` (processed before, its first answer lost in the kill).
    answered_as_duplicate: usize,
    /// Deliveries that got no 2xx and were delivered again.
    redeliveries: usize,
}

async fn telegram_burst_killed_mid_run(backend: Backend) {
    let tg = FakeTelegram::start().await;
    let api = tg.base_url();
    let mut env = FAST_NODE.to_vec();
    env.extend([
        ("HOOKLINE_TELEGRAM_API_URL", api.as_str()),
        ("HOOKLINE_PUBLIC_URL", "https://hooks.example.com"),
        ("HOOKLINE_TELEGRAM_OUTBOUND_RATE_LIMIT", "false"),
        ("HOOKLINE_DIALOG_INPUTS_PER_MINUTE", "100000"),
    ]);
    let root = tempfile::tempdir().unwrap();
    let spec = NodeSpec::new(root.path(), "node", &backend, &env);
    let node = spec.start().await;
    let admin = node.admin_key.clone().expect("a fresh store prints the admin key");
    let http = client();
    let bot = echo_bot(&http, &node.base, &admin).await;
    let events = Receiver::start(Duration::ZERO).await;
    let endpoint = json!({ "url": events.url, "event_types": ["message.received"] });
    post_ok(
        &http,
        &format!("{}/v1/api/accounts/{}/webhooks/endpoints", node.base, bot.account),
        &admin,
        endpoint,
        201,
    )
    .await;
    let bot = bot.id;
    let secret = tg.webhook()["secret_token"]
        .as_str()
        .expect("setWebhook secret")
        .to_string();

    // Where Telegram delivers: the node's current address (a restart takes a new port).
    let target = Arc::new(Mutex::new(format!("{}/v1/api/webhooks/telegram/{bot}", node.base)));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let chats = start_chats(&http, &target, &sent, &secret);
    let acked = || sent.lock().unwrap().acknowledged;
    wait_until(
        Duration::from_secs(60),
        || acked() >= KILL_AFTER,
        || format!("{} acknowledged", acked()),
    )
    .await;
    node.kill_9().await;
    let acknowledged_before_kill = acked();
    let node = spec.start().await;
    *target.lock().unwrap() = format!("{}/v1/api/webhooks/telegram/{bot}", node.base);
    tokio::time::timeout(Duration::from_secs(90), async {
        for chat in chats {
            chat.await.expect("sender");
        }
    })
    .await
    .expect("every update acknowledged within 90 s of the restart");

    let want = (CHATS * PER_CHAT) as usize;
    let answered = || {
        replies(&tg)
            .iter()
            .map(|r| r.iter().collect::<HashSet<_>>().len())
            .sum::<usize>()
    };
    wait_until(
        Duration::from_secs(60),
        || answered() >= want,
        || format!("{} of {want} acknowledged updates were answered", answered()),
    )
    .await;

    let per_chat = replies(&tg);
    let total: usize = per_chat.iter().map(Vec::len).sum();
    for (chat, got) in per_chat.iter().enumerate() {
        let mut kept = got.clone();
        kept.dedup();
        let expected: Vec<i64> = (0..PER_CHAT).collect();
        assert_eq!(kept, expected, "chat {chat}: replies out of order or missing: {got:?}");
    }
    assert_processed_once(&events, want).await;

    let s = std::mem::take(&mut *sent.lock().unwrap());
    println!(
        "faults: telegram_burst backend={} acknowledged={} acknowledged_before_kill={acknowledged_before_kill} \
         redeliveries={} answered_as_duplicate={} answered={want} lost=0 processed_twice=0 order_kept=true duplicate_replies={}",
        backend.name(),
        s.acknowledged,
        s.redeliveries,
        s.answered_as_duplicate,
        total - want,
    );
    node.kill_9().await;
}

/// One sender per chat, as Telegram delivers: a chat's updates one after another, each delivered
/// again until it gets a 2xx, to whatever address `target` holds at the time.
fn start_chats(
    http: &reqwest::Client,
    target: &Arc<Mutex<String>>,
    sent: &Arc<Mutex<Sent>>,
    secret: &str,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CHATS)
        .map(|chat| {
            let (http, target, sent, secret) = (http.clone(), target.clone(), sent.clone(), secret.to_string());
            tokio::spawn(async move {
                for k in 0..PER_CHAT {
                    let update = text_update(chat * 1_000 + k + 1, 1_000 + chat, &format!("m{k}"));
                    loop {
                        let url = target.lock().unwrap().clone();
                        let req = http
                            .post(url)
                            .header("X-Telegram-Bot-Api-Secret-Token", &secret)
                            .json(&update);
                        let answer = match req.send().await {
                            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                            _ => None,
                        };
                        if record(&sent, answer) {
                            break;
                        }
                        // Telegram waits before delivering again; so does this sender.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect()
}

/// Each update gives exactly one `message.received` event: an update run through the scenario
/// twice would publish two (two `webhook-id`s) for one update_id, while a redelivered event keeps
/// its `webhook-id`.
async fn assert_processed_once(events: &Receiver, want: usize) {
    let processed = || {
        let mut ids: HashMap<i64, HashSet<String>> = HashMap::new();
        for d in events.deliveries() {
            let update = d.data["update_id"].as_i64().expect("update_id in message.received");
            ids.entry(update).or_default().insert(d.webhook_id);
        }
        ids
    };
    let what = || format!("message.received for {} of {want} updates", processed().len());
    wait_until(Duration::from_secs(60), || processed().len() >= want, what).await;
    let twice: Vec<_> = processed().into_iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "updates processed more than once: {twice:?}");
}

/// Count one delivery's outcome; true when it was acknowledged.
fn record(sent: &Mutex<Sent>, answer: Option<Value>) -> bool {
    let mut s = sent.lock().unwrap();
    let Some(answer) = answer else {
        s.redeliveries += 1;
        return false;
    };
    s.acknowledged += 1;
    s.answered_as_duplicate += usize::from(answer["data"]["duplicate"] == true);
    true
}

/// For each chat, the `k` of the update each reply answers, in the order the fake Bot API got them.
fn replies(tg: &FakeTelegram) -> Vec<Vec<i64>> {
    let mut per_chat = vec![Vec::new(); CHATS as usize];
    for call in tg.calls_of("sendMessage") {
        let chat = call.params["chat_id"]
            .as_i64()
            .or_else(|| call.params["chat_id"].as_str().and_then(|s| s.parse().ok()))
            .expect("chat_id");
        let text = call.params["text"].as_str().unwrap_or_default();
        // A chat's first update starts the dialog: the step's message goes out before any input
        // was read. Every later update "m{k}" is echoed.
        let k = match text.strip_prefix("got ") {
            Some("") => Some(0),
            Some(rest) => rest.strip_prefix('m').and_then(|k| k.parse().ok()).filter(|k| *k > 0),
            None => None,
        };
        per_chat[(chat - 1_000) as usize].push(k.unwrap_or_else(|| panic!("unexpected reply {text:?}")));
    }
    per_chat
}

/// A bot with a Telegram credential and an echo scenario, activated (its webhook registered at
/// the fake Bot API).
async fn echo_bot(http: &reqwest::Client, base: &str, admin: &str) -> Bot {
    let account = create_account(http, base, admin, "faults").await;
    let bot = post_ok(
        http,
        &format!("{base}/v1/api/accounts/{account}/bots"),
        admin,
        json!({ "name": "B" }),
        201,
    )
    .await;
    let bot = bot["id"].as_str().expect("bot id").to_string();
    let credential = json!({ "platform": "telegram", "credentials": { "token": TOKEN } });
    post_ok(
        http,
        &format!("{base}/v1/api/bots/{bot}/platforms"),
        admin,
        credential,
        201,
    )
    .await;
    let scenario = json!({
        "version": "1.0",
        "start_step": "echo",
        "steps": { "echo": {
            "message": { "text": "got {{last}}" },
            "expected_input": { "type": "text", "variable": "last" },
            "next_step": "echo"
        } }
    });
    let body = json!({ "name": "S", "scenario_data": scenario });
    post_ok(http, &format!("{base}/v1/api/bots/{bot}/scenarios"), admin, body, 201).await;
    post_ok(
        http,
        &format!("{base}/v1/api/bots/{bot}/activate"),
        admin,
        json!({}),
        200,
    )
    .await;
    Bot { account, id: bot }
}

struct Bot {
    account: String,
    id: String,
}

fn text_update(update_id: i64, chat: i64, text: &str) -> Value {
    let from = json!({ "id": chat, "is_bot": false, "first_name": "Ivan" });
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000, "text": text,
            "from": from, "chat": { "id": chat, "type": "private", "first_name": "Ivan" }
        }
    })
}
