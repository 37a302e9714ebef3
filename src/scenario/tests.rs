//! Tests of the scenario engine, and helpers shared by them.

mod chat;
mod compile;
mod conditions;
mod engine;
mod golden;
mod hostile;
mod inputs;
mod props;

use serde_json::Value;

use super::{Action, Context, DialogState, Input, OutMessage, Outcome, Scenario, UserInfo, step};

pub const CHIHO: &str = include_str!("../../tests/fixtures/chiho_onboarding.json");

pub fn chiho() -> Scenario {
    let doc: Value = serde_json::from_str(CHIHO).expect("fixture is JSON");
    Scenario::compile(&doc).expect("chiho compiles").0
}

/// Compiles a test scenario, failing loudly with its problems.
pub fn scenario(doc: Value) -> Scenario {
    match Scenario::compile(&doc) {
        Ok((s, _)) => s,
        Err(p) => panic!("{}", super::format_problems(&p)),
    }
}

pub fn ctx() -> Context {
    Context {
        platform: "telegram".into(),
        chat_id: "42".into(),
        user: UserInfo {
            first_name: Some("Анна".into()),
            last_name: None,
            username: Some("anna".into()),
        },
    }
}

/// Drives one chat through the engine, 3 s apart so no input looks like a duplicate or a flood.
pub struct Driver<'a> {
    pub sc: &'a Scenario,
    pub state: Option<DialogState>,
    pub now: i64,
}

impl<'a> Driver<'a> {
    pub fn new(sc: &'a Scenario) -> Self {
        Driver {
            sc,
            state: None,
            now: 1_700_000_000_000,
        }
    }

    pub fn send(&mut self, input: Input) -> Outcome {
        self.now += 3_000;
        self.send_at(input, self.now)
    }

    pub fn send_at(&mut self, input: Input, now: i64) -> Outcome {
        let out = step(self.sc, self.state.as_ref(), &input, &ctx(), now);
        self.state = out.state.clone();
        out
    }

    pub fn text(&mut self, t: &str) -> Outcome {
        self.send(Input::from_text(t))
    }

    pub fn press(&mut self, v: &str) -> Outcome {
        self.send(Input::Button(v.into()))
    }

    pub fn at(&self) -> &str {
        self.state.as_ref().map_or("<none>", |s| s.current_step.as_str())
    }

    pub fn var(&self, name: &str) -> Value {
        self.state
            .as_ref()
            .and_then(|s| s.data.get(name).cloned())
            .unwrap_or(Value::Null)
    }

    /// Fires the pending auto tick, if any.
    pub fn tick(&mut self) -> Option<Outcome> {
        let token = self.state.as_ref()?.auto.as_ref()?.token;
        Some(self.send(Input::AutoTick { token }))
    }
}

pub fn sends(o: &Outcome) -> Vec<&OutMessage> {
    o.actions
        .iter()
        .filter_map(|a| if let Action::Send(m) = a { Some(m) } else { None })
        .collect()
}

pub fn texts(o: &Outcome) -> Vec<String> {
    sends(o).iter().map(|m| m.text.clone()).collect()
}

pub fn events(o: &Outcome) -> Vec<(String, Value)> {
    o.actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit { event_type, data } => Some((event_type.clone(), data.clone())),
            _ => None,
        })
        .collect()
}

pub fn button_values(m: &OutMessage) -> Vec<String> {
    m.buttons.iter().map(|b| b.value.clone()).collect()
}

pub fn scheduled(o: &Outcome) -> Option<(i64, u64)> {
    o.actions.iter().find_map(|a| match a {
        Action::ScheduleAuto { at_ms, token } => Some((*at_ms, *token)),
        _ => None,
    })
}
