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
/// Event rows live as long as segments by default.
pub const DEFAULT_RETENTION_EVENTS_MAX_AGE_HOURS: u64 = 30 * 24;
/// Per-minute counts: as long as events, well past the 7-day charts.
pub const DEFAULT_RETENTION_STATS_MAX_AGE_HOURS: u64 = 30 * 24;
/// The dedupe window: how long an agent may be away and still re-send a stored batch.
pub const DEFAULT_RETENTION_BATCHES_MAX_AGE_HOURS: u64 = 7 * 24;
/// A dedupe window shorter than this would turn a weekend outage into duplicates.
pub const MIN_RETENTION_BATCHES_MAX_AGE_HOURS: u64 = 24;
/// Done or dead outbox messages and delivery attempts.
pub const DEFAULT_RETENTION_OUTBOX_MAX_AGE_HOURS: u64 = 30 * 24;
/// Heartbeat history: the host page's longest range is 7 days.
pub const DEFAULT_RETENTION_HEARTBEATS_MAX_AGE_HOURS: u64 = 7 * 24;
/// The audit trail: a year.
pub const DEFAULT_RETENTION_AUDIT_MAX_AGE_HOURS: u64 = 365 * 24;
/// Rows deleted per retention transaction.
pub const DEFAULT_RETENTION_DELETE_BATCH_ROWS: u64 = 5_000;
/// Most rows per retention transaction: beyond this one transaction holds SQLite's
/// write lock (and ingest) too long.
pub const MAX_RETENTION_DELETE_BATCH_ROWS: u64 = 100_000;
/// Most PostgreSQL connections per replica.
pub const MAX_STORE_MAX_CONNECTIONS: u64 = 1_000;
/// Largest request body the API accepts.
pub const DEFAULT_API_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Longest an API request may take before it gets 503.
pub const DEFAULT_API_REQUEST_TIMEOUT_SECS: u64 = 30;
/// API requests served at once; more wait, and are refused with 503 once the wait is long.
pub const DEFAULT_API_MAX_CONCURRENT_REQUESTS: u64 = 64;
/// Sustained requests per second per token (or session user).
pub const DEFAULT_API_RATE_LIMIT_PER_SECOND: u64 = 20;
/// Requests a token may burst above its sustained rate.
pub const DEFAULT_API_RATE_LIMIT_BURST: u64 = 200;
pub const DEFAULT_API_SESSION_TTL_HOURS: u64 = 12;
pub const DEFAULT_API_LOGIN_MAX_FAILURES_PER_USER: u64 = 5;
pub const DEFAULT_API_LOGIN_MAX_FAILURES_PER_ADDRESS: u64 = 20;
pub const DEFAULT_API_LOGIN_WINDOW_SECS: u64 = 15 * 60;
pub const DEFAULT_API_LOGIN_LOCKOUT_SECS: u64 = 15 * 60;
/// Largest page any list endpoint serves (lines have their own, `store::MAX_PAGE_LINES`).
pub const DEFAULT_API_MAX_PAGE: u64 = 1000;
/// Longest suggested fix an admin may set through `PUT /api/v1/classes/{id}/fix`, in characters.
pub const DEFAULT_API_MAX_FIX_CHARS: u64 = 4000;
/// Most raw lines one search of a host's lines (`GET /api/v1/lines?q=`, the host page's
/// search box) reads, newest first, before it answers with what it found and a cursor.
pub const DEFAULT_API_MAX_LINE_SEARCH_SCAN: u64 = 100_000;

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
    "retention.events_max_age_hours",
    "retention.stats_max_age_hours",
    "retention.batches_max_age_hours",
    "retention.outbox_max_age_hours",
    "retention.heartbeats_max_age_hours",
    "retention.audit_max_age_hours",
    "retention.delete_batch_rows",
    "store.max_connections",
    "store.min_free_bytes",
    "api.max_body_bytes",
    "api.request_timeout_secs",
    "api.max_concurrent_requests",
    "api.rate_limit_per_second",
    "api.rate_limit_burst",
    "api.session_ttl_hours",
    "api.secure_cookies",
    "api.login_max_failures_per_user",
    "api.login_max_failures_per_address",
    "api.login_window_secs",
    "api.login_lockout_secs",
    "api.max_page",
    "api.max_fix_chars",
    "api.max_line_search_scan",
    "health.window_secs",
    "health.degraded_error_rate",
    "health.down_error_rate",
    "health.min_lines",
    "health.silent_after_secs",
    "health.host_silent_after_secs",
    "health.recover_after_secs",
    "health.interval_secs",
    "incidents.open_min_events",
    "incidents.open_min_hosts",
    "incidents.open_window_secs",
    "incidents.quiet_for_secs",
    "incidents.spread_hosts",
    "incidents.related_window_secs",
    "incidents.max_related",
    "incidents.background_history_secs",
    "incidents.burst_factor",
    "incidents.interval_secs",
    "ingest.max_hello_bytes",
    "ingest.handshake_timeout_ms",
    "ingest.first_frame_timeout_ms",
    "ingest.max_connections",
    "ingest.max_connections_per_address",
    "ingest.max_streams_per_connection",
    "ingest.max_decompressed_bytes_per_connection",
    "ingest.max_concurrent_stores",
    "ingest.max_concurrent_priority_stores",
    "ingest.order_wait_ms",
    "ingest.enrollment",
    "ingest.credential_refresh_ms",
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
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    health: RawHealth,
    #[serde(default)]
    incidents: RawIncidents,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    outbox: crate::outbox::config::RawOutbox,
    #[serde(default)]
    jira: crate::jira::config::RawJira,
    #[serde(default)]
    automation: crate::jira::config::RawAutomation,
    #[serde(default)]
    alerts: crate::alerts::config::RawAlerts,
    #[serde(default)]
    channels: Vec<crate::alerts::config::RawChannel>,
    #[serde(default)]
    training: crate::training::config::RawTraining,
    #[serde(default)]
    mcp: crate::mcp::config::RawMcp,
    #[serde(default)]
    s3: crate::s3::config::RawS3,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    window_secs: Option<u64>,
    degraded_error_rate: Option<f64>,
    down_error_rate: Option<f64>,
    min_lines: Option<u64>,
    silent_after_secs: Option<u64>,
    host_silent_after_secs: Option<u64>,
    recover_after_secs: Option<u64>,
    interval_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIncidents {
    open_min_events: Option<u64>,
    open_min_hosts: Option<u64>,
    open_window_secs: Option<u64>,
    quiet_for_secs: Option<u64>,
    spread_hosts: Option<u64>,
    related_window_secs: Option<u64>,
    max_related: Option<u64>,
    background_history_secs: Option<u64>,
    burst_factor: Option<u64>,
    interval_secs: Option<u64>,
}

