//! `hookline scenario validate` and `hookline scenario chat`, driven as a user would.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_hookline");
const CHIHO: &str = "tests/fixtures/chiho_onboarding.json";

#[test]
fn validate_accepts_chiho_with_warnings_only() {
    let out = Command::new(BIN)
        .args(["scenario", "validate", CHIHO])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("ok (40 steps, start 'welcome'"), "{stdout}");
    assert!(
        stdout.contains("warning: step 'menu_duties'"),
        "media aliases are warned: {stdout}"
    );
}

#[test]
fn validate_rejects_broken_variants_with_precise_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(CHIHO).unwrap()).unwrap();
    doc["steps"]["ask_lastname"]["next_step"] = "ask_nothing".into();
    doc["steps"]["menu"]["next_step"]["conditions"][1]["if"] = "menu_choice == ".into();
    doc["steps"]["ask_position"]["buttons"][1]["value"] = "food-guide".into();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = Command::new(BIN)
        .args(["scenario", "validate"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("error: step 'ask_lastname' field 'next_step'") && stdout.contains("ask_nothing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("error: step 'menu' field 'next_step.conditions[1].if'"),
        "{stdout}"
    );
    assert!(
        stdout.contains("error: step 'ask_position'") && stdout.contains("food-guide"),
        "{stdout}"
    );
    assert!(stdout.contains("3 error(s)"), "{stdout}");

    let yaml = dir.path().join("bad.yaml");
    std::fs::write(&yaml, "steps: [").unwrap();
    let out = Command::new(BIN)
        .args(["scenario", "validate"])
        .arg(&yaml)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid YAML"));
}

#[test]
fn chat_is_driven_through_a_pipe() {
    let mut child = Command::new(BIN)
        .args(["scenario", "chat", CHIHO])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let script = "Иван\nПетров\nнаписал текст\n2\n:vars\n:quit\n";
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("как тебя зовут?"), "{stdout}");
    assert!(stdout.contains("[2] Повар"), "buttons are numbered: {stdout}");
    assert!(
        stdout.contains("Please click one of these buttons: Фуд-гид, Повар"),
        "{stdout}"
    );
    assert!(
        stdout.contains("На каком проекте"),
        "button 2 advanced to ask_project: {stdout}"
    );
    assert!(
        stdout.contains("\"position\": \"cook\"") || stdout.contains("\"position\":\"cook\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"first_name\": \"Иван\"") || stdout.contains("\"first_name\":\"Иван\""),
        "{stdout}"
    );
}
