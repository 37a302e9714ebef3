//! Engine behaviour on small purpose-built scenarios.

use serde_json::{Value, json};

use super::super::texts;
use super::super::{Action, DialogState, DialogStatus, Input, Limits, OutcomeKind, RejectReason, step};
use super::{Driver, button_values, ctx, events, scenario, scheduled, sends, texts};

fn auto_chain() -> Value {
    json!({"steps": {
        "a": {"message": {"text": "A"}, "auto_next": true, "auto_next_delay": 0.1, "next_step": "b"},
        "b": {"message": {"text": "B {{user.first_name}}"}, "auto_next": true, "auto_next_delay": 0, "next_step": "c"},
        "c": {"message": {"text": "C"}, "expected_input": {"type": "text", "variable": "name"}, "next_step": "d"},
        "d": {"message": {"text": "Thank you, {{ name }}!"}}
    }})
}

#[test]
fn auto_transitions_are_scheduled_and_fired_by_ticks() {
    let sc = scenario(auto_chain());
    let mut d = Driver::new(&sc);
    let out = d.text("/start");
    assert_eq!(texts(&out), ["A"]);
    let (at, token) = scheduled(&out).expect("scheduled");
    assert_eq!(at, d.now + 100);
    let stale = d.send(Input::AutoTick { token: token ^ 1 });
    assert_eq!(stale.kind, OutcomeKind::Ignored);
    assert!(stale.actions.is_empty());
    let out = d.send(Input::AutoTick { token });
    assert_eq!(texts(&out), ["B Анна"]);
    let (at, _) = scheduled(&out).expect("zero delay still goes through the timer");
    assert_eq!(at, d.now);
    let out = d.tick().expect("pending");
    assert_eq!(texts(&out), ["C"]);
    assert!(scheduled(&out).is_none());
    assert!(d.state.as_ref().is_some_and(|s| s.auto.is_none()));
    let again = d.send(Input::AutoTick { token });
    assert_eq!(again.kind, OutcomeKind::Ignored, "a used token is stale");
    let out = d.text("Test User");
    assert_eq!(texts(&out), ["Thank you, Test User!"]);
    assert_eq!(out.kind, OutcomeKind::Completed);
}

#[test]
fn user_input_cancels_a_pending_chain() {
    let sc = scenario(auto_chain());
    let mut d = Driver::new(&sc);
    let out = d.text("/start");
    let (_, token) = scheduled(&out).expect("scheduled");
    // `a` waits for nothing, so the input itself moves on to b (which schedules anew).
    let out = d.text("hello");
    assert_eq!(texts(&out), ["B Анна"]);
    let (_, new_token) = scheduled(&out).expect("b schedules");
    assert_ne!(token, new_token);
    assert_eq!(d.send(Input::AutoTick { token }).kind, OutcomeKind::Ignored);
}

#[test]
fn auto_cycles_stop_before_revisiting_a_step() {
    let sc = scenario(json!({"steps": {
        "a": {"message": {"text": "A"}, "auto_next": true, "next_step": "b"},
        "b": {"message": {"text": "B"}, "auto_next": true, "next_step": "a"}
    }}));
    let mut d = Driver::new(&sc);
    d.text("/start");
    let out = d.tick().expect("a→b");
    assert_eq!(texts(&out), ["B"]);
    assert!(scheduled(&out).is_none(), "b→a would revisit a");
    assert!(d.tick().is_none());
    // The user can still move the dialog along by hand.
    let out = d.text("x");
    assert_eq!(texts(&out), ["A"]);
}

#[test]
fn auto_chains_stop_after_the_hop_limit() {
    let mut steps = serde_json::Map::new();
    for i in 0..40 {
        steps.insert(
            format!("s{i}"),
            json!({"message": {"text": format!("{i}")}, "auto_next": true, "next_step": format!("s{}", i + 1)}),
        );
    }
    steps.insert("s40".into(), json!({"message": {"text": "end"}}));
    let sc = scenario(json!({"steps": steps}));
    let mut d = Driver::new(&sc);
    d.text("/start");
    let mut ticks = 0;
    while d.tick().is_some() {
        ticks += 1;
        assert!(ticks <= 100);
    }
    assert_eq!(ticks, Limits::default().max_auto_hops);
    assert_eq!(d.at(), "s25");
}

