//! The presets whose header lists several signatures, one per secret the sender holds during its
//! own rotation: Standard Webhooks and Stripe.

use super::mac::{self, replay_key};
use super::request::{fresh, header, required, timestamp};
use super::scheme::{Algorithm, Encoding};
use super::{Refusal, RefusalReason, Request, SourceSecret, Verified, refuse};
use crate::secrets::constant_time_eq;

/// Signatures looked at in one header; senders list one per active secret, so a handful at most.
const MAX_SIGNATURES: usize = 10;
/// `key=value` items in a `Stripe-Signature` header (`t`, `v1`s and `v0`s).
const MAX_STRIPE_ITEMS: usize = 32;
const MAX_MESSAGE_ID_LEN: usize = 256;

/// The header names of Standard Webhooks and their Svix spelling, which Svix still sends.
struct Names {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const STANDARD: Names = Names {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};
const SVIX: Names = Names {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// `webhook-signature: v1,<base64> [v1,<base64> …]` over `{id}.{timestamp}.{body}`.
pub(super) fn standard_webhooks(
    secrets: &[SourceSecret],
    req: &Request<'_>,
    now_secs: i64,
    tolerance_secs: u32,
) -> Result<Verified, Refusal> {
    let names = if header(req, STANDARD.signature)?.is_none() && header(req, SVIX.signature)?.is_some() {
        &SVIX
    } else {
        &STANDARD
    };
    let id = required(req, names.id, "the webhook-id header is missing")?;
    if id.is_empty() || id.len() > MAX_MESSAGE_ID_LEN {
        return Err(refuse(RefusalReason::Malformed, "the webhook-id is empty or too long"));
    }
    let ts = timestamp(required(
        req,
        names.timestamp,
        "the webhook-timestamp header is missing",
    )?)?;
    let list = required(req, names.signature, "the webhook-signature header is missing")?;
    let entries: Vec<&str> = list
        .split(' ')
        .filter(|e| !e.is_empty())
        .take(MAX_SIGNATURES + 1)
        .collect();
    if entries.len() > MAX_SIGNATURES {
        return Err(refuse(RefusalReason::Malformed, "the header lists too many signatures"));
    }
    let v1: Vec<&str> = entries.iter().filter_map(|e| e.strip_prefix("v1,")).collect();
    if v1.is_empty() {
        return Err(refuse(RefusalReason::Malformed, "the header has no v1 signature"));
    }
    fresh(ts, now_secs, tolerance_secs)?;
    let given = decode_all(Encoding::Base64, &v1);
    let ts_text = ts.to_string();
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts_text.as_bytes(), b".", req.body];
    match_any(secrets, &parts, &given).map(|_| Verified {
        signature_id: Some(id.to_string()),
    })
}

/// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex> …]` over `{t}.{body}`, as Stripe's libraries
/// read it: items split at `,`, each at its first `=`; the first `t` counts; `v0` and unknown
/// items are ignored.
pub(super) fn stripe(
    secrets: &[SourceSecret],
    req: &Request<'_>,
    now_secs: i64,
    tolerance_secs: u32,
) -> Result<Verified, Refusal> {
    let header = required(req, "stripe-signature", "the Stripe-Signature header is missing")?;
    let items: Vec<(&str, &str)> = header
        .split(',')
        .take(MAX_STRIPE_ITEMS + 1)
        .filter_map(|item| item.split_once('='))
        .collect();
    if items.len() > MAX_STRIPE_ITEMS {
        return Err(refuse(
            RefusalReason::Malformed,
            "the Stripe-Signature header has too many items",
        ));
    }
    let t = items.iter().find(|(k, _)| *k == "t").ok_or(refuse(
        RefusalReason::Malformed,
        "the Stripe-Signature header has no t=",
    ))?;
    let ts = timestamp(t.1)?;
    let v1: Vec<&str> = items.iter().filter(|(k, _)| *k == "v1").map(|(_, v)| *v).collect();
    if v1.is_empty() {
        return Err(refuse(
            RefusalReason::Malformed,
            "the Stripe-Signature header has no v1=",
        ));
    }
    if v1.len() > MAX_SIGNATURES {
        return Err(refuse(
            RefusalReason::Malformed,
            "the Stripe-Signature header has too many v1=",
        ));
    }
    fresh(ts, now_secs, tolerance_secs)?;
    let given = decode_all(Encoding::Hex, &v1);
    let ts_text = ts.to_string();
    let parts: [&[u8]; 3] = [ts_text.as_bytes(), b".", req.body];
    match_any(secrets, &parts, &given).map(|mac| Verified {
        signature_id: Some(format!("{ts}.{}", replay_key(&mac))),
    })
}

/// The HMAC-SHA256 signatures among `encoded` that decode; the others cannot match any secret.
fn decode_all(encoding: Encoding, encoded: &[&str]) -> Vec<Vec<u8>> {
    encoded
        .iter()
        .filter_map(|e| mac::decode(encoding, Algorithm::Sha256, e))
        .collect()
}

/// The expected HMAC of the first secret that one of `given` matches, each HMAC computed once.
fn match_any(secrets: &[SourceSecret], parts: &[&[u8]], given: &[Vec<u8>]) -> Result<Vec<u8>, Refusal> {
    for secret in secrets {
        let Some(expected) = mac::hmac(Algorithm::Sha256, secret.key(), parts) else {
            continue;
        };
        // Fold rather than `any`, so the time does not say which listed signature matched.
        let matched = given
            .iter()
            .fold(false, |found, sig| found | constant_time_eq(sig, &expected));
        if matched {
            return Ok(expected);
        }
    }
    Err(refuse(
        RefusalReason::BadSignature,
        "no secret of the source gives a listed signature",
    ))
}
