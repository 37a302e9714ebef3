//! The compiled form of a scenario document. Everything here is already checked: step targets
//! exist, conditions are parsed, regexes are compiled. The engine never re-reads the JSON.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::condition::Condition;
use super::guard::Limits;
use super::rules::ExpectedInput;
use super::types::Button;

/// A usable scenario; build it with [`Scenario::compile`](Scenario::compile).
#[derive(Clone, Debug)]
pub struct Scenario {
    pub(crate) steps: Vec<Step>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) start: String,
    pub(crate) mapping: Map<String, Value>,
    pub(crate) limits: Limits,
    /// Applied to values interpolated into message texts and captions; the platform sets it
    /// for its text format (the scenario's own markup is never escaped).
    pub(crate) text_escape: Option<TextEscape>,
    /// A step's buttons may also be chosen by typing their number (1-based, in the order
    /// shown) or their label: set for platforms that show long choices as a numbered list.
    pub(crate) typed_choices: bool,
}

/// Escapes a value for the format a platform reads message texts in.
pub type TextEscape = fn(&str) -> String;

/// A media item of a message, before templating.
#[derive(Clone, Debug)]
pub struct MediaSpec {
    pub kind: String,
    pub file_id: String,
    pub caption: Option<String>,
}

/// A message of a step, before templating.
#[derive(Clone, Debug, Default)]
pub struct MessageSpec {
    pub text: String,
    pub media: Vec<MediaSpec>,
}

/// What a step shows.
#[derive(Clone, Debug)]
pub enum Body {
    Message(Option<MessageSpec>),
    /// The first branch whose condition holds wins; else `default` (an entry without `if`,
    /// or the step-level `message`).
    Conditional {
        branches: Vec<(Condition, MessageSpec)>,
        default: Option<MessageSpec>,
    },
    /// Emits an event (data templated) and moves on at once; may also show a message.
    Action {
        emit: Option<(String, Value)>,
        message: Option<MessageSpec>,
    },
}

/// Where a step goes after accepted input.
#[derive(Clone, Debug)]
pub enum Next {
    /// No `next_step`: the dialog ends at this step.
    End,
    Goto(String),
    Conditional {
        branches: Vec<(Condition, String)>,
        default: Option<String>,
    },
}

#[derive(Clone, Debug)]
pub struct Step {
    pub id: String,
    pub body: Body,
    /// The step's `buttons`, else the legacy `response.buttons`: shown and expected.
    pub buttons: Vec<Button>,
    pub expected: Option<ExpectedInput>,
    pub next: Next,
    pub auto_next: bool,
    pub auto_delay_ms: i64,
}

impl Step {
    /// True when the step waits for something specific; a step that waits for nothing and has no
    /// `next_step` finishes the dialog as soon as it is shown.
    pub fn waits_for_input(&self) -> bool {
        self.expected.is_some() || !self.buttons.is_empty()
    }

    pub fn is_action(&self) -> bool {
        matches!(self.body, Body::Action { .. })
    }

    /// Every step id this step can lead to.
    pub fn targets(&self) -> Vec<&str> {
        let mut out = Vec::new();
        match &self.next {
            Next::End => {}
            Next::Goto(t) => out.push(t.as_str()),
            Next::Conditional { branches, default } => {
                out.extend(branches.iter().map(|(_, t)| t.as_str()));
                out.extend(default.as_deref());
            }
        }
        if let Some(fail) = self.expected.as_ref().and_then(|e| e.on_fail.as_deref()) {
            out.push(fail);
        }
        out
    }

    /// Every message the step may show.
    pub fn messages(&self) -> Vec<&MessageSpec> {
        match &self.body {
            Body::Message(m) => m.iter().collect(),
            Body::Conditional { branches, default } => branches.iter().map(|(_, m)| m).chain(default.iter()).collect(),
            Body::Action { message, .. } => message.iter().collect(),
        }
    }
}

impl Scenario {
    /// The id of the first step of a dialog.
    pub fn start_step(&self) -> &str {
        &self.start
    }

    pub fn has_step(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Step ids in document order.
    pub fn step_ids(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|s| s.id.as_str())
    }

    /// Every media `file_id` (alias) the scenario can send, once each, in document order.
    pub fn media_refs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for step in &self.steps {
            for msg in step.messages() {
                for m in &msg.media {
                    if !out.contains(&m.file_id) {
                        out.push(m.file_id.clone());
                    }
                }
            }
        }
        out
    }

    /// Escape values interpolated into texts and captions with `escape` (default: none).
    pub fn with_text_escape(mut self, escape: TextEscape) -> Scenario {
        self.text_escape = Some(escape);
        self
    }

    /// Accept a button's number or label typed as text (default: buttons only).
    pub fn with_typed_choices(mut self, typed: bool) -> Scenario {
        self.typed_choices = typed;
        self
    }

    /// Replaces the guard and auto-chain limits (defaults: [`Limits::default`]).
    pub fn with_limits(mut self, limits: Limits) -> Scenario {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Step> {
        self.index.get(id).and_then(|&i| self.steps.get(i))
    }
}
