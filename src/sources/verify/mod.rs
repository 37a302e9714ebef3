//! The pure verification core of inbound sources: is this request really from the source's
//! provider? No I/O: the HTTP handler passes the request, the source's scheme and secrets and
//! the time, and acts on the answer.
//!
//! The handler's order:
//! 1. [`challenge()`] first. `Some` is a provider's setup request (Meta's GET handshake, Slack's
//!    signed `url_verification`): answer it as given and stop; it is not an event to route.
//! 2. Otherwise [`verify()`]. A [`Refusal`] is answered 401 and logged with its reason.
//! 3. Replays: a signed request captured and sent again verifies again. Timestamps bound this to
//!    the tolerance window (older ones are refused as stale), and within it the caller dedupes on
//!    [`Verified::signature_id`]: it remembers the ids it has accepted for a source for at least
//!    the tolerance and refuses a repeat. Presets without a timestamp (GitHub, Shopify, Meta,
//!    an `hmac` without `timestamp_header`) cannot bound replays in time; their id is still a
//!    key of the signed content. `basic`, `api_key` and `none` give no id: nothing is signed.
//!
//! Every secret comparison is constant-time, every HMAC is computed once per secret, and no
//! refusal carries secret material or the expected signature. Hostile headers are bounded and
//! refused early: at most one value per header, [`MAX_HEADER_VALUE_LEN`] bytes, ten signatures.

mod challenge;
mod credentials;
mod hmac_header;
mod mac;
mod request;
mod scheme;
mod secret;
mod signature_lists;

#[cfg(test)]
mod challenge_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod scheme_tests;
#[cfg(test)]
mod signature_lists_tests;
#[cfg(test)]
mod verify_tests;

pub use challenge::{Challenge, challenge};
pub use request::MAX_HEADER_VALUE_LEN;
pub use scheme::{Algorithm, ApiKeyOptions, DEFAULT_TOLERANCE_SECS, Encoding, HmacOptions, InvalidScheme, Scheme};
pub use secret::{SourceSecret, generate_secret, generate_verify_token};

/// A borrowed view of the request the handler received.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a http::Method,
    pub headers: &'a http::HeaderMap,
    /// The raw query string, without the `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// A request that verified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// A key of this signed message for the caller's replay dedupe: the signed `webhook-id` for
    /// Standard Webhooks; for the other HMAC presets a digest of the signature (with Stripe's
    /// `t=` before it), never the signature itself. `None` where nothing is signed.
    pub signature_id: Option<String>,
}

/// Why a request did not verify. It names the header or check, never a secret or the expected
/// signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct Refusal {
    pub reason: RefusalReason,
    pub detail: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// A header the preset needs is absent.
    MissingHeader,
    /// Neither the header nor the query parameter with the credentials is there.
    MissingCredentials,
    /// A header is there but not in the provider's format (or sent twice, or too long).
    Malformed,
    /// Well-formed, but no secret gives this signature.
    BadSignature,
    StaleTimestamp,
    FutureTimestamp,
    /// The username, password or API key is not the source's.
    WrongCredentials,
    /// The source has no secret to verify with (a configuration error, not the sender's).
    NoSecret,
}

impl RefusalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::MissingHeader => "missing_header",
            RefusalReason::MissingCredentials => "missing_credentials",
            RefusalReason::Malformed => "malformed",
            RefusalReason::BadSignature => "bad_signature",
            RefusalReason::StaleTimestamp => "stale_timestamp",
            RefusalReason::FutureTimestamp => "future_timestamp",
            RefusalReason::WrongCredentials => "wrong_credentials",
            RefusalReason::NoSecret => "no_secret",
        }
    }
}

fn refuse(reason: RefusalReason, detail: &'static str) -> Refusal {
    Refusal { reason, detail }
}

/// Rotation keeps at most the current and the previous secret; more are not looked at, so a
/// misbehaving caller cannot make one request cost many HMACs.
const MAX_SECRETS: usize = 3;

/// Whether `req` comes from the source's provider, at `now_secs` (Unix seconds). `secrets` holds
/// the current secret first and, during a rotation's grace period, the previous one; any of them
/// verifies. `none` accepts everything, and only when the source chose it.
pub fn verify(
    scheme: &Scheme,
    secrets: &[SourceSecret],
    req: &Request<'_>,
    now_secs: i64,
) -> Result<Verified, Refusal> {
    if let Scheme::None {} = scheme {
        return Ok(Verified::default());
    }
    let secrets = secrets.get(..MAX_SECRETS).unwrap_or(secrets);
    if secrets.is_empty() {
        return Err(refuse(RefusalReason::NoSecret, "the source has no secret"));
    }
    match scheme {
        Scheme::StandardWebhooks { tolerance_secs } => {
            signature_lists::standard_webhooks(secrets, req, now_secs, *tolerance_secs)
        }
        Scheme::Stripe { tolerance_secs } => signature_lists::stripe(secrets, req, now_secs, *tolerance_secs),
        Scheme::Basic { username } => credentials::basic(username, secrets, req),
        Scheme::ApiKey(options) => credentials::api_key(options, secrets, req),
        _ => match hmac_header::Spec::of(scheme) {
            Some(spec) => hmac_header::verify(&spec, secrets, req, now_secs),
            None => Err(refuse(RefusalReason::NoSecret, "the scheme has no verifier")),
        },
    }
}

/// Headers that carry credentials whatever the scheme.
const ALWAYS_CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "x-api-key"];

/// Whether the ingest log must redact the header `name` (any case) for a source with `scheme`:
/// the scheme's signature or key header, and credentials of any kind.
pub fn is_credential_header(scheme: &Scheme, name: &str) -> bool {
    let named = |h: &str| h.eq_ignore_ascii_case(name);
    if ALWAYS_CREDENTIAL_HEADERS.iter().copied().any(named) {
        return true;
    }
    match scheme {
        Scheme::StandardWebhooks { .. } => ["webhook-signature", "svix-signature"].into_iter().any(named),
        Scheme::Stripe { .. } => named("stripe-signature"),
        Scheme::ApiKey(options) => options.header.as_deref().is_some_and(named),
        _ => hmac_header::Spec::of(scheme).is_some_and(|spec| named(spec.header)),
    }
}

/// Whether the ingest log must redact the query parameter `name`: the `api_key` preset's key and
/// Meta's `hub.verify_token`.
pub fn is_credential_query_param(scheme: &Scheme, name: &str) -> bool {
    match scheme {
        Scheme::ApiKey(options) => options.query.as_deref() == Some(name),
        Scheme::Meta {} => name == "hub.verify_token",
        _ => false,
    }
}
