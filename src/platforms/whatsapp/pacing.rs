//! Outbound pacing per business phone number: Meta accepts a number's messages up to its
//! throughput (80 per second by default) and answers 130429 beyond it. Replies are spread
//! evenly at that rate with a burst of one second's worth: a generic cell-rate schedule, pure
//! (the caller passes the time), so the arithmetic is tested without a clock.

/// One phone number's schedule.
#[derive(Clone, Debug, Default)]
pub struct Pacer {
    /// When the next message would be on schedule if nothing had been saved up (ms, fractional).
    theoretical_ms: f64,
}

impl Pacer {
    /// Book a slot at `per_second`: Ok(when to send) or, when that is more than `max_wait_ms`
    /// off, Err(when to ask again) with nothing booked.
    pub fn reserve(&mut self, per_second: u32, now_ms: i64, max_wait_ms: i64) -> Result<i64, i64> {
        if per_second == 0 {
            return Ok(now_ms);
        }
        let interval = 1_000.0 / f64::from(per_second);
        let burst = 1_000.0 - interval;
        let now = now_ms as f64;
        let tat = self.theoretical_ms.max(now);
        let send_at = (tat - burst).max(now).ceil() as i64;
        if send_at - now_ms > max_wait_ms {
            return Err(send_at);
        }
        self.theoretical_ms = tat + interval;
        Ok(send_at)
    }
}

#[cfg(test)]
mod tests {
    use super::Pacer;

    #[test]
    fn a_seconds_worth_goes_at_once_then_the_rate_holds() {
        let mut p = Pacer::default();
        let slots: Vec<i64> = (0..160).map(|_| p.reserve(80, 10_000, 5_000).unwrap()).collect();
        assert!(slots[..80].iter().all(|s| *s == 10_000), "{:?}", &slots[..80]);
        // The next 80 take the following second, evenly.
        assert!(
            slots[80] > 10_000 && slots[159] <= 11_000,
            "{} {}",
            slots[80],
            slots[159]
        );
        assert!(slots.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn a_slot_too_far_off_books_nothing() {
        let mut p = Pacer::default();
        for _ in 0..80 {
            p.reserve(80, 0, 0).unwrap();
        }
        let later = p.reserve(80, 0, 0).unwrap_err();
        assert!(later > 0);
        assert_eq!(
            p.reserve(80, 0, 0).unwrap_err(),
            later,
            "the refused try booked nothing"
        );
        assert_eq!(p.reserve(80, later, 0), Ok(later));
    }

    #[test]
    fn zero_means_unpaced_and_idle_time_is_not_saved_beyond_the_burst() {
        let mut p = Pacer::default();
        assert_eq!(p.reserve(0, 5, 0), Ok(5));
        let mut q = Pacer::default();
        q.reserve(10, 0, 0).unwrap();
        // After a long pause, only one second's worth goes at once.
        let burst: Vec<i64> = (0..11).map(|_| q.reserve(10, 1_000_000, 10_000).unwrap()).collect();
        assert_eq!(burst.iter().filter(|s| **s == 1_000_000).count(), 10);
        assert!(burst[10] > 1_000_000);
    }
}
