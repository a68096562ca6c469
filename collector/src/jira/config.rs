//! `[jira]` and `[automation]` keys: where Jira is and how tickets are decided. Jira is off
//! until `jira.url`, `jira.email`, `jira.api_token_file` and `jira.project` are all set (in
//! the file, by `FLEETLOG_JIRA_*`, or through `PUT /api/v1/automation`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::decide::{Band, Policy, Thresholds};
use crate::config::ConfigError;

/// Every leaf key of these sections, for environment overrides.
pub const KEYS: &[&str] = &[
    "jira.url",
    "jira.email",
    "jira.api_token_file",
    "jira.project",
    "jira.issue_type",
    "jira.dashboard_url",
    "jira.reopen_transition",
    "jira.request_timeout_ms",
    "jira.reconcile_window_secs",
    "jira.create_settle_secs",
    "automation.enabled",
    "automation.threshold_critical",
    "automation.threshold_high",
    "automation.threshold_medium",
    "automation.threshold_low",
    "automation.threshold_info",
    "automation.priority_critical",
    "automation.priority_high",
    "automation.priority_medium",
    "automation.priority_low",
    "automation.priority_info",
    "automation.comment_interval_secs",
    "automation.interval_ms",
    "automation.max_incidents_per_step",
];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJira {
    url: Option<String>,
    email: Option<String>,
    api_token_file: Option<PathBuf>,
    project: Option<String>,
    issue_type: Option<String>,
    dashboard_url: Option<String>,
    reopen_transition: Option<String>,
    request_timeout_ms: Option<u64>,
    reconcile_window_secs: Option<u64>,
    create_settle_secs: Option<u64>,
}

/// A threshold: a number in 0..=1, or `"never"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum RawThreshold {
    Num(f64),
    Int(i64),
    Word(String),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAutomation {
    enabled: Option<RawBool>,
    threshold_critical: Option<RawThreshold>,
    threshold_high: Option<RawThreshold>,
    threshold_medium: Option<RawThreshold>,
    threshold_low: Option<RawThreshold>,
    threshold_info: Option<RawThreshold>,
    priority_critical: Option<String>,
    priority_high: Option<String>,
    priority_medium: Option<String>,
    priority_low: Option<String>,
    priority_info: Option<String>,
    comment_interval_secs: Option<u64>,
    interval_ms: Option<u64>,
    max_incidents_per_step: Option<u64>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum RawBool {
    Bool(bool),
    Int(i64),
    Str(String),
}

/// Where Jira is (all optional: Jira is off until the required ones are set).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JiraSettings {
    pub url: Option<String>,
    pub email: Option<String>,
    /// A file holding the API token (never the token itself).
    #[schema(value_type = Option<String>)]
    pub api_token_file: Option<PathBuf>,
    pub project: Option<String>,
    pub issue_type: Option<String>,
}

impl JiraSettings {
    /// The first missing required key, if any.
    pub fn missing(&self) -> Option<&'static str> {
        if self.url.as_deref().is_none_or(str::is_empty) {
            Some("jira.url")
        } else if self.email.as_deref().is_none_or(str::is_empty) {
            Some("jira.email")
        } else if self.api_token_file.is_none() {
            Some("jira.api_token_file")
        } else if self.project.as_deref().is_none_or(str::is_empty) {
            Some("jira.project")
        } else {
            None
        }
    }
}

/// Jira priority name per band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Priorities {
    pub critical: String,
    pub high: String,
    pub medium: String,
    pub low: String,
    pub info: String,
}

impl Default for Priorities {
    fn default() -> Self {
        Priorities {
            critical: "Highest".into(),
            high: "High".into(),
            medium: "Medium".into(),
            low: "Low".into(),
            info: "Lowest".into(),
        }
    }
}

impl Priorities {
    pub fn get(&self, band: Band) -> &str {
        match band {
            Band::Critical => &self.critical,
            Band::High => &self.high,
            Band::Medium => &self.medium,
            Band::Low => &self.low,
            Band::Info => &self.info,
        }
    }
}

/// What can be changed at run time (`GET/PUT /api/v1/automation`); the configuration gives
/// the starting values, a stored override wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settings {
    pub enabled: bool,
    pub thresholds: Thresholds,
    pub priorities: Priorities,
    pub comment_interval_secs: u64,
    pub jira: JiraSettings,
}

