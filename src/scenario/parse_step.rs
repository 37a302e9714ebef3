//! Compiles one step object of a scenario document into a [`Step`], reporting every problem.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::condition::Condition;
use super::limits::{MAX_BRANCHES, MAX_MEDIA_PER_MESSAGE};
use super::model::{Body, MessageSpec, Next, Step};
use super::parts::{self, check_text, media_item};
use super::problem::Sink;
use super::rules;

/// Seconds; GET INN's default pause before an automatic transition.
const DEFAULT_AUTO_DELAY_S: f64 = 1.5;
const MAX_AUTO_DELAY_S: f64 = 30.0 * 24.0 * 3600.0;

const KNOWN_KEYS: &[&str] = &[
    "id",
    "type",
    "message",
    "conditions",
    "buttons",
    "response",
    "expected_input",
    "next_step",
    "auto_next",
    "auto_next_delay",
    "action",
    "name",
    "description",
    "comment",
    "metadata",
];

/// A bare word on the right of a comparison, kept for a warning once all variables are known.
pub struct BareWord {
    pub step: String,
    pub field: String,
    pub word: String,
    pub pos: usize,
}

pub struct StepCompiler<'a> {
    pub ids: &'a HashSet<String>,
    pub bare_words: Vec<BareWord>,
}

