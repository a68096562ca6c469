//! Login lockout, as a pure decider: failures are counted per key (`user:<name>` and
//! `addr:<ip>`) in a fixed window; a key that reaches its limit is locked for the lockout
//! time, and every attempt on it (right password or not) gets 429 with `Retry-After`
//! until then. Time is a parameter (epoch ms); the API keeps one limiter per process.
//!
//! Memory is bounded: at most `max_keys` keys are tracked; expired entries go first,
//! then the oldest.

use std::collections::HashMap;
use std::time::Duration;

/// Limits for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures within `window` that lock the key.
    pub max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// Most keys tracked at once.
pub const DEFAULT_MAX_KEYS: usize = 50_000;

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    window_start_ms: i64,
    failures: u32,
    locked_until_ms: i64,
}

/// Failure counts and lockouts per key.
#[derive(Debug)]
pub struct LoginLimiter {
    entries: HashMap<String, Entry>,
    max_keys: usize,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(DEFAULT_MAX_KEYS)
    }
}

impl LoginLimiter {
    pub fn new(max_keys: usize) -> LoginLimiter {
        LoginLimiter {
            entries: HashMap::new(),
            max_keys: max_keys.max(1),
        }
    }

    /// `Err(retry_after)` while `key` is locked.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), Duration> {
        match self.entries.get(key) {
            Some(e) if e.locked_until_ms > now_ms => Err(until(now_ms, e.locked_until_ms)),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt; returns the lockout if this failure started one.
    pub fn failure(&mut self, key: &str, limits: Limits, now_ms: i64) -> Option<Duration> {
        if !self.entries.contains_key(key) {
            self.make_room(now_ms, limits);
        }
        let window_ms = ms(limits.window);
        let e = self.entries.entry(key.to_owned()).or_default();
        if now_ms - e.window_start_ms >= window_ms || e.failures == 0 {
            e.window_start_ms = now_ms;
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures >= limits.max_failures.max(1) {
            e.locked_until_ms = now_ms.saturating_add(ms(limits.lockout));
            e.failures = 0;
            return Some(limits.lockout);
        }
        None
    }

    /// A successful login clears the key's failures (not a lockout in force).
    pub fn success(&mut self, key: &str, now_ms: i64) {
        if let Some(e) = self.entries.get(key)
            && e.locked_until_ms <= now_ms
        {
            self.entries.remove(key);
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn make_room(&mut self, now_ms: i64, limits: Limits) {
        if self.entries.len() < self.max_keys {
            return;
        }
        let window_ms = ms(limits.window);
        self.entries
            .retain(|_, e| e.locked_until_ms > now_ms || now_ms - e.window_start_ms < window_ms);
        while self.entries.len() >= self.max_keys {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.window_start_ms.max(e.locked_until_ms))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.entries.remove(&k);
                }
                None => break,
            }
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Time left until `until_ms`, rounded up to whole seconds (what `Retry-After` says).
fn until(now_ms: i64, until_ms: i64) -> Duration {
    let left = u64::try_from(until_ms - now_ms).unwrap_or(0);
    Duration::from_secs(left.div_ceil(1000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_failures: 3,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(300),
    };

    /// Runs steps of (time s, action) and renders what the limiter said after each.
    fn check(steps: &[(i64, &str)], expect: expect_test::Expect) {
        let mut l = LoginLimiter::new(100);
        let mut out = String::new();
        for &(t, action) in steps {
            let now = t * 1000;
            let said = match action {
                "fail" => match l.failure("user:a", LIMITS, now) {
                    Some(d) => format!("locked {}s", d.as_secs()),
                    None => "counted".to_owned(),
                },
                "ok" => {
                    l.success("user:a", now);
                    "cleared".to_owned()
                }
                "check" => match l.check("user:a", now) {
                    Ok(()) => "allowed".to_owned(),
                    Err(d) => format!("429 retry-after {}", d.as_secs()),
                },
                other => panic!("{other}"),
            };
            out.push_str(&format!("t={t} {action}: {said}\n"));
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn locks_after_max_failures_in_window() {
        check(
            &[
                (0, "fail"),
                (1, "fail"),
                (2, "check"),
                (2, "fail"),
                (3, "check"),
                (302, "check"),
                (303, "fail"),
            ],
            expect_test::expect![[r#"
                t=0 fail: counted
                t=1 fail: counted
                t=2 check: allowed
                t=2 fail: locked 300s
                t=3 check: 429 retry-after 299
                t=302 check: allowed
                t=303 fail: counted
            "#]],
        );
    }

    #[test]
    fn window_expiry_and_success_reset_the_count() {
        check(
            &[
                (0, "fail"),
                (1, "fail"),
                (61, "fail"),
                (62, "fail"),
                (63, "ok"),
                (64, "fail"),
                (65, "fail"),
                (65, "check"),
            ],
            expect_test::expect![[r#"
                t=0 fail: counted
                t=1 fail: counted
                t=61 fail: counted
                t=62 fail: counted
                t=63 ok: cleared
                t=64 fail: counted
                t=65 fail: counted
                t=65 check: allowed
            "#]],
        );
    }

    #[test]
    fn success_does_not_lift_a_lockout() {
        check(
            &[
                (0, "fail"),
                (0, "fail"),
                (0, "fail"),
                (10, "ok"),
                (10, "check"),
            ],
            expect_test::expect![[r#"
                t=0 fail: counted
                t=0 fail: counted
                t=0 fail: locked 300s
                t=10 ok: cleared
                t=10 check: 429 retry-after 290
            "#]],
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut l = LoginLimiter::new(10);
        for i in 0..1000 {
            l.failure(&format!("addr:{i}"), LIMITS, i);
        }
        assert!(l.len() <= 10);
    }
}
