//! SQLite on a full filesystem: a write that cannot be stored answers 503 `STORAGE_FULL`,
//! never 2xx; publishing recovers by itself once space returns; every acknowledged event is
//! there afterwards and after a restart, and the database passes `PRAGMA integrity_check`.
//!
//! The data folder is a small `tmpfs` holding a ballast file; deleting the ballast is "the
//! operator freed space". Where mounting is not allowed the test prints `SKIPPED (mount)`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const TMPFS_SIZE: &str = "12m";
/// What the operator frees. Room enough that the writes after recovery, and the checkpoint
/// that copies the write-ahead log grown meanwhile into the database file, do not fill the disk
/// again (with 2 MiB that happened once in seven runs of the whole suite).
const BALLAST_BYTES: usize = 4 << 20;
/// A payload big enough to fill the disk in a few hundred publishes.
const PAYLOAD_BYTES: usize = 8 << 10;
/// Publishes tried once the disk is full, each of which must be refused (or truly stored).
const WHILE_FULL: usize = 30;
const AFTER_RECOVERY: usize = 30;
/// The tmpfs fills after about a thousand publishes.
const MAX_PUBLISHES: usize = 3_000;

/// A `tmpfs` mounted for the test, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status();
        matches!(status, Ok(s) if s.success()).then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(self.path())
            .stderr(Stdio::null())
            .status();
        if !matches!(unmounted, Ok(s) if s.success()) {
            // Still busy (a child not yet reaped): detach it now, freed when the last user goes.
            let _ = std::process::Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// `hookline serve` on the data folder, with its address and (on a fresh database) admin key.
struct Node {
    child: Child,
    base: String,
    admin_key: Option<String>,
}

async fn start(data_dir: &Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("HOOKLINE_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env("HOOKLINE_LOG_LEVEL", "error")
        .env("HOOKLINE_RATE_LIMIT_WEBHOOKS", "0")
        .env("HOOKLINE_RATE_LIMIT_BOT_MANAGEMENT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn hookline");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut admin_key = None;
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("hookline exited before listening");
            if let Some(k) = line.strip_prefix("Admin API key (shown once, store it now): ") {
                admin_key = Some(k.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("hookline listening on ") {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
    })
    .await
    .expect("startup line within 60 s");
    // Keep reading stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Node { child, base, admin_key }
}

impl Node {
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// One publish's answer: the event's id when acknowledged, else the status, code and whether
/// a `Retry-After` came with it.
enum Answer {
    Stored(String),
    Refused(u16, String, bool),
}

async fn publish(http: &reqwest::Client, node: &Node, account: &str, key: &str, n: usize) -> Answer {
    let body = json!({
        "event_type": "disk.filled",
        "event_id": format!("e-{n}"),
        "payload": { "n": n, "pad": "x".repeat(PAYLOAD_BYTES) },
    });
    let resp = http
        .post(format!("{}/v1/api/accounts/{account}/webhooks/events", node.base))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key("retry-after");
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Answer::Stored(
            body["data"]["id"]
                .as_str()
                .expect("an acknowledged event has an id")
                .to_string(),
        )
    } else {
        let code = body["error"]["code"].as_str().unwrap_or_default().to_string();
        Answer::Refused(status, code, retry_after)
    }
}

/// How many of the acknowledged events cannot be read back.
async fn missing(http: &reqwest::Client, node: &Node, key: &str, acknowledged: &[String]) -> usize {
    let mut lost = 0;
    for id in acknowledged {
        let resp = http
            .get(format!("{}/v1/api/webhooks/events/{id}", node.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        if resp.status() != 200 {
            if lost == 0 {
                let status = resp.status();
                println!(
                    "faults: disk_full first unreadable event {id}: {status} {}",
                    resp.text().await.unwrap_or_default()
                );
            }
            lost += 1;
        }
    }
    lost
}

async fn integrity_check(db: PathBuf) -> String {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db).read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    let verdict = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    verdict
}

/// An account and its key on the fresh node.
async fn account(http: &reqwest::Client, node: &Node) -> (String, String) {
    let admin = node.admin_key.as_deref().expect("a fresh database prints an admin key");
    let post = |path: String, body: Value| {
        http.post(format!("{}{path}", node.base))
            .bearer_auth(admin)
            .json(&body)
            .send()
    };
    let created: Value = post("/v1/api/accounts".into(), json!({"name": "disk"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = created["data"]["id"].as_str().unwrap().to_string();
    let key: Value = post(format!("/v1/api/accounts/{account}/keys"), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (account, key["data"]["key"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn sqlite_on_a_full_filesystem_refuses_then_recovers_without_losing_acknowledged_events() {
    let Some(tmpfs) = Tmpfs::mount() else {
        let _ = writeln!(std::io::stderr(), "SKIPPED (mount): disk_full needs to mount a tmpfs");
        return;
    };
    let ballast = tmpfs.path().join("ballast");
    std::fs::write(&ballast, vec![1u8; BALLAST_BYTES]).unwrap();
    let data = tmpfs.path().join("data");
    hookline::app::install_tls_provider();
    let http = reqwest::Client::new();
    let node = start(&data).await;
    let (account, key) = account(&http, &node).await;

    // Publish until the disk is full, then go on a little: nothing more may be acknowledged
    // unless it was stored.
    let mut acknowledged = Vec::new();
    let (mut refused, mut n) = (0, 0);
    let started = Instant::now();
    while refused < WHILE_FULL && n < MAX_PUBLISHES {
        match publish(&http, &node, &account, &key, n).await {
            Answer::Stored(id) => acknowledged.push(id),
            Answer::Refused(status, code, retry_after) => {
                assert_eq!(
                    (status, code.as_str()),
                    (503, "STORAGE_FULL"),
                    "a full disk answers 503 STORAGE_FULL"
                );
                assert!(retry_after, "a 503 STORAGE_FULL says when to retry");
                refused += 1;
            }
        }
        n += 1;
    }
    let acknowledged_while_filling = acknowledged.len();
    let lost = missing(&http, &node, &key, &acknowledged).await;
    println!(
        "faults: disk_full while full: acknowledged={acknowledged_while_filling} refused_503={refused} lost={lost}"
    );
    assert_eq!(lost, 0, "acknowledged events lost while the disk is full");
    assert_eq!(refused, WHILE_FULL, "the filesystem never filled up");

    // Space returns: publishing works again without a restart.
    std::fs::remove_file(&ballast).unwrap();
    let freed = Instant::now();
    let deadline = freed + Duration::from_secs(20);
    let mut recovered = 0;
    while recovered < AFTER_RECOVERY {
        match publish(&http, &node, &account, &key, n).await {
            Answer::Stored(id) => {
                acknowledged.push(id);
                recovered += 1;
                n += 1;
            }
            Answer::Refused(status, code, _) => {
                assert!(recovered == 0, "a publish failed after recovery: {status} {code}");
                assert!(
                    Instant::now() < deadline,
                    "publishing did not recover once space was freed: {status} {code}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let recovery_ms = freed.elapsed().as_millis();
    let lost_before_restart = missing(&http, &node, &key, &acknowledged).await;
    node.kill().await;

    let node = start(&data).await;
    let lost_after_restart = missing(&http, &node, &key, &acknowledged).await;
    node.kill().await;
    let verdict = integrity_check(data.join("hookline.db")).await;
    println!(
        "faults: disk_full acknowledged={} (while filling {acknowledged_while_filling}) refused_503={refused} \
         recovered_in_ms={recovery_ms} lost={lost_before_restart} lost_after_restart={lost_after_restart} \
         integrity={verdict} elapsed_ms={}",
        acknowledged.len(),
        started.elapsed().as_millis()
    );
    assert_eq!(lost_before_restart, 0, "acknowledged events lost after recovery");
    assert_eq!(lost_after_restart, 0, "acknowledged events lost after a restart");
    assert_eq!(verdict, "ok");
}