impl StepCompiler<'_> {
    pub fn compile(&mut self, id: &str, obj: &Map<String, Value>, sink: &mut Sink<'_>) -> Option<Step> {
        for key in obj.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                sink.warn(key.clone(), "unknown step field; ignored");
            }
        }
        let kind = match obj.get("type") {
            None | Some(Value::Null) => "message",
            Some(Value::String(s)) if matches!(s.as_str(), "message" | "conditional_message" | "action") => s.as_str(),
            Some(other) => {
                sink.error(
                    "type",
                    format!("unknown step type {other} (expected message, conditional_message or action)"),
                );
                return None;
            }
        };
        let message = obj.get("message").and_then(|m| self.message(m, "message", sink));
        let buttons = parts::buttons(obj, sink);
        let body = match kind {
            "conditional_message" => self.conditional(id, obj, message, sink),
            "action" => Body::Action {
                emit: self.action(obj.get("action"), sink),
                message,
            },
            _ => {
                if message.is_none() && buttons.is_empty() {
                    sink.warn("message", "the step shows nothing");
                }
                Body::Message(message)
            }
        };
        let expected = obj
            .get("expected_input")
            .filter(|v| !v.is_null())
            .and_then(|v| rules::compile(v, !buttons.is_empty(), sink));
        if let Some(target) = expected.as_ref().and_then(|e| e.on_fail.as_deref()) {
            self.check_target(target, "expected_input.on_fail", sink);
        }
        let next = self.next(id, obj.get("next_step"), sink);
        let auto_next = match obj.get("auto_next") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                sink.error("auto_next", "must be true or false");
                false
            }
        };
        let delay = match obj.get("auto_next_delay") {
            None | Some(Value::Null) => DEFAULT_AUTO_DELAY_S,
            Some(v) => match v.as_f64() {
                Some(s) if (0.0..=MAX_AUTO_DELAY_S).contains(&s) => s,
                _ => {
                    sink.error("auto_next_delay", "must be a number of seconds between 0 and 30 days");
                    DEFAULT_AUTO_DELAY_S
                }
            },
        };
        if auto_next && matches!(next, Next::End) {
            sink.warn("auto_next", "has no effect without next_step");
        }
        if kind == "action" && expected.is_some() {
            sink.warn(
                "expected_input",
                "an action step moves on at once; its expected_input is never used",
            );
        }
        Some(Step {
            id: id.to_string(),
            body,
            buttons,
            expected,
            next,
            auto_next,
            auto_delay_ms: (delay * 1000.0).round() as i64,
        })
    }

    fn message(&mut self, v: &Value, field: &str, sink: &mut Sink<'_>) -> Option<MessageSpec> {
        if v.is_null() {
            return None;
        }
        let Some(obj) = v.as_object() else {
            sink.error(field, "must be an object with text and/or media");
            return None;
        };
        let text = match obj.get("text") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => {
                check_text(s, &format!("{field}.text"), sink);
                s.clone()
            }
            Some(_) => {
                sink.error(format!("{field}.text"), "must be a string");
                String::new()
            }
        };
        let mut media = Vec::new();
        match obj.get("media") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if items.len() > MAX_MEDIA_PER_MESSAGE => sink.error(
                format!("{field}.media"),
                format!("has {} items; the limit is {MAX_MEDIA_PER_MESSAGE}", items.len()),
            ),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(m) = media_item(item, &format!("{field}.media[{i}]"), sink) {
                        media.push(m);
                    }
                }
            }
            Some(_) => sink.error(format!("{field}.media"), "must be a list"),
        }
        Some(MessageSpec { text, media })
    }

    fn conditional(
        &mut self,
        id: &str,
        obj: &Map<String, Value>,
        fallback: Option<MessageSpec>,
        sink: &mut Sink<'_>,
    ) -> Body {
        let mut branches = Vec::new();
        let mut default = None;
        match obj.get("conditions").and_then(Value::as_array) {
            Some(items) if items.len() > MAX_BRANCHES => sink.error(
                "conditions",
                format!("has {} entries; the limit is {MAX_BRANCHES}", items.len()),
            ),
            Some(items) if !items.is_empty() => {
                for (i, entry) in items.iter().enumerate() {
                    let f = format!("conditions[{i}]");
                    let msg = match entry.get("message") {
                        Some(m) => self.message(m, &format!("{f}.message"), sink),
                        None => {
                            sink.error(format!("{f}.message"), "is required");
                            None
                        }
                    };
                    match entry.get("if").filter(|v| !v.is_null()) {
                        None => {
                            if default.is_some() {
                                sink.warn(f.clone(), "a second entry without 'if'; only the first is the default");
                            } else {
                                default = Some(msg.unwrap_or_default());
                            }
                        }
                        Some(cond) => {
                            if let (Some(c), Some(m)) = (self.condition(id, cond, &format!("{f}.if"), sink), msg) {
                                branches.push((c, m));
                            }
                        }
                    }
                }
            }
            _ => sink.error(
                "conditions",
                "a conditional_message needs a non-empty list of {if, message}",
            ),
        }
        Body::Conditional {
            branches,
            default: default.or(fallback),
        }
    }

    fn action(&mut self, v: Option<&Value>, sink: &mut Sink<'_>) -> Option<(String, Value)> {
        let v = v.filter(|v| !v.is_null())?;
        let Some(obj) = v.as_object() else {
            sink.error(
                "action",
                "must be an object like {\"emit\": \"order.created\", \"data\": {...}}",
            );
            return None;
        };
        let emit = match obj.get("emit") {
            Some(Value::String(s)) if !s.is_empty() && !s.contains(char::is_whitespace) => s.clone(),
            _ => {
                sink.error("action.emit", "must be an event type such as \"order.created\"");
                return None;
            }
        };
        if emit.starts_with("dialog.") {
            sink.warn("action.emit", "dialog.* events are emitted by the engine itself");
        }
        Some((
            emit,
            obj.get("data").cloned().unwrap_or_else(|| Value::Object(Map::new())),
        ))
    }

    fn condition(&mut self, step: &str, v: &Value, field: &str, sink: &mut Sink<'_>) -> Option<Condition> {
        let Some(src) = v.as_str() else {
            sink.error(field, "must be a condition string");
            return None;
        };
        match Condition::parse(src) {
            Ok(c) => {
                for (word, pos) in &c.rhs_vars {
                    self.bare_words.push(BareWord {
                        step: step.to_string(),
                        field: field.to_string(),
                        word: word.clone(),
                        pos: *pos,
                    });
                }
                Some(c)
            }
            Err(e) => {
                sink.error(field, format!("syntax error at position {}: {}", e.pos, e.message));
                None
            }
        }
    }

    fn check_target(&self, target: &str, field: &str, sink: &mut Sink<'_>) -> bool {
        let ok = self.ids.contains(target);
        if !ok {
            sink.error(field, format!("step '{target}' does not exist"));
        }
        ok
    }

    fn target(&self, v: Option<&Value>, field: &str, sink: &mut Sink<'_>) -> Option<String> {
        match v {
            Some(Value::String(s)) => self.check_target(s, field, sink).then(|| s.clone()),
            _ => {
                sink.error(field, "must be a step id");
                None
            }
        }
    }

    fn next(&mut self, id: &str, v: Option<&Value>, sink: &mut Sink<'_>) -> Next {
        let obj = match v {
            None | Some(Value::Null) => return Next::End,
            Some(Value::String(_)) => {
                return self.target(v, "next_step", sink).map_or(Next::End, Next::Goto);
            }
            Some(Value::Object(obj)) => obj,
            Some(_) => {
                sink.error(
                    "next_step",
                    "must be a step id or {type: \"conditional\", conditions, else}",
                );
                return Next::End;
            }
        };
        if let Some(t) = obj.get("type").filter(|t| t.as_str() != Some("conditional")) {
            sink.error(
                "next_step.type",
                format!("unknown next_step type {t} (expected \"conditional\")"),
            );
        }
        let mut branches = Vec::new();
        let mut list_default = None;
        match obj.get("conditions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if items.len() > MAX_BRANCHES => sink.error(
                "next_step.conditions",
                format!("has {} entries; the limit is {MAX_BRANCHES}", items.len()),
            ),
            Some(Value::Array(items)) => {
                for (i, entry) in items.iter().enumerate() {
                    let f = format!("next_step.conditions[{i}]");
                    let Some(e) = entry.as_object() else {
                        sink.error(f, "must be an object {if, then}");
                        continue;
                    };
                    let cond = e.get("if").filter(|v| !v.is_null());
                    let then = e.get("then").or(e.get("else")).filter(|v| !v.is_null());
                    match (cond, then) {
                        (Some(c), Some(_)) => {
                            let c = self.condition(id, c, &format!("{f}.if"), sink);
                            let key = if e.contains_key("then") { "then" } else { "else" };
                            let t = self.target(then, &format!("{f}.{key}"), sink);
                            if let (Some(c), Some(t)) = (c, t) {
                                branches.push((c, t));
                            }
                        }
                        (Some(_), None) => sink.error(format!("{f}.then"), "is required with 'if'"),
                        (None, Some(_)) => {
                            let key = if e.contains_key("then") { "then" } else { "else" };
                            let t = self.target(then, &format!("{f}.{key}"), sink);
                            if list_default.is_some() {
                                sink.warn(f, "a second default entry; only the first is used");
                            } else {
                                list_default = t;
                            }
                        }
                        (None, None) => sink.error(f, "needs 'if' and 'then', or a default 'then'/'else'"),
                    }
                }
            }
            Some(_) => sink.error("next_step.conditions", "must be a list"),
        }
        let top_else = match obj.get("else").filter(|v| !v.is_null()) {
            Some(v) => self.target(Some(v), "next_step.else", sink),
            None => None,
        };
        if list_default.is_some() && top_else.is_some() {
            sink.warn(
                "next_step.else",
                "both a default entry and a top-level else; the default entry wins",
            );
        }
        let default = list_default.or(top_else);
        let has_entries = obj
            .get("conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty());
        if !has_entries && default.is_none() {
            sink.error(
                "next_step.conditions",
                "a conditional next_step needs at least one condition or an else",
            );
        }
        Next::Conditional { branches, default }
    }
}
