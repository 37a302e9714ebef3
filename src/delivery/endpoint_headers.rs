//! Endpoint custom header values at rest. They often carry credentials (`Authorization`), so
//! each value is sealed with the master key like the signing secret, bound to its endpoint and
//! header name (a value copied to another row or name does not open). The API never shows them
//! back; only the worker opens them, to send them.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

use crate::model::ids::EndpointId;
use crate::secrets::{Cipher, DecryptError};
use crate::store::{Store, StoreResult, StoredHeader};

/// Headers hookline sets itself, or that change how a request is framed or routed: neither an
/// endpoint's custom headers nor a transform's may set them (nor any `webhook-*`).
const RESERVED: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "user-agent",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
];
/// Most custom headers an endpoint (or one transform's output) adds.
pub const MAX_HEADERS: usize = 20;
/// Longest value of one.
pub const MAX_VALUE_BYTES: usize = 4_096;

/// The lowercased name, if `name: value` is a header one may add; otherwise why not.
pub fn check(name: &str, value: &str) -> Result<String, String> {
    let lower = name.to_ascii_lowercase();
    if ::http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        return Err(format!("`{}` is not a valid header name", name.escape_debug()));
    }
    if RESERVED.contains(&lower.as_str()) || lower.starts_with("webhook-") {
        return Err(format!("`{lower}` is set by hookline"));
    }
    if value.len() > MAX_VALUE_BYTES || ::http::HeaderValue::from_str(value).is_err() {
        return Err(format!("the value of `{lower}` is not a valid header value"));
    }
    Ok(lower)
}

fn purpose(endpoint: EndpointId, name: &str) -> String {
    format!("webhook_endpoint.header:{endpoint}:{name}")
}

/// Seal every value of `endpoint`'s headers.
pub fn seal(cipher: &Cipher, endpoint: EndpointId, clear: BTreeMap<String, String>) -> BTreeMap<String, StoredHeader> {
    clear
        .into_iter()
        .map(|(name, value)| {
            let sealed = STANDARD.encode(cipher.seal(&purpose(endpoint, &name), value.as_bytes()));
            (name, StoredHeader::Sealed { sealed })
        })
        .collect()
}

/// The headers to send. Values stored in clear (rows from before sealing) are used as they are.
pub fn open(
    cipher: &Cipher,
    endpoint: EndpointId,
    stored: &BTreeMap<String, StoredHeader>,
) -> Result<Vec<(String, String)>, DecryptError> {
    stored
        .iter()
        .map(|(name, value)| {
            let text = match value {
                StoredHeader::Clear(text) => text.clone(),
                StoredHeader::Sealed { sealed } => {
                    let bytes = STANDARD.decode(sealed).map_err(|_| DecryptError)?;
                    cipher.open_string(&purpose(endpoint, name), &bytes)?.expose().clone()
                }
            };
            Ok((name.clone(), text))
        })
        .collect()
}

/// Seal the values of rows written in clear before values were sealed; how many rows changed.
/// A row updated meanwhile (by another node) is left to that update, which seals it.
pub async fn seal_stored_in_clear(store: &Store, cipher: &Cipher) -> StoreResult<usize> {
    let mut after = EndpointId::from(Uuid::nil());
    let mut changed = 0;
    loop {
        let page = store.endpoint_headers_after(after, 500).await?;
        let Some((last, _, _)) = page.last() else {
            return Ok(changed);
        };
        after = *last;
        for (id, updated_at, headers) in page {
            if !headers.values().any(|v| matches!(v, StoredHeader::Clear(_))) {
                continue;
            }
            let resealed: BTreeMap<String, StoredHeader> = headers
                .into_iter()
                .flat_map(|(name, value)| match value {
                    StoredHeader::Clear(text) => seal(cipher, id, BTreeMap::from([(name, text)])),
                    sealed => BTreeMap::from([(name, sealed)]),
                })
                .collect();
            if store.reseal_endpoint_headers(id, updated_at, &resealed).await? {
                changed += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secret;

    #[test]
    fn values_open_only_for_their_endpoint_and_name() {
        let cipher = Cipher::new(&Secret::new([3u8; 32]));
        let (a, b) = (EndpointId::new(), EndpointId::new());
        let clear = BTreeMap::from([("authorization".to_string(), "Bearer s3cret".to_string())]);
        let sealed = seal(&cipher, a, clear);
        let text = serde_json::to_string(&sealed).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(
            open(&cipher, a, &sealed).unwrap(),
            vec![("authorization".to_string(), "Bearer s3cret".to_string())]
        );
        assert!(open(&cipher, b, &sealed).is_err(), "another endpoint's row");
        let renamed = BTreeMap::from([("x-other".to_string(), sealed["authorization"].clone())]);
        assert!(open(&cipher, a, &renamed).is_err(), "another header name");
        let legacy = BTreeMap::from([("x-k".to_string(), StoredHeader::Clear("v".to_string()))]);
        assert_eq!(
            open(&cipher, a, &legacy).unwrap(),
            vec![("x-k".to_string(), "v".to_string())]
        );
    }
}
