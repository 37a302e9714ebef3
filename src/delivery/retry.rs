//! Retry timing (pure): the schedule, its jitter, and how a receiver's `Retry-After` bends it.

/// The default schedule: delay before attempt 1, 2, … (immediately, 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, 10 h). After the last attempt fails the delivery is `failed`.
pub const DEFAULT_SCHEDULE_SECS: &[f64] = &[0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0];

/// ±20% so that many deliveries failing together do not retry together.
pub const JITTER: f64 = 0.2;

/// A receiver may ask us to wait, but not forever: longer waits are capped here.
pub const MAX_RETRY_AFTER_MS: i64 = 6 * 3600 * 1000;

/// When to try again after `attempts_made` attempts failed, or `None` when the schedule is spent.
/// `unit` in [0, 1) picks the jitter (random in production, fixed in tests). `retry_after_ms`, from
/// a 429/503, replaces the scheduled delay (bounded by [`MAX_RETRY_AFTER_MS`]) but never beyond
/// the schedule's end.
pub fn next_delay_ms(schedule_secs: &[f64], attempts_made: u32, unit: f64, retry_after_ms: Option<i64>) -> Option<i64> {
    let base = *schedule_secs.get(attempts_made as usize)?;
    if let Some(wait) = retry_after_ms {
        return Some(wait.clamp(0, MAX_RETRY_AFTER_MS));
    }
    let factor = 1.0 + JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    Some((base * 1000.0 * factor).round() as i64)
}

/// `Retry-After` as seconds or an HTTP date, in ms from `now_ms`.
pub fn parse_retry_after(value: &str, now_ms: i64) -> Option<i64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.min(i64::MAX as u64 / 1000) as i64 * 1000);
    }
    let when = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let at = (when.unix_timestamp_nanos() / 1_000_000) as i64;
    Some((at - now_ms).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_table() {
        let s = DEFAULT_SCHEDULE_SECS;
        // (attempts made, unit, retry-after, expected)
        let cases: &[(u32, f64, Option<i64>, Option<i64>)] = &[
            (0, 0.5, None, Some(0)),
            (1, 0.5, None, Some(5_000)),
            (1, 0.0, None, Some(4_000)),
            (1, 1.0, None, Some(6_000)),
            (2, 0.5, None, Some(300_000)),
            (7, 0.5, None, Some(36_000_000)),
            (8, 0.5, None, None),
            (8, 0.5, Some(1_000), None),
            (2, 0.5, Some(1_000), Some(1_000)),
            (2, 0.5, Some(i64::MAX), Some(MAX_RETRY_AFTER_MS)),
            (2, 0.5, Some(-5), Some(0)),
        ];
        for &(n, unit, ra, want) in cases {
            assert_eq!(
                next_delay_ms(s, n, unit, ra),
                want,
                "attempts={n} unit={unit} ra={ra:?}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for i in 0..=100 {
            let d = next_delay_ms(&[0.0, 10.0], 1, i as f64 / 100.0, None).unwrap();
            assert!((8_000..=12_000).contains(&d), "{d}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("3", 0), Some(3_000));
        assert_eq!(parse_retry_after(" 0 ", 0), Some(0));
        assert_eq!(parse_retry_after("soon", 0), None);
        let now = 1_445_412_480_000; // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now), Some(10_000));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(0));
    }
}