/// How often the health and incident workers run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerIntervals {
    pub health: Duration,
    pub incidents: Duration,
}

fn rate(key: &str, v: Option<f64>, default: f64) -> Result<f64, ConfigError> {
    let r = v.unwrap_or(default);
    if !(r > 0.0 && r <= 1.0) {
        return Err(ConfigError::invalid(
            key,
            format!("must be a fraction in (0, 1], got {r}"),
        ));
    }
    Ok(r)
}

fn health_config(raw: RawHealth) -> Result<(crate::health::Thresholds, Duration), ConfigError> {
    let d = crate::health::Thresholds::default();
    let secs = |key: &str, v: Option<u64>, def: Duration| -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(bounded(
            key,
            v,
            def.as_secs(),
            1,
            7 * 86_400,
        )?))
    };
    let th = crate::health::Thresholds {
        window: secs("health.window_secs", raw.window_secs, d.window)?,
        degraded_error_rate: rate(
            "health.degraded_error_rate",
            raw.degraded_error_rate,
            d.degraded_error_rate,
        )?,
        down_error_rate: rate(
            "health.down_error_rate",
            raw.down_error_rate,
            d.down_error_rate,
        )?,
        min_lines: bounded(
            "health.min_lines",
            raw.min_lines,
            d.min_lines,
            1,
            1_000_000_000,
        )?,
        silent_after: secs(
            "health.silent_after_secs",
            raw.silent_after_secs,
            d.silent_after,
        )?,
        host_silent_after: secs(
            "health.host_silent_after_secs",
            raw.host_silent_after_secs,
            d.host_silent_after,
        )?,
        recover_after: Duration::from_secs(bounded(
            "health.recover_after_secs",
            raw.recover_after_secs,
            d.recover_after.as_secs(),
            0,
            86_400,
        )?),
    };
    if th.degraded_error_rate > th.down_error_rate {
        return Err(ConfigError::invalid(
            "health.degraded_error_rate",
            "must not exceed health.down_error_rate",
        ));
    }
    let interval = Duration::from_secs(bounded(
        "health.interval_secs",
        raw.interval_secs,
        10,
        1,
        3600,
    )?);
    Ok((th, interval))
}

