//! Problems found while compiling a scenario document, and their one-line rendering for the CLI.

use std::fmt;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding. `field` is a path inside the step (`next_step.conditions[1].if`), or a
/// top-level key when `step` is `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub step: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match &self.step {
            Some(step) => write!(f, "{sev}: step '{step}' field '{}': {}", self.field, self.message),
            None => write!(f, "{sev}: field '{}': {}", self.field, self.message),
        }
    }
}

/// One line per problem: `error: step 'x' field 'y': message`.
pub fn format_problems(problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&p.to_string());
        out.push('\n');
    }
    out
}

/// Collects problems for one step (or the document when `step` is `None`) without stopping,
/// so an author sees every mistake at once.
pub struct Sink<'a> {
    pub problems: &'a mut Vec<Problem>,
    pub step: Option<String>,
}

impl Sink<'_> {
    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, field.into(), message.into());
    }

    pub fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, field.into(), message.into());
    }

    fn push(&mut self, severity: Severity, field: String, message: String) {
        self.problems.push(Problem {
            severity,
            step: self.step.clone(),
            field,
            message,
        });
    }
}
