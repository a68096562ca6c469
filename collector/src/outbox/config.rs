//! The `[outbox]` keys: retries, leases, timeouts and concurrency of delivery.

use std::time::Duration;

use serde::Deserialize;

use super::RetryPolicy;
use crate::config::ConfigError;

/// Every `[outbox]` key, for environment overrides.
pub const KEYS: &[&str] = &[
    "outbox.max_attempts",
    "outbox.base_backoff_ms",
    "outbox.max_backoff_ms",
    "outbox.lease_ms",
    "outbox.delivery_timeout_ms",
    "outbox.concurrency",
    "outbox.poll_interval_ms",
];

/// `[outbox]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    max_attempts: Option<u64>,
    base_backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    lease_ms: Option<u64>,
    delivery_timeout_ms: Option<u64>,
    concurrency: Option<u64>,
    poll_interval_ms: Option<u64>,
}

/// Validated `[outbox]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    pub retry: RetryPolicy,
    /// How long a claim is held; a crashed worker's messages are claimable after it.
    /// Longer than `delivery_timeout`, so a live delivery never loses its claim.
    pub lease: Duration,
    /// Longest one delivery may take (a hanging channel is cut off after it).
    pub delivery_timeout: Duration,
    /// Deliveries in flight at once per replica (one per target at a time).
    pub concurrency: u32,
    /// How often the worker looks for due messages.
    pub poll_interval: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            retry: RetryPolicy::default(),
            lease: Duration::from_secs(60),
            delivery_timeout: Duration::from_secs(15),
            concurrency: 16,
            poll_interval: Duration::from_millis(500),
        }
    }
}

fn positive(key: &str, v: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    let v = v.unwrap_or(default);
    if v == 0 {
        return Err(ConfigError::invalid(key, "must be greater than 0"));
    }
    Ok(v)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TryFrom<RawOutbox> for OutboxConfig {
    type Error = ConfigError;

    fn try_from(raw: RawOutbox) -> Result<Self, ConfigError> {
        let d = OutboxConfig::default();
        let max_attempts = positive(
            "outbox.max_attempts",
            raw.max_attempts,
            u64::from(d.retry.max_attempts),
        )?;
        let max_attempts = u32::try_from(max_attempts)
            .map_err(|_| ConfigError::invalid("outbox.max_attempts", "too large"))?;
        let base = positive(
            "outbox.base_backoff_ms",
            raw.base_backoff_ms,
            millis(d.retry.base_backoff),
        )?;
        let max = positive(
            "outbox.max_backoff_ms",
            raw.max_backoff_ms,
            millis(d.retry.max_backoff),
        )?;
        if base > max {
            return Err(ConfigError::invalid(
                "outbox.base_backoff_ms",
                "must not exceed outbox.max_backoff_ms",
            ));
        }
        let lease = positive("outbox.lease_ms", raw.lease_ms, millis(d.lease))?;
        let timeout = positive(
            "outbox.delivery_timeout_ms",
            raw.delivery_timeout_ms,
            millis(d.delivery_timeout),
        )?;
        if timeout >= lease {
            return Err(ConfigError::invalid(
                "outbox.delivery_timeout_ms",
                "must be shorter than outbox.lease_ms (a live delivery must keep its claim)",
            ));
        }
        let concurrency = positive(
            "outbox.concurrency",
            raw.concurrency,
            u64::from(d.concurrency),
        )?;
        Ok(OutboxConfig {
            retry: RetryPolicy {
                max_attempts,
                base_backoff: Duration::from_millis(base),
                max_backoff: Duration::from_millis(max),
            },
            lease: Duration::from_millis(lease),
            delivery_timeout: Duration::from_millis(timeout),
            concurrency: u32::try_from(concurrency.min(1024)).unwrap_or(1024),
            poll_interval: Duration::from_millis(positive(
                "outbox.poll_interval_ms",
                raw.poll_interval_ms,
                millis(d.poll_interval),
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_key() {
        let c = OutboxConfig::try_from(RawOutbox::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, OutboxConfig::default());
        let bad = RawOutbox {
            delivery_timeout_ms: Some(120_000),
            ..RawOutbox::default()
        };
        let err = OutboxConfig::try_from(bad).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("outbox.delivery_timeout_ms")),
            "{err:?}"
        );
        let zero = RawOutbox {
            max_attempts: Some(0),
            ..RawOutbox::default()
        };
        assert!(OutboxConfig::try_from(zero).is_err());
    }
}
