//! The fuzz targets' bodies: one function per parser that takes outside bytes. The cargo-fuzz
//! binaries in `fuzz_targets/` call them under libFuzzer; `tests/fuzz_replay.rs` runs the same
//! functions on stable, over the committed corpus and over generated inputs, so CI exercises
//! exactly what is fuzzed. Each must return without panicking, whatever the bytes.
// Each fuzz binary uses one of them.
#![allow(dead_code)]

use std::sync::OnceLock;

use axum::extract::{FromRequest, Multipart};
use hookline::media::sniff;
use hookline::scenario::condition::Condition;
use hookline::scenario::document;
use hookline::scenario::template::{Vars, render};
use hookline::scenario::types::Context;

/// A target: returns, whatever the bytes.
pub type Target = fn(&[u8]);

/// Every target, by the name of its cargo-fuzz binary and corpus folder.
pub const ALL: [(&str, Target); 6] = [
    ("telegram_update", telegram_update),
    ("scenario_json", scenario_json),
    ("scenario_yaml", scenario_yaml),
    ("condition", condition),
    ("template", template),
    ("multipart", multipart),
];

/// A Telegram webhook body, as the inbound handler parses it.
pub fn telegram_update(body: &[u8]) {
    let _ = hookline::platforms::telegram::update::parse_update(body);
}

/// A scenario uploaded as JSON, through the upload route's bounds, then compiled.
pub fn scenario_json(body: &[u8]) {
    let _ = document::compile_json(body);
}

/// A scenario uploaded as YAML, through the upload route's bounds (size, the scanner's cost),
/// then compiled.
pub fn scenario_yaml(body: &[u8]) {
    let _ = document::compile_yaml(body);
}

/// A step condition: parsed, then evaluated against a few collected variables.
pub fn condition(bytes: &[u8]) {
    let Ok(src) = std::str::from_utf8(bytes) else { return };
    if let Ok(condition) = Condition::parse(src) {
        let data = serde_json::json!({"x": 1, "name": "Ann", "tags": ["a", "b"], "user": {"age": 30}});
        if let Some(data) = data.as_object() {
            let _ = condition.eval(data, &Context::default());
        }
    }
}

/// A message template rendered with collected variables, a display mapping and, on every other
/// input, the HTML escaping Telegram texts get.
pub fn template(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let data = serde_json::json!({"x": "{{x}}", "name": "<b>Ann</b>", "user": {"first_name": "Bo"}});
    let mapping = serde_json::json!({"x": {"{{x}}": "mapped"}});
    let (Some(data), Some(mapping)) = (data.as_object(), mapping.as_object()) else {
        return;
    };
    let escape: fn(&str) -> String = hookline::platforms::telegram::render::escape_html;
    let vars = Vars {
        data,
        ctx: &Context::default(),
        mapping,
        escape: (text.len() % 2 == 0).then_some(escape),
    };
    let _ = render(text, &vars);
}

/// A media upload body: the multipart parts as the upload route reads them (axum's extractor),
/// then each part's file name and content type through the media library's sanitising and
/// sniffing.
pub fn multipart(body: &[u8]) {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    });
    let Ok(request) = axum::http::Request::builder()
        .method("POST")
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(axum::body::Body::from(body.to_vec()))
    else {
        return;
    };
    runtime.block_on(async {
        let Ok(mut parts) = Multipart::from_request(request, &()).await else {
            return;
        };
        while let Ok(Some(field)) = parts.next_field().await {
            let name = sniff::safe_file_name(field.file_name());
            let declared = field.content_type().map(str::to_owned);
            let Ok(bytes) = field.bytes().await else { return };
            let head = &bytes[..bytes.len().min(512)];
            let content_type = sniff::content_type(head, declared.as_deref(), &name);
            let _ = sniff::kind_of(&content_type);
            let _ = sniff::content_disposition(&name);
        }
    });
}
