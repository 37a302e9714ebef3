//! Applying a PATCH to a source: each present field checked as on creation.

use sqlx::types::Json;

use super::source_fields as fields;
use super::sources::{SourcePatch, sealed_secret, sealed_token};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::sources::verify::Scheme;
use crate::store::sources::SourceRow;

pub fn apply(state: &AppState, s: &mut SourceRow, p: SourcePatch) -> ApiResult<()> {
    if let Some(n) = p.name {
        s.name = fields::name(&n)?;
    }
    if let Some(d) = p.description {
        s.description = fields::description(&d)?;
    }
    if let Some(e) = p.enabled {
        s.enabled = e;
    }
    let old: Scheme = serde_json::from_value(s.scheme.0.clone()).map_err(ApiError::internal)?;
    let scheme = p.verification.unwrap_or_else(|| old.clone());
    let json = fields::scheme(&scheme)?;
    // Another preset needs another kind of secret: the old one is kept only for the same kind.
    let same_kind = scheme.name() == old.name();
    if !same_kind || p.secret.is_some() {
        s.secret = sealed_secret(state, &scheme, p.secret.as_deref())?;
        s.previous_secret = None;
        s.previous_secret_until = None;
    }
    if !same_kind || p.verify_token.is_some() {
        s.verify_token = sealed_token(state, &scheme, p.verify_token.as_deref())?;
    }
    s.scheme = Json(json);
    if let Some(n) = p.allowed_networks {
        s.allowed_networks = Json(fields::networks(n)?);
    }
    if let Some(b) = p.max_body_bytes {
        s.max_body_bytes = fields::max_body(Some(b), state.config.max_body_bytes)?;
    }
    if let Some(r) = p.rate_limit {
        s.rate_limit = fields::rate(r)?;
    }
    if let Some(d) = p.dedupe {
        s.dedupe = fields::dedupe(d)?.map(Json);
    }
    if let Some(t) = p.event_type {
        s.event_type = fields::optional_jq("event_type", t)?;
    }
    if let Some(t) = p.fallback_type {
        s.fallback_type = fields::event_type_name(&t)?;
    }
    if let Some(f) = p.filter {
        s.filter = fields::optional_jq("filter", f)?;
    }
    if let Some(t) = p.transform {
        s.transform = fields::optional_jq("transform", t)?;
    }
    if let Some(l) = p.labels {
        s.labels = Json(fields::labels(l)?);
    }
    Ok(())
}
