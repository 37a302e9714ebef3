//! Reading a hostile request's headers and timestamps without trusting them.

use super::{Refusal, RefusalReason, Request, refuse};

/// The longest header value a preset reads; longer ones are refused before any parsing.
pub const MAX_HEADER_VALUE_LEN: usize = 4096;
/// Unix seconds have ten digits until the year 2286; twelve bound the parse well inside `i64`.
const MAX_TIMESTAMP_DIGITS: usize = 12;
/// Query strings longer than this are refused before parsing.
const MAX_QUERY_LEN: usize = 8192;
/// Query parameters looked at.
const MAX_QUERY_PAIRS: usize = 100;

/// The one value of header `name`, if present. Two values are refused rather than guessing which
/// one the provider meant.
pub(super) fn header<'a>(req: &Request<'a>, name: &str) -> Result<Option<&'a str>, Refusal> {
    let mut values = req.headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(refuse(RefusalReason::Malformed, "a verification header is sent twice"));
    }
    if value.len() > MAX_HEADER_VALUE_LEN {
        return Err(refuse(RefusalReason::Malformed, "a verification header is too long"));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| refuse(RefusalReason::Malformed, "a verification header is not visible ASCII"))
}

/// Like [`header`], refusing its absence with `missing` as the detail.
pub(super) fn required<'a>(req: &Request<'a>, name: &str, missing: &'static str) -> Result<&'a str, Refusal> {
    header(req, name)?.ok_or(refuse(RefusalReason::MissingHeader, missing))
}

/// Unix seconds written as plain decimal digits.
pub(super) fn timestamp(text: &str) -> Result<i64, Refusal> {
    let malformed = refuse(RefusalReason::Malformed, "the timestamp is not Unix seconds");
    if text.is_empty() || text.len() > MAX_TIMESTAMP_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    text.parse().map_err(|_| malformed)
}

/// Refuses a timestamp more than `tolerance_secs` before or after `now_secs`.
pub(super) fn fresh(timestamp: i64, now_secs: i64, tolerance_secs: u32) -> Result<(), Refusal> {
    let tolerance = i64::from(tolerance_secs);
    if now_secs.saturating_sub(timestamp) > tolerance {
        return Err(refuse(
            RefusalReason::StaleTimestamp,
            "the timestamp is older than the tolerance",
        ));
    }
    if timestamp.saturating_sub(now_secs) > tolerance {
        return Err(refuse(RefusalReason::FutureTimestamp, "the timestamp is in the future"));
    }
    Ok(())
}

/// The first value of the query parameter `name`, percent-decoded.
pub(super) fn query_param<'q>(
    query: Option<&'q str>,
    name: &str,
) -> Result<Option<std::borrow::Cow<'q, str>>, Refusal> {
    let Some(query) = query else {
        return Ok(None);
    };
    if query.len() > MAX_QUERY_LEN {
        return Err(refuse(RefusalReason::Malformed, "the query string is too long"));
    }
    let found = form_urlencoded::parse(query.as_bytes())
        .take(MAX_QUERY_PAIRS)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value);
    match found {
        Some(value) if value.len() > MAX_HEADER_VALUE_LEN => {
            Err(refuse(RefusalReason::Malformed, "a query parameter is too long"))
        }
        other => Ok(other),
    }
}
