//! Scenario documents from outside bytes (JSON or YAML text), bounded before any parser runs,
//! and the entry points that turn bytes into a compiled [`Scenario`].
//!
//! These are the functions a fuzzer (or any caller holding untrusted bytes) should call:
//! [`from_json_bytes`], [`from_yaml_bytes`], [`compile_json`] and [`compile_yaml`]. They never
//! panic, and their work is linear in the input's length except where noted. They are CPU work:
//! async callers run them on a blocking thread.

use serde_json::Value;
use thiserror::Error;

use super::limits::MAX_DOCUMENT_BYTES;
use super::model::Scenario;
use super::problem::Problem;

/// Upper bound on the YAML scanner's work, in units of "one byte read with one `[`/`{` before
/// it". The YAML scanner (libyaml) re-checks every open flow level at each token, so its work
/// grows with tokens × nesting: 40 KB of `[a: ` nested costs two seconds, about 2·10⁸ units.
/// This budget keeps the worst case near a tenth of a second. Block-style YAML uses `[`/`{` only
/// in `{{placeholders}}` and short inline lists: spread through a document, about
/// 2 × budget / size of them pass (2,000 in a 40 KB document, 80 at the 1 MB limit); a document
/// with more is refused with a message saying to use block style or JSON, which has no such cost.
const YAML_SCAN_BUDGET: u64 = 40_000_000;

/// Why a document's bytes were refused before compiling.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("the document is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the YAML document is not UTF-8")]
    NotUtf8,
    #[error("the YAML document nests too many '[' and '{{' for its size; write it in block style or send it as JSON")]
    YamlTooNested,
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("malformed YAML: {0}")]
    MalformedYaml(String),
    #[error("a scenario document must be an object")]
    NotObject,
}

/// Why bytes did not become a scenario.
#[derive(Debug, Error)]
pub enum CompileError {
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The document parsed but is not a valid scenario: every problem found (and the warnings).
    #[error("the scenario has errors")]
    Invalid(Vec<Problem>),
}

/// A compiled scenario and its warnings.
pub type Compiled = (Scenario, Vec<Problem>);

/// Parses a JSON scenario document (serde_json bounds its own nesting at 128 levels).
pub fn from_json_bytes(bytes: &[u8]) -> Result<Value, DocumentError> {
    check_size(bytes)?;
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| DocumentError::MalformedJson(e.to_string()))?;
    object(doc)
}

/// Parses a YAML scenario document, refusing cheaply what the YAML scanner would take long on.
pub fn from_yaml_bytes(bytes: &[u8]) -> Result<Value, DocumentError> {
    check_size(bytes)?;
    let text = std::str::from_utf8(bytes).map_err(|_| DocumentError::NotUtf8)?;
    if yaml_scan_cost(bytes) > YAML_SCAN_BUDGET {
        return Err(DocumentError::YamlTooNested);
    }
    let doc: Value = serde_norway::from_str(text).map_err(|e| DocumentError::MalformedYaml(e.to_string()))?;
    object(doc)
}

/// Parses and compiles a JSON scenario document.
pub fn compile_json(bytes: &[u8]) -> Result<Compiled, CompileError> {
    let doc = from_json_bytes(bytes)?;
    Scenario::compile(&doc).map_err(CompileError::Invalid)
}

/// Parses and compiles a YAML scenario document.
pub fn compile_yaml(bytes: &[u8]) -> Result<Compiled, CompileError> {
    let doc = from_yaml_bytes(bytes)?;
    Scenario::compile(&doc).map_err(CompileError::Invalid)
}

fn check_size(bytes: &[u8]) -> Result<(), DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge {
            size: bytes.len(),
            max: MAX_DOCUMENT_BYTES,
        });
    }
    Ok(())
}

fn object(doc: Value) -> Result<Value, DocumentError> {
    if doc.is_object() {
        Ok(doc)
    } else {
        Err(DocumentError::NotObject)
    }
}

/// An upper bound on the YAML scanner's work: the sum, over every byte, of the `[` and `{` seen
/// before it. The scanner's nesting at a token can never exceed the brackets before it, whatever
/// quoting or comments hide some of them, so the bound holds for any input; it is one linear pass.
pub fn yaml_scan_cost(bytes: &[u8]) -> u64 {
    let mut opens: u64 = 0;
    let mut cost: u64 = 0;
    for &b in bytes {
        if matches!(b, b'[' | b'{') {
            opens += 1;
        }
        cost = cost.saturating_add(opens);
    }
    cost
}
