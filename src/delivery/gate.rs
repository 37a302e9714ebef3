//! Per-endpoint admission (pure, driven by a clock in ms): the circuit breaker, the rate limit
//! and the in-flight cap. The worker asks [`Gate::admit`] before every attempt; a refusal says
//! until when to wait, and the delivery is postponed without spending one of its retries.
//!
//! This state lives in memory and is rebuilt after a restart: losing it at worst lets a few
//! requests through early, never loses a delivery.

/// After this many consecutive failures the breaker opens.
pub const BREAKER_THRESHOLD: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breaker {
    Closed,
    /// No attempt until `until`; then one probe.
    Open {
        until: i64,
    },
    /// One probe is in flight; everything else waits for its result.
    Probing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    Go,
    /// Try again at this time (ms).
    WaitUntil(i64),
}

/// Limits of one endpoint, as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deliveries per second; `None` = unlimited.
    pub rate_per_sec: Option<u32>,
    pub max_in_flight: u32,
}

#[derive(Clone, Debug)]
pub struct Gate {
    pub breaker: Breaker,
    pub consecutive_failures: u32,
    /// How long the breaker stays open; doubles on every failed probe, up to `max_cooldown_ms`.
    cooldown_ms: i64,
    base_cooldown_ms: i64,
    max_cooldown_ms: i64,
    in_flight: u32,
    /// The earliest time (ms) the next request may start under the rate limit.
    next_free_ms: f64,
}

/// What a finished attempt changed, for the operational events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    None,
    Opened,
    /// A probe succeeded after the breaker had opened.
    Recovered,
}

impl Gate {
    pub fn new(base_cooldown_ms: i64) -> Gate {
        Gate {
            breaker: Breaker::Closed,
            consecutive_failures: 0,
            cooldown_ms: base_cooldown_ms,
            base_cooldown_ms,
            max_cooldown_ms: base_cooldown_ms.saturating_mul(64),
            in_flight: 0,
            next_free_ms: 0.0,
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// May an attempt start now? On `Go` the caller must later call [`Gate::finish`].
    pub fn admit(&mut self, now: i64, limits: Limits) -> Admit {
        match self.breaker {
            Breaker::Open { until } if now < until => return Admit::WaitUntil(until),
            Breaker::Probing => return Admit::WaitUntil(now + self.base_cooldown_ms.max(1)),
            _ => {}
        }
        if self.in_flight >= limits.max_in_flight.max(1) {
            // A slot frees when a request finishes; look again shortly.
            return Admit::WaitUntil(now + 20);
        }
        if let Some(rate) = limits.rate_per_sec.filter(|r| *r > 0) {
            // Evenly spaced starts, no burst: any one-second window holds at most `rate` of them.
            if (now as f64) < self.next_free_ms {
                return Admit::WaitUntil(self.next_free_ms.ceil() as i64);
            }
            self.next_free_ms = now as f64 + 1000.0 / f64::from(rate);
        }
        if let Breaker::Open { .. } = self.breaker {
            self.breaker = Breaker::Probing;
        }
        self.in_flight += 1;
        Admit::Go
    }

    /// Record the end of an admitted attempt.
    pub fn finish(&mut self, now: i64, success: bool) -> Transition {
        self.in_flight = self.in_flight.saturating_sub(1);
        let probing = self.breaker == Breaker::Probing;
        if success {
            self.consecutive_failures = 0;
            self.cooldown_ms = self.base_cooldown_ms;
            self.breaker = Breaker::Closed;
            return if probing {
                Transition::Recovered
            } else {
                Transition::None
            };
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if probing {
            self.cooldown_ms = (self.cooldown_ms.saturating_mul(2)).min(self.max_cooldown_ms);
            self.breaker = Breaker::Open {
                until: now + self.cooldown_ms,
            };
            return Transition::None;
        }
        if self.breaker == Breaker::Closed && self.consecutive_failures >= BREAKER_THRESHOLD {
            self.breaker = Breaker::Open {
                until: now + self.cooldown_ms,
            };
            return Transition::Opened;
        }
        Transition::None
    }

    /// An admitted attempt that was not sent after all (e.g. the delivery vanished).
    pub fn cancel(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.breaker == Breaker::Probing {
            self.breaker = Breaker::Open { until: i64::MIN };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREE: Limits = Limits {
        rate_per_sec: None,
        max_in_flight: 100,
    };

    #[test]
    fn breaker_opens_probes_and_recovers() {
        let mut g = Gate::new(1_000);
        for i in 0..BREAKER_THRESHOLD {
            assert_eq!(g.admit(0, FREE), Admit::Go);
            let t = g.finish(0, false);
            assert_eq!(t == Transition::Opened, i == BREAKER_THRESHOLD - 1);
        }
        assert_eq!(
            g.admit(500, FREE),
            Admit::WaitUntil(1_000),
            "open: wait, no attempt spent"
        );
        assert_eq!(g.admit(1_000, FREE), Admit::Go, "the probe");
        assert!(
            matches!(g.admit(1_000, FREE), Admit::WaitUntil(_)),
            "one probe at a time"
        );
        assert_eq!(g.finish(1_100, false), Transition::None);
        assert_eq!(g.breaker, Breaker::Open { until: 3_100 }, "cooldown doubles");
        assert_eq!(g.admit(3_100, FREE), Admit::Go);
        assert_eq!(g.finish(3_200, true), Transition::Recovered);
        assert_eq!(g.breaker, Breaker::Closed);
        assert_eq!(g.admit(3_200, FREE), Admit::Go);
        assert_eq!(g.finish(3_200, true), Transition::None);
    }

    #[test]
    fn in_flight_cap_holds() {
        let mut g = Gate::new(1_000);
        let lim = Limits {
            rate_per_sec: None,
            max_in_flight: 2,
        };
        assert_eq!(g.admit(0, lim), Admit::Go);
        assert_eq!(g.admit(0, lim), Admit::Go);
        assert!(matches!(g.admit(0, lim), Admit::WaitUntil(_)));
        g.finish(1, true);
        assert_eq!(g.admit(1, lim), Admit::Go);
        assert_eq!(g.in_flight(), 2);
    }

    #[test]
    fn rate_limit_never_exceeds_rate_in_any_second() {
        let lim = Limits {
            rate_per_sec: Some(10),
            max_in_flight: 1000,
        };
        let mut g = Gate::new(1_000);
        let mut starts = Vec::new();
        let mut now = 0;
        while now < 5_000 {
            match g.admit(now, lim) {
                Admit::Go => {
                    starts.push(now);
                    g.finish(now, true);
                }
                Admit::WaitUntil(t) => {
                    assert!(t >= now, "progress");
                    now = t.max(now + 1);
                }
            }
        }
        for &s in &starts {
            let window = starts.iter().filter(|&&x| x >= s && x < s + 1000).count();
            assert!(window <= 10, "{window} starts in the second after {s}");
        }
        assert!(
            starts.len() >= 45,
            "the limit is not a throttle to zero: {}",
            starts.len()
        );
    }
}
