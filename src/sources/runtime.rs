//! A source as the ingest path needs it: its preset parsed, secrets opened, jq compiled.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::verify::{Scheme, SourceSecret};
use super::{SECRET_PURPOSE, TOKEN_PURPOSE};
use crate::jq::Program;
use crate::model::ids::{AccountId, SourceId};
use crate::secrets::Cipher;
use crate::store::sources::SourceRow;

/// Where a request's duplicate key comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum DedupeSpec {
    /// A request header, e.g. `X-GitHub-Delivery` or `webhook-id`.
    Header(String),
    /// A jq expression over `{body, headers, query}`, e.g. `.body.id`.
    Jq(String),
}

/// Why a stored source cannot be used (a row written by hand, a changed master key).
#[derive(Debug, thiserror::Error)]
#[error("source {id} is unusable: {why}")]
pub struct Unusable {
    pub id: SourceId,
    pub why: String,
}

pub enum Dedupe {
    Header(http::HeaderName),
    Jq(Program),
}

pub struct SourceRt {
    pub id: SourceId,
    pub account_id: AccountId,
    pub enabled: bool,
    pub scheme: Scheme,
    /// The current secret, then the previous one while its grace period lasts.
    pub secrets: Vec<SourceSecret>,
    pub networks: Vec<IpNet>,
    pub max_body_bytes: usize,
    pub rate_limit: Option<u32>,
    pub dedupe: Option<Dedupe>,
    pub event_type: Option<Program>,
    pub fallback_type: String,
    pub filter: Option<Program>,
    pub transform: Option<Program>,
    pub labels: Vec<String>,
}

impl SourceRt {
    pub fn from_row(cipher: &Cipher, row: &SourceRow, now: i64) -> Result<SourceRt, Unusable> {
        let bad = |why: String| Unusable { id: row.id, why };
        let open = |purpose: &str, sealed: &[u8]| {
            cipher
                .open_string(purpose, sealed)
                .map_err(|e| bad(format!("cannot open a secret: {e}")))
        };
        let scheme: Scheme =
            serde_json::from_value(row.scheme.0.clone()).map_err(|e| bad(format!("stored scheme: {e}")))?;
        let token = match &row.verify_token {
            Some(t) => Some(open(TOKEN_PURPOSE, t)?),
            None => None,
        };
        // The current secret first, then the previous one while its grace period lasts; Meta's
        // verify token goes with each.
        let current = row.secret.as_deref();
        let previous = row
            .previous_secret
            .as_deref()
            .filter(|_| row.previous_secret_until.is_some_and(|u| u > now));
        let mut secrets = Vec::new();
        for sealed in [current, previous].into_iter().flatten() {
            let text = open(SECRET_PURPOSE, sealed)?;
            let mut secret =
                SourceSecret::parse(&scheme, text.expose()).map_err(|e| bad(format!("stored secret: {e}")))?;
            if let Some(t) = &token {
                secret = secret
                    .with_verify_token(t.expose())
                    .map_err(|e| bad(format!("stored verify token: {e}")))?;
            }
            secrets.push(secret);
        }
        let compile = |what: &str, src: &Option<String>| -> Result<Option<Program>, Unusable> {
            src.as_deref()
                .map(|s| Program::compile(s).map_err(|e| bad(format!("stored {what}: {e}"))))
                .transpose()
        };
        let dedupe = match row
            .dedupe
            .as_ref()
            .map(|d| serde_json::from_value::<DedupeSpec>(d.0.clone()))
        {
            None => None,
            Some(Err(e)) => return Err(bad(format!("stored dedupe: {e}"))),
            Some(Ok(DedupeSpec::Header(h))) => Some(Dedupe::Header(
                http::HeaderName::try_from(h.as_str()).map_err(|e| bad(format!("stored dedupe header: {e}")))?,
            )),
            Some(Ok(DedupeSpec::Jq(src))) => Some(Dedupe::Jq(
                Program::compile(&src).map_err(|e| bad(format!("stored dedupe: {e}")))?,
            )),
        };
        Ok(SourceRt {
            id: row.id,
            account_id: row.account_id,
            enabled: row.enabled,
            scheme,
            secrets,
            networks: row.allowed_networks.0.iter().filter_map(|n| n.parse().ok()).collect(),
            max_body_bytes: row.max_body_bytes.clamp(0, i64::from(u32::MAX)) as usize,
            rate_limit: row.rate_limit.map(|r| r.clamp(1, i64::from(u32::MAX)) as u32),
            dedupe,
            event_type: compile("event_type", &row.event_type)?,
            fallback_type: row.fallback_type.clone(),
            filter: compile("filter", &row.filter)?,
            transform: compile("transform", &row.transform)?,
            labels: row.labels.0.clone(),
        })
    }
}

/// The duplicate key a preset implies when the source names none: the provider's own
/// delivery id, which its redeliveries repeat.
pub fn default_dedupe(scheme: &Scheme) -> Option<DedupeSpec> {
    let header = match scheme {
        Scheme::StandardWebhooks { .. } => "webhook-id",
        Scheme::Github {} => "x-github-delivery",
        Scheme::Shopify {} => "x-shopify-webhook-id",
        Scheme::Stripe { .. } => return Some(DedupeSpec::Jq(".body.id".into())),
        Scheme::Slack { .. } => return Some(DedupeSpec::Jq(".body.event_id".into())),
        _ => return None,
    };
    Some(DedupeSpec::Header(header.into()))
}
