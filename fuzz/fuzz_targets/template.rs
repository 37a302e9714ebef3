//! A message template rendered with collected variables and a display mapping.
#![no_main]

use hookline::scenario::template::{Vars, render};
use hookline::scenario::types::Context;

libfuzzer_sys::fuzz_target!(|text: &str| {
    let data = serde_json::json!({"x": "{{x}}", "name": "<b>Ann</b>", "user": {"first_name": "Bo"}});
    let mapping = serde_json::json!({"x": {"{{x}}": "mapped"}});
    let vars = Vars {
        data: data.as_object().unwrap(),
        ctx: &Context::default(),
        mapping: mapping.as_object().unwrap(),
    };
    let _ = render(text, &vars);
});
