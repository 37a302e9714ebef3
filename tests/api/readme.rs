//! The README's examples, run as a newcomer would paste them: every shell block marked
//! `<!-- readme-test -->` runs with bash and curl against the real binary, in order, sharing
//! its variables, and every curl must get a 2xx. The `Next:` line `serve` prints on a fresh
//! database must work when pasted, too.

use std::time::Duration;

use crate::fake_receiver::{Answer, FakeReceiver};
use crate::fake_telegram::FakeTelegram;
use crate::fake_whatsapp::FakeWhatsApp;
use crate::process::start_node;

const MARKER: &str = "<!-- readme-test";
/// Where the README's examples expect hookline.
const README_ADDR: &str = "127.0.0.1:8080";
/// The README's endpoint URL; a loopback fake receiver stands in for it.
const README_ENDPOINT_URL: &str = "https://pos.example.com/hooks";

/// Every curl fails on a 4xx/5xx answer (showing its body), and any failing command stops the
/// script, so a drifting example fails the test with its output.
const PRELUDE: &str = "set -euo pipefail\ncurl() { command curl --fail-with-body --max-time 30 \"$@\"; }\n";

/// The shell blocks that follow a marker line, in order.
fn marked_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if !line.trim_start().starts_with(MARKER) {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(fence.trim(), "```sh", "a readme-test marker must precede a ```sh block");
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(body.join("\n"));
    }
    blocks
}

async fn run_bash(script: &str, envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the README's examples finish within 120 s")
        .expect("run bash")
}

fn assert_ran(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn readme_examples_and_the_serve_hint_work_when_pasted() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = marked_blocks(&readme);
    assert!(
        blocks.len() >= 3,
        "the walkthrough, bot and outbound webhook examples are marked"
    );

    let telegram = FakeTelegram::start().await;
    let whatsapp = FakeWhatsApp::start().await;
    let receiver = FakeReceiver::start(Answer::Status(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let telegram_url = telegram.base_url();
    let whatsapp_url = whatsapp.base_url();
    let node = start_node(
        dir.path(),
        &[
            ("HOOKLINE_TELEGRAM_API_URL", &telegram_url),
            ("HOOKLINE_WHATSAPP_API_URL", &whatsapp_url),
            ("HOOKLINE_PUBLIC_URL", "https://hooks.example.com"),
            ("HOOKLINE_DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ],
    )
    .await;
    let admin = node.admin_key.clone().expect("a fresh database prints an admin key");
    // Meta reaches hooks.example.com; here the node stands in for it.
    whatsapp.route_callbacks_to(&format!("http://{}", node.addr));

    let hint = node
        .startup_lines
        .iter()
        .find_map(|l| l.strip_prefix("Next: "))
        .expect("serve prints a Next: hint with the admin key");
    assert_ran("the Next: hint", &run_bash(hint, &[]).await);

    let script = blocks
        .iter()
        .enumerate()
        .map(|(i, block)| format!("echo '### README block {}'\n{block}\n", i + 1))
        .collect::<String>()
        .replace(README_ADDR, &node.addr)
        .replace(README_ENDPOINT_URL, &receiver.url());
    let out = run_bash(&script, &[("ADMIN", &admin)]).await;
    assert_ran("the README's examples", &out);

    // The examples did what they say: the bot was registered with Telegram, and the published
    // event reached the endpoint.
    assert_eq!(
        telegram.calls_of("setWebhook").len(),
        1,
        "activate registers the webhook"
    );
    let got = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got[0].json()["type"], "order.created");
    // The WhatsApp bot's webhook was set (Meta's handshake answered), and the signed test
    // message was answered through the Graph API.
    assert!(whatsapp.override_url().is_some(), "activate sets the WhatsApp webhook");
    let replies = whatsapp.wait_for("messages", 1, Duration::from_secs(30)).await;
    assert_eq!(replies[0].body["to"], "79991234567");
}
