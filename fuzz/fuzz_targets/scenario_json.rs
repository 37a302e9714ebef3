//! A scenario uploaded as JSON: parsed, then compiled (conditions, templates, step graph).
#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = hookline::scenario::Scenario::compile(&doc);
    }
});
