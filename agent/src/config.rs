//! Agent configuration: TOML file, then `FLEETLOG_*` environment variables, then flags.
//!
//! Parsing is two-stage: the merged TOML value is deserialized into `RawConfig`
//! (`deny_unknown_fields`, so a misspelled key fails start-up naming the key), then
//! validated into `AgentConfig`, with errors that name the offending key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::buffer::FullPolicy;

pub const DEFAULT_DATA_DIR: &str = "./fleetlog-agent-data";
pub const DEFAULT_BUFFER_MAX_BYTES: u64 = 512 * 1024 * 1024;
pub const DEFAULT_BATCH_MAX_BYTES: u64 = 4 * 1024 * 1024;
pub const DEFAULT_BATCH_MAX_WAIT_MS: u64 = 500;
pub const DEFAULT_MAX_LINE_BYTES: u64 = 64 * 1024;
pub const DEFAULT_HEARTBEAT_SECS: u64 = 10;
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 8;
pub const DEFAULT_MAX_IN_FLIGHT_PRIORITY: u64 = 4;
/// The buffer's slice kept for commits with critical lines, unless configured: 1/16 of
/// `buffer.max_bytes`.
pub const DEFAULT_PRIORITY_RESERVE_DIVISOR: u64 = 16;

/// With several collectors, seconds away from home before going back (0: never).
pub const DEFAULT_REBALANCE_AFTER_SECS: u64 = 600;

/// Default for `poll_interval_ms`: the longest time between two full rescans of the globs.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 1000;

/// Bounds of `poll_interval_ms`: below a tick a rescan would add nothing; above a minute a
/// file system without notifications would be read too late.
pub const POLL_INTERVAL_MS_RANGE: std::ops::RangeInclusive<u64> = 250..=60_000;

/// Every leaf key, for environment overrides: `buffer.max_bytes` ← `FLEETLOG_BUFFER_MAX_BYTES`.
pub const KEYS: &[&str] = &[
    "collector",
    "server_name",
    "token_file",
    "ca",
    "data_dir",
    "host_name",
    "paths",
    "exclude",
    "start_at_end",
    "max_line_bytes",
    "multiline",
    "max_event_bytes",
    "poll_interval_ms",
    "metrics_listen",
    "heartbeat_secs",
    "rebalance_after_secs",
    "buffer.max_bytes",
    "buffer.when_full",
    "buffer.priority_reserve_bytes",
    "batch.max_bytes",
    "batch.max_wait_ms",
    "batch.max_in_flight",
    "batch.max_in_flight_priority",
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
    collector: Option<String>,
    server_name: Option<String>,
    token_file: Option<PathBuf>,
    ca: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    host_name: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    start_at_end: bool,
    max_line_bytes: Option<u64>,
    multiline: Option<bool>,
    max_event_bytes: Option<u64>,
    poll_interval_ms: Option<u64>,
    metrics_listen: Option<String>,
    heartbeat_secs: Option<u64>,
    rebalance_after_secs: Option<u64>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    sources: Vec<RawSource>,
    #[serde(default)]
    buffer: RawBuffer,
    #[serde(default)]
    batch: RawBatch,
}

/// One `[[sources]]` table: globs with settings of their own.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(default)]
    paths: Vec<String>,
    service: Option<String>,
    start_at_end: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBuffer {
    max_bytes: Option<u64>,
    when_full: Option<String>,
    priority_reserve_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    max_bytes: Option<u64>,
    max_wait_ms: Option<u64>,
    max_in_flight: Option<u64>,
    max_in_flight_priority: Option<u64>,
}

