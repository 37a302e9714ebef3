//! WhatsApp Cloud API, the second platform. The pure parts do no I/O and never panic, whatever
//! a sender puts in a body:
//!
//! - [`verify`]: the `X-Hub-Signature-256` check of a webhook body (HMAC-SHA256 with the app
//!   secret) and the `hub.challenge` handshake Meta runs when a webhook URL is registered.
//! - [`parse`]: a webhook body → [`Parsed`]: one [`Inbound`](crate::platforms::Inbound) per
//!   user message, in body order, plus the delivery receipts (`statuses`) of messages the bot
//!   sent.
//! - [`render`]: an engine `OutMessage` → the `POST /{phone_number_id}/messages` bodies that
//!   deliver it (text, reply buttons, lists, media), and the read receipt of a user's message.
//! - [`markup`]: scenario texts (HTML) → WhatsApp's own formatting marks.
//! - [`template`]: the 24-hour window's rules and the bot's template for a closed window.
//! - [`pacing`]: replies spread at the phone number's throughput.
//! - [`degrade`]: what a scenario loses on WhatsApp, as upload warnings per step.
//!
//! The shell:
//! - [`api`]: the Graph API client (messages, media, the webhook override), its answers
//!   classified into the seam's `CallError`.
//! - [`platform`] and `send`: the [`Platform`](crate::platforms::Platform) that puts these
//!   behind the seam.

pub mod api;
pub mod degrade;
pub mod markup;
pub mod pacing;
pub mod parse;
pub mod platform;
pub mod render;
mod send;
pub mod template;
pub mod verify;

pub use parse::{MAX_DEPTH, MAX_ITEMS, Origin, Parsed, ReceiptStatus, StatusReceipt, parse, update_id_of};
pub use platform::WhatsApp;
pub use render::{mark_read, render};
pub use verify::{SIGNATURE_HEADER, handshake, signature_ok};

/// `s` cut to at most `max` characters, the last of them "…" when anything was cut (WhatsApp's
/// limits, like the cap on error messages, count characters).
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match (s.char_indices().nth(max), max.checked_sub(1)) {
        (None, _) => s.to_string(),
        (Some(_), None) => String::new(),
        (Some(_), Some(keep)) => {
            let cut = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..cut])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn shorten_keeps_short_text_and_marks_a_cut() {
        assert_eq!(shorten("Yes", 20), "Yes");
        assert_eq!(shorten("abcdef", 6), "abcdef");
        assert_eq!(shorten("abcdefg", 6), "abcde…");
        assert_eq!(shorten("ééééééé", 3), "éé…");
        assert_eq!(shorten("abc", 1), "…");
        assert_eq!(shorten("abc", 0), "");
        assert_eq!(shorten("", 0), "");
    }
}
