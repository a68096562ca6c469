//! The `[training]` keys: upload, window and S3-prefix limits, the job queue, and how often a replica
//! looks at the registry's active model.

use std::time::Duration;

use serde::Deserialize;

use crate::config::ConfigError;

/// Every `[training]` key, for environment overrides.
pub const KEYS: &[&str] = &[
    "training.max_upload_bytes",
    "training.max_upload_files",
    "training.max_window_lines",
    "training.max_queued_jobs",
    "training.max_s3_objects",
    "training.poll_interval_ms",
];

/// `[training]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTraining {
    max_upload_bytes: Option<u64>,
    max_upload_files: Option<u64>,
    max_window_lines: Option<u64>,
    max_queued_jobs: Option<u64>,
    max_s3_objects: Option<u64>,
    poll_interval_ms: Option<u64>,
}

/// Validated `[training]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainingConfig {
    /// Largest upload body (all files together, as sent: gzip counts compressed), 413 above.
    /// Each file's decompressed text is bounded by 16 times this.
    pub max_upload_bytes: u64,
    /// Most files in one multipart upload.
    pub max_upload_files: usize,
    /// Most archived lines one window job reads; it trains on the first ones.
    pub max_window_lines: u64,
    /// Jobs waiting for the runner at once on this replica (one runs at a time); 503 above.
    pub max_queued_jobs: usize,
    /// Most objects one S3-prefix job reads (in key order); it trains on the first ones.
    /// Each object is bounded like an upload (`max_upload_bytes`, 16 times decompressed).
    pub max_s3_objects: u64,
    /// How often this replica reads the registry's active model, to push an activation
    /// made on another replica.
    pub poll_interval: Duration,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            max_upload_bytes: 64 * 1024 * 1024,
            max_upload_files: 100,
            max_window_lines: 2_000_000,
            max_queued_jobs: 4,
            max_s3_objects: 10_000,
            poll_interval: Duration::from_secs(2),
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

impl TryFrom<RawTraining> for TrainingConfig {
    type Error = ConfigError;

    fn try_from(raw: RawTraining) -> Result<Self, ConfigError> {
        let d = TrainingConfig::default();
        let small = |key: &str, v: u64| {
            usize::try_from(v).map_err(|_| ConfigError::invalid(key, "too large"))
        };
        Ok(TrainingConfig {
            max_upload_bytes: positive(
                "training.max_upload_bytes",
                raw.max_upload_bytes,
                d.max_upload_bytes,
            )?,
            max_upload_files: small(
                "training.max_upload_files",
                positive(
                    "training.max_upload_files",
                    raw.max_upload_files,
                    d.max_upload_files as u64,
                )?,
            )?,
            max_window_lines: positive(
                "training.max_window_lines",
                raw.max_window_lines,
                d.max_window_lines,
            )?,
            max_queued_jobs: small(
                "training.max_queued_jobs",
                positive(
                    "training.max_queued_jobs",
                    raw.max_queued_jobs,
                    d.max_queued_jobs as u64,
                )?,
            )?,
            max_s3_objects: positive(
                "training.max_s3_objects",
                raw.max_s3_objects,
                d.max_s3_objects,
            )?,
            poll_interval: Duration::from_millis(positive(
                "training.poll_interval_ms",
                raw.poll_interval_ms,
                d.poll_interval.as_millis() as u64,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_key() {
        let c = TrainingConfig::try_from(RawTraining::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, TrainingConfig::default());
        let zero = RawTraining {
            max_upload_bytes: Some(0),
            ..RawTraining::default()
        };
        let err = TrainingConfig::try_from(zero).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("training.max_upload_bytes")),
            "{err:?}"
        );
    }
}
