//! Checking a source's fields as the API receives them: each refusal names its field. jq
//! expressions are compiled here, so a syntax error is refused when saved (422, with its
//! position), never met while a provider is waiting.

use ipnet::IpNet;

use crate::delivery::{MAX_LABELS, filter};
use crate::http::error::{ApiError, ApiResult};
use crate::sources::runtime::DedupeSpec;
use crate::sources::verify::Scheme;

/// Most CIDRs in a source's allow-list.
pub const MAX_NETWORKS: usize = 100;
/// The event type of a request whose type expression yields none (or that has none).
pub const DEFAULT_FALLBACK_TYPE: &str = "source.received";

/// The expression, checked: a syntax error is a 422 naming the field, line and column.
pub fn jq_field(field: &str, src: &str) -> ApiResult<String> {
    crate::http::jq::compile_field(field, src).map(|_| src.to_string())
}

pub fn optional_jq(field: &str, src: Option<String>) -> ApiResult<Option<String>> {
    src.filter(|s| !s.trim().is_empty())
        .map(|s| jq_field(field, &s))
        .transpose()
}

pub fn name(n: &str) -> ApiResult<String> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1-100 characters without control characters",
        ));
    }
    Ok(n.to_string())
}

pub fn description(d: &str) -> ApiResult<String> {
    if d.chars().count() > 1_000 {
        return Err(ApiError::field("description", "must be at most 1000 characters"));
    }
    Ok(d.to_string())
}

pub fn scheme(s: &Scheme) -> ApiResult<serde_json::Value> {
    s.validate()
        .map_err(|e| ApiError::field(&format!("verification.{}", e.field), e.message))?;
    serde_json::to_value(s).map_err(ApiError::internal)
}

pub fn networks(list: Vec<String>) -> ApiResult<Vec<String>> {
    if list.len() > MAX_NETWORKS {
        return Err(ApiError::field(
            "allowed_networks",
            format!("at most {MAX_NETWORKS} entries"),
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, n)| {
            let parsed: IpNet = n
                .parse()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ApiError::field(&format!("allowed_networks[{i}]"), "is not an address or CIDR"))?;
            Ok(parsed.trunc().to_string())
        })
        .collect()
}

pub fn max_body(bytes: Option<u64>, server_max: usize) -> ApiResult<i64> {
    let b = bytes.unwrap_or(server_max as u64);
    if b == 0 || b > server_max as u64 {
        return Err(ApiError::field(
            "max_body_bytes",
            format!("must be 1-{server_max} (the server's own limit)"),
        ));
    }
    Ok(b as i64)
}

pub fn rate(r: Option<u32>) -> ApiResult<Option<i64>> {
    match r {
        Some(r) if !(1..=100_000).contains(&r) => {
            Err(ApiError::field("rate_limit", "must be 1-100000 requests per second"))
        }
        other => Ok(other.map(i64::from)),
    }
}

pub fn dedupe(d: Option<DedupeSpec>) -> ApiResult<Option<serde_json::Value>> {
    let Some(d) = d else { return Ok(None) };
    match &d {
        DedupeSpec::Header(h) => {
            if http::HeaderName::try_from(h.as_str()).is_err() || h.len() > 100 {
                return Err(ApiError::field("dedupe.header", "is not a header name"));
            }
        }
        DedupeSpec::Jq(src) => {
            jq_field("dedupe.jq", src)?;
        }
    }
    Ok(Some(serde_json::to_value(&d).map_err(ApiError::internal)?))
}

pub fn event_type_name(t: &str) -> ApiResult<String> {
    if !filter::valid_type_name(t) {
        return Err(ApiError::field(
            "fallback_type",
            "must be 1-100 characters of letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(t.to_string())
}

pub fn labels(labels: Vec<String>) -> ApiResult<Vec<String>> {
    if labels.len() > MAX_LABELS || !labels.iter().all(|l| filter::valid_label(l)) {
        return Err(ApiError::field(
            "labels",
            format!("at most {MAX_LABELS} labels of 1-100 characters without spaces or commas"),
        ));
    }
    Ok(labels)
}
