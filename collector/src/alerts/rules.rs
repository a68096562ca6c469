//! Alert rules: what is measured, over which scope, compared how, for how long; the
//! built-in rules (seeded at start, on by default, thresholds editable); label matchers
//! (shared by rule scopes, silences and channel routes); the stable alert fingerprint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a rule measures, per scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Percent of a (host, service)'s lines at error or worse over the window (line time).
    ErrorRate,
    /// Seconds since a host or a (host, service) last sent a line (arrival time).
    Silence,
    /// Critical lines of a (host, service) over the window.
    CriticalEvents,
    /// Mean processing lag (arrival − line time) of a (host, service) over the window, s.
    ProcessingLag,
    /// An agent's buffer use in percent of its capacity (latest heartbeat).
    BufferUsage,
    /// An active incident's severity: 1 low, 2 medium, 3 high, 4 critical.
    Incident,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::ErrorRate => "error_rate",
            Measure::Silence => "silence",
            Measure::CriticalEvents => "critical_events",
            Measure::ProcessingLag => "processing_lag",
            Measure::BufferUsage => "buffer_usage",
            Measure::Incident => "incident",
        }
    }

    /// The unit of its values, for messages.
    pub fn unit(self) -> &'static str {
        match self {
            Measure::ErrorRate | Measure::BufferUsage => "%",
            Measure::Silence | Measure::ProcessingLag => "s",
            Measure::CriticalEvents => " lines",
            Measure::Incident => "",
        }
    }
}

/// How a value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
        }
    }
}

/// A rule as stored (`alert_rules.spec_json`) and sent by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub measure: Measure,
    /// Label matchers the scope must match (host, service, store, site); empty: all.
    #[serde(default)]
    pub scope: BTreeMap<String, String>,
    pub comparison: Comparison,
    pub threshold: f64,
    /// The window the value is computed over (ignored by silence, buffer, incident).
    #[serde(default = "default_window")]
    pub window_secs: u64,
    /// How long the condition must hold before the alert fires.
    #[serde(default, rename = "for_secs")]
    pub for_secs: u64,
    /// How long a firing alert stays firing after its condition cleared.
    #[serde(default)]
    pub keep_firing_for_secs: u64,
    /// "warning" or "critical".
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Labels alerts of this rule are grouped by into one notification.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
}

fn default_window() -> u64 {
    300
}

fn default_severity() -> String {
    "warning".into()
}

fn default_group_by() -> Vec<String> {
    vec!["host".into(), "service".into()]
}

