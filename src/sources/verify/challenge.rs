//! Providers' setup requests that expect a particular answer rather than a 2xx:
//!
//! - Slack, when an Events API URL is saved, POSTs `{"type": "url_verification", "challenge": …}`
//!   signed like any event, and expects the challenge back;
//! - Meta, when a callback URL is saved, sends `GET ?hub.mode=subscribe&hub.verify_token=…&
//!   hub.challenge=…` (unsigned) and expects the challenge back when the verify token is the one
//!   configured, a 403 otherwise.

use serde::Deserialize;

use super::request::query_param;
use super::{Request, Scheme, SourceSecret, verify};
use crate::secrets::constant_time_eq;

/// Slack's challenges are about 50 characters and Meta's about ten digits; the bound keeps a
/// source's URL from reflecting whatever a caller sends.
const MAX_CHALLENGE_LEN: usize = 256;

/// The answer to a provider's setup request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The answer to `req` when it is the setup request of `scheme`'s provider; `None` for anything
/// else, which then goes through [`verify()`]. Call it before [`verify()`]: a Slack challenge is
/// answered only once it verifies (so it needs the secrets and the time, like any Slack
/// request), and Meta's handshake, which carries no signature, is answered here whatever its
/// verify token (403 when wrong).
pub fn challenge(scheme: &Scheme, secrets: &[SourceSecret], req: &Request<'_>, now_secs: i64) -> Option<Challenge> {
    match scheme {
        Scheme::Slack { .. } => slack_url_verification(scheme, secrets, req, now_secs),
        Scheme::Meta {} => meta_handshake(secrets, req),
        _ => None,
    }
}

#[derive(Deserialize)]
struct SlackChallenge {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
}

fn slack_url_verification(
    scheme: &Scheme,
    secrets: &[SourceSecret],
    req: &Request<'_>,
    now_secs: i64,
) -> Option<Challenge> {
    // A cheap look first: every Slack event would otherwise be parsed twice.
    if req.method != http::Method::POST || !contains(req.body, b"url_verification") {
        return None;
    }
    let parsed: SlackChallenge = serde_json::from_slice(req.body).ok()?;
    if parsed.kind != "url_verification" || !challenge_ok(&parsed.challenge) {
        return None;
    }
    verify(scheme, secrets, req, now_secs).ok()?;
    Some(text(200, parsed.challenge.into_bytes()))
}

fn meta_handshake(secrets: &[SourceSecret], req: &Request<'_>) -> Option<Challenge> {
    if req.method != http::Method::GET {
        return None;
    }
    let param = |name| query_param(req.query, name).ok().flatten();
    let (mode, token) = (param("hub.mode"), param("hub.verify_token"));
    if mode.is_none() && token.is_none() {
        return None;
    }
    let forbidden = Some(text(403, b"forbidden".to_vec()));
    let Some(token) = token else {
        return forbidden;
    };
    // Every configured token is compared, so the time does not say which one matched.
    let token_ok = secrets
        .iter()
        .filter_map(SourceSecret::verify_token)
        .fold(false, |ok, expected| ok | constant_time_eq(token.as_bytes(), expected));
    match param("hub.challenge") {
        Some(challenge) if token_ok && mode.as_deref() == Some("subscribe") && challenge_ok(&challenge) => {
            Some(text(200, challenge.into_owned().into_bytes()))
        }
        _ => forbidden,
    }
}

fn challenge_ok(challenge: &str) -> bool {
    !challenge.is_empty() && challenge.len() <= MAX_CHALLENGE_LEN && challenge.bytes().all(|b| b.is_ascii_graphic())
}

fn text(status: u16, body: Vec<u8>) -> Challenge {
    Challenge {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
