//! WhatsApp Cloud API, the second platform: for now only its pure parts, each without I/O and
//! never panicking, whatever a sender puts in a body.
//!
//! - [`verify`]: the `X-Hub-Signature-256` check of a webhook body (HMAC-SHA256 with the app
//!   secret) and the `hub.challenge` handshake Meta runs when a webhook URL is registered.
//! - [`parse`]: a webhook body → [`Parsed`]: one [`Inbound`](crate::platforms::Inbound) per
//!   user message, in body order, plus the delivery receipts (`statuses`) of messages the bot
//!   sent.
//! - [`render`]: an engine `OutMessage` → the `POST /{phone_number_id}/messages` bodies that
//!   deliver it (text, reply buttons, lists, media), and the read receipt of a user's message.
//!
//! Not built yet: the Graph API client (sending, media upload and download, retries and error
//! classification), outbound pacing, the webhook routes, storing credentials (app secret,
//! verify token, access token, phone number id), the media library's WhatsApp ids, and the
//! `Platform` implementation that puts these pieces behind the seam in `app.rs`.

pub mod api;
pub mod parse;
pub mod render;
pub mod verify;

pub use parse::{MAX_DEPTH, MAX_ITEMS, Origin, Parsed, ReceiptStatus, StatusReceipt, parse, update_id_of};
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