impl RuleSpec {
    /// Checks the spec; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !self.threshold.is_finite() {
            return Err("threshold must be a finite number".into());
        }
        if self.window_secs == 0 || self.window_secs > 7 * 86_400 {
            return Err("window_secs must be between 1 and 604800".into());
        }
        if self.for_secs > 7 * 86_400 || self.keep_firing_for_secs > 7 * 86_400 {
            return Err("for_secs and keep_firing_for_secs must be at most 604800".into());
        }
        if !matches!(self.severity.as_str(), "info" | "warning" | "critical") {
            return Err("severity must be info, warning or critical".into());
        }
        for k in self.scope.keys().chain(&self.group_by) {
            if !LABELS.contains(&k.as_str()) {
                return Err(format!(
                    "unknown label `{k}` (known: {})",
                    LABELS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The decider's timing.
    pub fn timing(&self) -> super::decide::Timing {
        let ms = |s: u64| i64::try_from(s.saturating_mul(1_000)).unwrap_or(i64::MAX);
        super::decide::Timing {
            for_ms: ms(self.for_secs),
            keep_firing_for_ms: ms(self.keep_firing_for_secs),
        }
    }
}

/// Labels an alert may carry and a matcher may name.
pub const LABELS: &[&str] = &["host", "service", "store", "site", "incident", "class"];

/// A built-in rule: its name and default spec.
pub fn builtins() -> Vec<(&'static str, RuleSpec)> {
    let spec = |measure, comparison, threshold, window_secs, severity: &str| RuleSpec {
        measure,
        scope: BTreeMap::new(),
        comparison,
        threshold,
        window_secs,
        for_secs: 0,
        keep_firing_for_secs: 0,
        severity: severity.into(),
        group_by: default_group_by(),
    };
    vec![
        (
            "error-rate",
            spec(Measure::ErrorRate, Comparison::Gt, 5.0, 300, "warning"),
        ),
        (
            "silent",
            spec(Measure::Silence, Comparison::Ge, 600.0, 300, "critical"),
        ),
        (
            "critical-event",
            spec(
                Measure::CriticalEvents,
                Comparison::Gt,
                0.0,
                300,
                "critical",
            ),
        ),
        (
            "processing-lag",
            spec(Measure::ProcessingLag, Comparison::Gt, 60.0, 300, "warning"),
        ),
        (
            "agent-buffer",
            spec(Measure::BufferUsage, Comparison::Gt, 80.0, 300, "warning"),
        ),
        (
            "incident",
            RuleSpec {
                group_by: vec!["incident".into()],
                ..spec(Measure::Incident, Comparison::Ge, 3.0, 300, "critical")
            },
        ),
    ]
}

/// Whether `labels` satisfy every matcher: equal value, or a `*` glob (`pos-*`).
pub fn matches(matchers: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|(k, want)| {
        labels
            .get(k)
            .is_some_and(|have| glob(want.as_bytes(), have.as_bytes()))
    })
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s
            .split_first()
            .is_some_and(|(d, srest)| c == d && glob(rest, srest)),
    }
}

/// FNV-1a, 64 bits, as hex.
fn fnv(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The alert's stable fingerprint: the rule and its sorted labels, the same on every
/// replica and after restarts.
pub fn fingerprint(rule_id: i64, labels: &BTreeMap<String, String>) -> String {
    let id = rule_id.to_string();
    let mut parts = vec![id.as_str()];
    for (k, v) in labels {
        parts.push(k);
        parts.push(v);
    }
    fnv(&parts)
}

/// The group an alert notifies in: the rule and its `group_by` labels.
pub fn group_key(rule_id: i64, group_by: &[String], labels: &BTreeMap<String, String>) -> String {
    let mut key = format!("r{rule_id}");
    for g in group_by {
        key.push('|');
        key.push_str(g);
        key.push('=');
        key.push_str(labels.get(g).map_or("", String::as_str));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn matchers_table() {
        let l = labels(&[
            ("host", "pos-17"),
            ("service", "payments"),
            ("store", "0042"),
        ]);
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("host", "pos-17")], true),
            (&[("host", "pos-*")], true),
            (&[("host", "*17")], true),
            (&[("host", "kiosk-*")], false),
            (&[("host", "pos-17"), ("service", "payments")], true),
            (&[("host", "pos-17"), ("service", "pricing")], false),
            (&[("site", "berlin")], false),
            (&[("store", "*")], true),
        ];
        for (m, want) in cases {
            assert_eq!(matches(&labels(m), &l), *want, "{m:?}");
        }
    }

    #[test]
    fn fingerprint_is_stable_and_distinguishes() {
        let a = labels(&[("host", "a"), ("service", "x")]);
        let b = labels(&[("host", "ax"), ("service", "")]);
        assert_eq!(fingerprint(1, &a), fingerprint(1, &a.clone()));
        assert_ne!(fingerprint(1, &a), fingerprint(2, &a));
        assert_ne!(fingerprint(1, &a), fingerprint(1, &b));
        // Frozen: a changed fingerprint would re-notify every firing alert after an upgrade.
        assert_eq!(fingerprint(1, &a), "307859bca68d27d1");
        assert_eq!(
            group_key(3, &["host".into(), "service".into()], &a),
            "r3|host=a|service=x"
        );
    }

    #[test]
    fn builtins_are_valid_and_the_issue_thresholds() {
        let b = builtins();
        for (name, spec) in &b {
            assert_eq!(spec.validate(), Ok(()), "{name}");
        }
        let get = |n: &str| {
            b.iter()
                .find(|(x, _)| *x == n)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(
            (get("error-rate").threshold, get("error-rate").window_secs),
            (5.0, 300)
        );
        assert_eq!(get("silent").threshold, 600.0);
        assert_eq!(get("processing-lag").threshold, 60.0);
        assert_eq!(get("agent-buffer").threshold, 80.0);
        assert!(Comparison::Gt.holds(5.1, 5.0) && !Comparison::Gt.holds(5.0, 5.0));
        assert!(Comparison::Ge.holds(600.0, 600.0));
    }
}
