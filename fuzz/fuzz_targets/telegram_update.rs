//! A Telegram webhook body, as the inbound handler parses it.
#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    let _ = hookline::platforms::telegram::update::parse_update(body);
});
