//! Who is calling: `Authorization: Bearer <API key>` → [`Auth`], plus the per-key rate limit of
//! the route's category and the limit on failed authentications per client address
//! (see `auth_failures`).
//!
//! The publish routes take [`CachedAuth`]: a key verified within [`KEY_CACHE_TTL_MS`] is trusted
//! without a database read. Revoking a key through this node's API takes effect at once (the
//! cache is dropped, see `Store::key_revocations`); a revocation made through another node or
//! the CLI reaches the publish routes within that TTL, and every other route at once.
//!
//! Authorization rules, applied by handlers through [`Auth`]'s methods:
//! - an `admin` key reaches every account;
//! - an `account` key reaches only its own account. Naming another account in the path is 403
//!   (the caller already knows that account id); fetching a resource by its own id that belongs to
//!   another account is 404 (the caller must not learn that it exists).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::auth_failures::AuthFailures;
use super::telegram::client_ip;
use crate::config::RateLimits;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::model::ids::AccountId;
use crate::secrets::hash_api_key;
use crate::store::{Role, now_ms};

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Auth {
    pub key_id: Uuid,
    pub role: Role,
    pub account_id: Option<AccountId>,
}

impl Auth {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this operation needs an admin API key"))
        }
    }

    /// For routes that name an account in the path.
    pub fn require_account(&self, account_id: AccountId) -> Result<(), ApiError> {
        if self.can_access(account_id) {
            Ok(())
        } else {
            Err(ApiError::forbidden("this API key cannot access that account"))
        }
    }

    /// Whether this caller may issue, see or revoke keys of `role`: admin keys are managed by
    /// admins only.
    pub fn can_manage(&self, role: Role) -> bool {
        self.is_admin() || role == Role::Account
    }

    /// For resources found by their own id: true if the caller may see a resource of `owner`.
    pub fn can_access(&self, owner: AccountId) -> bool {
        self.is_admin() || self.account_id == Some(owner)
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, false).await
    }
}

/// [`Auth`] for the hot publish routes: a key verified within [`KEY_CACHE_TTL_MS`] is trusted
/// without reading the database again. A revocation through this node's API still takes effect
/// at once; one made elsewhere (another node, the CLI) reaches these routes within the TTL.
/// Every other route takes [`Auth`], which reads the key on each request.
pub struct CachedAuth(pub Auth);

impl FromRequestParts<AppState> for CachedAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, true).await.map(CachedAuth)
    }
}

async fn authenticate(parts: &Parts, state: &AppState, cached: bool) -> Result<Auth, ApiError> {
    let now = now_ms();
    let failures = &state.rate_limits.auth_failures;
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| client_ip(peer.ip(), &parts.headers, &state.config.trusted_proxies));
    // An address that keeps presenting wrong keys is turned away before any key is checked.
    if let Some(wait) = client.and_then(|ip| failures.blocked(ip, now)) {
        return Err(ApiError::rate_limited(wait));
    }
    let key = bearer_token(parts)
        .ok_or_else(|| ApiError::unauthorized("missing API key: send `Authorization: Bearer <key>`"))?;
    let digest = hash_api_key(key);
    // Read before the lookup: a revocation committing meanwhile makes what it finds stale.
    let epoch = state.store.key_revocations();
    let keys = &state.rate_limits.keys;
    let hit = if cached { keys.get(&digest, now, epoch) } else { None };
    let auth = match hit {
        Some(auth) => auth,
        None => match state.store.find_api_key(&digest).await? {
            Some(record) => {
                let auth = Auth {
                    key_id: record.id,
                    role: record.role,
                    account_id: record.account_id,
                };
                keys.put(digest, auth.clone(), now, epoch);
                auth
            }
            None => {
                // Revoked elsewhere: the cached routes learn it now too.
                keys.forget(&digest);
                if let Some(ip) = client {
                    failures.record(ip, now);
                }
                return Err(ApiError::unauthorized("invalid or revoked API key"));
            }
        },
    };
    let category = parts
        .extensions
        .get::<RateCategory>()
        .copied()
        .unwrap_or(RateCategory::BotManagement);
    state.rate_limits.check(category, auth.key_id)?;
    Ok(auth)
}

/// How long a verified key is trusted without asking the database: the bound on how late a
/// revocation made through another node takes effect on this one.
pub const KEY_CACHE_TTL_MS: i64 = 5_000;
/// Most keys cached; past it the cache starts over (it only saves reads).
const KEY_CACHE_MAX: usize = 10_000;

/// Verified API keys by the SHA-256 digest of the key (never the key itself): only live keys,
/// never misses, each for at most [`KEY_CACHE_TTL_MS`] and only while no key was revoked since.
#[derive(Default)]
pub struct KeyCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    /// The revocation count every entry was looked up at or after.
    epoch: u64,
    /// Indexed by the digest's first 8 bytes; the full digest is compared in constant time.
    entries: HashMap<u64, CachedKey>,
}

struct CachedKey {
    digest: [u8; 32],
    auth: Auth,
    fetched_at: i64,
}

impl CacheInner {
    /// Move to revocation count `epoch`; false if `epoch` is older than what the cache holds.
    fn at_epoch(&mut self, epoch: u64) -> bool {
        if epoch > self.epoch {
            // A key was revoked: any entry may be that key.
            self.entries.clear();
            self.epoch = epoch;
        }
        epoch == self.epoch
    }
}

