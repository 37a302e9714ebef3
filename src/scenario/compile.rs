//! `Scenario::compile`: a scenario document (GET INN format "1.0") becomes a [`Scenario`] plus
//! warnings, or the complete list of problems. Nothing stops at the first error.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::guard::Limits;
use super::limits::{MAX_STEP_ID_CHARS, MAX_STEPS};
use super::model::{Scenario, Step};
use super::parse_step::StepCompiler;
use super::problem::{Problem, Severity, Sink};
use super::shape;

/// Built-in variables every condition and template may use.
const BUILTINS: &[&str] = &[
    "user.first_name",
    "user.last_name",
    "user.username",
    "chat.id",
    "platform",
    "start_payload",
];

impl Scenario {
    /// Parses and validates a document. `Ok` carries the usable scenario and its warnings;
    /// `Err` carries every error (and the warnings).
    pub fn compile(doc: &Value) -> Result<(Scenario, Vec<Problem>), Vec<Problem>> {
        let mut problems = Vec::new();
        let scenario = build(doc, &mut problems);
        let has_error = problems.iter().any(|p| p.severity == Severity::Error);
        match scenario {
            Some(s) if !has_error => Ok((s, problems)),
            _ => Err(problems),
        }
    }
}

fn build(doc: &Value, problems: &mut Vec<Problem>) -> Option<Scenario> {
    let mut top = Sink { problems, step: None };
    let Some(obj) = doc.as_object() else {
        top.error("", "a scenario must be a JSON object");
        return None;
    };
    if !shape::check(doc, &mut top) {
        return None;
    }
    match obj.get("version") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v == "1.0" || v == "1" => {}
        Some(v) => top.warn("version", format!("version {v} is not \"1.0\"; reading it as 1.0")),
    }
    let mapping = variables_mapping(obj.get("variables_mapping"), &mut top);
    let raw = raw_steps(obj.get("steps"), &mut top);
    if raw.len() > MAX_STEPS {
        top.error(
            "steps",
            format!("the scenario has {} steps; the limit is {MAX_STEPS}", raw.len()),
        );
        return None;
    }
    for (id, _) in &raw {
        if id.chars().count() > MAX_STEP_ID_CHARS {
            top.error(
                "steps",
                format!("a step id is longer than {MAX_STEP_ID_CHARS} characters"),
            );
            return None;
        }
    }
    let ids: HashSet<String> = raw.iter().map(|(id, _)| id.clone()).collect();
    let start = match obj.get("start_step") {
        None | Some(Value::Null) => raw
            .first()
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| "welcome".into()),
        Some(Value::String(s)) => {
            if !ids.contains(s) && !raw.is_empty() {
                top.error("start_step", format!("step '{s}' does not exist"));
            }
            s.clone()
        }
        Some(_) => {
            top.error("start_step", "must be a step id");
            String::new()
        }
    };
    let mut compiler = StepCompiler {
        ids: &ids,
        bare_words: Vec::new(),
    };
    let mut steps = Vec::new();
    for (id, step_obj) in &raw {
        let mut sink = Sink {
            problems,
            step: Some(id.clone()),
        };
        if let Some(step) = compiler.compile(id, step_obj, &mut sink) {
            steps.push(step);
        }
    }
    if raw.is_empty() {
        return None;
    }
    let index: HashMap<String, usize> = steps.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
    warn_unreachable(&steps, &index, &start, problems);
    let mut known: HashSet<&str> = BUILTINS.iter().copied().collect();
    known.extend(steps.iter().filter_map(|s| s.expected.as_ref()?.variable.as_deref()));
    known.extend(mapping.keys().map(String::as_str));
    for bw in &compiler.bare_words {
        let root = bw.word.split('.').next().unwrap_or_default();
        if !known.contains(bw.word.as_str()) && !known.contains(root) {
            problems.push(Problem {
                severity: Severity::Warning,
                step: Some(bw.step.clone()),
                field: bw.field.clone(),
                message: format!(
                    "'{}' at position {} is read as a variable that no step collects; quote it for a literal",
                    bw.word, bw.pos
                ),
            });
        }
    }
    Some(Scenario {
        steps,
        index,
        start,
        mapping,
        limits: Limits::default(),
        text_escape: None,
        typed_choices: false,
    })
}

fn variables_mapping(v: Option<&Value>, sink: &mut Sink<'_>) -> Map<String, Value> {
    match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => {
            for (k, inner) in m {
                if !inner.is_object() {
                    sink.error(format!("variables_mapping.{k}"), "must map raw values to display texts");
                }
            }
            m.clone()
        }
        Some(_) => {
            sink.error("variables_mapping", "must be an object");
            Map::new()
        }
    }
}

/// The steps as `(id, object)` in document order, from either the object or the list form.
fn raw_steps<'a>(v: Option<&'a Value>, sink: &mut Sink<'_>) -> Vec<(String, &'a Map<String, Value>)> {
    let mut out: Vec<(String, &Map<String, Value>)> = Vec::new();
    match v {
        Some(Value::Object(map)) => {
            for (key, step) in map {
                let Some(obj) = step.as_object() else {
                    sink.error(format!("steps.{key}"), "a step must be an object");
                    continue;
                };
                if let Some(inner) = obj.get("id").and_then(Value::as_str).filter(|i| *i != key) {
                    sink.warn(
                        format!("steps.{key}.id"),
                        format!("inner id '{inner}' differs from the key; the key is the id"),
                    );
                }
                out.push((key.clone(), obj));
            }
        }
        Some(Value::Array(list)) => {
            for (i, step) in list.iter().enumerate() {
                let Some(obj) = step.as_object() else {
                    sink.error(format!("steps[{i}]"), "a step must be an object");
                    continue;
                };
                match obj.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                    Some(id) if out.iter().any(|(o, _)| o == id) => {
                        sink.error(format!("steps[{i}].id"), format!("duplicate step id '{id}'"))
                    }
                    Some(id) => out.push((id.to_string(), obj)),
                    None => sink.error(format!("steps[{i}].id"), "a listed step needs a string id"),
                }
            }
        }
        None | Some(Value::Null) => sink.error("steps", "is required"),
        Some(_) => sink.error(
            "steps",
            "must be an object keyed by step id, or a list of steps with ids",
        ),
    }
    if out.is_empty() && matches!(v, Some(Value::Object(_) | Value::Array(_))) {
        sink.error("steps", "the scenario has no steps");
    }
    out
}

fn warn_unreachable(steps: &[Step], index: &HashMap<String, usize>, start: &str, problems: &mut Vec<Problem>) {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut todo = vec![start];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(step) = index.get(id).and_then(|&i| steps.get(i)) {
            todo.extend(step.targets());
        }
    }
    for step in steps {
        if !seen.contains(step.id.as_str()) {
            problems.push(Problem {
                severity: Severity::Warning,
                step: Some(step.id.clone()),
                field: "id".into(),
                message: "unreachable from the start step".into(),
            });
        }
    }
}
