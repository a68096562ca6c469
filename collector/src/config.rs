//! Collector configuration: TOML file, then `FLEETLOG_*` environment variables, then flags.
//!
//! Two stages: the merged TOML is deserialized into `RawConfig` (`deny_unknown_fields`,
//! so a misspelled key fails start-up naming the key), then validated into
//! `CollectorConfig` with errors that name the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "./fleetlog-data";
pub const DEFAULT_QUIC_LISTEN: &str = "0.0.0.0:4433";
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_BATCH_BYTES: u64 = 8 * 1024 * 1024;
pub const DEFAULT_RETENTION_MAX_AGE_HOURS: u64 = 30 * 24;
pub const DEFAULT_RETENTION_MAX_BYTES: u64 = 20 * 1024 * 1024 * 1024;
pub const DEFAULT_RETENTION_INTERVAL_SECS: u64 = 60;
/// Model file used when `model` is not set, relative to `data_dir`, if it exists.
pub const DEFAULT_MODEL_FILE: &str = "baseline.json";

/// Every leaf key, for environment overrides: `retention.max_bytes` ← `FLEETLOG_RETENTION_MAX_BYTES`.
pub const KEYS: &[&str] = &[
    "data_dir",
    "quic_listen",
    "http_listen",
    "store_url",
    "max_batch_bytes",
    "model",
    "tls.cert",
    "tls.key",
    "tls.ca",
    "retention.max_age_hours",
    "retention.max_bytes",
    "retention.interval_secs",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    quic_listen: Option<String>,
    http_listen: Option<String>,
    store_url: Option<String>,
    max_batch_bytes: Option<u64>,
    model: Option<PathBuf>,
    #[serde(default)]
    tls: RawTls,
    #[serde(default)]
    retention: RawRetention,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    max_age_hours: Option<u64>,
    max_bytes: Option<u64>,
    interval_secs: Option<u64>,
}

/// Where the QUIC server's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// A development CA and server certificate generated in the data dir on first start.
    Development,
    /// Operator-provided PEM files; `ca` is the file agents should trust (informational).
    Files {
        cert: PathBuf,
        key: PathBuf,
        ca: Option<PathBuf>,
    },
}

/// Validated collector configuration.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub data_dir: PathBuf,
    pub quic_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub store_url: String,
    pub max_batch_bytes: u32,
    /// Baseline model (JSON from `fleetlog-collector train --out`) pushed to every agent.
    /// `None` means the default, `<data_dir>/baseline.json`, used only if it exists
    /// (see [`CollectorConfig::model_path`]).
    pub model: Option<PathBuf>,
    pub tls: TlsSource,
    /// `None` keeps segments forever.
    pub retention_max_age: Option<Duration>,
    pub retention_max_bytes: Option<u64>,
    pub retention_interval: Duration,
}

impl CollectorConfig {
    /// The model file to load at start: the `model` key, else `<data_dir>/baseline.json` when
    /// that file exists, else none. Read once at start: a changed file is picked up on restart.
    pub fn model_path(&self) -> Option<PathBuf> {
        self.model.clone().or_else(|| {
            let default = self.data_dir.join(DEFAULT_MODEL_FILE);
            default.is_file().then_some(default)
        })
    }
}

/// Sets `value` at dotted `key` inside `table`, creating intermediate tables.
pub fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut cur = table;
    for p in parts {
        let entry = cur
            .entry(p)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(t) = entry else { return };
        cur = t;
    }
    cur.insert(last.to_owned(), value);
}

/// Environment variable name for a dotted key.
pub fn env_name(key: &str) -> String {
    format!("FLEETLOG_{}", key.replace('.', "_").to_uppercase())
}

/// Merges file, environment and flag values (later wins) and validates the result.
pub fn load(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
    flags: toml::Table,
) -> Result<CollectorConfig, ConfigError> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            toml::from_str::<toml::Table>(&text).map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        }
        None => toml::Table::new(),
    };
    for key in KEYS {
        if let Some(text) = env(&env_name(key)) {
            let value = match text.parse::<i64>() {
                Ok(i) => toml::Value::Integer(i),
                Err(_) => toml::Value::String(text),
            };
            set_key(&mut table, key, value);
        }
    }
    for (k, v) in flags {
        set_key(&mut table, &k, v);
    }
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            ConfigError::Invalid {
                key: if path == "." { "<root>".into() } else { path },
                message,
            }
        })?;
    CollectorConfig::try_from(raw)
}

fn addr(key: &str, v: Option<String>, default: &str) -> Result<SocketAddr, ConfigError> {
    let s = v.unwrap_or_else(|| default.to_owned());
    s.parse()
        .map_err(|_| ConfigError::invalid(key, format!("`{s}` is not an IP:PORT address")))
}