#[test]
fn action_steps_emit_templated_events_and_move_on() {
    let sc = scenario(json!({"steps": {
        "ask": {"message": {"text": "Что заказать?"}, "expected_input": {"type": "text", "variable": "item"}, "next_step": "order"},
        "order": {"type": "action", "action": {"emit": "order.created", "data": {"item": "{{item}}", "who": "{{user.username}}", "n": 1, "list": ["{{item}}"]}}, "next_step": "thanks"},
        "thanks": {"message": {"text": "Заказ: {{item}}"}, "buttons": [{"text": "Ещё", "value": "more"}], "next_step": "ask"}
    }}));
    let mut d = Driver::new(&sc);
    d.text("hi");
    let out = d.text("чай");
    assert_eq!(d.at(), "thanks");
    let ev = events(&out);
    let names: Vec<&str> = ev.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["dialog.step_changed", "order.created", "dialog.step_changed"]);
    assert_eq!(ev[1].1, json!({"item": "чай", "who": "anna", "n": 1, "list": ["чай"]}));
    assert_eq!(texts(&out), ["Заказ: чай"]);
}

#[test]
fn a_step_without_next_completes_and_the_next_input_restarts() {
    let sc = scenario(json!({"start_step": "hello", "steps": {
        "hello": {"message": {"text": "Привет, {{user.first_name}}"}, "buttons": [{"text": "Дальше", "value": "go"}], "next_step": "bye"},
        "bye": {"message": {"text": "Пока"}}
    }}));
    let mut d = Driver::new(&sc);
    d.text("hi");
    let out = d.press("go");
    assert_eq!(out.kind, OutcomeKind::Completed);
    assert_eq!(texts(&out), ["Пока"]);
    assert_eq!(d.state.as_ref().map(|s| s.status), Some(DialogStatus::Completed));
    assert!(
        events(&out)
            .iter()
            .any(|(e, data)| e == "dialog.completed" && data["step"] == "bye" && data["data"] == json!({}))
    );
    let out = d.text("ещё раз");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert_eq!(texts(&out), [texts::START_AGAIN, "Привет, Анна"]);
    assert_eq!(d.state.as_ref().map(|s| s.status), Some(DialogStatus::Active));
}

#[test]
fn an_end_step_with_a_question_completes_after_the_answer() {
    let sc = scenario(json!({"steps": {
        "rate": {"message": {"text": "Оценка?"}, "expected_input": {"type": "number", "variable": "score", "validation": {"min_value": 1, "max_value": 5}}}
    }}));
    let mut d = Driver::new(&sc);
    d.text("hi");
    assert_eq!(d.state.as_ref().map(|s| s.status), Some(DialogStatus::Active));
    assert_eq!(d.text("7").kind, OutcomeKind::Rejected(RejectReason::Invalid));
    let out = d.text("4");
    assert_eq!(out.kind, OutcomeKind::Completed);
    assert!(
        events(&out)
            .iter()
            .any(|(e, data)| e == "dialog.completed" && data["data"] == json!({"score": 4}))
    );
}

#[test]
fn a_vanished_step_restarts_with_a_notice() {
    let sc = super::chiho();
    let mut d = Driver::new(&sc);
    let mut st = DialogState::new("removed_in_v2");
    st.data.insert("first_name".into(), json!("Иван"));
    d.state = Some(st);
    let out = d.text("hello");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    let t = texts(&out);
    assert_eq!(t[0], texts::SCENARIO_UPDATED);
    assert!(t[1].starts_with("Нихао"));
    assert_eq!(d.at(), "welcome");
    assert!(d.state.as_ref().is_some_and(|s| s.data.is_empty()));
}

