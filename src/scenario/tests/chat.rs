//! The terminal simulator, driven through in-memory pipes.

use super::super::run_chat;
use super::chiho;

fn chat(script: &str) -> String {
    let sc = chiho();
    let mut out = Vec::new();
    let mut t = 0;
    run_chat(&sc, script.as_bytes(), &mut out, || {
        t += 5_000;
        t
    })
    .expect("in-memory io");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn registration_through_the_simulator() {
    let out = chat("Иван\nПетров\nповар\n2\n7\ntomorrow\n10.06 10:00\n1\n:vars\n1\n:quit\nnever read\n");
    assert!(out.starts_with("Scenario chat."));
    assert!(out.contains("Нихао 你好"));
    assert!(out.contains("Please click one of these buttons: Фуд-гид, Повар"));
    assert!(out.contains("  [2] Повар\n"));
    assert!(out.contains("Пожалуйста, введи дату и время"));
    assert!(out.contains("💼 Должность: Повар"));
    assert!(out.contains("🏢 Проект: Авиапарк"));
    assert!(out.contains("\"position\": \"cook\""));
    assert!(out.contains("~ dialog.step_changed {\"from\":\"confirm_data\",\"to\":\"first_day_instructions\"}"));
    assert!(!out.contains("never read"));
    assert_eq!(
        out,
        chat("Иван\nПетров\nповар\n2\n7\ntomorrow\n10.06 10:00\n1\n:vars\n1\n:quit\nnever read\n"),
        "deterministic"
    );
}

#[test]
fn reset_then_eof_ends_cleanly() {
    let out = chat("/reset\n/start\n:vars\n");
    assert!(out.contains("Conversation has been reset."));
    assert!(out.trim_end().ends_with('}'));
}

#[test]
fn auto_transitions_run_at_once() {
    let doc = serde_json::json!({"steps": {
        "a": {"message": {"text": "A"}, "auto_next": true, "auto_next_delay": 3600, "next_step": "b"},
        "b": {"message": {"text": "B"}, "auto_next": true, "next_step": "c"},
        "c": {"message": {"text": "C"}}
    }});
    let sc = super::scenario(doc);
    let mut out = Vec::new();
    run_chat(&sc, &b""[..], &mut out, || 0).expect("io");
    let out = String::from_utf8(out).expect("utf-8");
    let a = out.find("A\n").expect("A");
    let b = out.find("B\n").expect("B");
    let c = out.find("C\n").expect("C");
    assert!(a < b && b < c, "{out}");
    assert!(out.contains("~ dialog.completed"));
}