impl KeyCache {
    /// The caller behind `digest`, if verified within the TTL and no revocation happened since
    /// (`epoch` is the current revocation count).
    pub fn get(&self, digest: &[u8; 32], now: i64, epoch: u64) -> Option<Auth> {
        let mut inner = self.inner.lock().ok()?;
        if !inner.at_epoch(epoch) {
            return None;
        }
        let e = inner.entries.get(&slot(digest))?;
        let same = bool::from(e.digest.ct_eq(digest));
        let fresh = now >= e.fetched_at && now - e.fetched_at < KEY_CACHE_TTL_MS;
        (same && fresh).then(|| e.auth.clone())
    }

    /// Remember a key found live by a lookup that started at revocation count `epoch`.
    pub fn put(&self, digest: [u8; 32], auth: Auth, now: i64, epoch: u64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        // A lookup that started before a revocation may have seen the revoked key live.
        if !inner.at_epoch(epoch) {
            return;
        }
        if inner.entries.len() >= KEY_CACHE_MAX {
            inner.entries.clear();
        }
        let entry = CachedKey {
            digest,
            auth,
            fetched_at: now,
        };
        inner.entries.insert(slot(&digest), entry);
    }

    /// Drop what is cached for `digest` (its key was found revoked).
    pub fn forget(&self, digest: &[u8; 32]) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.entries.remove(&slot(digest));
        }
    }

    /// Drop expired entries (memory only; `get` never answers with one).
    pub fn prune(&self, now: i64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.entries.retain(|_, e| now - e.fetched_at < KEY_CACHE_TTL_MS);
        }
    }
}

fn slot(digest: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Route categories with their own request budgets (GET INN's documented defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateCategory {
    BotManagement,
    Webhooks,
    Media,
}

/// One keyed limiter per category; keys are API key ids (or bot ids for platform webhooks).
/// The per-node key state lives here too: the cache of verified keys and the count of failed
/// authentications per client address.
pub struct RateLimiters {
    bot_management: Option<DefaultKeyedRateLimiter<Uuid>>,
    webhooks: Option<DefaultKeyedRateLimiter<Uuid>>,
    media: Option<DefaultKeyedRateLimiter<Uuid>>,
    pub keys: KeyCache,
    pub auth_failures: AuthFailures,
}

impl RateLimiters {
    pub fn new(limits: &RateLimits) -> Arc<Self> {
        // A per-minute quota replenishes evenly and allows the whole minute's budget as a burst.
        fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<Uuid>> {
            NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
        }
        Arc::new(RateLimiters {
            bot_management: limiter(limits.bot_management_per_minute),
            webhooks: limiter(limits.webhooks_per_minute),
            media: limiter(limits.media_per_minute),
            keys: KeyCache::default(),
            auth_failures: AuthFailures::new(limits.auth_failures_per_minute),
        })
    }

    pub fn check(&self, category: RateCategory, key: Uuid) -> Result<(), ApiError> {
        let limiter = match category {
            RateCategory::BotManagement => &self.bot_management,
            RateCategory::Webhooks => &self.webhooks,
            RateCategory::Media => &self.media,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)
        })
    }

    /// Forget idle keys so memory stays bounded; called periodically.
    pub fn shrink(&self) {
        for l in [&self.bot_management, &self.webhooks, &self.media]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.keys.prune(now_ms());
        self.auth_failures.prune(now_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(n: u128) -> Auth {
        Auth {
            key_id: Uuid::from_u128(n),
            role: Role::Account,
            account_id: Some(AccountId::from(Uuid::from_u128(n + 1))),
        }
    }

    #[test]
    fn a_cached_key_answers_within_the_ttl_only() {
        let cache = KeyCache::default();
        let d = [7u8; 32];
        assert!(cache.get(&d, 1_000, 0).is_none(), "misses are not invented");
        cache.put(d, auth(1), 1_000, 0);
        assert_eq!(
            cache.get(&d, 1_000 + KEY_CACHE_TTL_MS - 1, 0).map(|a| a.key_id),
            Some(Uuid::from_u128(1))
        );
        assert!(cache.get(&d, 1_000 + KEY_CACHE_TTL_MS, 0).is_none(), "expired");
        assert!(
            cache.get(&d, 999, 0).is_none(),
            "a clock that went back does not extend trust"
        );
    }

    #[test]
    fn a_revocation_drops_every_cached_key() {
        let cache = KeyCache::default();
        cache.put([1u8; 32], auth(1), 1_000, 3);
        cache.put([2u8; 32], auth(2), 1_000, 3);
        assert!(cache.get(&[2u8; 32], 1_001, 3).is_some());
        assert!(cache.get(&[1u8; 32], 1_001, 4).is_none(), "a key was revoked since");
        assert!(
            cache.get(&[2u8; 32], 1_001, 3).is_none(),
            "and the whole cache went with it"
        );
        cache.put([2u8; 32], auth(2), 1_002, 3);
        assert!(
            cache.get(&[2u8; 32], 1_003, 4).is_none(),
            "a lookup that began before the revocation is not cached"
        );
    }

    #[test]
    fn a_digest_sharing_the_index_is_not_taken_for_another() {
        let cache = KeyCache::default();
        let mut a = [9u8; 32];
        cache.put(a, auth(1), 1_000, 0);
        a[31] ^= 1; // same first 8 bytes, different key
        assert!(cache.get(&a, 1_001, 0).is_none());
        a[31] ^= 1;
        assert!(cache.get(&a, 1_001, 0).is_some());
        cache.forget(&a);
        assert!(cache.get(&a, 1_001, 0).is_none(), "forgotten once found revoked");
    }
}