fn incident_config(
    raw: RawIncidents,
) -> Result<(crate::incidents::decide::Policy, Duration), ConfigError> {
    let d = crate::incidents::decide::Policy::default();
    let policy = crate::incidents::decide::Policy {
        open_min_events: bounded(
            "incidents.open_min_events",
            raw.open_min_events,
            d.open_min_events,
            1,
            1_000_000,
        )?,
        open_min_hosts: bounded(
            "incidents.open_min_hosts",
            raw.open_min_hosts,
            d.open_min_hosts as u64,
            1,
            1_000_000,
        )? as usize,
        open_window: Duration::from_secs(bounded(
            "incidents.open_window_secs",
            raw.open_window_secs,
            d.open_window.as_secs(),
            1,
            7 * 86_400,
        )?),
        quiet_for: Duration::from_secs(bounded(
            "incidents.quiet_for_secs",
            raw.quiet_for_secs,
            d.quiet_for.as_secs(),
            1,
            30 * 86_400,
        )?),
        spread_hosts: bounded(
            "incidents.spread_hosts",
            raw.spread_hosts,
            d.spread_hosts as u64,
            1,
            1_000_000,
        )? as usize,
        related_window: Duration::from_secs(bounded(
            "incidents.related_window_secs",
            raw.related_window_secs,
            d.related_window.as_secs(),
            1,
            86_400,
        )?),
        max_related: bounded(
            "incidents.max_related",
            raw.max_related,
            d.max_related as u64,
            0,
            1_000,
        )? as usize,
        background_history: Duration::from_secs(bounded(
            "incidents.background_history_secs",
            raw.background_history_secs,
            d.background_history.as_secs(),
            1,
            30 * 86_400,
        )?),
        burst_factor: bounded(
            "incidents.burst_factor",
            raw.burst_factor,
            d.burst_factor as u64,
            1,
            1_000,
        )? as f64,
        ..d
    };
    let interval = Duration::from_secs(bounded(
        "incidents.interval_secs",
        raw.interval_secs,
        2,
        1,
        3600,
    )?);
    Ok((policy, interval))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    max_body_bytes: Option<u64>,
    request_timeout_secs: Option<u64>,
    max_concurrent_requests: Option<u64>,
    rate_limit_per_second: Option<u64>,
    rate_limit_burst: Option<u64>,
    session_ttl_hours: Option<u64>,
    secure_cookies: Option<BoolOrInt>,
    login_max_failures_per_user: Option<u64>,
    login_max_failures_per_address: Option<u64>,
    login_window_secs: Option<u64>,
    login_lockout_secs: Option<u64>,
    max_page: Option<u64>,
    max_fix_chars: Option<u64>,
    max_line_search_scan: Option<u64>,
}

/// A boolean key that also accepts `0`/`1` (how an environment variable arrives).
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum BoolOrInt {
    Bool(bool),
    Int(i64),
    Str(String),
}

/// Limits and policies of the HTTP API (`[api]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (set this behind a TLS-terminating proxy; the
    /// cookie is also marked `Secure` when a request says `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    pub login_max_failures_per_user: u32,
    pub login_max_failures_per_address: u32,
    pub login_window: Duration,
    pub login_lockout: Duration,
    pub max_page: u32,
    /// Longest suggested fix (`api.max_fix_chars`), in characters.
    pub max_fix_chars: usize,
    /// Most lines one raw-line search reads (`api.max_line_search_scan`).
    pub max_line_search_scan: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        // The defaults are valid by construction.
        #[allow(clippy::expect_used)]
        ApiConfig::try_from(RawApi::default()).expect("default API config")
    }
}

/// `value` or `default`, checked to lie in `min..=max`; errors name `key`.
fn bounded(
    key: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(ConfigError::invalid(
            key,
            format!("must be between {min} and {max}, got {v}"),
        ));
    }
    Ok(v)
}

impl TryFrom<RawApi> for ApiConfig {
    type Error = ConfigError;

