//! The pure step function: (scenario, state, input, context, time) → (state, actions).

use serde_json::{Value, json};

use super::flow::{Chain, Run, Target};
use super::guard::{Verdict, fingerprint};
use super::input::{Refusal, validate};
use super::model::{Scenario, Step};
use super::rules::InputType;
use super::template::render;
use super::texts;
use super::types::{
    Action, Button, Context, DialogState, DialogStatus, Input, OutMessage, Outcome, OutcomeKind, RejectReason,
};
use super::value::{number_value, parse_decimal};

/// Runs one input through the scenario. Pure: the same arguments always give the same outcome.
pub fn step(scenario: &Scenario, state: Option<&DialogState>, input: &Input, ctx: &Context, now_ms: i64) -> Outcome {
    // The shell may hand over raw text; commands are recognised here as well.
    let input = match input {
        Input::Text(t) => Input::from_text(t),
        other => other.clone(),
    };
    match &input {
        Input::Command { name, payload } => match name.as_str() {
            "start" => {
                let mut run = new_run(scenario, state, ctx, now_ms);
                let kind = if state.is_some() {
                    OutcomeKind::Restarted
                } else {
                    OutcomeKind::Started
                };
                begin(&mut run, payload.as_deref(), None);
                finish(run, kind)
            }
            "help" => Outcome {
                state: state.cloned(),
                actions: vec![Action::Send(OutMessage::text(texts::HELP))],
                kind: OutcomeKind::Command,
            },
            "reset" => Outcome {
                state: None,
                actions: vec![Action::Send(OutMessage::text(texts::RESET))],
                kind: OutcomeKind::Command,
            },
            // Unknown commands are ordinary text (GET INN recursed forever on them).
            _ => {
                let text = match payload {
                    Some(p) => format!("/{name} {p}"),
                    None => format!("/{name}"),
                };
                user_input(scenario, state, &Input::Text(text), ctx, now_ms)
            }
        },
        Input::AutoTick { token } => auto_tick(scenario, state, *token, ctx, now_ms),
        _ => user_input(scenario, state, &input, ctx, now_ms),
    }
}

fn new_run<'a>(scenario: &'a Scenario, prev: Option<&DialogState>, ctx: &'a Context, now_ms: i64) -> Run<'a> {
    let mut state = DialogState::new(scenario.start_step());
    if let Some(p) = prev {
        // Guard memory and the token counter outlive a restart, so /start is no way around
        // the rate limit and old timer tokens stay stale.
        state.guard = p.guard.clone();
        state.seq = p.seq;
    }
    Run {
        scenario,
        ctx,
        now_ms,
        state,
        actions: Vec::new(),
    }
}

/// Starts the dialog at the start step: optional notice, `dialog.started`, the step itself.
fn begin(run: &mut Run<'_>, payload: Option<&str>, notice: Option<&str>) {
    if let Some(p) = payload {
        run.state
            .data
            .insert("start_payload".into(), Value::String(p.to_string()));
    }
    if let Some(n) = notice {
        run.send(OutMessage::text(n));
    }
    let start = run.state.current_step.clone();
    let mut data = json!({ "step": start });
    if let (Some(p), Some(obj)) = (payload, data.as_object_mut()) {
        obj.insert("start_payload".into(), Value::String(p.to_string()));
    }
    run.emit("dialog.started", data);
    run.settle(Chain::at(&start));
}

fn finish(run: Run<'_>, kind: OutcomeKind) -> Outcome {
    Outcome {
        state: Some(run.state),
        actions: run.actions,
        kind,
    }
}

/// Kind and value of an input, for duplicate detection.
fn describe(input: &Input) -> (&'static str, String) {
    match input {
        Input::Text(t) => ("text", t.clone()),
        Input::Button(v) => ("button", v.clone()),
        Input::Media(m) => (
            "media",
            m.media_id
                .clone()
                .or_else(|| m.file_name.clone())
                .unwrap_or_else(|| m.kind.as_str().to_string()),
        ),
        Input::Location { latitude, longitude } => ("location", format!("{latitude},{longitude}")),
        Input::Contact { phone_number, .. } => ("contact", phone_number.clone()),
        Input::Command { name, .. } => ("command", name.clone()),
        Input::AutoTick { token } => ("tick", token.to_string()),
    }
}