impl Settings {
    pub fn policy(&self) -> Policy {
        Policy {
            enabled: self.enabled,
            thresholds: self.thresholds,
            comment_interval: Duration::from_secs(self.comment_interval_secs),
        }
    }

    /// Checks what a `PUT` may set; errors name the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(b) = self.thresholds.invalid() {
            return Err(ConfigError::invalid(
                &format!("automation.threshold_{b}"),
                "must be between 0 and 1, or never",
            ));
        }
        if self.comment_interval_secs > 30 * 86_400 {
            return Err(ConfigError::invalid(
                "automation.comment_interval_secs",
                "must be at most 30 days",
            ));
        }
        if let Some(u) = &self.jira.url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(ConfigError::invalid(
                "jira.url",
                "must start with https:// or http://",
            ));
        }
        for (k, v) in [
            ("automation.priority_critical", &self.priorities.critical),
            ("automation.priority_high", &self.priorities.high),
            ("automation.priority_medium", &self.priorities.medium),
            ("automation.priority_low", &self.priorities.low),
            ("automation.priority_info", &self.priorities.info),
        ] {
            if v.trim().is_empty() || v.len() > 255 {
                return Err(ConfigError::invalid(k, "must be 1 to 255 characters"));
            }
        }
        Ok(())
    }
}

/// The `[jira]` and `[automation]` sections, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationConfig {
    /// Starting settings (a stored override wins).
    pub settings: Settings,
    pub issue_type_default: String,
    /// Base URL of the dashboard; a ticket links `<dashboard_url>/incidents/<id>`.
    pub dashboard_url: Option<String>,
    /// Name of the transition that reopens a done issue (matched case-insensitively; else
    /// the first transition to a status of category `new` or `indeterminate`).
    pub reopen_transition: String,
    pub request_timeout: Duration,
    /// Tickets created this recently are passed as `reconcileIssues` to duplicate checks.
    pub reconcile_window: Duration,
    /// After a create whose answer never came, no new create for the incident before this
    /// (longer than Jira's search lag), so search shows the issue it may have made.
    pub create_settle: Duration,
    /// How often the decision worker runs.
    pub interval: Duration,
    /// Incidents decided per worker step at most.
    pub max_incidents_per_step: u32,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        // The defaults are valid by construction.
        #[allow(clippy::expect_used)]
        AutomationConfig::from_raw(RawJira::default(), RawAutomation::default())
            .expect("default automation config")
    }
}

fn bounded(
    key: &str,
    v: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let v = v.unwrap_or(default);
    if v < min || v > max {
        return Err(ConfigError::invalid(
            key,
            format!("must be between {min} and {max}, got {v}"),
        ));
    }
    Ok(v)
}

fn threshold(
    key: &str,
    v: Option<RawThreshold>,
    default: Option<f64>,
) -> Result<Option<f64>, ConfigError> {
    let t = match v {
        None => return Ok(default),
        Some(RawThreshold::Word(w)) if w.eq_ignore_ascii_case("never") => return Ok(None),
        Some(RawThreshold::Word(w)) if w.eq_ignore_ascii_case("always") => 0.0,
        Some(RawThreshold::Word(w)) => w
            .parse::<f64>()
            .map_err(|_| ConfigError::invalid(key, format!("`{w}` is not a number or `never`")))?,
        Some(RawThreshold::Num(n)) => n,
        Some(RawThreshold::Int(i)) => i as f64,
    };
    if !(0.0..=1.0).contains(&t) {
        return Err(ConfigError::invalid(
            key,
            format!("must be between 0 and 1, got {t}"),
        ));
    }
    Ok(Some(t))
}

