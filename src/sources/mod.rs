//! Inbound sources: any provider's webhooks (payments, POS, code hosting, chat apps) arrive at
//! `POST /v1/api/sources/{source_id}/ingest`, are checked against the source's address list,
//! rate limit and size limit, verified by its preset ([`verify`]), shaped with jq, logged, and
//! published as ordinary events, so everything outbound (subscriptions, signing, retries,
//! logs, replay) applies to them unchanged.
//!
//! Durability: the ingest log row and the event it became are written in one transaction by
//! the delivery writer's group commit ([`crate::delivery::publish_ingest`]); the provider gets
//! its 2xx only after that commit.

pub mod ingest;
pub mod limits;
pub mod runtime;
pub mod shape;
pub mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use ingest::{Incoming, IngestAnswer, IngestError};
pub use runtime::SourceRt;

use crate::model::ids::SourceId;

/// Sealing purposes of a source's secrets (bound as associated data).
pub const SECRET_PURPOSE: &str = "source.secret";
pub const TOKEN_PURPOSE: &str = "source.verify_token";

/// What the sources flow needs, and nothing more: the outbound flow (to publish; it holds the
/// store, the cipher for secrets and the jq sandbox). Cheap to clone.
#[derive(Clone)]
pub struct Sources {
    pub(crate) outbound: crate::delivery::Outbound,
    pub(crate) jq: crate::jq::Sandbox,
    pub(crate) limits: crate::jq::Limits,
    cache: Arc<Mutex<HashMap<SourceId, crate::delivery::Cached<Arc<SourceRt>>>>>,
    pub(crate) gates: Arc<limits::Gates>,
}

impl Sources {
    /// Expressions run in the outbound flow's sandbox; only their first output is used.
    pub fn new(outbound: crate::delivery::Outbound) -> Sources {
        Sources {
            jq: outbound.jq.clone(),
            limits: outbound.jq.limits(1),
            outbound,
            cache: Arc::default(),
            gates: Arc::default(),
        }
    }

    /// Forget a source's cached form (after a change through the API).
    pub fn invalidate(&self, id: SourceId) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&id);
        }
        self.gates.forget(id);
    }

    /// The source from a one-second cache (changes through the API invalidate it at once; another
    /// node's changes are seen within the second).
    pub(crate) async fn source(&self, id: SourceId, now: i64) -> Result<Option<Arc<SourceRt>>, IngestError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, s)) = cache.get(&id)
            && now - at < 1_000
        {
            return Ok(s.clone());
        }
        let row = self.outbound.store.get_source(id).await?;
        let rt = match row {
            Some(r) => Some(Arc::new(SourceRt::from_row(&self.outbound.cipher, &r, now)?)),
            None => None,
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(id, (now, rt.clone()));
        }
        Ok(rt)
    }
}
