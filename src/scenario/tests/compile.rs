//! Document validation: every problem is reported with its step and field.

use serde_json::{Value, json};

use super::super::{Problem, Scenario, Severity, format_problems};
use super::CHIHO;

fn problems(doc: Value) -> Vec<Problem> {
    match Scenario::compile(&doc) {
        Ok((_, w)) => w,
        Err(p) => p,
    }
}

fn has(ps: &[Problem], sev: Severity, step: Option<&str>, field: &str, needle: &str) -> bool {
    ps.iter()
        .any(|p| p.severity == sev && p.step.as_deref() == step && p.field == field && p.message.contains(needle))
}

#[test]
fn chiho_compiles_with_only_warnings() {
    let doc: Value = serde_json::from_str(CHIHO).expect("json");
    let (sc, warnings) = Scenario::compile(&doc).expect("no errors");
    assert_eq!(sc.start_step(), "welcome");
    assert_eq!(sc.step_ids().count(), 40);
    assert!(sc.has_step("menu_ideology"));
    assert!(!sc.has_step("nope"));
    assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
    assert!(has(
        &warnings,
        Severity::Warning,
        Some("documents_list"),
        "id",
        "unreachable"
    ));
    assert!(has(
        &warnings,
        Severity::Warning,
        Some("menu_ideology"),
        "message.media[0].file_id",
        "media alias 'ideology_file' is not checked until media exists"
    ));
    let refs = sc.media_refs();
    assert_eq!(refs.len(), 17);
    assert_eq!(refs.first().map(String::as_str), Some("video_manifest"));
    assert!(refs.contains(&"office_duties".to_string()));
}

#[test]
fn all_errors_are_collected_with_fields() {
    let long = "x".repeat(65);
    let ps = problems(json!({
        "start_step": "nowhere",
        "steps": {
            "a": {"type": "quiz"},
            "b": {"message": {"text": "hi"}, "buttons": [{"text": "1", "value": "v"}, {"text": "2", "value": "v"}, {"text": "3", "value": long}, {"text": "4"}],
                  "next_step": {"type": "conditional", "conditions": [{"if": "x == 'a'", "then": "b"}, {"if": "x = 'b'", "then": "b"}, {"if": "y", "then": "ghost"}], "else": "ghost2"}},
            "c": {"message": {"text": "c"}, "expected_input": {"type": "colour", "variable": "x"}, "next_step": "b"},
            "d": {"message": {"text": "d"}, "expected_input": {"type": "text", "validation": {"pattern": "(", "min_length": -1}}, "next_step": 5},
            "e": {"type": "conditional_message", "conditions": [{"if": "a ==", "message": {"text": "x"}}], "auto_next": "yes", "auto_next_delay": -1},
            "f": {"message": {"text": "f", "media": [{"type": "hologram", "file_id": "x"}, {"type": "image"}]}, "expected_input": {"type": "date", "validation": {"format": "%Q"}}, "next_step": "b"},
            "g": {"type": "action", "action": {"data": {}}, "next_step": "b"},
            "h": "not an object"
        }
    }));
    let e = Severity::Error;
    let checks = [
        (None, "start_step", "'nowhere' does not exist"),
        (Some("a"), "type", "unknown step type"),
        (Some("b"), "buttons[1].value", "duplicate button value 'v'"),
        (Some("b"), "buttons[2].value", "64 bytes"),
        (Some("b"), "buttons[3].value", "non-empty string"),
        (Some("b"), "next_step.conditions[1].if", "syntax error at position 3"),
        (Some("b"), "next_step.conditions[2].then", "'ghost' does not exist"),
        (Some("b"), "next_step.else", "'ghost2' does not exist"),
        (Some("c"), "expected_input.type", "unknown input type 'colour'"),
        (
            Some("d"),
            "expected_input.validation.pattern",
            "invalid regular expression",
        ),
        (
            Some("d"),
            "expected_input.validation.min_length",
            "non-negative integer",
        ),
        (Some("d"), "next_step", "must be a step id"),
        (Some("e"), "conditions[0].if", "syntax error at position 5"),
        (Some("e"), "auto_next", "true or false"),
        (Some("e"), "auto_next_delay", "seconds"),
        (Some("f"), "message.media[0].type", "must be one of"),
        (Some("f"), "message.media[1].file_id", "non-empty"),
        (
            Some("f"),
            "expected_input.validation.format",
            "unsupported directive '%Q'",
        ),
        (Some("g"), "action.emit", "event type"),
        (None, "steps.h", "must be an object"),
    ];
    for (step, field, needle) in checks {
        assert!(
            has(&ps, e, step, field, needle),
            "missing {step:?} {field}: {needle}\n{}",
            format_problems(&ps)
        );
    }
}

