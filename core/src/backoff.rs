//! Exponential backoff with full jitter, for the HTTP clients vitals drives
//! itself (the AWS and BigQuery SDKs bring their own) and the sinks' outbox.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BASE: Duration = Duration::from_millis(200);
const CAP: Duration = Duration::from_secs(20);

/// How long to wait before attempt `attempt + 1`: a uniformly random time
/// between zero and `BASE * 2^(attempt - 1)`, at most `CAP`.
pub fn delay(attempt: u32) -> Duration {
    let ceiling = BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(CAP);
    ceiling.mul_f64(jitter())
}

/// A number in [0, 1) that differs between calls; not for cryptography.
fn jitter() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // A multiplicative hash spreads the low-entropy clock over the range.
    let mixed =
        (u64::from(nanos) ^ u64::from(std::process::id())).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        for attempt in 1..40 {
            let ceiling = BASE.saturating_mul(1 << (attempt - 1).min(16)).min(CAP);
            let d = delay(attempt);
            assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
        }
        assert!(delay(40) <= CAP);
    }
}
