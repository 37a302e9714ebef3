//! The real binary: zero-config start, kill -9 and restart, SIGTERM, two nodes on PostgreSQL,
//! and the administrative subcommands.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_hookline");

pub struct Node {
    pub child: Child,
    pub addr: String,
    pub admin_key: Option<String>,
    /// What the node printed on stdout up to its startup line.
    pub startup_lines: Vec<String>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

/// Start `hookline serve` on a free port and wait for its startup line.
pub async fn start_node(data_dir: &std::path::Path, envs: &[(&str, &str)]) -> Node {
    start_node_logged(data_dir, envs, None).await
}

/// The same, with the node's log (stderr) written to `log`.
pub async fn start_node_logged(
    data_dir: &std::path::Path,
    envs: &[(&str, &str)],
    log: Option<&std::path::Path>,
) -> Node {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("HOOKLINE_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env("HOOKLINE_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file"),
            ),
            None => Stdio::null(),
        })
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn hookline");
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    let mut admin_key = None;
    let mut startup_lines = Vec::new();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = rx.recv().await.expect("hookline exited before listening");
            startup_lines.push(line.clone());
            if let Some(k) = line.strip_prefix("Admin API key (shown once, store it now): ") {
                admin_key = Some(k.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("hookline listening on http://") {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
    })
    .await
    .expect("startup line within 60 s");
    Node {
        child,
        addr,
        admin_key,
        startup_lines,
        lines: rx,
    }
}

pub fn client() -> reqwest::Client {
    hookline::app::install_tls_provider();
    reqwest::Client::new()
}

#[tokio::test]
async fn zero_config_start_prints_key_and_kill_9_keeps_acknowledged_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path(), &[]).await;
    let key = node.admin_key.clone().expect("a fresh database prints an admin key");
    assert!(key.starts_with("hk_"));
    let http = client();
    let base = format!("http://{}", node.addr);

    let mut ids = Vec::new();
    for i in 0..20 {
        let resp = http
            .post(format!("{base}/v1/api/accounts"))
            .bearer_auth(&key)
            .json(&json!({ "name": format!("n{i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let body: serde_json::Value = resp.json().await.unwrap();
        ids.push(body["data"]["id"].as_str().unwrap().to_string());
    }
    let resp = http
        .post(format!("{base}/v1/api/accounts/{}/keys", ids[0]))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let account_key = resp.json::<serde_json::Value>().await.unwrap()["data"]["key"]
        .as_str()
        .unwrap()
        .to_string();

    node.child.start_kill().unwrap(); // SIGKILL: no chance to flush anything
    node.child.wait().await.unwrap();

    let node = start_node(dir.path(), &[]).await;
    assert!(
        node.admin_key.is_none(),
        "the admin key is printed only on a fresh database"
    );
    let base = format!("http://{}", node.addr);
    for id in &ids {
        let resp = http
            .get(format!("{base}/v1/api/accounts/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "account {id} acknowledged before the kill must survive"
        );
    }
    let resp = http
        .get(format!("{base}/v1/api/accounts/{}", ids[0]))
        .bearer_auth(&account_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the account key survives too");
    assert!(dir.path().join("hookline.db").exists());
    assert!(dir.path().join("master.key").exists());
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_gracefully_with_exit_code_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path(), &[]).await;
    let pid = node.child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), node.child.wait())
        .await
        .expect("exits within 30 s")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    while node.lines.try_recv().is_ok() {}
}

#[tokio::test]
async fn two_nodes_on_one_postgres_database_start_together() {
    let Some(url) = crate::helpers::postgres_url("process::two_nodes_on_one_postgres_database_start_together").await
    else {
        return;
    };
    let key = hookline::secrets::encode_master_key(&[7u8; 32]);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = [
        ("HOOKLINE_DATABASE_URL", url.as_str()),
        ("HOOKLINE_MASTER_KEY", key.as_str()),
    ];
    let (a, b) = tokio::join!(start_node(d1.path(), &env), start_node(d2.path(), &env));
    let keys = [a.admin_key.is_some(), b.admin_key.is_some()];
    assert_eq!(
        keys.iter().filter(|k| **k).count(),
        1,
        "exactly one node issues the first admin key: {keys:?}"
    );
    let admin = a.admin_key.clone().or(b.admin_key.clone()).unwrap();
    let http = client();
    for node in [&a, &b] {
        let resp = http.get(format!("http://{}/ready", node.addr)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    // What one node writes, the other reads.
    let resp = http
        .post(format!("http://{}/v1/api/accounts", a.addr))
        .bearer_auth(&admin)
        .json(&json!({ "name": "shared" }))
        .send()
        .await
        .unwrap();
    let id = resp.json::<serde_json::Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = http
        .get(format!("http://{}/v1/api/accounts/{id}", b.addr))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn postgres_without_master_key_fails_with_a_clear_message() {
    let Some(url) =
        crate::helpers::postgres_url("process::postgres_without_master_key_fails_with_a_clear_message").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("HOOKLINE_DATABASE_URL", &url)
        .env_remove("HOOKLINE_MASTER_KEY")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("master_key"), "{stderr}");
}

fn cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("HOOKLINE_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run hookline")
}

#[tokio::test]
async fn admin_subcommands_create_accounts_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(dir.path(), &["accounts", "create", "Chiho"]);
    assert!(out.status.success());
    let account = String::from_utf8(out.stdout).unwrap().trim().to_string();
    uuid::Uuid::parse_str(&account).expect("prints the account id");

    let out = cli(
        dir.path(),
        &["keys", "create", "--account", &account, "--role", "account"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let key_id = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();

    let node = start_node(dir.path(), &[]).await;
    let http = client();
    let resp = http
        .get(format!("http://{}/v1/api/accounts/{account}", node.addr))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let out = cli(dir.path(), &["keys", "revoke", &key_id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resp = http
        .get(format!("http://{}/v1/api/accounts/{account}", node.addr))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "revoked from the CLI takes effect on the running server"
    );

    let out = cli(
        dir.path(),
        &["keys", "create", "--account", &uuid::Uuid::now_v7().to_string()],
    );
    assert!(!out.status.success(), "unknown account is an error");
    let out = cli(dir.path(), &["accounts", "create", ""]);
    assert!(!out.status.success(), "empty name is an error");
}

#[test]
fn invalid_configuration_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("HOOKLINE_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("listen") && stderr.contains("HOOKLINE_LISTEN"),
        "{stderr}"
    );
}
