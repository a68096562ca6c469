//! The `[s3]` keys: where S3 is (endpoint, region, path style), the configured buckets, the
//! per-object limits, the event sources (SQS queue, pushed-event secret) and the worker's pace.
//!
//! Credentials are not keys here: they come from the standard AWS sources (environment,
//! profiles) through `aws-config`; a scan may name a profile. The pushed-event secret is a
//! [`SecretStr`], so no `Debug` of this configuration shows it.

use std::time::Duration;

use serde::Deserialize;

use crate::auth::secret::SecretStr;
use crate::config::ConfigError;

/// Every `[s3]` key, for environment overrides (`FLEETLOG_S3_ENDPOINT`...).
pub const KEYS: &[&str] = &[
    "s3.endpoint",
    "s3.region",
    "s3.force_path_style",
    "s3.buckets",
    "s3.max_object_bytes",
    "s3.max_decompressed_bytes",
    "s3.events_secret",
    "s3.sqs_queue_url",
    "s3.poll_interval_ms",
    "s3.lease_ms",
    "s3.concurrency",
];

/// Default per-object size limit (compressed bytes as stored): 256 MiB.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 256 * 1024 * 1024;
/// Default limit of decompressed bytes per object (the decompression-bomb limit): 2 GiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// `s3.buckets`: a TOML array, or one comma-separated string (as an environment variable).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawBuckets {
    List(Vec<String>),
    Csv(String),
}

/// `[s3]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawS3 {
    endpoint: Option<String>,
    region: Option<String>,
    force_path_style: Option<bool>,
    buckets: Option<RawBuckets>,
    max_object_bytes: Option<u64>,
    max_decompressed_bytes: Option<u64>,
    events_secret: Option<String>,
    sqs_queue_url: Option<String>,
    poll_interval_ms: Option<u64>,
    lease_ms: Option<u64>,
    concurrency: Option<u64>,
}

/// Validated `[s3]`.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Custom endpoint (an S3-compatible server); `None` = AWS (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// Region; `None` = the AWS sources' region, else `us-east-1`.
    pub region: Option<String>,
    /// Path-style addressing; default true when an endpoint is set.
    pub force_path_style: bool,
    /// The configured buckets (`GET /api/v1/s3/sources`); empty = any bucket may be scanned.
    pub buckets: Vec<String>,
    /// Objects larger than this are skipped (reported as such).
    pub max_object_bytes: u64,
    /// Decompressed bytes per object at most; more fails the object (decompression bomb).
    pub max_decompressed_bytes: u64,
    /// Secret of the HMAC-SHA256 signature on `POST /api/v1/s3/events`; `None` refuses them.
    pub events_secret: Option<SecretStr>,
    /// SQS queue of S3 event notifications to poll; `None` = no polling.
    pub sqs_queue_url: Option<String>,
    /// How often the worker looks for queued scans (and polls SQS).
    pub poll_interval: Duration,
    /// How long the scan lease is held without renewal.
    pub lease: Duration,
    /// Objects of a scan read at once.
    pub concurrency: usize,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: None,
            force_path_style: false,
            buckets: Vec::new(),
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            events_secret: None,
            sqs_queue_url: None,
            poll_interval: Duration::from_millis(1000),
            lease: Duration::from_secs(60),
            concurrency: 4,
        }
    }
}

impl S3Config {
    /// Whether `bucket` may be scanned: any, unless `s3.buckets` names some.
    pub fn allows(&self, bucket: &str) -> bool {
        self.buckets.is_empty() || self.buckets.iter().any(|b| b == bucket)
    }
}

fn positive(key: &str, v: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    let v = v.unwrap_or(default);
    if v == 0 {
        return Err(ConfigError::invalid(key, "must be greater than 0"));
    }
    Ok(v)
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl TryFrom<RawS3> for S3Config {
    type Error = ConfigError;

    fn try_from(raw: RawS3) -> Result<Self, ConfigError> {
        let d = S3Config::default();
        let endpoint = non_empty(raw.endpoint);
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "s3.endpoint",
                "must start with http:// or https://",
            ));
        }
        let buckets = match raw.buckets {
            None => Vec::new(),
            Some(RawBuckets::List(l)) => l,
            Some(RawBuckets::Csv(s)) => s.split(',').map(str::to_owned).collect(),
        };
        let buckets: Vec<String> = buckets
            .into_iter()
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty())
            .collect();
        let max_object_bytes = positive(
            "s3.max_object_bytes",
            raw.max_object_bytes,
            d.max_object_bytes,
        )?;
        let max_decompressed_bytes = positive(
            "s3.max_decompressed_bytes",
            raw.max_decompressed_bytes,
            d.max_decompressed_bytes,
        )?;
        let poll = positive("s3.poll_interval_ms", raw.poll_interval_ms, 1000)?;
        let lease = positive("s3.lease_ms", raw.lease_ms, 60_000)?;
        if lease < 5_000 {
            return Err(ConfigError::invalid(
                "s3.lease_ms",
                "must be at least 5000 (a scan renews it every fifth of it)",
            ));
        }
        let concurrency = positive("s3.concurrency", raw.concurrency, 4)?;
        if concurrency > 64 {
            return Err(ConfigError::invalid("s3.concurrency", "must be at most 64"));
        }
        let events_secret = non_empty(raw.events_secret);
        if events_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(ConfigError::invalid(
                "s3.events_secret",
                "must be at least 16 characters",
            ));
        }
        Ok(S3Config {
            force_path_style: raw.force_path_style.unwrap_or(endpoint.is_some()),
            endpoint,
            region: non_empty(raw.region),
            buckets,
            max_object_bytes,
            max_decompressed_bytes,
            events_secret: events_secret.map(SecretStr::new),
            sqs_queue_url: non_empty(raw.sqs_queue_url),
            poll_interval: Duration::from_millis(poll),
            lease: Duration::from_millis(lease),
            concurrency: usize::try_from(concurrency).unwrap_or(4),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<S3Config, ConfigError> {
        let raw: RawS3 =
            toml::from_str(text).map_err(|e| ConfigError::invalid("s3", e.to_string()))?;
        S3Config::try_from(raw)
    }

    #[test]
    fn path_style_defaults_to_true_with_an_endpoint() {
        let cases = [
            ("", false),
            ("endpoint = \"http://127.0.0.1:9000\"", true),
            (
                "endpoint = \"http://127.0.0.1:9000\"\nforce_path_style = false",
                false,
            ),
            ("force_path_style = true", true),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap().force_path_style, want, "{text}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("endpoint = \"localhost:9000\"", "s3.endpoint"),
            ("max_object_bytes = 0", "s3.max_object_bytes"),
            ("lease_ms = 100", "s3.lease_ms"),
            ("events_secret = \"short\"", "s3.events_secret"),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn buckets_from_a_list_or_a_comma_separated_string() {
        assert_eq!(
            parse("buckets = [\"a\", \"b\"]").unwrap().buckets,
            ["a", "b"]
        );
        assert_eq!(parse("buckets = \"a, b,\"").unwrap().buckets, ["a", "b"]);
        let c = parse("buckets = \"a\"").unwrap();
        assert!(c.allows("a") && !c.allows("b"));
        assert!(parse("").unwrap().allows("anything"));
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let c = parse("events_secret = \"0123456789abcdef-secret\"").unwrap();
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }
}
