//! A step condition: parsed, then evaluated against a few collected variables.
#![no_main]

use hookline::scenario::condition::Condition;
use hookline::scenario::types::Context;

libfuzzer_sys::fuzz_target!(|src: &str| {
    if let Ok(condition) = Condition::parse(src) {
        let data = serde_json::json!({"x": 1, "name": "Ann", "tags": ["a", "b"], "user": {"age": 30}});
        let _ = condition.eval(data.as_object().unwrap(), &Context::default());
    }
});
