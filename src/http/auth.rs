//! Who is calling: `Authorization: Bearer <API key>` → [`Auth`], plus the per-key rate limit of
//! the route's category.
//!
//! Authorization rules, applied by handlers through [`Auth`]'s methods:
//! - an `admin` key reaches every account;
//! - an `account` key reaches only its own account. Naming another account in the path is 403
//!   (the caller already knows that account id); fetching a resource by its own id that belongs to
//!   another account is 404 (the caller must not learn that it exists).

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::app::AppState;
use crate::config::RateLimits;
use crate::error::ApiError;
use crate::secrets::hash_api_key;
use crate::store::Role;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Auth {
    pub key_id: Uuid,
    pub role: Role,
    pub account_id: Option<Uuid>,
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
    pub fn require_account(&self, account_id: Uuid) -> Result<(), ApiError> {
        if self.can_access(account_id) {
            Ok(())
        } else {
            Err(ApiError::forbidden("this API key cannot access that account"))
        }
    }

    /// For resources found by their own id: true if the caller may see a resource of `owner`.
    pub fn can_access(&self, owner: Uuid) -> bool {
        self.is_admin() || self.account_id == Some(owner)
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = bearer_token(parts)
            .ok_or_else(|| ApiError::unauthorized("missing API key: send `Authorization: Bearer <key>`"))?;
        let record = state
            .store
            .find_api_key(&hash_api_key(key))
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid or revoked API key"))?;
        let category = parts
            .extensions
            .get::<RateCategory>()
            .copied()
            .unwrap_or(RateCategory::BotManagement);
        state.rate_limits.check(category, record.id)?;
        Ok(Auth {
            key_id: record.id,
            role: record.role,
            account_id: record.account_id,
        })
    }
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
pub struct RateLimiters {
    bot_management: Option<DefaultKeyedRateLimiter<Uuid>>,
    webhooks: Option<DefaultKeyedRateLimiter<Uuid>>,
    media: Option<DefaultKeyedRateLimiter<Uuid>>,
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
    }
}
