//! What a scenario loses on WhatsApp, step by step, so that a bot's author is told when the
//! scenario is uploaded rather than finding out from a customer: more buttons than a list
//! holds become a numbered list to type from, labels past WhatsApp's limits are shortened,
//! long texts are split, several media go as separate messages. Pure.

use crate::scenario::Scenario;
use crate::scenario::problem::{Problem, Severity};

use super::render::{MAX_LIST_ROWS, MAX_REPLY_BUTTONS, MAX_TEXT_CHARS};

/// Reply-button and list-row title limits, in characters (see `render`). Button values need no
/// check: scenarios cap them at 64 bytes, below WhatsApp's id limits.
const BUTTON_TITLE: usize = 20;
const ROW_TITLE: usize = 24;

fn warning(step: &str, field: &str, message: String) -> Problem {
    Problem {
        severity: Severity::Warning,
        step: Some(step.to_string()),
        field: field.to_string(),
        message: format!("on WhatsApp: {message}"),
    }
}

/// The warnings of every step that WhatsApp will show differently.
pub fn warnings(scenario: &Scenario) -> Vec<Problem> {
    let mut out = Vec::new();
    for step in &scenario.steps {
        let id = step.id.as_str();
        let n = step.buttons.len();
        if n > MAX_LIST_ROWS {
            out.push(warning(
                id,
                "buttons",
                format!("{n} buttons are more than a list holds ({MAX_LIST_ROWS}); they are sent as a numbered list and the user types the number or the label"),
            ));
        }
        let title = if n <= MAX_REPLY_BUTTONS {
            BUTTON_TITLE
        } else {
            ROW_TITLE
        };
        for (i, b) in step.buttons.iter().enumerate() {
            let len = b.text.chars().count();
            if n <= MAX_LIST_ROWS && len > title {
                out.push(warning(
                    id,
                    &format!("buttons[{i}].text"),
                    format!("the label has {len} characters; WhatsApp shows {title}, so it ends in \"…\""),
                ));
            }
        }
        for message in step.messages() {
            if message.text.chars().count() > MAX_TEXT_CHARS {
                out.push(warning(
                    id,
                    "message.text",
                    format!("the text is longer than {MAX_TEXT_CHARS} characters and is sent in parts"),
                ));
            }
            if message.media.len() > 1 {
                out.push(warning(
                    id,
                    "message.media",
                    format!(
                        "{} media items are sent as separate messages (WhatsApp has no albums)",
                        message.media.len()
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compiled(doc: serde_json::Value) -> Scenario {
        match Scenario::compile(&doc) {
            Ok((scenario, _)) => scenario,
            Err(problems) => panic!("{problems:?}"),
        }
    }

    #[test]
    fn each_degradation_is_named_on_its_step() {
        let many: Vec<_> = (1..=12)
            .map(|i| json!({"text": format!("Dish {i}"), "value": format!("d{i}")}))
            .collect();
        let sc = compiled(json!({"steps": {
            "ok": {"message": {"text": "Fine"}, "buttons": [{"text": "Yes", "value": "y"}], "next_step": "many"},
            "many": {"message": {"text": "Pick"}, "buttons": many, "next_step": "long"},
            "long": {"message": {"text": "Pick"}, "buttons": [
                {"text": "A label far longer than twenty", "value": "v"}], "next_step": "album"},
            "album": {"message": {"text": "x".repeat(5000), "media": [
                {"type": "photo", "file_id": "a"}, {"type": "photo", "file_id": "b"}]}}
        }}));
        let found: Vec<(String, String)> = warnings(&sc)
            .into_iter()
            .map(|p| (p.step.unwrap_or_default(), p.field))
            .collect();
        assert!(!found.iter().any(|(s, _)| s == "ok"), "{found:?}");
        for expected in [
            ("many", "buttons"),
            ("long", "buttons[0].text"),
            ("album", "message.text"),
            ("album", "message.media"),
        ] {
            assert!(
                found.contains(&(expected.0.to_string(), expected.1.to_string())),
                "{expected:?} in {found:?}"
            );
        }
        assert!(
            warnings(&sc)
                .iter()
                .all(|p| p.severity == Severity::Warning && p.message.starts_with("on WhatsApp"))
        );
    }
}