/// Validated agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub collector: String,
    pub server_name: String,
    pub token_file: PathBuf,
    pub ca: PathBuf,
    pub data_dir: PathBuf,
    pub host_name: String,
    pub labels: Vec<(String, String)>,
    /// Every glob to read: the top-level `paths` and each `[[sources]]` table's.
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
    pub start_at_end: bool,
    /// Globs whose files start at their end (`[[sources]]` with `start_at_end = true`).
    pub start_at_end_globs: Vec<String>,
    /// (glob, service) of `[[sources]]` naming their service; the first match wins.
    pub services: Vec<(String, String)>,
    pub max_line_bytes: usize,
    /// How read lines become entries (keys `multiline`, `max_event_bytes`).
    pub assemble: crate::assemble::AssembleConfig,
    /// Longest time between two full rescans of the globs; file-system events read a
    /// written file at once and ask for a rescan when files come and go.
    pub poll_interval: Duration,
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub heartbeat: Duration,
    /// With several collectors: how long a connection away from the agent's home collector
    /// lasts before the agent goes back home (`None`: it stays until the connection fails).
    pub rebalance_after: Option<Duration>,
    pub buffer_max_bytes: u64,
    pub when_full: FullPolicy,
    pub batch_max_bytes: usize,
    pub batch_max_wait: Duration,
    pub max_in_flight: usize,
    /// Priority-lane batches in flight, a budget of their own.
    pub max_in_flight_priority: usize,
    /// Bytes of the buffer only commits with critical lines may use.
    pub priority_reserve_bytes: u64,
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

/// Keys whose values are strings: their environment text is never read as a number or a
/// boolean (`FLEETLOG_HOST_NAME=042` is the host `042`, not the number 42).
const STRING_KEYS: &[&str] = &[
    "collector",
    "server_name",
    "token_file",
    "ca",
    "data_dir",
    "host_name",
    "metrics_listen",
    "buffer.when_full",
];

/// Interprets an environment variable's text as a TOML value for `key`: string keys as
/// strings, list keys as comma-separated strings, other integers and booleans as such.
fn env_value(key: &str, text: &str) -> toml::Value {
    if STRING_KEYS.contains(&key) {
        return toml::Value::String(text.to_owned());
    }
    if matches!(key, "paths" | "exclude") {
        return toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        );
    }
    if let Ok(i) = text.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(b) = text.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    toml::Value::String(text.to_owned())
}

/// Environment variable name for a dotted key.
pub fn env_name(key: &str) -> String {
    format!("FLEETLOG_{}", key.replace('.', "_").to_uppercase())
}

/// Merges file, environment and flag values (later wins) and validates the result.
pub fn load(
    file: Option<&std::path::Path>,
    env: impl Fn(&str) -> Option<String>,
    flags: toml::Table,
) -> Result<AgentConfig, ConfigError> {
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
            set_key(&mut table, key, env_value(key, &text));
        }
    }
    for (k, v) in flags {
        set_key(&mut table, &k, v);
    }
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // For an unknown field the path names the table; the message names the field.
            ConfigError::Invalid {
                key: if path == "." { "<root>".into() } else { path },
                message: inner,
            }
        })?;
    AgentConfig::try_from(raw)
}

/// Longest `[[sources]]` service name, in characters.
const MAX_SERVICE_CHARS: usize = 128;

/// The top-level `paths` and the `[[sources]]` tables, merged and checked.
struct Sources {
    paths: Vec<String>,
    start_at_end_globs: Vec<String>,
    services: Vec<(String, String)>,
}

impl Sources {
    fn from_raw(
        top: &[String],
        top_at_end: bool,
        tables: &[RawSource],
    ) -> Result<Sources, ConfigError> {
        let mut out = Sources {
            paths: Vec::new(),
            start_at_end_globs: Vec::new(),
            services: Vec::new(),
        };
        let check = |key: &str, g: &String| {
            glob::Pattern::new(g)
                .map(|_| ())
                .map_err(|e| ConfigError::invalid(key, format!("bad glob `{g}`: {e}")))
        };
        for g in top {
            check("paths", g)?;
            out.paths.push(g.clone());
            if top_at_end && !tables.is_empty() {
                out.start_at_end_globs.push(g.clone());
            }
        }
        for (i, table) in tables.iter().enumerate() {
            let key = format!("sources[{i}]");
            if table.paths.is_empty() {
                return Err(ConfigError::invalid(
                    &format!("{key}.paths"),
                    "at least one glob is required",
                ));
            }
            if let Some(service) = &table.service
                && (service.trim().is_empty()
                    || service.chars().count() > MAX_SERVICE_CHARS
                    || service.chars().any(char::is_control))
            {
                return Err(ConfigError::invalid(
                    &format!("{key}.service"),
                    format!("must be 1-{MAX_SERVICE_CHARS} printable characters"),
                ));
            }
            for g in &table.paths {
                check(&format!("{key}.paths"), g)?;
                out.paths.push(g.clone());
                if table.start_at_end.unwrap_or(top_at_end) {
                    out.start_at_end_globs.push(g.clone());
                }
                if let Some(service) = &table.service {
                    out.services.push((g.clone(), service.trim().to_owned()));
                }
            }
        }
        if out.paths.is_empty() {
            return Err(ConfigError::invalid(
                "paths",
                "at least one glob is required (in `paths` or a `[[sources]]` table)",
            ));
        }
        Ok(out)
    }
}

