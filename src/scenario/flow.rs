//! Moving through steps once an input has been accepted: rendering, action steps, automatic
//! chains, completion. A "chain" is the run of steps entered without user input (auto_next
//! hops and action steps); it is capped by `Limits::max_auto_hops` and never revisits a step.

use serde_json::{Value, json};

use super::model::{Body, Next, Scenario, Step};
use super::template::{Vars, render, render_value};
use super::texts;
use super::types::{Action, Button, Context, DialogState, DialogStatus, MediaItem, OutMessage, PendingAuto};

/// Loop protection for one chain.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    pub hops: u32,
    pub visited: Vec<String>,
}

impl Chain {
    pub fn at(step: &str) -> Chain {
        Chain {
            hops: 0,
            visited: vec![step.to_string()],
        }
    }

    pub fn allows(&self, target: &str, max_hops: u32) -> bool {
        self.hops < max_hops && !self.visited.iter().any(|v| v == target)
    }

    pub fn push(&mut self, target: &str) {
        self.hops += 1;
        self.visited.push(target.to_string());
    }
}

/// The result of following `next_step`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// No `next_step`: the dialog ends here.
    End,
    Go(String),
    /// A conditional `next_step` matched nothing: stay on the step.
    Stay,
}

/// One engine call in progress: the state being built and the actions so far.
pub struct Run<'a> {
    pub scenario: &'a Scenario,
    pub ctx: &'a Context,
    pub now_ms: i64,
    pub state: DialogState,
    pub actions: Vec<Action>,
}

impl Run<'_> {
    pub fn vars(&self) -> Vars<'_> {
        Vars {
            data: &self.state.data,
            ctx: self.ctx,
            mapping: &self.scenario.mapping,
            escape: None,
        }
    }

    /// Vars for a message's text and captions: values escaped for the platform's text format.
    pub fn text_vars(&self) -> Vars<'_> {
        Vars {
            escape: self.scenario.text_escape,
            ..self.vars()
        }
    }

    pub fn send(&mut self, msg: OutMessage) {
        self.actions.push(Action::Send(msg));
    }

    pub fn emit(&mut self, event_type: &str, data: Value) {
        self.actions.push(Action::Emit {
            event_type: event_type.to_string(),
            data,
        });
    }

    /// The step's buttons with templated labels.
    pub fn buttons(&self, step: &Step) -> Vec<Button> {
        let vars = self.vars();
        step.buttons
            .iter()
            .map(|b| Button {
                text: render(&b.text, &vars),
                value: b.value.clone(),
            })
            .collect()
    }

    /// Where `next_step` leads with the current data.
    pub fn resolve_next(&self, step: &Step) -> Target {
        match &step.next {
            Next::End => Target::End,
            Next::Goto(t) => Target::Go(t.clone()),
            Next::Conditional { branches, default } => branches
                .iter()
                .find(|(c, _)| c.eval(&self.state.data, self.ctx))
                .map(|(_, t)| t.clone())
                .or_else(|| default.clone())
                .map_or(Target::Stay, Target::Go),
        }
    }

    pub fn move_to(&mut self, target: &str) {
        let from = std::mem::replace(&mut self.state.current_step, target.to_string());
        self.state.retries = 0;
        self.emit("dialog.step_changed", json!({ "from": from, "to": target }));
    }

    pub fn complete(&mut self) {
        self.state.status = DialogStatus::Completed;
        self.state.auto = None;
        let data = json!({ "step": self.state.current_step, "data": self.state.data });
        self.emit("dialog.completed", data);
    }

    /// Shows the current step and follows action steps and auto transitions as far as the
    /// chain allows. Auto transitions are scheduled, never waited for.
    pub fn settle(&mut self, mut chain: Chain) {
        let scenario = self.scenario;
        let max = scenario.limits.max_auto_hops;
        while let Some(step) = scenario.get(&self.state.current_step) {
            if let Some(msg) = self.render(step) {
                self.send(msg);
            }
            if let Body::Action {
                emit: Some((event, data)),
                ..
            } = &step.body
            {
                let data = render_value(data, &self.vars());
                self.emit(event, data);
            }
            match self.resolve_next(step) {
                Target::End => {
                    // An end step that waits for nothing finishes the dialog right away; one
                    // that asks something finishes once the answer is accepted.
                    if step.is_action() || !step.waits_for_input() {
                        self.complete();
                    }
                    return;
                }
                Target::Stay => return,
                Target::Go(target) if chain.allows(&target, max) => {
                    if step.auto_next {
                        self.schedule(step.auto_delay_ms, chain);
                        return;
                    }
                    if !step.is_action() {
                        return;
                    }
                    chain.push(&target);
                    self.move_to(&target);
                }
                Target::Go(_) => return,
            }
        }
    }

    fn schedule(&mut self, delay_ms: i64, chain: Chain) {
        self.state.seq = self.state.seq.wrapping_add(1);
        let token = mix(self.now_ms as u64 ^ self.state.seq.rotate_left(32));
        self.state.auto = Some(PendingAuto {
            token,
            hops: chain.hops,
            visited: chain.visited,
        });
        self.actions.push(Action::ScheduleAuto {
            at_ms: self.now_ms.saturating_add(delay_ms),
            token,
        });
    }

    /// The message a step shows now, templated; `None` when it has nothing to show.
    pub fn render(&self, step: &Step) -> Option<OutMessage> {
        let spec = match &step.body {
            Body::Message(m) => m.as_ref(),
            Body::Conditional { branches, default } => branches
                .iter()
                .find(|(c, _)| c.eval(&self.state.data, self.ctx))
                .map(|(_, m)| m)
                .or(default.as_ref()),
            Body::Action { message, .. } => message.as_ref(),
        };
        let vars = self.text_vars();
        let mut text = spec.map(|m| render(&m.text, &vars)).unwrap_or_default();
        let media: Vec<MediaItem> = spec
            .map(|m| {
                m.media
                    .iter()
                    .map(|item| MediaItem {
                        kind: item.kind.clone(),
                        file_id: item.file_id.clone(),
                        caption: item.caption.as_ref().map(|c| render(c, &vars)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let buttons = self.buttons(step);
        if text.trim().is_empty() && media.is_empty() {
            if buttons.is_empty() {
                return None;
            }
            text = texts::CHOOSE_PROMPT.to_string();
        }
        Some(OutMessage { text, media, buttons })
    }
}

/// splitmix64 finaliser: spreads the (time, counter) pair over the token space.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
