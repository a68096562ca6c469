//! The notification an alert group sends, as stored in the outbox (JSON, no secrets).
//! Channels render it (`notify/`): the generic webhook posts it as is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One alert in a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertItem {
    /// Stable across replicas and restarts (rule + labels).
    pub fingerprint: String,
    /// "firing" | "resolved"
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub threshold: f64,
    /// ">" | ">=" | "<" | "<="
    pub comparison: String,
    pub unit: String,
    pub summary: String,
    /// When it started firing.
    pub starts_ms: Option<i64>,
    /// When it resolved (resolved alerts only).
    pub ends_ms: Option<i64>,
}

/// A group's notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// "firing" if any alert fires, else "resolved"; "test" for a test notification.
    pub status: String,
    pub group_key: String,
    pub rule: String,
    pub rule_id: i64,
    pub severity: String,
    pub alerts: Vec<AlertItem>,
    /// Where a person looks at it.
    pub dashboard_url: String,
    pub sent_ms: i64,
}

impl Notification {
    /// A one-line title: state, rule and scope.
    pub fn title(&self) -> String {
        let firing = self.alerts.iter().filter(|a| a.status == "firing").count();
        let resolved = self.alerts.len() - firing;
        let scope = self
            .alerts
            .first()
            .map(|a| {
                a.labels
                    .iter()
                    .filter(|(k, _)| matches!(k.as_str(), "host" | "service" | "incident"))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        match self.status.as_str() {
            "test" => format!("[TEST] fleetlog test notification for {}", self.rule),
            "firing" if resolved > 0 => format!(
                "[FIRING:{firing}, RESOLVED:{resolved}] {} {scope}",
                self.rule
            ),
            "firing" => format!("[FIRING:{firing}] {} {scope}", self.rule),
            _ => format!("[RESOLVED] {} {scope}", self.rule),
        }
    }

    /// A test notification for a channel.
    pub fn test(channel: &str, dashboard_url: &str, now_ms: i64) -> Notification {
        Notification {
            status: "test".into(),
            group_key: format!("test|{channel}"),
            rule: format!("channel {channel}"),
            rule_id: 0,
            severity: "info".into(),
            alerts: Vec::new(),
            dashboard_url: dashboard_url.to_owned(),
            sent_ms: now_ms,
        }
    }
}
