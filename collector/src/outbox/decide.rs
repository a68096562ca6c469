//! When a failed delivery is tried again: exponential backoff with jitter, at least what
//! the receiver asked for (`Retry-After`, capped), dead-lettered after `max_attempts`.
//! Pure: the attempt count, the clock and the jitter are parameters.

use std::time::Duration;

use super::Next;

/// The `[outbox]` retry keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a message is dead-lettered (`outbox.max_attempts`).
    pub max_attempts: u32,
    /// Delay after the first failure (`outbox.base_backoff_ms`); doubles per failure.
    pub base_backoff: Duration,
    /// Longest delay (`outbox.max_backoff_ms`); also caps a receiver's `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(600),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The next step after failed attempt number `attempts` (1 for the first).
///
/// The delay is `base · 2^(attempts−1)` capped at `max_backoff`, scaled into
/// `[½, 1]` of itself by `jitter01` (so replicas retrying together spread out), and
/// never shorter than `retry_after` (itself capped at `max_backoff`).
pub fn next_after_failure(
    attempts: u32,
    policy: &RetryPolicy,
    retry_after: Option<Duration>,
    now_ms: i64,
    jitter01: f64,
) -> Next {
    if attempts >= policy.max_attempts {
        return Next::Dead;
    }
    let exp = attempts.saturating_sub(1).min(30);
    let raw = ms(policy.base_backoff).saturating_mul(1_i64 << exp);
    let capped = raw.min(ms(policy.max_backoff));
    let j = if jitter01.is_finite() {
        jitter01.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let jittered = (capped as f64 * (0.5 + 0.5 * j)) as i64;
    let asked = retry_after.map_or(0, |d| ms(d).min(ms(policy.max_backoff)));
    Next::RetryAt(now_ms.saturating_add(jittered.max(asked)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }

    #[test]
    fn table() {
        let s = Duration::from_secs;
        // (attempts, retry_after, jitter, expected)
        let cases: &[(u32, Option<Duration>, f64, Next)] = &[
            // first failure: base, jitter spreads it over [½, 1]
            (1, None, 1.0, Next::RetryAt(1_000)),
            (1, None, 0.0, Next::RetryAt(500)),
            (1, None, 0.5, Next::RetryAt(750)),
            // doubling
            (2, None, 1.0, Next::RetryAt(2_000)),
            (3, None, 1.0, Next::RetryAt(4_000)),
            (4, None, 0.0, Next::RetryAt(4_000)),
            // Retry-After longer than the backoff wins
            (1, Some(s(30)), 0.0, Next::RetryAt(30_000)),
            // Retry-After shorter than the backoff does not shorten it
            (3, Some(s(1)), 1.0, Next::RetryAt(4_000)),
            // an absurd Retry-After is capped at max_backoff
            (1, Some(s(86_400)), 0.0, Next::RetryAt(60_000)),
            // dead-letter at max_attempts, whatever Retry-After says
            (5, None, 1.0, Next::Dead),
            (6, Some(s(1)), 1.0, Next::Dead),
            // bad jitter is treated as 0
            (1, None, f64::NAN, Next::RetryAt(500)),
            (1, None, 7.0, Next::RetryAt(1_000)),
        ];
        for &(attempts, retry_after, jitter, expected) in cases {
            assert_eq!(
                next_after_failure(attempts, &policy(), retry_after, 0, jitter),
                expected,
                "attempts={attempts} retry_after={retry_after:?} jitter={jitter}"
            );
        }
    }

    #[test]
    fn the_cap_holds_for_large_attempt_counts() {
        let p = RetryPolicy {
            max_attempts: 1_000,
            ..policy()
        };
        for attempts in [7, 20, 31, 64, 999] {
            assert_eq!(
                next_after_failure(attempts, &p, None, 10, 1.0),
                Next::RetryAt(60_010),
                "{attempts}"
            );
        }
    }
}