#[test]
fn start_payload_is_stored_and_templated() {
    let sc = scenario(json!({"steps": {
        "welcome": {"message": {"text": "Код: {{start_payload}}, {{ platform }}/{{chat.id}}, {{nothing}}!"}, "next_step": "welcome"}
    }}));
    let mut d = Driver::new(&sc);
    let out = d.text("/start@HooklineBot promo-42");
    assert_eq!(texts(&out), ["Код: promo-42, telegram/42, !"]);
    assert_eq!(d.var("start_payload"), json!("promo-42"));
    assert_eq!(
        events(&out)[0].1,
        json!({"step": "welcome", "start_payload": "promo-42"})
    );
}

#[test]
fn commands_are_parsed_from_text() {
    assert_eq!(
        Input::from_text("/start"),
        Input::Command {
            name: "start".into(),
            payload: None
        }
    );
    assert_eq!(
        Input::from_text("/START@MyBot  abc def "),
        Input::Command {
            name: "start".into(),
            payload: Some("abc def".into())
        }
    );
    assert_eq!(Input::from_text("/ hi"), Input::Text("/ hi".into()));
    assert_eq!(Input::from_text("/"), Input::Text("/".into()));
    assert_eq!(Input::from_text("hi /start"), Input::Text("hi /start".into()));
}

#[test]
fn unknown_commands_are_text() {
    let sc = scenario(json!({"steps": {
        "ask": {"message": {"text": "?"}, "expected_input": {"type": "text", "variable": "said"}, "next_step": "ask"}
    }}));
    let mut d = Driver::new(&sc);
    d.text("hi");
    let out = d.text("/foo bar");
    assert_eq!(out.kind, OutcomeKind::Advanced);
    assert_eq!(d.var("said"), json!("/foo bar"));
    let out = d.send(Input::Command {
        name: "weird".into(),
        payload: None,
    });
    assert_eq!(out.kind, OutcomeKind::Advanced);
    assert_eq!(d.var("said"), json!("/weird"));
}

fn menu() -> Value {
    json!({"steps": {
        "menu": {"message": {"text": "Выбор"}, "buttons": [{"text": "A", "value": "a"}, {"text": "B", "value": "b"}],
                 "expected_input": {"type": "button", "variable": "choice"},
                 "next_step": {"type": "conditional", "conditions": [{"if": "choice == 'a'", "then": "a"}]}},
        "a": {"message": {"text": "Это A"}, "next_step": "menu"}
    }})
}

#[test]
fn a_conditional_next_without_match_repeats_the_step() {
    let sc = scenario(menu());
    let mut d = Driver::new(&sc);
    d.text("hi");
    let out = d.press("b");
    assert_eq!(out.kind, OutcomeKind::Repeated);
    assert_eq!(d.at(), "menu");
    assert_eq!(d.var("choice"), json!("b"));
    assert_eq!(texts(&out), ["Выбор"]);
    let out = d.press("a");
    assert_eq!(texts(&out), ["Это A"]);
}

#[test]
fn duplicates_are_dropped_but_callbacks_answered() {
    let sc = scenario(menu());
    let mut d = Driver::new(&sc);
    d.text("hi");
    let t = d.now + 3_000;
    assert_eq!(d.send_at(Input::Button("b".into()), t).kind, OutcomeKind::Repeated);
    let dup = d.send_at(Input::Button("b".into()), t + 1_500);
    assert_eq!(dup.kind, OutcomeKind::Duplicate);
    assert_eq!(dup.actions, vec![Action::AnswerCallback { text: None }]);
    let later = d.send_at(Input::Button("b".into()), t + 3_600);
    assert_eq!(later.kind, OutcomeKind::Repeated, "outside the 2 s window");
}

#[test]
fn floods_are_rate_limited_per_rolling_minute() {
    let sc = scenario(json!({"steps": {"echo": {"message": {"text": "ok"}, "next_step": "echo"}}}));
    let mut d = Driver::new(&sc);
    let t0 = d.now;
    for i in 0..30 {
        let out = d.send_at(Input::Text(format!("m{i}")), t0 + i * 100);
        assert_ne!(out.kind, OutcomeKind::RateLimited, "input {i}");
    }
    let out = d.send_at(Input::Text("m30".into()), t0 + 3_100);
    assert_eq!(out.kind, OutcomeKind::RateLimited);
    assert_eq!(texts(&out), [texts::RATE_LIMITED]);
    let out = d.send_at(Input::Text("later".into()), t0 + 70_000);
    assert_eq!(out.kind, OutcomeKind::Advanced);
}

