//! A scenario uploaded as YAML: parsed as the upload route parses it, then compiled.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(doc) = serde_norway::from_str::<serde_json::Value>(text) {
        let _ = hookline::scenario::Scenario::compile(&doc);
    }
});
