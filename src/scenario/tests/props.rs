//! Property tests: arbitrary valid scenarios and arbitrary input sequences never panic, auto
//! chains always end, and the state always names an existing step.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::super::condition::Condition;
use super::super::template::{Vars, render};
use super::super::{DialogState, Input, MediaInput, MediaKind, Scenario, step};
use super::ctx;

const CONDITIONS: &[&str] = &[
    "v0 == 'b0'",
    "v1 > 3",
    "v2 exists",
    "not v0 == 'hi' and v1 <= 10",
    "v0 in ['b1', 'b2'] or v2 contains 'a'",
    "true",
];
const TYPES: &[&str] = &["text", "number", "button", "location", "file", "date", "phone"];

fn step_strategy(n: usize) -> impl Strategy<Value = Value> {
    (
        0..3usize,
        0..4usize,
        prop::option::of((0..TYPES.len(), 0..3usize)),
        prop_oneof![
            Just(None),
            (0..n).prop_map(|t| Some(json!(format!("s{t}")))),
            (
                prop::collection::vec((0..CONDITIONS.len(), 0..n), 1..3),
                prop::option::of(0..n)
            )
                .prop_map(|(cs, e)| {
                    let conditions: Vec<Value> = cs
                        .iter()
                        .map(|(c, t)| json!({"if": CONDITIONS[*c], "then": format!("s{t}")}))
                        .collect();
                    let mut next = json!({"type": "conditional", "conditions": conditions});
                    if let (Some(e), Some(obj)) = (e, next.as_object_mut()) {
                        obj.insert("else".into(), json!(format!("s{e}")));
                    }
                    Some(next)
                })
        ],
        any::<bool>(),
        prop_oneof![Just(0.0), Just(0.5)],
    )
        .prop_map(|(kind, buttons, expected, next, auto, delay)| {
            let mut s = Map::new();
            s.insert("type".into(), json!(["message", "conditional_message", "action"][kind]));
            s.insert("message".into(), json!({"text": "msg {{v0}} {{ v1 }}"}));
            if kind == 1 {
                s.insert(
                    "conditions".into(),
                    json!([{"if": "v1 > 3", "message": {"text": "big"}}, {"message": {"text": "default"}}]),
                );
            }
            if kind == 2 {
                s.insert("action".into(), json!({"emit": "thing.done", "data": {"v": "{{v0}}"}}));
            }
            if buttons > 0 {
                let b: Vec<Value> = (0..buttons)
                    .map(|i| json!({"text": format!("B{i}"), "value": format!("b{i}")}))
                    .collect();
                s.insert("buttons".into(), Value::Array(b));
            }
            if let Some((t, var)) = expected {
                s.insert(
                    "expected_input".into(),
                    json!({"type": TYPES[t], "variable": format!("v{var}")}),
                );
            }
            if let Some(next) = next {
                s.insert("next_step".into(), next);
            }
            s.insert("auto_next".into(), json!(auto));
            s.insert("auto_next_delay".into(), json!(delay));
            Value::Object(s)
        })
}

fn scenario_strategy() -> impl Strategy<Value = Value> {
    (1..6usize).prop_flat_map(|n| {
        prop::collection::vec(step_strategy(n), n).prop_map(|steps| {
            let map: Map<String, Value> = steps
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("s{i}"), s))
                .collect();
            json!({"version": "1.0", "steps": map})
        })
    })
}

fn input_strategy() -> impl Strategy<Value = (Input, i64)> {
    let input = prop_oneof![
        prop::sample::select(vec![
            "hi",
            "5",
            "abc",
            "10.06 10:00",
            "2024-01-02",
            "+7 916 123 45 67",
            "/start x",
            "/help",
            "/reset",
            "/foo",
            ""
        ])
        .prop_map(Input::from_text),
        (0..4usize).prop_map(|i| Input::Button(format!("b{i}"))),
        Just(Input::Location {
            latitude: 1.0,
            longitude: 2.0
        }),
        Just(Input::Media(MediaInput {
            kind: MediaKind::Photo,
            media_id: Some("m".into()),
            file_name: None,
            content_type: None,
            size: Some(5),
            caption: None,
            download_limit_kb: None
        })),
        Just(Input::Contact {
            phone_number: "89161234567".into(),
            first_name: None,
            user_id: None
        }),
        any::<u64>().prop_map(|token| Input::AutoTick { token }),
    ];
    (input, 0..5_000i64)
}

fn drive(sc: &Scenario, inputs: &[(Input, i64)]) -> Result<(), TestCaseError> {
    let mut state: Option<DialogState> = None;
    let mut now = 1_000_000i64;
    for (input, dt) in inputs {
        now += dt;
        let out = step(sc, state.as_ref(), input, &ctx(), now);
        state = out.state;
        if let Some(s) = &state {
            prop_assert!(sc.has_step(&s.current_step), "unknown step {}", s.current_step);
        }
        // Drive the automatic chain to its end.
        let mut ticks = 0;
        while let Some(token) = state.as_ref().and_then(|s| s.auto.as_ref()).map(|a| a.token) {
            ticks += 1;
            prop_assert!(
                ticks <= sc.limits().max_auto_hops as usize + 1,
                "auto chain did not end"
            );
            let out = step(sc, state.as_ref(), &Input::AutoTick { token }, &ctx(), now);
            state = out.state;
            if let Some(s) = &state {
                prop_assert!(sc.has_step(&s.current_step));
            }
        }
        if let Some(s) = &state {
            let json = serde_json::to_string(s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: DialogState = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, s);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_scenarios_and_inputs_are_safe(doc in scenario_strategy(), inputs in prop::collection::vec(input_strategy(), 1..25)) {
        let sc = match Scenario::compile(&doc) {
            Ok((sc, _)) => sc,
            Err(p) => return Err(TestCaseError::fail(super::super::format_problems(&p))),
        };
        drive(&sc, &inputs)?;
    }

    #[test]
    fn chiho_survives_arbitrary_inputs(inputs in prop::collection::vec(input_strategy(), 1..40)) {
        drive(&super::chiho(), &inputs)?;
    }

    #[test]
    fn condition_parsing_never_panics(src in ".{0,60}") {
        if let Ok(c) = Condition::parse(&src) {
            let _ = c.eval(&Map::new(), &ctx());
        }
    }

    #[test]
    fn condition_like_input_never_panics(src in "[a-z0-9'\" ()\\[\\],.=!<>-]{0,40}") {
        if let Ok(c) = Condition::parse(&src) {
            let data: Map<String, Value> = [("a".to_string(), json!("x")), ("b".to_string(), json!(3))].into_iter().collect();
            let _ = c.eval(&data, &ctx());
        }
    }

    #[test]
    fn templates_never_panic_and_keep_plain_text(text in ".{0,80}") {
        let data: Map<String, Value> = [("a".to_string(), json!(1.0))].into_iter().collect();
        let mapping = Map::new();
        let out = render(&text, &Vars { data: &data, ctx: &ctx(), mapping: &mapping, escape: None });
        if !text.contains("{{") {
            prop_assert_eq!(out, text);
        }
    }

    #[test]
    fn from_text_never_panics(text in ".{0,40}") {
        if let Input::Command { name, .. } = Input::from_text(&text) {
            prop_assert!(!name.is_empty());
        }
    }
}