#[test]
fn retries_lead_to_on_fail() {
    let sc = scenario(json!({"steps": {
        "age": {"message": {"text": "Возраст?"}, "expected_input": {"type": "number", "variable": "age", "max_retries": 2, "on_fail": "human",
                "validation": {"error_message": "Число, {{user.first_name}}"}}, "next_step": "done"},
        "human": {"message": {"text": "Позову человека"}, "next_step": "age"},
        "done": {"message": {"text": "ok"}, "next_step": "age"}
    }}));
    let mut d = Driver::new(&sc);
    d.text("hi");
    let out = d.text("много");
    assert_eq!(texts(&out), ["Число, Анна"]);
    assert_eq!(d.state.as_ref().map(|s| s.retries), Some(1));
    let out = d.text("очень много");
    assert_eq!(out.kind, OutcomeKind::Advanced);
    assert_eq!(texts(&out), ["Позову человека"]);
    assert_eq!(d.state.as_ref().map(|s| s.retries), Some(0));
}

#[test]
fn buttons_without_expected_input_are_checked_and_not_stored() {
    let sc = scenario(json!({"steps": {
        "s": {"message": {"text": "Go?"}, "response": {"buttons": [{"text": "Да", "value": "yes"}]}, "next_step": "t"},
        "t": {"message": {"text": "T"}, "next_step": "s"}
    }}));
    let mut d = Driver::new(&sc);
    let out = d.text("hi");
    assert_eq!(
        button_values(sends(&out)[0]),
        ["yes"],
        "legacy response.buttons are shown"
    );
    let out = d.press("no");
    assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::InvalidButton));
    let out = d.press("yes");
    assert_eq!(out.kind, OutcomeKind::Advanced);
    assert!(d.state.as_ref().is_some_and(|s| s.data.is_empty()));
    // A stale button at a step that expects nothing still moves on.
    d.press("whatever");
    assert_eq!(d.at(), "s");
}

#[test]
fn text_at_a_file_step_says_what_is_expected() {
    let sc = scenario(json!({"steps": {
        "doc": {"message": {"text": "Скан паспорта"}, "expected_input": {"type": "file", "variable": "passport"}, "next_step": "doc"}
    }}));
    let mut d = Driver::new(&sc);
    d.text("hi");
    let out = d.text("потом");
    assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::WrongInputType));
    assert_eq!(texts(&out), ["Please send a file."]);
    let out = d.press("x");
    assert_eq!(texts(&out), ["Please send a file."]);
}

#[test]
fn conditional_messages_fall_back_to_the_default_entry() {
    let sc = scenario(json!({"steps": {
        "s": {"type": "conditional_message", "conditions": [
            {"if": "n > 10", "message": {"text": "big {{n}}"}},
            {"message": {"text": "small {{n}}"}}
        ], "expected_input": {"type": "number", "variable": "n"}, "next_step": "s"}
    }}));
    let mut d = Driver::new(&sc);
    assert_eq!(texts(&d.text("hi")), ["small "]);
    assert_eq!(texts(&d.text("12")), ["big 12"]);
    assert_eq!(texts(&d.text("2.50")), ["small 2.5"]);
}

#[test]
fn state_round_trips_through_json_and_old_states_load() {
    let sc = scenario(auto_chain());
    let mut d = Driver::new(&sc);
    d.text("/start");
    let st = d.state.clone().expect("state");
    let json = serde_json::to_string(&st).expect("serialises");
    let back: DialogState = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, st);
    let old: DialogState = serde_json::from_value(json!({"current_step": "a"})).expect("defaults");
    assert_eq!(old.status, DialogStatus::Active);
    let v = serde_json::to_value(&st).expect("value");
    assert_eq!(v["status"], "active");
}