fn user_input(scenario: &Scenario, prev: Option<&DialogState>, input: &Input, ctx: &Context, now_ms: i64) -> Outcome {
    let ack = matches!(input, Input::Button(_)).then_some(Action::AnswerCallback { text: None });
    let Some(prev) = prev else {
        // A new dialog: the first input only opens it and is not interpreted (as GET INN).
        let mut run = new_run(scenario, None, ctx, now_ms);
        run.actions.extend(ack);
        let (kind, value) = describe(input);
        let key = fingerprint(kind, &value, scenario.start_step());
        run.state.guard.check(&key, now_ms, &scenario.limits);
        begin(&mut run, None, None);
        return finish(run, OutcomeKind::Started);
    };
    let mut run = Run {
        scenario,
        ctx,
        now_ms,
        state: prev.clone(),
        actions: Vec::new(),
    };
    run.actions.extend(ack);
    let (kind, value) = describe(input);
    let key = fingerprint(kind, &value, &prev.current_step);
    match run.state.guard.check(&key, now_ms, &scenario.limits) {
        Verdict::Pass => {}
        Verdict::Duplicate => return finish(run, OutcomeKind::Duplicate),
        Verdict::RateLimited => {
            run.send(OutMessage::text(texts::RATE_LIMITED));
            return finish(run, OutcomeKind::RateLimited);
        }
    }
    if run.state.status == DialogStatus::Completed {
        return restart(run, texts::START_AGAIN);
    }
    let Some(step) = scenario.get(&prev.current_step) else {
        return restart(run, texts::SCENARIO_UPDATED);
    };
    // User input interrupts a pending automatic chain.
    run.state.auto = None;
    let value = match accept(&run, step, input) {
        Ok(v) => v,
        Err(refused) => return reject(run, step, refused),
    };
    run.state.guard.remember(key, now_ms);
    if let (Some(v), Some(var)) = (value, step.expected.as_ref().and_then(|e| e.variable.as_ref())) {
        run.state.data.insert(var.clone(), v);
    }
    match run.resolve_next(step) {
        Target::End => {
            run.complete();
            finish(run, OutcomeKind::Completed)
        }
        Target::Go(target) => {
            run.move_to(&target);
            run.settle(Chain::at(&target));
            let kind = match run.state.status {
                DialogStatus::Completed => OutcomeKind::Completed,
                DialogStatus::Active => OutcomeKind::Advanced,
            };
            finish(run, kind)
        }
        Target::Stay => {
            // "Invalid choice, ask again": nothing matched, show the step again.
            let here = run.state.current_step.clone();
            run.settle(Chain::at(&here));
            finish(run, OutcomeKind::Repeated)
        }
    }
}

/// Starts over with a notice, keeping the actions so far (a callback answer).
fn restart(run: Run<'_>, notice: &str) -> Outcome {
    let mut fresh = new_run(run.scenario, Some(&run.state), run.ctx, run.now_ms);
    fresh.actions = run.actions;
    begin(&mut fresh, None, Some(notice));
    finish(fresh, OutcomeKind::Restarted)
}

/// A refused input: the reason, the (untemplated) text, whether to re-attach the step's buttons,
/// and whether it counts as a failed typed-validation attempt (`retries`).
struct Refused {
    reason: RejectReason,
    message: String,
    buttons: bool,
    typed: bool,
}

fn layer(reason: RejectReason, message: String, buttons: bool) -> Refused {
    Refused {
        reason,
        message,
        buttons,
        typed: false,
    }
}

