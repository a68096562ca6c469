//! `/alerts` — alerts (firing, pending, resolved) with Acknowledge and Silence buttons
//! for analysts, the rules, the silences; for admins also the channels with "send test"
//! and their delivery history, and the Jira automation settings (with an on/off
//! switch); and the ticket list. Every button is a `fetch` to the REST endpoint.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::Value;

use super::host::Row;
use super::layout::{Nav, Page, PageResult, fmt_ms, fmt_opt, render};
use crate::api::AppState;
use crate::api::alerts::AlertQuery;
use crate::api::auth::{Admin, Viewer};
use crate::api::channels::DeliveryQuery;
use crate::api::extract::{Path, Query as ApiQuery};
use crate::api::silences::SilenceQuery;
use crate::api::tickets::TicketQuery;

/// `?state=firing`.
#[derive(Debug, Default, Deserialize)]
pub struct AlertFilter {
    pub state: Option<String>,
}

/// Flattens a JSON value into `a.b = value` pairs, in key order (objects nest with `.`).
pub fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Null => out.push((prefix.to_owned(), "—".to_owned())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// An alert row with what its buttons need.
#[derive(Debug)]
pub struct AlertRow {
    pub id: i64,
    pub state: String,
    pub severity: String,
    pub summary: String,
    pub labels: String,
    pub started: String,
    pub acked: String,
    pub can_ack: bool,
    /// `{"matchers": ..., "ends": ..., "comment": ...}` minus `ends`, filled by the script.
    pub matchers: String,
}

/// A channel with its latest deliveries.
#[derive(Debug)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub deliveries: Vec<Row>,
}

#[derive(askama::Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    nav: Nav,
    state: String,
    alerts: Vec<AlertRow>,
    rules: Vec<Row>,
    silences: Vec<Row>,
    channels: Vec<ChannelView>,
    automation: Vec<(String, String)>,
    automation_enabled: bool,
    tickets: Vec<Row>,
}

/// `GET /alerts`.
pub async fn page(
    State(state): State<AppState>,
    page: Page,
    q: Result<Query<AlertFilter>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let st = || State(state.clone());
    let wanted = q.state.clone().filter(|s| !s.is_empty());
    let axum::Json(alerts) = crate::api::alerts::list(
        st(),
        page.as_role::<Viewer>()?,
        ApiQuery(AlertQuery {
            state: wanted.clone(),
            rule_id: None,
            host: None,
            service: None,
            store: None,
            site: None,
            limit: Some(100),
        }),
    )
    .await?;
    let mut alerts: Vec<AlertRow> = alerts
        .alerts
        .into_iter()
        .map(|a| AlertRow {
            id: a.id,
            can_ack: a.state == "firing" && a.acknowledged_by.is_none(),
            acked: a.acknowledged_by.map_or_else(String::new, |by| {
                format!("acknowledged by {by} at {}", fmt_opt(a.acknowledged_ms))
            }),
            matchers: serde_json::to_string(&a.labels).unwrap_or_default(),
            labels: a
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            state: a.state,
            severity: a.severity,
            summary: a.summary,
            started: fmt_opt(a.started_ms.or(a.pending_since_ms)),
        })
        .collect();
    let rank = |s: &str| match s {
        "firing" => 0,
        "pending" => 1,
        _ => 2,
    };
    alerts.sort_by_key(|a| rank(&a.state));
    let axum::Json(rules) = crate::api::rules::list(st(), page.as_role::<Viewer>()?).await?;
    let axum::Json(silences) = crate::api::silences::list(
        st(),
        page.as_role::<Viewer>()?,
        ApiQuery(SilenceQuery { all: None }),
    )
    .await?;
    let axum::Json(tickets) = crate::api::tickets::list(
        st(),
        page.as_role::<Viewer>()?,
        ApiQuery(TicketQuery {
            state: None,
            limit: Some(50),
            cursor: None,
        }),
    )
    .await?;
    let mut channels = Vec::new();
    let mut automation = Vec::new();
    let mut automation_enabled = false;
    if let Ok(admin) = page.as_role::<Admin>() {
        let axum::Json(list) = crate::api::channels::list(st(), admin).await?;
        for c in list.channels {
            let axum::Json(d) = crate::api::channels::deliveries(
                st(),
                page.as_role::<Admin>()?,
                Path(c.id),
                ApiQuery(DeliveryQuery {
                    limit: Some(10),
                    cursor: None,
                }),
            )
            .await?;
            channels.push(ChannelView {
                id: c.id,
                name: c.name,
                kind: c.kind,
                deliveries: d
                    .deliveries
                    .into_iter()
                    .map(|x| Row {
                        class: x.outcome.clone(),
                        link: String::new(),
                        cells: vec![
                            fmt_ms(x.started_ms),
                            x.attempt.to_string(),
                            x.outcome,
                            x.http_status.map_or_else(String::new, |s| s.to_string()),
                            format!("{} ms", x.latency_ms),
                            x.error.unwrap_or_default(),
                        ],
                    })
                    .collect(),
            });
        }
        let axum::Json(a) = crate::api::automation::get(st(), page.as_role::<Admin>()?).await?;
        automation_enabled = a.settings.enabled;
        let v = serde_json::to_value(&a.settings).unwrap_or_default();
        flatten("", &v, &mut automation);
        automation.push(("jira configured".to_owned(), a.jira_configured.to_string()));
        if let Some(m) = a.missing {
            automation.push(("jira missing".to_owned(), m));
        }
    }
    Ok(render(&AlertsPage {
        nav: page.nav("alerts"),
        state: wanted.unwrap_or_default(),
        alerts,
        rules: rules
            .rules
            .into_iter()
            .map(|r| Row {
                class: String::new(),
                link: String::new(),
                cells: vec![
                    r.name,
                    if r.enabled { "enabled" } else { "disabled" }.to_owned(),
                    if r.builtin { "built-in" } else { "custom" }.to_owned(),
                    serde_json::to_string(&r.spec).unwrap_or_default(),
                ],
            })
            .collect(),
        silences: silences
            .silences
            .into_iter()
            .map(|s| Row {
                class: String::new(),
                link: format!("/api/v1/silences/{}", s.id),
                cells: vec![
                    s.matchers
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    fmt_ms(s.starts_ms),
                    fmt_ms(s.ends_ms),
                    s.comment,
                    s.created_by,
                ],
            })
            .collect(),
        channels,
        automation,
        automation_enabled,
        tickets: tickets
            .tickets
            .into_iter()
            .map(|t| Row {
                class: t.state.clone(),
                link: t.url.unwrap_or_default(),
                cells: vec![
                    t.key.unwrap_or_else(|| "(creating)".to_owned()),
                    format!("{}", t.incident_id),
                    t.state,
                    t.severity,
                    t.comments.to_string(),
                    t.reopens.to_string(),
                    fmt_ms(t.created_ms),
                ],
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_nested_settings() {
        let v = serde_json::json!({"enabled": true, "thresholds": {"critical": 0.5, "warn": null},
                                   "jira": {"url": "https://x"}});
        let mut out = Vec::new();
        flatten("", &v, &mut out);
        let got: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            [
                "enabled=true",
                "jira.url=https://x",
                "thresholds.critical=0.5",
                "thresholds.warn=—"
            ]
        );
    }
}
