//! The data directory and everything hookline writes in it are private to its user, whatever
//! umask it was started with.

use serde_json::json;

use crate::process::{client, start_node};

#[cfg(unix)]
#[tokio::test]
async fn data_dir_and_its_files_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;

    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let node = start_node(&data, &[]).await;
    let key = node.admin_key.clone().unwrap();
    // A write, so the database's -wal and -shm files exist.
    let resp = client()
        .post(format!("http://{}/v1/api/accounts", node.addr))
        .bearer_auth(&key)
        .json(&json!({ "name": "private" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let mut seen = Vec::new();
    let mut todo = vec![data.clone()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{} is {mode:o}", path.display());
            for entry in std::fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        } else {
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        }
        seen.push(path.strip_prefix(&data).unwrap().display().to_string());
    }
    for name in [
        "hookline.db",
        "hookline.db-wal",
        "hookline.db-shm",
        "master.key",
        "media",
    ] {
        assert!(seen.iter().any(|s| s == name), "{name} was checked: {seen:?}");
    }
}
