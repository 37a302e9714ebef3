//! Failed authentications per client address: past a budget within a minute, every request
//! from that address is answered 429 before its key is even looked at, so guessing keys costs
//! an attacker a minute per handful of guesses and costs the database nothing.
//!
//! Only failures count: a client whose key is right is never slowed by this limiter. The
//! client address is the peer, or the one a trusted proxy names (`trusted_proxies`); IPv6
//! clients are counted per /64, the block one host usually holds.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

/// The window failures are counted in.
const WINDOW_MS: i64 = 60_000;
/// Most addresses tracked at once: memory stays bounded whatever the number of sources.
const MAX_TRACKED: usize = 65_536;

/// Failed authentications per client address within a fixed one-minute window.
pub struct AuthFailures {
    /// Failures allowed per window; 0 turns the limiter off.
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started_at: i64,
    failures: u32,
}

impl AuthFailures {
    pub fn new(per_minute: u32) -> Self {
        AuthFailures {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` while `client` has used up its failures for this window.
    pub fn blocked(&self, client: IpAddr, now: i64) -> Option<u64> {
        if self.per_minute == 0 {
            return None;
        }
        let windows = self.windows.lock().ok()?;
        let w = windows.get(&bucket(client))?;
        let ends = w.started_at + WINDOW_MS;
        (w.failures >= self.per_minute && now < ends).then(|| ((ends - now + 999) / 1_000).max(1) as u64)
    }

    /// Count one failed authentication from `client`.
    pub fn record(&self, client: IpAddr, now: i64) {
        if self.per_minute == 0 {
            return;
        }
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        let key = bucket(client);
        if !windows.contains_key(&key) && windows.len() >= MAX_TRACKED {
            // Make room from what no longer limits anyone; if every tracked address is
            // blocked right now, this one goes uncounted rather than growing the map.
            let limit = self.per_minute;
            windows.retain(|_, w| now < w.started_at + WINDOW_MS && w.failures >= limit);
            if windows.len() >= MAX_TRACKED {
                return;
            }
        }
        let w = windows.entry(key).or_insert(Window {
            started_at: now,
            failures: 0,
        });
        if now >= w.started_at + WINDOW_MS || now < w.started_at {
            *w = Window {
                started_at: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    /// Forget windows that are over (memory only); called periodically.
    pub fn prune(&self, now: i64) {
        if let Ok(mut windows) = self.windows.lock() {
            windows.retain(|_, w| now < w.started_at + WINDOW_MS);
            windows.shrink_to_fit();
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.windows.lock().map(|w| w.len()).unwrap_or(0)
    }
}

/// The unit failures are counted per: an IPv4 address, or an IPv6 /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_is_blocked_after_its_failures_until_the_window_ends() {
        let limiter = AuthFailures::new(3);
        let a = ip("203.0.113.7");
        for t in 0..3 {
            assert_eq!(limiter.blocked(a, 1_000 + t), None);
            limiter.record(a, 1_000 + t);
        }
        assert_eq!(limiter.blocked(a, 1_003), Some(60), "the rest of the minute");
        assert_eq!(limiter.blocked(a, 1_000 + WINDOW_MS - 1), Some(1));
        assert_eq!(limiter.blocked(a, 1_000 + WINDOW_MS), None, "a new window");
        assert_eq!(
            limiter.blocked(ip("203.0.113.8"), 1_003),
            None,
            "others are not blocked"
        );
        limiter.record(a, 1_000 + WINDOW_MS);
        assert_eq!(limiter.blocked(a, 1_001 + WINDOW_MS), None, "the count started over");
    }

    #[test]
    fn ipv6_hosts_count_per_64_and_zero_turns_it_off() {
        let limiter = AuthFailures::new(2);
        limiter.record(ip("2001:db8:1:2::1"), 0);
        limiter.record(ip("2001:db8:1:2::ffff"), 0);
        assert!(limiter.blocked(ip("2001:db8:1:2:aaaa::9"), 1).is_some());
        assert!(limiter.blocked(ip("2001:db8:1:3::1"), 1).is_none());
        limiter.record(ip("::ffff:198.51.100.1"), 0);
        limiter.record(ip("198.51.100.1"), 0);
        assert!(limiter.blocked(ip("198.51.100.1"), 1).is_some(), "mapped IPv4 is IPv4");
        let off = AuthFailures::new(0);
        for _ in 0..10 {
            off.record(ip("198.51.100.1"), 0);
        }
        assert!(off.blocked(ip("198.51.100.1"), 1).is_none());
        assert_eq!(off.tracked(), 0);
    }

    #[test]
    fn memory_stays_bounded_under_many_addresses() {
        let limiter = AuthFailures::new(1);
        for i in 0..(MAX_TRACKED as u32 + 1_000) {
            limiter.record(IpAddr::V4(i.into()), 0);
        }
        assert!(limiter.tracked() <= MAX_TRACKED);
        assert!(
            limiter.blocked(IpAddr::V4(5u32.into()), 1).is_some(),
            "the first ones still count"
        );
        limiter.prune(WINDOW_MS);
        assert_eq!(limiter.tracked(), 0);
    }
}
