//! Exponential backoff with full jitter, free of the clock and of randomness sources:
//! the caller passes a uniform random number in [0, 1).

use std::time::Duration;

pub const DEFAULT_BASE: Duration = Duration::from_millis(200);
pub const DEFAULT_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(DEFAULT_BASE, DEFAULT_MAX)
    }
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// Delay before the next attempt: uniform in [ceiling/2, ceiling] where the ceiling
    /// doubles per failure up to `max` ("equal jitter": never hammers, never stalls long).
    pub fn next_delay(&mut self, rand01: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(rand01.clamp(0.0, 1.0))
    }

    /// Called after a successful connection.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next_delay(1.0);
        assert_eq!(first, Duration::from_millis(100));
        let delays: Vec<_> = (0..10).map(|_| b.next_delay(1.0)).collect();
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().unwrap(), Duration::from_secs(2));
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(50));
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for i in 0..20 {
            let r = (i as f64) / 20.0;
            let d = b.next_delay(r);
            b.attempt -= 1;
            assert!(
                d >= Duration::from_millis(500) && d <= Duration::from_secs(1),
                "{d:?}"
            );
        }
    }
}
