//! Meta's error answers, classified into what the outbox can do with them.
//!
//! A Graph API error is `{"error": {"message", "type", "code", "error_subcode",
//! "error_data": {"messaging_product", "details"}, "fbtrace_id"}}`. Meta advises building on
//! `code` (and `details` for people), not on the HTTP status or the message title, so the code
//! decides first and the status only where the code says nothing:
//!
//! - rate limits wait ([`CallError::RetryAfter`]): a `Retry-After` header (seconds) when there is
//!   one, else a default per code, always within 1 s–1 h;
//! - 131047 (the user's last message is more than 24 hours old) is
//!   [`CallError::OutsideWindow`]: only a template could reach the user now;
//! - Meta's "unknown", "service" and "something went wrong" codes, and 5xx answers, are
//!   [`CallError::Transient`];
//! - the rest is [`CallError::Permanent`] with Meta's code and the error object as Meta sent it
//!   (compact JSON, at most [`MAX_DESCRIPTION_CHARS`]): the outbox stores it and the API shows
//!   it, so whoever reads it sees Meta's `details`.

use serde_json::Value;

use crate::platforms::outbound::CallError;
use crate::platforms::whatsapp::shorten;

/// Longest description kept from an error object.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Longest text kept from an answer that is not JSON (an HTML error page, a proxy's message).
const MAX_TEXT_CHARS: usize = 300;

/// Rate-limit codes and how long to wait when no `Retry-After` says otherwise, in seconds.
const RATE_LIMITS: &[(i64, u64)] = &[
    // Cloud API throughput, counted per second per phone number: the next second has room.
    (130429, 1),
    // Too many messages to one user in a short time; Meta allows about one every 6 s per pair.
    (131056, 6),
    // Spam rate limit: the number's quality is low, and minutes are more useful than seconds.
    (131048, 60),
    // Graph API call limits (app, account, method, WABA): counted over minutes to an hour.
    (4, 60),
    (80007, 60),
    (613, 60),
    (80004, 60),
];
/// A 429 whose code is none of the above.
const HTTP_429_WAIT: u64 = 5;
const MIN_WAIT: u64 = 1;
const MAX_WAIT: u64 = 3_600;

/// More than 24 hours since the user last wrote: only template messages may go out.
const OUTSIDE_WINDOW: i64 = 131_047;
/// "API unknown", "API service" (downtime, overload), "something went wrong",
/// "service unavailable": the same call may work a little later.
const TRANSIENT_CODES: &[i64] = &[1, 2, 131_000, 131_016];

/// Codes that mean the token may not do this: 3 (capability), 10 (permission denied),
/// 190 (token expired or invalid), 200–299 (API permissions). They stay permanent even when
/// Meta answers them with a 5xx, as it does for code 3.
fn is_permission_code(code: i64) -> bool {
    matches!(code, 3 | 10 | 190 | 200..=299)
}

/// Classify a non-2xx answer, or a 2xx whose body holds an `error` object. `retry_after` is the
/// `Retry-After` header's value; only a number of seconds is understood.
pub fn classify(status: u16, body: &[u8], retry_after: Option<&str>) -> CallError {
    let header_wait = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    let error = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut answer)) => answer.remove("error").filter(Value::is_object),
        _ => None,
    };
    let Some(error) = error else {
        return classify_text(status, body, header_wait);
    };
    let code = error.get("code").and_then(code_of);
    let compact = shorten(&error.to_string(), MAX_DESCRIPTION_CHARS);
    if let Some(default) = code.and_then(rate_limit_wait) {
        return CallError::RetryAfter(wait(header_wait, default));
    }
    if code == Some(OUTSIDE_WINDOW) {
        return CallError::OutsideWindow(compact);
    }
    if status == 429 {
        return CallError::RetryAfter(wait(header_wait, HTTP_429_WAIT));
    }
    let Some(code) = code.or_else(|| (!(200..300).contains(&status)).then_some(i64::from(status))) else {
        // A success status with an error object and no code: nothing to go on but that it
        // failed; a retry (bounded by the outbox) may find Meta in a clearer mood.
        return CallError::Transient(compact);
    };
    if !is_permission_code(code) && (status >= 500 || TRANSIENT_CODES.contains(&code)) {
        return CallError::Transient(compact);
    }
    CallError::Permanent {
        code,
        description: compact,
    }
}

/// An answer that is not Meta's JSON: a proxy's page, a load balancer's 502. Only the status
/// says anything.
fn classify_text(status: u16, body: &[u8], header_wait: Option<u64>) -> CallError {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = shorten(text.trim(), MAX_TEXT_CHARS);
    let description = if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    };
    if status == 429 {
        CallError::RetryAfter(wait(header_wait, HTTP_429_WAIT))
    } else if status >= 500 || (200..300).contains(&status) {
        CallError::Transient(description)
    } else {
        CallError::Permanent {
            code: i64::from(status),
            description,
        }
    }
}

/// Meta sends codes as numbers; a numeric string is read the same way.
fn code_of(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str()?.trim().parse().ok())
}

fn rate_limit_wait(code: i64) -> Option<u64> {
    RATE_LIMITS.iter().find(|(c, _)| *c == code).map(|(_, secs)| *secs)
}

fn wait(header: Option<u64>, default: u64) -> u64 {
    header.unwrap_or(default).clamp(MIN_WAIT, MAX_WAIT)
}

/// Refusals only Meta's codes and details tell apart.
pub trait GraphRefusals {
    /// Meta does not know (or no longer keeps) a media id the message named: the caller should
    /// forget the cached id and upload the bytes again. 131053 (media upload error), 131052
    /// (media download error), or 100 (invalid parameter) whose text is about a media id.
    fn is_rejected_media_id(&self) -> bool;
    /// The token lacks the rights for the call (3, 10, 200–299), is no longer valid (190), or
    /// Meta's 100 says "permission": setting the webhook override needs rights a sending token
    /// may not have.
    fn is_permission_denied(&self) -> bool;
}

impl GraphRefusals for CallError {
    fn is_rejected_media_id(&self) -> bool {
        match self {
            CallError::Permanent {
                code: 131_052 | 131_053,
                ..
            } => true,
            CallError::Permanent { code: 100, description } => {
                let words = words(&readable_text(description));
                words.iter().any(|w| w == "media") && words.iter().any(|w| w == "id" || w == "ids")
            }
            _ => false,
        }
    }

    fn is_permission_denied(&self) -> bool {
        match self {
            CallError::Permanent { code, description } => {
                is_permission_code(*code)
                    || (*code == 100 && readable_text(description).to_lowercase().contains("permission"))
            }
            _ => false,
        }
    }
}

/// The words people read in an error description: `message` and the `details` of the error
/// object, not its key names (every error has a `fbtrace_id`, which is not about ids). A
/// description that no longer parses (cut at the cap, or not JSON) is used as it is, less the
/// trace id's key.
fn readable_text(description: &str) -> String {
    let Ok(Value::Object(error)) = serde_json::from_str::<Value>(description) else {
        return description.replace("fbtrace_id", " ");
    };
    let texts = [
        error.get("message"),
        error.get("error_data").and_then(|d| d.get("details")),
        error.get("error_user_title"),
        error.get("error_user_msg"),
    ];
    texts
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lowercase words: runs of letters and digits (so `media_id` is "media", "id").
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}
