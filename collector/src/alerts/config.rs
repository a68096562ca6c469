//! The `[alerts]` keys and the `[[channels]]` declared in the config file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::decide::GroupTiming;
use super::route::Route;
use crate::config::ConfigError;

/// Every `[alerts]` key, for environment overrides.
pub const KEYS: &[&str] = &[
    "alerts.enabled",
    "alerts.interval_secs",
    "alerts.group_wait_secs",
    "alerts.group_interval_secs",
    "alerts.repeat_interval_secs",
    "alerts.min_lines",
    "alerts.dashboard_url",
    "alerts.stream_client_buffer",
    "alerts.stream_poll_ms",
    "alerts.stream_heartbeat_secs",
    "alerts.ws_max_subscriptions",
];

/// `[alerts]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    enabled: Option<bool>,
    interval_secs: Option<u64>,
    group_wait_secs: Option<u64>,
    group_interval_secs: Option<u64>,
    repeat_interval_secs: Option<u64>,
    min_lines: Option<u64>,
    dashboard_url: Option<String>,
    stream_client_buffer: Option<u64>,
    stream_poll_ms: Option<u64>,
    stream_heartbeat_secs: Option<u64>,
    ws_max_subscriptions: Option<u64>,
}

/// One `[[channels]]` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    name: String,
    kind: String,
    #[serde(default)]
    config: toml::Table,
    #[serde(default)]
    secrets: toml::Table,
    #[serde(default)]
    route: Option<RawRoute>,
}

impl std::fmt::Debug for RawChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawChannel")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    matchers: BTreeMap<String, String>,
    #[serde(default)]
    default: bool,
}

/// Validated `[alerts]` and `[[channels]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// Run the evaluator (rules are still editable when off).
    pub enabled: bool,
    pub interval: Duration,
    pub group: GroupTiming,
    pub min_lines: i64,
    /// The dashboard's base URL, for links in notifications.
    pub dashboard_url: String,
    pub channels: Vec<crate::store::channels::NewChannel>,
    /// Live-stream events a client may have waiting before it is disconnected.
    pub stream_client_buffer: usize,
    /// How often the live stream reads the change feeds.
    pub stream_poll: Duration,
    /// Heartbeat comments on an idle live stream.
    pub stream_heartbeat: Duration,
    /// Subscriptions one WebSocket connection (`/api/v1/ws`) may hold at once.
    pub ws_max_subscriptions: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            interval: Duration::from_secs(10),
            group: GroupTiming::default(),
            min_lines: 10,
            dashboard_url: "http://127.0.0.1:8080".into(),
            channels: Vec::new(),
            stream_client_buffer: 256,
            stream_poll: Duration::from_millis(500),
            stream_heartbeat: Duration::from_secs(15),
            ws_max_subscriptions: 16,
        }
    }
}

fn to_json(t: toml::Table) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(t) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

fn positive_or(key: &str, v: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match v {
        Some(0) => Err(ConfigError::invalid(key, "must be greater than 0")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

/// Validates `[alerts]` and `[[channels]]`.
pub fn alerts_config(
    raw: RawAlerts,
    channels: Vec<RawChannel>,
) -> Result<AlertsConfig, ConfigError> {
    let d = AlertsConfig::default();
    let secs = |key: &str, v: Option<u64>, default_ms: i64| -> Result<i64, ConfigError> {
        match v {
            None => Ok(default_ms),
            Some(0) if key != "alerts.group_wait_secs" => {
                Err(ConfigError::invalid(key, "must be greater than 0"))
            }
            Some(s) => i64::try_from(s.saturating_mul(1_000))
                .map_err(|_| ConfigError::invalid(key, "too large")),
        }
    };
    let interval_ms = secs(
        "alerts.interval_secs",
        raw.interval_secs,
        i64::try_from(d.interval.as_millis()).unwrap_or(10_000),
    )?;
    let group = GroupTiming {
        group_wait_ms: secs(
            "alerts.group_wait_secs",
            raw.group_wait_secs,
            d.group.group_wait_ms,
        )?,
        group_interval_ms: secs(
            "alerts.group_interval_secs",
            raw.group_interval_secs,
            d.group.group_interval_ms,
        )?,
        repeat_interval_ms: secs(
            "alerts.repeat_interval_secs",
            raw.repeat_interval_secs,
            d.group.repeat_interval_ms,
        )?,
    };
    let dashboard_url = raw.dashboard_url.unwrap_or(d.dashboard_url);
    if !(dashboard_url.starts_with("http://") || dashboard_url.starts_with("https://")) {
        return Err(ConfigError::invalid(
            "alerts.dashboard_url",
            "must start with http:// or https://",
        ));
    }
    let mut out = Vec::new();
    for (i, c) in channels.into_iter().enumerate() {
        let key = format!("channels[{i}]");
        let new = crate::store::channels::NewChannel {
            name: c.name,
            kind: c.kind,
            config: to_json(c.config),
            secrets: to_json(c.secrets),
            route: c
                .route
                .map(|r| Route {
                    rules: r.rules,
                    matchers: r.matchers,
                    default: r.default,
                })
                .unwrap_or(Route {
                    default: true,
                    ..Route::default()
                }),
        };
        crate::notify::validate(&new).map_err(|m| ConfigError::invalid(&key, m))?;
        out.push(new);
    }
    Ok(AlertsConfig {
        enabled: raw.enabled.unwrap_or(true),
        interval: Duration::from_millis(u64::try_from(interval_ms).unwrap_or(10_000)),
        group,
        min_lines: i64::try_from(raw.min_lines.unwrap_or(10)).unwrap_or(i64::MAX),
        dashboard_url: dashboard_url.trim_end_matches('/').to_owned(),
        channels: out,
        stream_client_buffer: usize::try_from(positive_or(
            "alerts.stream_client_buffer",
            raw.stream_client_buffer,
            256,
        )?)
        .unwrap_or(256),
        stream_poll: Duration::from_millis(positive_or(
            "alerts.stream_poll_ms",
            raw.stream_poll_ms,
            500,
        )?),
        stream_heartbeat: Duration::from_secs(positive_or(
            "alerts.stream_heartbeat_secs",
            raw.stream_heartbeat_secs,
            15,
        )?),
        ws_max_subscriptions: usize::try_from(positive_or(
            "alerts.ws_max_subscriptions",
            raw.ws_max_subscriptions,
            16,
        )?)
        .unwrap_or(16),
    })
}