#[test]
fn structure_errors() {
    assert!(has(
        &problems(json!({"name": "x"})),
        Severity::Error,
        None,
        "steps",
        "required"
    ));
    assert!(has(
        &problems(json!({"steps": 3})),
        Severity::Error,
        None,
        "steps",
        "must be an object"
    ));
    assert!(has(
        &problems(json!({"steps": {}})),
        Severity::Error,
        None,
        "steps",
        "no steps"
    ));
    assert!(has(&problems(json!([1])), Severity::Error, None, "", "JSON object"));
    let ps = problems(json!({"steps": [{"id": "a", "message": {"text": "x"}}, {"id": "a"}, {"message": {}}]}));
    assert!(has(&ps, Severity::Error, None, "steps[1].id", "duplicate step id 'a'"));
    assert!(has(&ps, Severity::Error, None, "steps[2].id", "needs a string id"));
}

#[test]
fn list_form_and_start_defaults() {
    let (sc, _) = Scenario::compile(&json!({"steps": [
        {"id": "zeta", "message": {"text": "first"}, "next_step": "alpha"},
        {"id": "alpha", "message": {"text": "second"}, "next_step": "zeta"}
    ]}))
    .expect("compiles");
    assert_eq!(sc.start_step(), "zeta");
    assert_eq!(sc.step_ids().collect::<Vec<_>>(), ["zeta", "alpha"]);
    let (sc, _) =
        Scenario::compile(&json!({"steps": {"zeta": {"message": {"text": "1"}}, "a": {"message": {"text": "2"}}}}))
            .expect("compiles");
    assert_eq!(sc.start_step(), "zeta", "document order, not key order");
}

#[test]
fn warnings_do_not_block() {
    let doc = json!({"steps": {
        "a": {"message": {"text": "x"}, "expected_input": {"type": "text", "variable": "v", "validation": {"min_value": 3, "colour": 1}},
              "next_step": {"type": "conditional", "conditions": [{"if": "v == yes", "then": "a"}, {"then": "a"}]}, "extra": 1, "auto_next": true},
        "b": {"message": {"text": "orphan"}}
    }});
    let (_, w) = Scenario::compile(&doc).expect("only warnings");
    assert!(has(
        &w,
        Severity::Warning,
        Some("a"),
        "expected_input.validation.min_value",
        "does not apply"
    ));
    assert!(has(
        &w,
        Severity::Warning,
        Some("a"),
        "expected_input.validation.colour",
        "unknown validation key"
    ));
    assert!(has(
        &w,
        Severity::Warning,
        Some("a"),
        "next_step.conditions[0].if",
        "'yes' at position 6"
    ));
    assert!(has(&w, Severity::Warning, Some("a"), "extra", "unknown step field"));
    assert!(has(&w, Severity::Warning, Some("b"), "id", "unreachable"));
}

#[test]
fn problems_format_one_per_line() {
    let ps = problems(json!({"steps": {"a": {"type": "quiz"}}, "start_step": 1}));
    let text = format_problems(&ps);
    assert!(
        text.lines()
            .any(|l| l.starts_with("error: step 'a' field 'type': unknown step type")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "error: field 'start_step': must be a step id"),
        "{text}"
    );
    let json = serde_json::to_value(&ps[0]).expect("serialises");
    assert_eq!(json["severity"], "error");
}
