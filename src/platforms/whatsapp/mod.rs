//! WhatsApp Cloud API, the second platform: for now only its pure parts, each without I/O and
//! never panicking, whatever a sender puts in a body.
//!
//! - [`verify`]: the `X-Hub-Signature-256` check of a webhook body (HMAC-SHA256 with the app
//!   secret) and the `hub.challenge` handshake Meta runs when a webhook URL is registered.
//!
//! Not built yet: parsing webhook bodies, rendering messages, the Graph API client (sending,
//! media upload and download, retries and error classification), outbound pacing, the webhook
//! routes, storing credentials (app secret, verify token, access token, phone number id), the
//! media library's WhatsApp ids, and the `Platform` implementation that puts these pieces
//! behind the seam in `app.rs`.

pub mod verify;

pub use verify::{SIGNATURE_HEADER, handshake, signature_ok};
