//! An endpoint's jq step before a request: its `filter` decides whether the event is sent, its
//! `transform` what is sent. Both see the delivered envelope `{"id", "type", "timestamp",
//! "data"}` (`id` is the `webhook-id`). Neither may fail silently: an expression that errors,
//! runs too long or yields too much fails the attempt, with the reason in the delivery log.
//!
//! A transform's first output is the body. An object with a `$body` key says more: `$body` is
//! the body and `$headers` (an object of strings) adds request headers, under the same rules as
//! an endpoint's custom headers. The signature covers the body as sent.

use serde_json::{Map, Value};

use super::endpoint_headers;
use super::worker::{EndpointRt, body_of};
use crate::jq::{CompileError, Program, RunError, Sandbox};
use crate::store::{EventBody, rfc3339};

/// A stored expression as the worker holds it: compiled, or why it no longer compiles (an
/// expression saved before a rule changed still fails its attempts visibly).
pub type Expr = Result<Program, CompileError>;

/// The `cause` of the attempt a filtered delivery records.
pub const FILTERED: &str = "filtered";

/// Whether an attempt's error class is one of this step's (nothing was sent).
pub fn is_shape_class(class: &str) -> bool {
    matches!(class, "filter" | "transform")
}

/// Total size of the headers one transform output may add.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Longest rendering of a filter's output in a note.
const MAX_SHOWN: usize = 200;

/// What to do with one delivery.
#[derive(Debug, PartialEq)]
pub enum Shaped {
    /// Send `body` with these headers added (after the endpoint's own; the same name replaces).
    Send {
        body: String,
        headers: Vec<(String, String)>,
    },
    /// The filter did not yield `true`: nothing is sent. The note says what it yielded.
    Filtered(String),
    Failed(Failure),
}

/// Why an expression failed an attempt.
#[derive(Debug, PartialEq)]
pub struct Failure {
    /// `filter` or `transform`: the attempt's error class.
    pub class: &'static str,
    /// The metric's label: `failed`, `timeout`, `too_large`, `crashed`, `busy`, `empty`, …
    pub reason: &'static str,
    pub message: String,
}

impl Failure {
    fn new(class: &'static str, reason: &'static str, message: impl std::fmt::Display) -> Failure {
        metrics::counter!("webhook_transform_failures_total", "expression" => class, "reason" => reason).increment(1);
        Failure {
            class,
            reason,
            message: format!("{class}: {message}"),
        }
    }
}

/// Apply `endpoint`'s filter and transform to `event`.
pub async fn shape(jq: &Sandbox, endpoint: &EndpointRt, event: &EventBody) -> Shaped {
    if endpoint.filter.is_none() && endpoint.transform.is_none() {
        return Shaped::Send {
            body: body_of(event),
            headers: Vec::new(),
        };
    }
    let input = envelope(event);
    if let Some(filter) = &endpoint.filter {
        match run("filter", jq, filter, &input).await {
            Ok(Some(Value::Bool(true))) => {}
            Ok(other) => return Shaped::Filtered(format!("not sent: the endpoint's filter yielded {}", shown(other))),
            Err(f) => return Shaped::Failed(f),
        }
    }
    let Some(transform) = &endpoint.transform else {
        return Shaped::Send {
            body: body_of(event),
            headers: Vec::new(),
        };
    };
    match run("transform", jq, transform, &input).await {
        Ok(Some(output)) => match body_and_headers(output) {
            Ok((body, headers)) => Shaped::Send { body, headers },
            Err(why) => Shaped::Failed(Failure::new("transform", "headers", why)),
        },
        Ok(None) => Shaped::Failed(Failure::new("transform", "empty", "it yielded no output")),
        Err(f) => Shaped::Failed(f),
    }
}

/// The first output of `expr` on `input`.
async fn run(class: &'static str, jq: &Sandbox, expr: &Expr, input: &Value) -> Result<Option<Value>, Failure> {
    let program = expr
        .as_ref()
        .map_err(|e| Failure::new(class, "compile", format_args!("it no longer compiles: {e}")))?;
    match jq.run(program, input, jq.limits(1)).await {
        Ok(outputs) => Ok(outputs.into_iter().next()),
        Err(e @ (RunError::Unavailable | RunError::Busy)) => {
            tracing::warn!(error = %e, "jq evaluation not run; the attempt fails and is retried");
            Err(Failure::new(class, e.kind(), e))
        }
        Err(e) => Err(Failure::new(class, e.kind(), e)),
    }
}

