//! The presets that sign with one HMAC in one header: `hmac`, and GitHub, Shopify, Slack and
//! Meta, which are fixed instances of it.

use super::mac::{self, replay_key};
use super::request::{fresh, required, timestamp};
use super::scheme::{Algorithm, Encoding, Scheme, Segment, Template};
use super::{Refusal, RefusalReason, Request, SourceSecret, Verified, refuse};
use crate::secrets::constant_time_eq;

/// What one single-header HMAC preset reads and signs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spec<'a> {
    pub header: &'a str,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub prefix: &'a str,
    /// The timestamp header and the tolerance around it.
    pub timestamp: Option<(&'a str, u32)>,
    pub template: &'a str,
}

const HUB_SIGNATURE: &str = "x-hub-signature-256";

impl<'a> Spec<'a> {
    /// The spec of `scheme`, when it is one of this family.
    pub(super) fn of(scheme: &'a Scheme) -> Option<Spec<'a>> {
        let body_sha256 = |header, encoding, prefix| Spec {
            header,
            algorithm: Algorithm::Sha256,
            encoding,
            prefix,
            timestamp: None,
            template: "{body}",
        };
        Some(match scheme {
            Scheme::Github {} | Scheme::Meta {} => body_sha256(HUB_SIGNATURE, Encoding::Hex, "sha256="),
            Scheme::Shopify {} => body_sha256("x-shopify-hmac-sha256", Encoding::Base64, ""),
            Scheme::Slack { tolerance_secs } => Spec {
                timestamp: Some(("x-slack-request-timestamp", *tolerance_secs)),
                template: "v0:{timestamp}:{body}",
                ..body_sha256("x-slack-signature", Encoding::Hex, "v0=")
            },
            Scheme::Hmac(o) => Spec {
                header: &o.header,
                algorithm: o.algorithm,
                encoding: o.encoding,
                prefix: o.prefix.as_deref().unwrap_or_default(),
                timestamp: o.timestamp_header.as_deref().map(|h| (h, o.tolerance_secs)),
                template: o.template(),
            },
            _ => return None,
        })
    }
}

pub(super) fn verify(
    spec: &Spec<'_>,
    secrets: &[SourceSecret],
    req: &Request<'_>,
    now_secs: i64,
) -> Result<Verified, Refusal> {
    let header = required(req, spec.header, "the signature header is missing")?;
    let encoded = header
        .strip_prefix(spec.prefix)
        .ok_or(refuse(RefusalReason::Malformed, "the signature lacks its prefix"))?;
    let given = mac::decode(spec.encoding, spec.algorithm, encoded).ok_or(refuse(
        RefusalReason::Malformed,
        "the signature is not of the algorithm's length and encoding",
    ))?;
    let timestamp_text = match spec.timestamp {
        Some((name, tolerance)) => {
            let text = required(req, name, "the timestamp header is missing")?;
            fresh(timestamp(text)?, now_secs, tolerance)?;
            text
        }
        None => "",
    };
    // Validated when the scheme was saved; refused here too rather than trusted.
    let template = Template::parse(spec.template)
        .map_err(|_| refuse(RefusalReason::Malformed, "the scheme's signed content is invalid"))?;
    let parts: Vec<&[u8]> = template
        .segments()
        .iter()
        .map(|segment| match segment {
            Segment::Literal(text) => text.as_bytes(),
            Segment::Timestamp => timestamp_text.as_bytes(),
            Segment::Body => req.body,
        })
        .collect();
    for secret in secrets {
        if let Some(expected) = mac::hmac(spec.algorithm, secret.key(), &parts)
            && constant_time_eq(&expected, &given)
        {
            return Ok(Verified {
                signature_id: Some(replay_key(&expected)),
            });
        }
    }
    Err(refuse(
        RefusalReason::BadSignature,
        "no secret of the source gives this signature",
    ))
}