    fn try_from(raw: RawApi) -> Result<Self, ConfigError> {
        let u32_of = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(ApiConfig {
            max_body_bytes: bounded(
                "api.max_body_bytes",
                raw.max_body_bytes,
                DEFAULT_API_MAX_BODY_BYTES,
                1024,
                1 << 30,
            )? as usize,
            request_timeout: Duration::from_secs(bounded(
                "api.request_timeout_secs",
                raw.request_timeout_secs,
                DEFAULT_API_REQUEST_TIMEOUT_SECS,
                1,
                3600,
            )?),
            max_concurrent_requests: bounded(
                "api.max_concurrent_requests",
                raw.max_concurrent_requests,
                DEFAULT_API_MAX_CONCURRENT_REQUESTS,
                1,
                100_000,
            )? as usize,
            rate_limit_per_second: u32_of(bounded(
                "api.rate_limit_per_second",
                raw.rate_limit_per_second,
                DEFAULT_API_RATE_LIMIT_PER_SECOND,
                1,
                1_000_000,
            )?),
            rate_limit_burst: u32_of(bounded(
                "api.rate_limit_burst",
                raw.rate_limit_burst,
                DEFAULT_API_RATE_LIMIT_BURST,
                1,
                1_000_000,
            )?),
            session_ttl: Duration::from_secs(
                3600 * bounded(
                    "api.session_ttl_hours",
                    raw.session_ttl_hours,
                    DEFAULT_API_SESSION_TTL_HOURS,
                    1,
                    24 * 365,
                )?,
            ),
            secure_cookies: match raw.secure_cookies {
                None => false,
                Some(BoolOrInt::Bool(b)) => b,
                Some(BoolOrInt::Int(0)) => false,
                Some(BoolOrInt::Int(1)) => true,
                Some(BoolOrInt::Str(s)) if s.eq_ignore_ascii_case("true") => true,
                Some(BoolOrInt::Str(s)) if s.eq_ignore_ascii_case("false") => false,
                Some(BoolOrInt::Int(_) | BoolOrInt::Str(_)) => {
                    return Err(ConfigError::invalid(
                        "api.secure_cookies",
                        "must be true or false",
                    ));
                }
            },
            login_max_failures_per_user: u32_of(bounded(
                "api.login_max_failures_per_user",
                raw.login_max_failures_per_user,
                DEFAULT_API_LOGIN_MAX_FAILURES_PER_USER,
                1,
                1000,
            )?),
            login_max_failures_per_address: u32_of(bounded(
                "api.login_max_failures_per_address",
                raw.login_max_failures_per_address,
                DEFAULT_API_LOGIN_MAX_FAILURES_PER_ADDRESS,
                1,
                100_000,
            )?),
            login_window: Duration::from_secs(bounded(
                "api.login_window_secs",
                raw.login_window_secs,
                DEFAULT_API_LOGIN_WINDOW_SECS,
                1,
                86_400,
            )?),
            login_lockout: Duration::from_secs(bounded(
                "api.login_lockout_secs",
                raw.login_lockout_secs,
                DEFAULT_API_LOGIN_LOCKOUT_SECS,
                1,
                86_400,
            )?),
            max_page: u32_of(bounded(
                "api.max_page",
                raw.max_page,
                DEFAULT_API_MAX_PAGE,
                10,
                100_000,
            )?),
            max_fix_chars: bounded(
                "api.max_fix_chars",
                raw.max_fix_chars,
                DEFAULT_API_MAX_FIX_CHARS,
                16,
                65_536,
            )? as usize,
            max_line_search_scan: bounded(
                "api.max_line_search_scan",
                raw.max_line_search_scan,
                DEFAULT_API_MAX_LINE_SEARCH_SCAN,
                100,
                100_000_000,
            )?,
        })
    }
}

// ---- [ingest]: resource limits applied to agents before and after they are trusted ----

/// Largest `Hello` frame body read before the token is checked (the batch limit is 16 MiB).
pub const DEFAULT_INGEST_MAX_HELLO_BYTES: u64 = 16 * 1024;
/// Longest a QUIC/TLS handshake may take.
pub const DEFAULT_INGEST_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Longest from an established connection to a complete `Hello`.
pub const DEFAULT_INGEST_FIRST_FRAME_TIMEOUT_MS: u64 = 10_000;
/// Connections open at once, authenticated or not.
pub const DEFAULT_INGEST_MAX_CONNECTIONS: u64 = 10_000;
/// Connections open at once from one IPv4 address or IPv6 /64 (several hosts may share a
/// NAT address).
pub const DEFAULT_INGEST_MAX_CONNECTIONS_PER_ADDRESS: u64 = 64;
/// Bidirectional streams an admitted agent may have open at once, its control stream
/// included (the agent's default `batch.max_in_flight` is 8). Before `Hello` only the
/// control stream is allowed.
pub const DEFAULT_INGEST_MAX_STREAMS_PER_CONNECTION: u64 = 16;
/// Decompressed batch bytes per connection per `INGEST_DECOMPRESS_WINDOW` (a token bucket:
/// bursts up to this many bytes, refilled at this many bytes per window). 2 GiB per 10 s is
/// about 200 MiB/s, above the measured end-to-end rate of one agent on loopback.
pub const DEFAULT_INGEST_MAX_DECOMPRESSED_BYTES_PER_CONNECTION: u64 = 2 * 1024 * 1024 * 1024;
/// The window over which `ingest.max_decompressed_bytes_per_connection` refills.
pub const INGEST_DECOMPRESS_WINDOW: Duration = Duration::from_secs(10);
/// Batches decoded and stored at once across all connections; more wait.
pub const DEFAULT_INGEST_MAX_CONCURRENT_STORES: u64 = 8;
/// How often enrollments and revocations are re-read from the store: the longest a
/// revocation made through another replica takes to close an agent's connection here.
pub const DEFAULT_INGEST_CREDENTIAL_REFRESH_MS: u64 = 5_000;
/// Store slots for priority-lane batches, besides `ingest.max_concurrent_stores`.
pub const DEFAULT_INGEST_MAX_CONCURRENT_PRIORITY_STORES: u64 = 2;
/// Longest a bulk batch waits for its predecessor to arrive, so a host's lines are stored
/// in the order they were written (0: store in arrival order).
pub const DEFAULT_INGEST_ORDER_WAIT_MS: u64 = 500;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    max_hello_bytes: Option<u64>,
    handshake_timeout_ms: Option<u64>,
    first_frame_timeout_ms: Option<u64>,
    max_connections: Option<u64>,
    max_connections_per_address: Option<u64>,
    max_streams_per_connection: Option<u64>,
    max_decompressed_bytes_per_connection: Option<u64>,
    max_concurrent_stores: Option<u64>,
    max_concurrent_priority_stores: Option<u64>,
    order_wait_ms: Option<u64>,
    enrollment: Option<String>,
    credential_refresh_ms: Option<u64>,
}