fn nonzero(key: &str, v: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match v.unwrap_or(default) {
        0 => Err(ConfigError::invalid(key, "must be greater than 0")),
        n => Ok(n),
    }
}

impl TryFrom<RawConfig> for AgentConfig {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let when_full = match raw.buffer.when_full.as_deref() {
            Some(s) => s
                .parse()
                .map_err(|e: String| ConfigError::invalid("buffer.when_full", e))?,
            None => FullPolicy::default(),
        };
        let collector = raw.collector.ok_or_else(|| {
            ConfigError::invalid("collector", "required (HOST:PORT of the collector)")
        })?;
        // One or more collectors (replicas), comma-separated; the TLS name defaults to the
        // first one's host.
        let mut first_host = None;
        for addr in crate::ship::targets::split_addrs(&collector) {
            let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
                ConfigError::invalid("collector", format!("expected HOST:PORT, got `{addr}`"))
            })?;
            port.parse::<u16>()
                .map_err(|_| ConfigError::invalid("collector", format!("bad port `{port}`")))?;
            first_host.get_or_insert_with(|| {
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned()
            });
        }
        let host =
            first_host.ok_or_else(|| ConfigError::invalid("collector", "expected HOST:PORT"))?;
        let server_name = raw.server_name.unwrap_or(host);
        let token_file = raw.token_file.ok_or_else(|| {
            ConfigError::invalid("token_file", "required (file holding the enrollment token)")
        })?;
        let ca = raw.ca.ok_or_else(|| {
            ConfigError::invalid("ca", "required (PEM file of the collector's CA)")
        })?;
        let sources = Sources::from_raw(&raw.paths, raw.start_at_end, &raw.sources)?;
        for g in &raw.exclude {
            glob::Pattern::new(g)
                .map_err(|e| ConfigError::invalid("exclude", format!("bad glob `{g}`: {e}")))?;
        }
        let host_name = match raw.host_name {
            Some(h) if h.trim().is_empty() => {
                return Err(ConfigError::invalid("host_name", "must not be empty"));
            }
            Some(h) => h,
            None => hostname(),
        };
        let buffer_max_bytes = nonzero(
            "buffer.max_bytes",
            raw.buffer.max_bytes,
            DEFAULT_BUFFER_MAX_BYTES,
        )?;
        let batch_max_bytes = nonzero(
            "batch.max_bytes",
            raw.batch.max_bytes,
            DEFAULT_BATCH_MAX_BYTES,
        )?;
        if batch_max_bytes > 8 * 1024 * 1024 {
            return Err(ConfigError::invalid("batch.max_bytes", "at most 8 MiB"));
        }
        if batch_max_bytes * 4 > buffer_max_bytes {
            return Err(ConfigError::invalid(
                "buffer.max_bytes",
                "must be at least 4 times batch.max_bytes",
            ));
        }
        let priority_reserve_bytes = raw
            .buffer
            .priority_reserve_bytes
            .unwrap_or(buffer_max_bytes / DEFAULT_PRIORITY_RESERVE_DIVISOR);
        if priority_reserve_bytes > buffer_max_bytes / 2 {
            return Err(ConfigError::invalid(
                "buffer.priority_reserve_bytes",
                "at most half of buffer.max_bytes",
            ));
        }
        let metrics_listen = raw
            .metrics_listen
            .map(|s| {
                s.parse().map_err(|_| {
                    ConfigError::invalid("metrics_listen", format!("bad address `{s}`"))
                })
            })
            .transpose()?;
        Ok(AgentConfig {
            collector,
            server_name,
            token_file,
            ca,
            data_dir: raw
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            host_name,
            labels: raw.labels.into_iter().collect(),
            paths: sources.paths,
            exclude: raw.exclude,
            start_at_end: raw.start_at_end && raw.sources.is_empty(),
            start_at_end_globs: sources.start_at_end_globs,
            services: sources.services,
            max_line_bytes: nonzero("max_line_bytes", raw.max_line_bytes, DEFAULT_MAX_LINE_BYTES)?
                as usize,
            assemble: crate::assemble::AssembleConfig {
                multiline: raw.multiline.unwrap_or(true),
                max_event_bytes: usize::try_from(nonzero(
                    "max_event_bytes",
                    raw.max_event_bytes,
                    crate::assemble::DEFAULT_MAX_EVENT_BYTES as u64,
                )?)
                .unwrap_or(usize::MAX),
            },
            poll_interval: {
                let ms = raw.poll_interval_ms.unwrap_or(DEFAULT_POLL_INTERVAL_MS);
                if !POLL_INTERVAL_MS_RANGE.contains(&ms) {
                    return Err(ConfigError::invalid(
                        "poll_interval_ms",
                        format!(
                            "{ms} is outside {}..={}",
                            POLL_INTERVAL_MS_RANGE.start(),
                            POLL_INTERVAL_MS_RANGE.end()
                        ),
                    ));
                }
                Duration::from_millis(ms)
            },
            metrics_listen,
            heartbeat: Duration::from_secs(nonzero(
                "heartbeat_secs",
                raw.heartbeat_secs,
                DEFAULT_HEARTBEAT_SECS,
            )?),
            rebalance_after: match raw
                .rebalance_after_secs
                .unwrap_or(DEFAULT_REBALANCE_AFTER_SECS)
            {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            buffer_max_bytes,
            when_full,
            batch_max_bytes: batch_max_bytes as usize,
            batch_max_wait: Duration::from_millis(nonzero(
                "batch.max_wait_ms",
                raw.batch.max_wait_ms,
                DEFAULT_BATCH_MAX_WAIT_MS,
            )?),
            max_in_flight: nonzero(
                "batch.max_in_flight",
                raw.batch.max_in_flight,
                DEFAULT_MAX_IN_FLIGHT,
            )? as usize,
            max_in_flight_priority: nonzero(
                "batch.max_in_flight_priority",
                raw.batch.max_in_flight_priority,
                DEFAULT_MAX_IN_FLIGHT_PRIORITY,
            )? as usize,
            priority_reserve_bytes,
        })
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> toml::Table {
        toml::from_str(
            r#"collector = "127.0.0.1:4433"
token_file = "t"
ca = "ca.pem"
paths = ["/var/log/*.log"]"#,
        )
        .unwrap()
    }

    #[test]
    fn minimal_config_uses_defaults() {
        let cfg = load(None, |_| None, minimal()).unwrap();
        assert_eq!(cfg.buffer_max_bytes, DEFAULT_BUFFER_MAX_BYTES);
        assert_eq!(cfg.when_full, FullPolicy::Block);
        assert_eq!(cfg.server_name, "127.0.0.1");
    }

    fn with_sources(extra: &str) -> Result<AgentConfig, ConfigError> {
        let text =
            format!("collector = \"127.0.0.1:4433\"\ntoken_file = \"t\"\nca = \"ca.pem\"\n{extra}");
        load(None, |_| None, toml::from_str(&text).unwrap())
    }

    #[test]
    fn sources_tables_add_globs_with_their_own_service_and_start() {
        let cfg = with_sources(
            r#"paths = ["/var/log/app/*.log"]
start_at_end = true
[[sources]]
paths = ["/var/log/pos/*.log", "/var/log/pos/**/*.log"]
service = " register "
start_at_end = false
[[sources]]
paths = ["/var/log/kiosk/*.log"]"#,
        )
        .unwrap();
        assert_eq!(
            cfg.paths,
            [
                "/var/log/app/*.log",
                "/var/log/pos/*.log",
                "/var/log/pos/**/*.log",
                "/var/log/kiosk/*.log"
            ]
        );
        // The top-level flag applies to the top-level paths and is the tables' default.
        assert!(!cfg.start_at_end);
        assert_eq!(
            cfg.start_at_end_globs,
            ["/var/log/app/*.log", "/var/log/kiosk/*.log"]
        );
        assert_eq!(
            cfg.services,
            [
                ("/var/log/pos/*.log".to_owned(), "register".to_owned()),
                ("/var/log/pos/**/*.log".to_owned(), "register".to_owned())
            ]
        );
        // Only tables: fine. Without them the top-level flag is kept as it was.
        let only = with_sources("[[sources]]\npaths = [\"/a/*.log\"]").unwrap();
        assert_eq!(only.paths, ["/a/*.log"]);
        let plain = with_sources("paths = [\"/a/*.log\"]\nstart_at_end = true").unwrap();
        assert!(plain.start_at_end && plain.start_at_end_globs.is_empty());
        for (extra, key) in [
            ("", "paths"),
            ("[[sources]]\nservice = \"x\"", "sources[0].paths"),
            (
                "[[sources]]\npaths = [\"/a/*.log\"]\nservice = \" \"",
                "sources[0].service",
            ),
            (
                "paths = [\"/a/*.log\"]\n[[sources]]\npaths = [\"/b/*.log\"]\n[[sources]]\npaths = [\"[\"]",
                "sources[1].paths",
            ),
            ("[[sources]]\npaths = [\"/a\"]\nlevel = 1", "level"),
        ] {
            let err = with_sources(extra).unwrap_err().to_string();
            assert!(err.contains(key), "{extra:?}: {err}");
        }
    }

    #[test]
    fn several_collectors_are_checked_each_and_rebalance_has_a_default() {
        let mut t = minimal();
        set_key(&mut t, "collector", "pos-hub-a:4433, [::1]:4433".into());
        let cfg = load(None, |_| None, t).unwrap();
        assert_eq!(cfg.server_name, "pos-hub-a");
        assert_eq!(
            cfg.rebalance_after,
            Some(Duration::from_secs(DEFAULT_REBALANCE_AFTER_SECS))
        );
        for bad in ["a:1,b", "a:1,b:x", ","] {
            let mut t = minimal();
            set_key(&mut t, "collector", bad.into());
            let err = load(None, |_| None, t).unwrap_err().to_string();
            assert!(err.contains("collector"), "{bad}: {err}");
        }
        let mut t = minimal();
        set_key(&mut t, "rebalance_after_secs", toml::Value::Integer(0));
        assert_eq!(load(None, |_| None, t).unwrap().rebalance_after, None);
    }

    #[test]
    fn unknown_key_is_named() {
        let mut t = minimal();
        set_key(&mut t, "buffer.max_bites", toml::Value::Integer(1));
        let err = load(None, |_| None, t).unwrap_err().to_string();
        assert!(err.contains("max_bites"), "{err}");
        assert!(err.contains("buffer"), "{err}");
    }

    #[test]
    fn env_overrides_file_and_is_validated() {
        let env = |k: &str| (k == "FLEETLOG_BUFFER_MAX_BYTES").then(|| "0".to_owned());
        let err = load(None, env, minimal()).unwrap_err().to_string();
        assert!(err.contains("buffer.max_bytes"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(&file, toml::to_string(&minimal()).unwrap()).unwrap();
        let env = |k: &str| (k == "FLEETLOG_PATHS").then(|| "/a/*.log, /b/*.log".to_owned());
        let cfg = load(Some(&file), env, toml::Table::new()).unwrap();
        assert_eq!(cfg.paths, ["/a/*.log", "/b/*.log"]);
        // A flag beats the environment.
        let mut flags = toml::Table::new();
        set_key(
            &mut flags,
            "paths",
            toml::Value::Array(vec!["/c/*.log".into()]),
        );
        assert_eq!(load(Some(&file), env, flags).unwrap().paths, ["/c/*.log"]);
    }

    #[test]
    fn env_overrides_keep_string_values_as_strings() {
        for (key, text, want) in [
            ("host_name", "042", toml::Value::String("042".into())),
            ("host_name", "true", toml::Value::String("true".into())),
            ("server_name", "10", toml::Value::String("10".into())),
            ("heartbeat_secs", "5", toml::Value::Integer(5)),
            ("start_at_end", "true", toml::Value::Boolean(true)),
        ] {
            assert_eq!(env_value(key, text), want, "{key}={text}");
        }
        for key in STRING_KEYS {
            assert!(KEYS.contains(key), "{key}");
        }
    }

    #[test]
    fn bad_policy_names_key() {
        let mut t = minimal();
        set_key(
            &mut t,
            "buffer.when_full",
            toml::Value::String("yolo".into()),
        );
        let err = load(None, |_| None, t).unwrap_err().to_string();
        assert!(err.contains("buffer.when_full"), "{err}");
    }
}