#[test]
fn the_engine_is_deterministic() {
    let sc = super::chiho();
    let inputs = ["/start", "Иван", "Петров", "cook", "hi"];
    let run = || {
        let mut state = None;
        let mut all = Vec::new();
        for (i, t) in inputs.iter().enumerate() {
            let input = if *t == "cook" {
                Input::Button("cook".into())
            } else {
                Input::from_text(t)
            };
            let out = step(&sc, state.as_ref(), &input, &ctx(), 1_000 + i as i64 * 5_000);
            state = out.state.clone();
            all.push((out.actions, out.kind));
        }
        (all, state)
    };
    assert_eq!(run(), run());
}

#[test]
fn number_buttons_store_numbers() {
    let sc = scenario(json!({"steps": {
        "rate": {"message": {"text": "1-2?"}, "buttons": [{"text": "один", "value": "1"}, {"text": "два", "value": "2"}],
                 "expected_input": {"type": "number", "variable": "r"}, "next_step": {"type": "conditional", "conditions": [{"if": "r >= 2", "then": "hi"}], "else": "rate"}},
        "hi": {"message": {"text": "{{r}}"}, "next_step": "rate"}
    }}));
    let mut d = Driver::new(&sc);
    d.text("x");
    assert_eq!(texts(&d.press("2")), ["2"]);
    assert_eq!(d.var("r"), json!(2));
    assert_eq!(d.at(), "hi");
    d.text("x");
    d.press("1");
    assert_eq!(d.at(), "rate", "top-level else");
}

#[test]
fn every_input_kind_serializes_and_round_trips() {
    use crate::scenario::{Input, MediaInput, MediaKind};
    let inputs = [
        Input::Text("hi".into()),
        Input::Button("yes".into()),
        Input::Command {
            name: "start".into(),
            payload: Some("ref".into()),
        },
        Input::Media(MediaInput {
            kind: MediaKind::Photo,
            media_id: None,
            file_name: None,
            content_type: None,
            size: Some(1),
            caption: None,
            download_limit_kb: None,
        }),
        Input::Location {
            latitude: 55.7,
            longitude: 37.6,
        },
        Input::Contact {
            phone_number: "+7".into(),
            first_name: None,
            user_id: None,
        },
        Input::AutoTick { token: 7 },
    ];
    for input in inputs {
        let json = serde_json::to_value(&input).expect("serializes");
        assert_eq!(serde_json::from_value::<Input>(json).unwrap(), input);
    }
}

fn many_buttons() -> Value {
    json!({"steps": {
        "pick": {"message": {"text": "Which?"}, "buttons": (1..=12).map(|i| json!({"text": format!("Dish {i}"), "value": format!("d{i}")})).collect::<Vec<_>>(),
                 "expected_input": {"type": "button", "variable": "dish"}, "next_step": "done"},
        "done": {"message": {"text": "You chose {{dish}}"}}
    }})
}

#[test]
fn typed_choices_take_a_number_or_a_label_where_the_platform_allows_them() {
    let sc = scenario(many_buttons()).with_typed_choices(true);
    let mut d = Driver::new(&sc);
    d.text("/start");
    let out = d.text(" 12. ");
    assert_eq!(texts(&out), ["You chose d12"]);
    let mut d = Driver::new(&sc);
    d.text("/start");
    assert_eq!(
        texts(&d.text("dish 3")),
        ["You chose d3"],
        "labels match whatever the case"
    );
    let mut d = Driver::new(&sc);
    d.text("/start");
    for wrong in ["0", "13", "Dish", "-1"] {
        let out = d.text(wrong);
        assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::WrongInputType), "{wrong}");
        assert_eq!(d.at(), "pick");
    }
    assert_eq!(texts(&d.press("d5")), ["You chose d5"], "buttons still work");
}

#[test]
fn without_typed_choices_a_typed_number_is_refused() {
    let sc = scenario(many_buttons());
    let mut d = Driver::new(&sc);
    d.text("/start");
    let out = d.text("12");
    assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::WrongInputType));
    assert_eq!(d.at(), "pick");
}