/// Limits of the QUIC ingest (`[ingest]`); each refusal or wait is counted in metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    pub max_hello_bytes: usize,
    pub handshake_timeout: Duration,
    pub first_frame_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub max_streams_per_connection: u32,
    pub max_decompressed_bytes_per_connection: u64,
    pub max_concurrent_stores: usize,
    /// Store slots only priority-lane batches (critical lines) use, so a queue of bulk
    /// batches never holds one back.
    pub max_concurrent_priority_stores: usize,
    /// Longest a bulk batch waits for its predecessor (`ingest.order_wait_ms`).
    pub order_wait: Duration,
    /// Whether the fleet token admits (and issues a credential to) an agent without one.
    pub enrollment: crate::ingest::credentials::Enrollment,
    /// How often each replica re-reads agent enrollments and revocations from the store
    /// (the API's own replica applies a revocation at once).
    pub credential_refresh: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        // The defaults are valid by construction.
        #[allow(clippy::expect_used)]
        IngestConfig::try_from(RawIngest::default()).expect("default ingest config")
    }
}

impl TryFrom<RawIngest> for IngestConfig {
    type Error = ConfigError;

    fn try_from(raw: RawIngest) -> Result<Self, ConfigError> {
        let ms = |key: &str, v: Option<u64>, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(bounded(
                key, v, default, 100, 300_000,
            )?))
        };
        Ok(IngestConfig {
            max_hello_bytes: bounded(
                "ingest.max_hello_bytes",
                raw.max_hello_bytes,
                DEFAULT_INGEST_MAX_HELLO_BYTES,
                256,
                fleetlog_protocol::codec::MAX_HELLO_LEN as u64,
            )? as usize,
            handshake_timeout: ms(
                "ingest.handshake_timeout_ms",
                raw.handshake_timeout_ms,
                DEFAULT_INGEST_HANDSHAKE_TIMEOUT_MS,
            )?,
            first_frame_timeout: ms(
                "ingest.first_frame_timeout_ms",
                raw.first_frame_timeout_ms,
                DEFAULT_INGEST_FIRST_FRAME_TIMEOUT_MS,
            )?,
            max_connections: bounded(
                "ingest.max_connections",
                raw.max_connections,
                DEFAULT_INGEST_MAX_CONNECTIONS,
                1,
                1_000_000,
            )? as usize,
            max_connections_per_address: bounded(
                "ingest.max_connections_per_address",
                raw.max_connections_per_address,
                DEFAULT_INGEST_MAX_CONNECTIONS_PER_ADDRESS,
                1,
                1_000_000,
            )? as usize,
            // At least the control stream and one batch stream.
            max_streams_per_connection: bounded(
                "ingest.max_streams_per_connection",
                raw.max_streams_per_connection,
                DEFAULT_INGEST_MAX_STREAMS_PER_CONNECTION,
                2,
                1024,
            )? as u32,
            max_decompressed_bytes_per_connection: bounded(
                "ingest.max_decompressed_bytes_per_connection",
                raw.max_decompressed_bytes_per_connection,
                DEFAULT_INGEST_MAX_DECOMPRESSED_BYTES_PER_CONNECTION,
                1024 * 1024,
                1 << 40,
            )?,
            max_concurrent_stores: bounded(
                "ingest.max_concurrent_stores",
                raw.max_concurrent_stores,
                DEFAULT_INGEST_MAX_CONCURRENT_STORES,
                1,
                1024,
            )? as usize,
            max_concurrent_priority_stores: bounded(
                "ingest.max_concurrent_priority_stores",
                raw.max_concurrent_priority_stores,
                DEFAULT_INGEST_MAX_CONCURRENT_PRIORITY_STORES,
                1,
                1024,
            )? as usize,
            order_wait: Duration::from_millis(bounded(
                "ingest.order_wait_ms",
                raw.order_wait_ms,
                DEFAULT_INGEST_ORDER_WAIT_MS,
                0,
                60_000,
            )?),
            enrollment: match raw.enrollment.as_deref() {
                None => crate::ingest::credentials::Enrollment::default(),
                Some(text) => text.parse().map_err(|message| ConfigError::Invalid {
                    key: "ingest.enrollment".into(),
                    message,
                })?,
            },
            credential_refresh: ms(
                "ingest.credential_refresh_ms",
                raw.credential_refresh_ms,
                DEFAULT_INGEST_CREDENTIAL_REFRESH_MS,
            )?,
        })
    }
}