impl TryFrom<RawConfig> for CollectorConfig {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let store_url = match raw.store_url {
            Some(u)
                if u.starts_with("sqlite:")
                    || u.starts_with("postgres://")
                    || u.starts_with("postgresql://") =>
            {
                u
            }
            Some(u) => {
                return Err(ConfigError::invalid(
                    "store_url",
                    format!("`{u}` must start with sqlite: or postgres://"),
                ));
            }
            None => format!("sqlite://{}", data_dir.join("fleetlog.db").display()),
        };
        let max_batch_bytes = raw.max_batch_bytes.unwrap_or(DEFAULT_MAX_BATCH_BYTES);
        if max_batch_bytes == 0 || max_batch_bytes > fleetlog_protocol::MAX_FRAME_LEN as u64 {
            return Err(ConfigError::invalid(
                "max_batch_bytes",
                format!("must be between 1 and {}", fleetlog_protocol::MAX_FRAME_LEN),
            ));
        }
        let tls = match (raw.tls.cert, raw.tls.key) {
            (None, None) => TlsSource::Development,
            (Some(cert), Some(key)) => TlsSource::Files {
                cert,
                key,
                ca: raw.tls.ca,
            },
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "tls.key",
                    "required when tls.cert is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "tls.cert",
                    "required when tls.key is set",
                ));
            }
        };
        let hours = raw
            .retention
            .max_age_hours
            .unwrap_or(DEFAULT_RETENTION_MAX_AGE_HOURS);
        let bytes = raw
            .retention
            .max_bytes
            .unwrap_or(DEFAULT_RETENTION_MAX_BYTES);
        let interval = raw
            .retention
            .interval_secs
            .unwrap_or(DEFAULT_RETENTION_INTERVAL_SECS);
        if interval == 0 {
            return Err(ConfigError::invalid(
                "retention.interval_secs",
                "must be greater than 0",
            ));
        }
        Ok(CollectorConfig {
            quic_listen: addr("quic_listen", raw.quic_listen, DEFAULT_QUIC_LISTEN)?,
            http_listen: addr("http_listen", raw.http_listen, DEFAULT_HTTP_LISTEN)?,
            data_dir,
            store_url,
            // Checked above: fits in u32 because MAX_FRAME_LEN does.
            max_batch_bytes: max_batch_bytes as u32,
            model: raw.model,
            tls,
            retention_max_age: (hours > 0).then(|| Duration::from_secs(hours * 3600)),
            retention_max_bytes: (bytes > 0).then_some(bytes),
            retention_interval: Duration::from_secs(interval),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_embedded_default() {
        let cfg = load(None, |_| None, toml::Table::new()).unwrap();
        assert_eq!(cfg.quic_listen.to_string(), DEFAULT_QUIC_LISTEN);
        assert_eq!(cfg.http_listen.to_string(), DEFAULT_HTTP_LISTEN);
        assert!(cfg.store_url.starts_with("sqlite://"));
        assert!(matches!(cfg.tls, TlsSource::Development));
        assert_eq!(cfg.model, None);
    }

    #[test]
    fn model_defaults_to_the_data_dir_file_only_if_present() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = toml::Table::new();
        set_key(&mut t, "data_dir", dir.path().display().to_string().into());
        let cfg = load(None, |_| None, t.clone()).unwrap();
        assert_eq!(cfg.model_path(), None);
        std::fs::write(dir.path().join(DEFAULT_MODEL_FILE), "{}").unwrap();
        assert_eq!(cfg.model_path(), Some(dir.path().join(DEFAULT_MODEL_FILE)));
        let env = |k: &str| (k == "FLEETLOG_MODEL").then(|| "/etc/fleetlog/m.json".to_owned());
        let cfg = load(None, env, t).unwrap();
        assert_eq!(
            cfg.model_path(),
            Some(PathBuf::from("/etc/fleetlog/m.json"))
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let mut t = toml::Table::new();
        set_key(&mut t, "retention.max_agee_hours", toml::Value::Integer(1));
        let err = load(None, |_| None, t).unwrap_err().to_string();
        assert!(
            err.contains("retention") && err.contains("max_agee_hours"),
            "{err}"
        );
        let mut t = toml::Table::new();
        set_key(&mut t, "http_lisen", toml::Value::String("x".into()));
        let err = load(None, |_| None, t).unwrap_err().to_string();
        assert!(err.contains("http_lisen"), "{err}");
    }

    #[test]
    fn env_overrides_and_errors_name_the_key() {
        let env = |k: &str| (k == "FLEETLOG_HTTP_LISTEN").then(|| "nonsense".to_owned());
        let err = load(None, env, toml::Table::new()).unwrap_err().to_string();
        assert!(err.contains("http_listen"), "{err}");
        let env = |k: &str| (k == "FLEETLOG_RETENTION_MAX_BYTES").then(|| "1000".to_owned());
        assert_eq!(
            load(None, env, toml::Table::new())
                .unwrap()
                .retention_max_bytes,
            Some(1000)
        );
    }
}
