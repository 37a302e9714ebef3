//! Per-source admission: the request rate limit, and the budget of refused requests written to
//! the ingest log (a flood of bad signatures must not fill the disk or the log).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::model::ids::SourceId;

/// Refused requests logged per source and minute; the rest are only counted.
pub const REFUSALS_LOGGED_PER_MINUTE: u32 = 20;

struct Limiter {
    rate: u32,
    limiter: Arc<DefaultDirectRateLimiter>,
}

#[derive(Default)]
pub struct Gates {
    rate: Mutex<HashMap<SourceId, Limiter>>,
    refusals: Mutex<HashMap<SourceId, Arc<DefaultDirectRateLimiter>>>,
}

impl Gates {
    /// `Ok` when a request may proceed under `rate` per second (a burst of one second's worth),
    /// else how long until one would.
    pub fn admit(&self, id: SourceId, rate: u32) -> Result<(), Duration> {
        let limiter = {
            let Ok(mut map) = self.rate.lock() else { return Ok(()) };
            if map.len() > 100_000 {
                map.clear();
            }
            let entry = map.entry(id).or_insert_with(|| Limiter {
                rate,
                limiter: Arc::new(direct(rate)),
            });
            if entry.rate != rate {
                *entry = Limiter {
                    rate,
                    limiter: Arc::new(direct(rate)),
                };
            }
            entry.limiter.clone()
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Whether one more refused request of this source may be written to the log now.
    pub fn log_refusal(&self, id: SourceId) -> bool {
        let limiter = {
            let Ok(mut map) = self.refusals.lock() else {
                return false;
            };
            if map.len() > 100_000 {
                map.clear();
            }
            map.entry(id)
                .or_insert_with(|| {
                    let per_minute = NonZeroU32::new(REFUSALS_LOGGED_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
                    Arc::new(RateLimiter::direct(Quota::per_minute(per_minute)))
                })
                .clone()
        };
        limiter.check().is_ok()
    }

    pub fn forget(&self, id: SourceId) {
        if let Ok(mut map) = self.rate.lock() {
            map.remove(&id);
        }
    }
}

fn direct(rate: u32) -> DefaultDirectRateLimiter {
    RateLimiter::direct(Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_over_its_rate_is_told_how_long_to_wait_and_others_are_not() {
        let gates = Gates::default();
        let (a, b) = (SourceId::new(), SourceId::new());
        assert!(gates.admit(a, 2).is_ok());
        assert!(gates.admit(a, 2).is_ok());
        let wait = gates.admit(a, 2).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(gates.admit(b, 2).is_ok(), "each source has its own budget");
    }

    #[test]
    fn refusals_are_logged_up_to_the_budget() {
        let gates = Gates::default();
        let id = SourceId::new();
        let logged = (0..100).filter(|_| gates.log_refusal(id)).count();
        assert_eq!(logged, REFUSALS_LOGGED_PER_MINUTE as usize);
    }
}