/// `url` with any password replaced by `***`, safe to show in an error or a log line.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split(':').next().unwrap_or_default();
    let mut out = format!("{scheme}://{user}:***@{host}{tail}");
    // A password passed as a query parameter (`?password=...`) is hidden too.
    if let Some(i) = out.find("password=") {
        let end = out[i..].find('&').map_or(out.len(), |j| i + j);
        out.replace_range(i + "password=".len()..end, "***");
    }
    out
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
    events_max_age_hours: Option<u64>,
    stats_max_age_hours: Option<u64>,
    batches_max_age_hours: Option<u64>,
    outbox_max_age_hours: Option<u64>,
    heartbeats_max_age_hours: Option<u64>,
    audit_max_age_hours: Option<u64>,
    delete_batch_rows: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    max_connections: Option<u64>,
    min_free_bytes: Option<u64>,
}

/// An age in hours from `key`; 0 keeps forever (`None`).
fn hours(key: &str, value: Option<u64>, default: u64) -> Result<Option<Duration>, ConfigError> {
    let h = value.unwrap_or(default);
    if h == 0 {
        return Ok(None);
    }
    h.checked_mul(3600)
        .map(|secs| Some(Duration::from_secs(secs)))
        .ok_or_else(|| ConfigError::invalid(key, format!("{h} hours is too long")))
}