fn boolean(key: &str, v: Option<RawBool>, default: bool) -> Result<bool, ConfigError> {
    match v {
        None => Ok(default),
        Some(RawBool::Bool(b)) => Ok(b),
        Some(RawBool::Int(0)) => Ok(false),
        Some(RawBool::Int(1)) => Ok(true),
        Some(RawBool::Str(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(RawBool::Str(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ConfigError::invalid(key, "must be true or false")),
    }
}

impl AutomationConfig {
    pub(crate) fn from_raw(j: RawJira, a: RawAutomation) -> Result<AutomationConfig, ConfigError> {
        let d = Thresholds::default();
        let p = Priorities::default();
        let issue_type = j.issue_type.clone().unwrap_or_else(|| "Bug".into());
        let settings = Settings {
            enabled: boolean("automation.enabled", a.enabled, true)?,
            thresholds: Thresholds {
                critical: threshold(
                    "automation.threshold_critical",
                    a.threshold_critical,
                    d.critical,
                )?,
                high: threshold("automation.threshold_high", a.threshold_high, d.high)?,
                medium: threshold("automation.threshold_medium", a.threshold_medium, d.medium)?,
                low: threshold("automation.threshold_low", a.threshold_low, d.low)?,
                info: threshold("automation.threshold_info", a.threshold_info, d.info)?,
            },
            priorities: Priorities {
                critical: a.priority_critical.unwrap_or(p.critical),
                high: a.priority_high.unwrap_or(p.high),
                medium: a.priority_medium.unwrap_or(p.medium),
                low: a.priority_low.unwrap_or(p.low),
                info: a.priority_info.unwrap_or(p.info),
            },
            comment_interval_secs: bounded(
                "automation.comment_interval_secs",
                a.comment_interval_secs,
                3600,
                0,
                30 * 86_400,
            )?,
            jira: JiraSettings {
                url: j.url,
                email: j.email,
                api_token_file: j.api_token_file,
                project: j.project,
                issue_type: Some(issue_type.clone()),
            },
        };
        settings.validate()?;
        Ok(AutomationConfig {
            settings,
            issue_type_default: issue_type,
            dashboard_url: j.dashboard_url.map(|u| u.trim_end_matches('/').to_owned()),
            reopen_transition: j.reopen_transition.unwrap_or_else(|| "Reopen".into()),
            request_timeout: Duration::from_millis(bounded(
                "jira.request_timeout_ms",
                j.request_timeout_ms,
                10_000,
                100,
                300_000,
            )?),
            reconcile_window: Duration::from_secs(bounded(
                "jira.reconcile_window_secs",
                j.reconcile_window_secs,
                3600,
                0,
                7 * 86_400,
            )?),
            create_settle: Duration::from_secs(bounded(
                "jira.create_settle_secs",
                j.create_settle_secs,
                60,
                0,
                86_400,
            )?),
            interval: Duration::from_millis(bounded(
                "automation.interval_ms",
                a.interval_ms,
                1000,
                10,
                3_600_000,
            )?),
            max_incidents_per_step: bounded(
                "automation.max_incidents_per_step",
                a.max_incidents_per_step,
                500,
                1,
                100_000,
            )? as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, set_key};

    #[test]
    fn defaults_and_overrides() {
        let cfg = load(None, |_| None, toml::Table::new()).unwrap();
        let a = &cfg.automation;
        assert_eq!(a.settings.thresholds, Thresholds::default());
        assert_eq!(a.settings.jira.missing(), Some("jira.url"));
        assert_eq!(a.settings.comment_interval_secs, 3600);
        let env = |k: &str| match k {
            "FLEETLOG_JIRA_URL" => Some("https://acme.atlassian.net".to_owned()),
            "FLEETLOG_JIRA_EMAIL" => Some("ops@acme.test".to_owned()),
            "FLEETLOG_JIRA_API_TOKEN_FILE" => Some("/run/secrets/jira".to_owned()),
            "FLEETLOG_JIRA_PROJECT" => Some("OPS".to_owned()),
            "FLEETLOG_AUTOMATION_THRESHOLD_LOW" => Some("0.9".to_owned()),
            "FLEETLOG_AUTOMATION_THRESHOLD_HIGH" => Some("never".to_owned()),
            "FLEETLOG_AUTOMATION_ENABLED" => Some("0".to_owned()),
            _ => None,
        };
        let cfg = load(None, env, toml::Table::new()).unwrap();
        let s = &cfg.automation.settings;
        assert_eq!(s.jira.missing(), None);
        assert_eq!(s.thresholds.low, Some(0.9));
        assert_eq!(s.thresholds.high, None);
        assert!(!s.enabled);
    }

    #[test]
    fn bad_values_are_named() {
        for (key, value) in [
            ("automation.threshold_medium", toml::Value::Float(1.5)),
            (
                "automation.threshold_low",
                toml::Value::String("sometimes".into()),
            ),
            ("jira.url", toml::Value::String("ftp://x".into())),
            ("jira.request_timeout_ms", toml::Value::Integer(1)),
        ] {
            let mut t = toml::Table::new();
            set_key(&mut t, key, value);
            let err = load(None, |_| None, t).unwrap_err().to_string();
            assert!(
                err.contains(key) || err.contains(key.split('.').nth(1).unwrap()),
                "{key}: {err}"
            );
        }
    }
}
