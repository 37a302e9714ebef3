//! The first check of a scenario document: its overall size, depth and template count, measured
//! by one iterative walk before anything recurses over it or compiles it.
//!
//! Parsers already bound how deep they nest (serde_json at 128), but everything done with the
//! document afterwards (compiling, templating action data, cloning, dropping, serialising) walks
//! it too; refusing a document here keeps all of that shallow and small.

use serde_json::Value;

use super::limits::{MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_NODES, MAX_TEMPLATES_TOTAL};
use super::problem::Sink;
use super::template::openings;

/// Checks the document's size limits, reporting each exceeded one; false when the document is
/// too deep or too big to compile at all.
pub fn check(doc: &Value, sink: &mut Sink<'_>) -> bool {
    let mut nodes = 0usize;
    let mut bytes = 0usize;
    let mut templates = 0usize;
    // (value, depth, where it is: the top-level key and the one under it, for the message).
    let mut stack: Vec<(&Value, usize, Where<'_>)> = vec![(doc, 1, Where::default())];
    while let Some((value, depth, at)) = stack.pop() {
        nodes += 1;
        if depth > MAX_DOCUMENT_DEPTH {
            sink.error(
                at.field(),
                format!("nested deeper than {MAX_DOCUMENT_DEPTH} levels of lists and objects"),
            );
            return false;
        }
        if nodes > MAX_DOCUMENT_NODES {
            sink.error("", format!("the document has more than {MAX_DOCUMENT_NODES} values"));
            return false;
        }
        match value {
            Value::String(s) => {
                bytes += s.len();
                templates += openings(s);
            }
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1, at))),
            Value::Object(map) => {
                for (k, v) in map {
                    bytes += k.len();
                    stack.push((v, depth + 1, at.enter(k)));
                }
            }
            // Numbers, booleans and null: a few bytes each as text.
            _ => bytes += 8,
        }
    }
    let mut ok = true;
    if bytes > MAX_DOCUMENT_BYTES {
        sink.error(
            "",
            format!("the document holds about {bytes} bytes of text; the limit is {MAX_DOCUMENT_BYTES}"),
        );
        ok = false;
    }
    if templates > MAX_TEMPLATES_TOTAL {
        // Reported, but compiling goes on: the step checks then name the texts that hold them.
        sink.error(
            "",
            format!("the document has {templates} '{{{{' placeholders; the limit is {MAX_TEMPLATES_TOTAL}"),
        );
    }
    ok
}

/// The first two object keys on the way to a value (`steps.welcome`): enough to find it.
#[derive(Clone, Copy, Default)]
struct Where<'a> {
    top: Option<&'a str>,
    second: Option<&'a str>,
}

impl<'a> Where<'a> {
    fn enter(self, key: &'a str) -> Where<'a> {
        match (self.top, self.second) {
            (None, _) => Where {
                top: Some(key),
                second: None,
            },
            (Some(_), None) => Where {
                second: Some(key),
                ..self
            },
            _ => self,
        }
    }

    fn field(self) -> String {
        match (self.top, self.second) {
            (Some(t), Some(s)) => format!("{t}.{s}"),
            (Some(t), None) => t.to_string(),
            _ => String::new(),
        }
    }
}