/// The validation layer (GET INN's input rules: length, pattern, choice) and typed validation. `Ok(Some(v))` is the value to store.
fn accept(run: &Run<'_>, step: &Step, input: &Input) -> Result<Option<Value>, Refused> {
    let typed_choice = match input {
        Input::Text(text) if run.scenario.typed_choices && !step.buttons.is_empty() => {
            typed_button(&run.buttons(step), text).map(Input::Button)
        }
        _ => None,
    };
    let input = typed_choice.as_ref().unwrap_or(input);
    let labels = || {
        run.buttons(step)
            .iter()
            .map(|b| b.text.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let typed = |r: Result<Value, Refusal>| {
        r.map(Some).map_err(|(reason, message)| Refused {
            reason,
            message,
            buttons: false,
            typed: true,
        })
    };
    match input {
        Input::Button(v) if !step.buttons.is_empty() => {
            if !step.buttons.iter().any(|b| &b.value == v) {
                return Err(layer(
                    RejectReason::InvalidButton,
                    format!("{}{}", texts::CHOOSE_OPTION, labels()),
                    true,
                ));
            }
            // Offered buttons are trusted; a number step stores the number itself.
            let numeric = step.expected.as_ref().is_some_and(|e| e.kind == InputType::Number);
            Ok(Some(match parse_decimal(v).filter(|_| numeric) {
                Some(n) => number_value(n),
                None => Value::String(v.clone()),
            }))
        }
        _ if !step.buttons.is_empty() => Err(layer(
            RejectReason::WrongInputType,
            format!("{}{}", texts::CLICK_BUTTONS, labels()),
            true,
        )),
        Input::Button(_) => match &step.expected {
            Some(exp) if exp.kind.is_textual() => {
                Err(layer(RejectReason::WrongInputType, texts::TEXT_INSTEAD.into(), false))
            }
            Some(exp) => typed(validate(exp, input)),
            // A step that expects nothing moves on with any input.
            None => Ok(None),
        },
        _ => match &step.expected {
            Some(exp) => typed(validate(exp, input)),
            None => Ok(None),
        },
    }
}

/// The value of the button `text` names: its number in the order shown, or its label (case
/// and surrounding spaces aside).
fn typed_button(buttons: &[Button], text: &str) -> Option<String> {
    let text = text.trim();
    let by_number = text
        .trim_end_matches('.')
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| buttons.get(i));
    by_number
        .or_else(|| {
            buttons
                .iter()
                .find(|b| b.text.trim().to_lowercase() == text.to_lowercase())
        })
        .map(|b| b.value.clone())
}

fn reject(mut run: Run<'_>, step: &Step, refused: Refused) -> Outcome {
    let Refused {
        reason,
        message,
        buttons: with_buttons,
        typed,
    } = refused;
    if typed {
        run.state.retries = run.state.retries.saturating_add(1);
        let exhausted = step.expected.as_ref().and_then(|e| match (e.max_retries, &e.on_fail) {
            (Some(max), Some(fail)) if run.state.retries >= max => Some(fail.clone()),
            _ => None,
        });
        if let Some(fail) = exhausted {
            run.move_to(&fail);
            run.settle(Chain::at(&fail));
            return finish(run, OutcomeKind::Advanced);
        }
    }
    let text = render(&message, &run.text_vars());
    let buttons = if with_buttons { run.buttons(step) } else { Vec::new() };
    run.send(OutMessage {
        text,
        media: Vec::new(),
        buttons,
    });
    finish(run, OutcomeKind::Rejected(reason))
}

fn auto_tick(scenario: &Scenario, prev: Option<&DialogState>, token: u64, ctx: &Context, now_ms: i64) -> Outcome {
    let ignored = |state: Option<DialogState>| Outcome {
        state,
        actions: Vec::new(),
        kind: OutcomeKind::Ignored,
    };
    let Some(prev) = prev else {
        return ignored(None);
    };
    let pending = match &prev.auto {
        Some(p) if p.token == token && prev.status == DialogStatus::Active => p.clone(),
        _ => return ignored(Some(prev.clone())),
    };
    let mut run = Run {
        scenario,
        ctx,
        now_ms,
        state: prev.clone(),
        actions: Vec::new(),
    };
    run.state.auto = None;
    let Some(step) = scenario.get(&prev.current_step) else {
        return restart(run, texts::SCENARIO_UPDATED);
    };
    let mut chain = Chain {
        hops: pending.hops,
        visited: pending.visited,
    };
    match run.resolve_next(step) {
        Target::Go(target) if chain.allows(&target, scenario.limits.max_auto_hops) => {
            chain.push(&target);
            run.move_to(&target);
            run.settle(chain);
            finish(run, OutcomeKind::Advanced)
        }
        _ => ignored(Some(run.state)),
    }
}
