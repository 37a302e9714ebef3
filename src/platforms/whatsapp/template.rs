//! WhatsApp's 24-hour customer-service window: a business may send free-form messages only
//! within 24 hours of the user's last message; after that, only a template Meta approved. A
//! bot's credential may name one (`"template": {"name", "language", "parameters"}`, the
//! parameters `{{var}}` texts filled from the dialog's variables); pure.

use serde_json::{Map, Value, json};

/// The window's length.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Parameters a body component may carry (Meta's templates stay far below).
const MAX_PARAMETERS: usize = 20;
/// Meta's limit for one text parameter, in characters.
const MAX_PARAMETER_CHARS: usize = 1_024;

/// A bot's template for a closed window, as its credential settings give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub language: String,
    /// `{{var}}` texts, one per body parameter, in order.
    pub parameters: Vec<String>,
}

/// Why the `template` setting is unusable; the message names the field.
pub type SettingError = String;

impl Template {
    /// The `template` setting, if given: `None` when absent.
    pub fn from_settings(settings: &Map<String, Value>) -> Result<Option<Template>, SettingError> {
        let Some(value) = settings.get("template").filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let Value::Object(obj) = value else {
            return Err("credentials.template: must be an object with name, language and parameters".into());
        };
        let text = |key: &str, max: usize| -> Result<String, SettingError> {
            match obj.get(key) {
                Some(Value::String(s)) if valid_name(s, max) => Ok(s.clone()),
                _ => Err(format!(
                    "credentials.template.{key}: must be 1-{max} characters of letters, digits and _"
                )),
            }
        };
        let parameters = match obj.get("parameters") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_PARAMETERS => items
                .iter()
                .map(|p| p.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("credentials.template.parameters: must be strings")?,
            Some(_) => {
                return Err(format!(
                    "credentials.template.parameters: must be a list of at most {MAX_PARAMETERS} strings"
                ));
            }
        };
        Ok(Some(Template {
            name: text("name", 512)?,
            language: text("language", 15)?,
            parameters,
        }))
    }

    /// The template message to `to`, each parameter rendered by `fill`.
    pub fn message(&self, to: &str, fill: impl Fn(&str) -> String) -> Value {
        let mut template = json!({"name": self.name, "language": {"code": self.language}});
        if !self.parameters.is_empty() {
            let parameters: Vec<Value> = self
                .parameters
                .iter()
                .map(|p| {
                    // Meta refuses empty parameters and line breaks in them.
                    let filled = fill(p).replace(['\n', '\t'], " ");
                    let filled = if filled.trim().is_empty() {
                        "-".to_string()
                    } else {
                        filled
                    };
                    json!({"type": "text", "text": super::shorten(filled.trim(), MAX_PARAMETER_CHARS)})
                })
                .collect();
            template["components"] = json!([{"type": "body", "parameters": parameters}]);
        }
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": template,
        })
    }
}

fn valid_name(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether a message body is free-form (needs an open window): every message but templates and
/// read receipts.
pub fn needs_window(body: &Value) -> bool {
    body.get("status").is_none() && body.get("type").and_then(Value::as_str) != Some("template")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_template_setting_is_read_and_checked() {
        assert_eq!(
            Template::from_settings(&settings(json!({"phone_number_id": "1"}))),
            Ok(None)
        );
        let t = Template::from_settings(&settings(json!({"template": {"name": "come_back", "language": "en_US",
            "parameters": ["{{user.first_name}}", "{{order}}"]}})))
        .unwrap()
        .unwrap();
        assert_eq!(t.parameters.len(), 2);
        for bad in [
            json!({"template": "come_back"}),
            json!({"template": {"name": "has space", "language": "en"}}),
            json!({"template": {"name": "x"}}),
            json!({"template": {"name": "x", "language": "en", "parameters": [1]}}),
            json!({"template": {"name": "x", "language": "en", "parameters": vec!["p"; 21]}}),
        ] {
            let e = Template::from_settings(&settings(bad.clone())).unwrap_err();
            assert!(e.starts_with("credentials.template"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_message_fills_parameters_and_never_sends_an_empty_one() {
        let t = Template {
            name: "come_back".into(),
            language: "en_US".into(),
            parameters: vec!["{{name}}".into(), "{{missing}}".into()],
        };
        let m = t.message("15551234567", |p| {
            if p == "{{name}}" {
                "Ann\nB".into()
            } else {
                String::new()
            }
        });
        assert_eq!(m["type"], "template");
        assert_eq!(m["template"]["language"]["code"], "en_US");
        let params = &m["template"]["components"][0]["parameters"];
        assert_eq!(params[0]["text"], "Ann B");
        assert_eq!(params[1]["text"], "-");
        let bare = Template {
            parameters: vec![],
            ..t
        }
        .message("1", |_| String::new());
        assert!(bare["template"].get("components").is_none());
    }

    #[test]
    fn only_free_form_messages_need_the_window() {
        assert!(needs_window(&json!({"type": "text", "text": {"body": "hi"}})));
        assert!(needs_window(&json!({"type": "interactive"})));
        assert!(!needs_window(&json!({"type": "template"})));
        assert!(!needs_window(&json!({"status": "read", "message_id": "wamid.1"})));
    }
}