/// The `[retention]` ages of SQL rows and the delete batch size.
fn row_retention(raw: &RawRetention) -> Result<crate::store::RowPolicy, ConfigError> {
    let batches = hours(
        "retention.batches_max_age_hours",
        raw.batches_max_age_hours,
        DEFAULT_RETENTION_BATCHES_MAX_AGE_HOURS,
    )?;
    if batches.is_some_and(|b| b < Duration::from_secs(MIN_RETENTION_BATCHES_MAX_AGE_HOURS * 3600))
    {
        return Err(ConfigError::invalid(
            "retention.batches_max_age_hours",
            format!(
                "must be 0 (keep forever) or at least {MIN_RETENTION_BATCHES_MAX_AGE_HOURS}: \
                 a re-sent batch older than this would be stored twice"
            ),
        ));
    }
    let batch_rows = bounded(
        "retention.delete_batch_rows",
        raw.delete_batch_rows,
        DEFAULT_RETENTION_DELETE_BATCH_ROWS,
        1,
        MAX_RETENTION_DELETE_BATCH_ROWS,
    )?;
    Ok(crate::store::RowPolicy {
        events: hours(
            "retention.events_max_age_hours",
            raw.events_max_age_hours,
            DEFAULT_RETENTION_EVENTS_MAX_AGE_HOURS,
        )?,
        minute_stats: hours(
            "retention.stats_max_age_hours",
            raw.stats_max_age_hours,
            DEFAULT_RETENTION_STATS_MAX_AGE_HOURS,
        )?,
        batches,
        outbox: hours(
            "retention.outbox_max_age_hours",
            raw.outbox_max_age_hours,
            DEFAULT_RETENTION_OUTBOX_MAX_AGE_HOURS,
        )?,
        heartbeats: hours(
            "retention.heartbeats_max_age_hours",
            raw.heartbeats_max_age_hours,
            DEFAULT_RETENTION_HEARTBEATS_MAX_AGE_HOURS,
        )?,
        audit: hours(
            "retention.audit_max_age_hours",
            raw.audit_max_age_hours,
            DEFAULT_RETENTION_AUDIT_MAX_AGE_HOURS,
        )?,
        // Bounded to 1..=MAX_RETENTION_DELETE_BATCH_ROWS, which fits u32.
        batch_rows: std::num::NonZeroU32::new(u32::try_from(batch_rows).unwrap_or(u32::MAX))
            .unwrap_or(std::num::NonZeroU32::MIN),
    })
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
    /// `[retention]` ages of SQL rows (`*_max_age_hours`) and `delete_batch_rows`.
    pub retention_rows: crate::store::RowPolicy,
    /// `[store]`: the PostgreSQL pool size.
    pub store: crate::store::StoreOptions,
    pub api: ApiConfig,
    pub health: crate::health::Thresholds,
    pub incidents: crate::incidents::decide::Policy,
    pub intervals: WorkerIntervals,
    pub ingest: IngestConfig,
    pub outbox: crate::outbox::OutboxConfig,
    /// `[jira]` and `[automation]`.
    pub automation: crate::jira::config::AutomationConfig,
    pub alerts: crate::alerts::config::AlertsConfig,
    /// `[training]`: uploads, windows, the job queue, the active-model poll.
    pub training: crate::training::config::TrainingConfig,
    /// `[mcp]`: the MCP endpoint `/mcp`.
    pub mcp: crate::mcp::McpConfig,
    /// `[s3]`: S3 analysis.
    pub s3: crate::s3::S3Config,
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
    for key in KEYS
        .iter()
        .chain(crate::outbox::config::KEYS)
        .chain(crate::jira::config::KEYS)
        .chain(crate::alerts::config::KEYS)
        .chain(crate::training::config::KEYS)
        .chain(crate::mcp::config::KEYS)
        .chain(crate::s3::config::KEYS)
    {
        if let Some(text) = env(&env_name(key)) {
            let value = match (text.parse::<i64>(), text.parse::<f64>()) {
                _ if text == "true" || text == "false" => toml::Value::Boolean(text == "true"),
                (Ok(i), _) => toml::Value::Integer(i),
                (_, Ok(f)) if f.is_finite() => toml::Value::Float(f),
                _ => toml::Value::String(text),
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
                    format!(
                        "`{}` must start with sqlite: or postgres://",
                        redact_url(&u)
                    ),
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
        let retention_rows = row_retention(&raw.retention)?;
        let store = crate::store::StoreOptions {
            // Bounded to 1..=MAX_STORE_MAX_CONNECTIONS, which fits u32.
            max_connections: bounded(
                "store.max_connections",
                raw.store.max_connections,
                u64::from(crate::store::DEFAULT_POSTGRES_MAX_CONNECTIONS),
                1,
                MAX_STORE_MAX_CONNECTIONS,
            )? as u32,
            // 0 turns the check off (writes still fail cleanly on a full disk).
            min_free_bytes: raw
                .store
                .min_free_bytes
                .unwrap_or(crate::store::space::DEFAULT_MIN_FREE_BYTES),
        };
        let (health, health_interval) = health_config(raw.health)?;
        let (incidents, incident_interval) = incident_config(raw.incidents)?;
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
            retention_rows,
            store,
            api: ApiConfig::try_from(raw.api)?,
            health,
            incidents,
            intervals: WorkerIntervals {
                health: health_interval,
                incidents: incident_interval,
            },
            ingest: IngestConfig::try_from(raw.ingest)?,
            outbox: crate::outbox::OutboxConfig::try_from(raw.outbox)?,
            automation: crate::jira::config::AutomationConfig::from_raw(raw.jira, raw.automation)?,
            alerts: crate::alerts::config::alerts_config(raw.alerts, raw.channels)?,
            training: crate::training::config::TrainingConfig::try_from(raw.training)?,
            mcp: crate::mcp::McpConfig::try_from(raw.mcp)?,
            s3: crate::s3::S3Config::try_from(raw.s3)?,
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
    fn urls_are_redacted() {
        for (url, shown) in [
            (
                "postgres://fleet:s3cret@db:5432/x",
                "postgres://fleet:***@db:5432/x",
            ),
            ("mysql://u:p@h/db?sslmode=x", "mysql://u:***@h/db?sslmode=x"),
            ("postgres://db/x", "postgres://db/x"),
            ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let mut t = toml::Table::new();
        set_key(&mut t, "store_url", "mysql://u:hunter22@h/db".into());
        let err = load(None, |_| None, t).unwrap_err().to_string();
        assert!(
            err.contains("store_url") && !err.contains("hunter22"),
            "{err}"
        );
    }

    #[test]
    fn api_limits_are_validated_by_key() {
        let mut t = toml::Table::new();
        set_key(&mut t, "api.max_page", toml::Value::Integer(0));
        let err = load(None, |_| None, t).unwrap_err().to_string();
        assert!(err.contains("api.max_page"), "{err}");
        let env = |k: &str| (k == "FLEETLOG_API_SECURE_COOKIES").then(|| "1".to_owned());
        assert!(
            load(None, env, toml::Table::new())
                .unwrap()
                .api
                .secure_cookies
        );
        assert_eq!(ApiConfig::default().max_page, 1000);
        assert_eq!(ApiConfig::default().max_line_search_scan, 100_000);
        let mut t = toml::Table::new();
        set_key(&mut t, "api.max_line_search_scan", toml::Value::Integer(5));
        let err = load(None, |_| None, t).unwrap_err().to_string();
        assert!(err.contains("api.max_line_search_scan"), "{err}");
        let env = |k: &str| (k == "FLEETLOG_API_MAX_LINE_SEARCH_SCAN").then(|| "2000".to_owned());
        let c = load(None, env, toml::Table::new()).unwrap();
        assert_eq!(c.api.max_line_search_scan, 2000);
    }

    #[test]
    fn row_retention_has_defaults_zero_keeps_forever_and_errors_name_the_key() {
        let cfg = load(None, |_| None, toml::Table::new()).unwrap();
        let h = |hours: u64| Some(Duration::from_secs(hours * 3600));
        let rows = cfg.retention_rows;
        assert_eq!(rows.events, h(720));
        assert_eq!(rows.minute_stats, h(720));
        assert_eq!(rows.batches, h(168));
        assert_eq!(rows.outbox, h(720));
        assert_eq!(rows.heartbeats, h(168));
        assert_eq!(rows.audit, h(8760));
        assert_eq!(rows.batch_rows.get(), 5_000);
        assert_eq!(cfg.store.max_connections, 8);
        for key in [
            "retention.events_max_age_hours",
            "retention.stats_max_age_hours",
            "retention.batches_max_age_hours",
            "retention.outbox_max_age_hours",
            "retention.heartbeats_max_age_hours",
            "retention.audit_max_age_hours",
        ] {
            assert!(KEYS.contains(&key), "{key}");
            let mut t = toml::Table::new();
            set_key(&mut t, key, toml::Value::Integer(0));
            let cfg = load(None, |_| None, t).unwrap();
            let table = match key {
                "retention.events_max_age_hours" => crate::store::RowTable::Events,
                "retention.stats_max_age_hours" => crate::store::RowTable::MinuteStats,
                "retention.batches_max_age_hours" => crate::store::RowTable::Batches,
                "retention.outbox_max_age_hours" => crate::store::RowTable::Outbox,
                "retention.heartbeats_max_age_hours" => crate::store::RowTable::Heartbeats,
                _ => crate::store::RowTable::Audit,
            };
            assert_eq!(cfg.retention_rows.max_age(table), None, "{key}");
            let mut t = toml::Table::new();
            set_key(&mut t, key, toml::Value::Integer(i64::MAX));
            let err = load(None, |_| None, t).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        for (key, bad) in [
            ("retention.batches_max_age_hours", 23),
            ("retention.delete_batch_rows", 0),
            ("store.max_connections", 0),
        ] {
            assert!(KEYS.contains(&key), "{key}");
            let mut t = toml::Table::new();
            set_key(&mut t, key, toml::Value::Integer(bad));
            let err = load(None, |_| None, t).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        let env = |k: &str| match k {
            "FLEETLOG_RETENTION_DELETE_BATCH_ROWS" => Some("250".to_owned()),
            "FLEETLOG_RETENTION_AUDIT_MAX_AGE_HOURS" => Some("48".to_owned()),
            "FLEETLOG_STORE_MAX_CONNECTIONS" => Some("20".to_owned()),
            _ => None,
        };
        let cfg = load(None, env, toml::Table::new()).unwrap();
        assert_eq!(cfg.retention_rows.batch_rows.get(), 250);
        assert_eq!(cfg.retention_rows.audit, h(48));
        assert_eq!(cfg.store.max_connections, 20);
    }

    #[test]
    fn ingest_limits_have_defaults_and_errors_name_the_key() {
        let cfg = load(None, |_| None, toml::Table::new()).unwrap();
        assert_eq!(cfg.ingest, IngestConfig::default());
        assert_eq!(cfg.ingest.max_hello_bytes, 16 * 1024);
        for key in [
            "ingest.max_hello_bytes",
            "ingest.handshake_timeout_ms",
            "ingest.first_frame_timeout_ms",
            "ingest.max_connections",
            "ingest.max_connections_per_address",
            "ingest.max_streams_per_connection",
            "ingest.max_decompressed_bytes_per_connection",
            "ingest.max_concurrent_stores",
            "ingest.max_concurrent_priority_stores",
            "ingest.credential_refresh_ms",
        ] {
            assert!(KEYS.contains(&key), "{key}");
            let mut t = toml::Table::new();
            set_key(&mut t, key, toml::Value::Integer(0));
            let err = load(None, |_| None, t).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        let mut t = toml::Table::new();
        set_key(&mut t, "ingest.enrollment", "closed".into());
        assert_eq!(
            load(None, |_| None, t).unwrap().ingest.enrollment,
            crate::ingest::credentials::Enrollment::Closed
        );
        let mut t = toml::Table::new();
        set_key(&mut t, "ingest.enrollment", "sometimes".into());
        let err = load(None, |_| None, t).unwrap_err().to_string();
        assert!(
            err.contains("ingest.enrollment") && err.contains("sometimes"),
            "{err}"
        );
        let env = |k: &str| (k == "FLEETLOG_INGEST_MAX_CONNECTIONS").then(|| "7".to_owned());
        assert_eq!(
            load(None, env, toml::Table::new())
                .unwrap()
                .ingest
                .max_connections,
            7
        );
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
        // Booleans from the environment are booleans.
        for (text, enabled) in [("false", false), ("true", true)] {
            let env = |k: &str| (k == "FLEETLOG_ALERTS_ENABLED").then(|| text.to_owned());
            assert_eq!(
                load(None, env, toml::Table::new()).unwrap().alerts.enabled,
                enabled
            );
        }
    }
}