/// The delivered envelope, with the event's id, as the expressions' input.
fn envelope(event: &EventBody) -> Value {
    let data = event
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let mut m = Map::new();
    m.insert("id".into(), Value::String(event.id.to_string()));
    m.insert("type".into(), Value::String(event.event_type.clone()));
    m.insert("timestamp".into(), Value::String(rfc3339(event.created_at)));
    m.insert("data".into(), data);
    Value::Object(m)
}

fn shown(output: Option<Value>) -> String {
    output.map_or_else(|| "no output".into(), |v| crate::jq::clip(v.to_string(), MAX_SHOWN))
}

/// The body and added headers a transform output stands for.
fn body_and_headers(output: Value) -> Result<(String, Vec<(String, String)>), String> {
    let mut map = match output {
        Value::Object(map) if map.contains_key("$body") => map,
        other => return Ok((other.to_string(), Vec::new())),
    };
    let body = map.remove("$body").unwrap_or(Value::Null);
    let headers = map.remove("$headers").unwrap_or(Value::Null);
    if let Some(other) = map.keys().next() {
        return Err(format!("`{other}` beside `$body`: only `$headers` may be there"));
    }
    let headers = match headers {
        Value::Null => Vec::new(),
        Value::Object(h) => added_headers(h)?,
        _ => return Err("`$headers` must be an object of strings".into()),
    };
    Ok((body.to_string(), headers))
}

fn added_headers(h: Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    if h.len() > endpoint_headers::MAX_HEADERS {
        return Err(format!("`$headers`: at most {} headers", endpoint_headers::MAX_HEADERS));
    }
    let mut total = 0;
    let mut out = Vec::with_capacity(h.len());
    for (name, value) in h {
        let Value::String(value) = value else {
            return Err(format!(
                "`$headers`: the value of `{}` must be a string",
                name.escape_debug()
            ));
        };
        let lower = endpoint_headers::check(&name, &value).map_err(|why| format!("`$headers`: {why}"))?;
        total += lower.len() + value.len();
        if total > MAX_HEADER_BYTES {
            return Err(format!("`$headers`: more than {MAX_HEADER_BYTES} bytes"));
        }
        out.push((lower, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dollar_body_object_gives_body_and_headers() {
        let out = json!({"$body": {"order": 7}, "$headers": {"X-Kind": "order.created"}});
        let (body, headers) = body_and_headers(out).unwrap();
        assert_eq!(body, r#"{"order":7}"#);
        assert_eq!(headers, vec![("x-kind".to_string(), "order.created".to_string())]);
        assert_eq!(
            body_and_headers(json!({"a": 1})).unwrap().0,
            r#"{"a":1}"#,
            "any other output is the body"
        );
        assert_eq!(body_and_headers(json!("text")).unwrap().0, r#""text""#);
        assert_eq!(
            body_and_headers(json!({"$body": null})).unwrap(),
            ("null".to_string(), vec![])
        );
    }

    #[test]
    fn added_headers_follow_the_custom_header_rules() {
        for (headers, why) in [
            (json!({"webhook-signature": "x"}), "set by hookline"),
            (json!({"Content-Type": "text/plain"}), "set by hookline"),
            (json!({"host": "evil"}), "set by hookline"),
            (json!({"bad name": "x"}), "not a valid header name"),
            (json!({"x-a": "line\nbreak"}), "not a valid header value"),
            (json!({"x-a": 1}), "must be a string"),
            (json!("x"), "object of strings"),
        ] {
            let err = body_and_headers(json!({"$body": 1, "$headers": headers})).unwrap_err();
            assert!(err.contains(why), "{headers}: {err}");
        }
        let many: Map<String, Value> = (0..21).map(|i| (format!("x-{i}"), json!("v"))).collect();
        assert!(
            body_and_headers(json!({"$body": 1, "$headers": many}))
                .unwrap_err()
                .contains("at most")
        );
        assert!(
            body_and_headers(json!({"$body": 1, "extra": 2}))
                .unwrap_err()
                .contains("`extra`")
        );
    }

    #[test]
    fn the_input_is_the_envelope_with_the_id() {
        let event = EventBody {
            id: crate::model::ids::EventId::new(),
            event_id: "e1".into(),
            event_type: "order.created".into(),
            payload: Some(r#"{"total": 5}"#.into()),
            created_at: 0,
        };
        let v = envelope(&event);
        assert_eq!(v["id"], event.id.to_string());
        assert_eq!(v["data"]["total"], 5);
        let body: Value = serde_json::from_str(&body_of(&event)).unwrap();
        assert_eq!(
            (&body["type"], &body["data"], &body["timestamp"]),
            (&v["type"], &v["data"], &v["timestamp"])
        );
        assert_eq!(shown(None), "no output");
        assert_eq!(shown(Some(json!("x".repeat(500)))).chars().count(), MAX_SHOWN + 1);
    }
}
