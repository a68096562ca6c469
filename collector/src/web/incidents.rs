//! `/incidents` — incidents with filters (status, severity, host, class, service) and
//! paging; `/incidents/{id}` — one incident: timeline, hosts, samples, class and
//! suggested fix, related incidents, its Jira ticket and the automation's decisions,
//! and a Resolve button for analysts (a `fetch` to `POST /api/v1/incidents/{id}/resolve`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::host::{Row, severity_name};
use super::layout::{Nav, Page, PageResult, fmt_ms, fmt_opt, render};
use crate::api::AppState;
use crate::api::auth::Viewer;
use crate::api::automation::DecisionQuery;
use crate::api::error::ApiError;
use crate::api::events::Severity;
use crate::api::extract::{Path, Query as ApiQuery};
use crate::api::incidents::IncidentQuery;
use crate::api::tickets::TicketQuery;
use crate::incidents::decide::Status;

/// The list's filters as typed in the form (empty means any).
#[derive(Debug, Default, Deserialize)]
pub struct ListFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub host: Option<String>,
    pub class: Option<String>,
    pub service: Option<String>,
    pub cursor: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    s: &Option<String>,
) -> Result<Option<T>, ApiError> {
    match non_empty(s) {
        None => Ok(None),
        Some(v) => serde_json::from_value(serde_json::Value::String(v.clone()))
            .map(Some)
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "unknown {what} `{}`",
                    v.chars().take(40).collect::<String>()
                ))
            }),
    }
}

#[derive(askama::Template)]
#[template(path = "incidents.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<Row>,
    status: String,
    severity: String,
    host: String,
    class: String,
    service: String,
    statuses: [&'static str; 4],
    severities: [&'static str; 3],
    next: String,
}

/// `GET /incidents`.
pub async fn list(
    State(state): State<AppState>,
    page: Page,
    q: Result<Query<ListFilter>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let status: Option<Status> = parse("status", &q.status)?;
    let severity: Option<Severity> = parse("severity", &q.severity)?;
    let axum::Json(found) = crate::api::incidents::list(
        State(state),
        page.as_role::<Viewer>()?,
        ApiQuery(IncidentQuery {
            status,
            severity,
            host: non_empty(&q.host),
            class: non_empty(&q.class),
            service: non_empty(&q.service),
            limit: Some(50),
            cursor: non_empty(&q.cursor),
        }),
    )
    .await?;
    let rows = found
        .incidents
        .into_iter()
        .map(|i| Row {
            class: i.status.as_str().to_owned(),
            link: format!("/incidents/{}", i.id),
            cells: vec![
                format!("#{}", i.id),
                i.status.as_str().to_owned(),
                severity_name(i.severity),
                i.title,
                i.class.unwrap_or_default(),
                i.host_count.to_string(),
                i.event_count.to_string(),
                fmt_ms(i.last_seen_ms),
            ],
        })
        .collect();
    let next = found.next_cursor.map_or_else(String::new, |c| {
        let mut qs = String::new();
        for (k, v) in [
            ("status", &q.status),
            ("severity", &q.severity),
            ("host", &q.host),
            ("class", &q.class),
            ("service", &q.service),
        ] {
            if let Some(v) = non_empty(v) {
                qs.push_str(&format!("{k}={}&", super::layout::encode_component(&v)));
            }
        }
        format!("?{qs}cursor={}", super::layout::encode_component(&c))
    });
    Ok(render(&ListPage {
        nav: page.nav("incidents"),
        rows,
        status: non_empty(&q.status).unwrap_or_default(),
        severity: non_empty(&q.severity).unwrap_or_default(),
        host: non_empty(&q.host).unwrap_or_default(),
        class: non_empty(&q.class).unwrap_or_default(),
        service: non_empty(&q.service).unwrap_or_default(),
        statuses: ["open", "regressed", "pending", "resolved"],
        severities: ["warn", "error", "critical"],
        next,
    }))
}

#[derive(askama::Template)]
#[template(path = "incident.html")]
struct DetailPage {
    nav: Nav,
    id: i64,
    title: String,
    status: String,
    severity: String,
    class: String,
    service: String,
    fix: String,
    resolvable: bool,
    facts: Vec<(&'static str, String)>,
    hosts: Vec<String>,
    samples: Vec<Row>,
    related: Vec<i64>,
    timeline: Vec<Row>,
    ticket_key: String,
    ticket_url: String,
    decisions: Vec<Row>,
}

/// `GET /incidents/{id}`.
pub async fn detail(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> PageResult {
    let st = || State(state.clone());
    let axum::Json(d) =
        crate::api::incidents::get(st(), page.as_role::<Viewer>()?, Path(id)).await?;
    let axum::Json(decisions) = crate::api::automation::decisions(
        st(),
        page.as_role::<Viewer>()?,
        ApiQuery(DecisionQuery {
            incident_id: Some(id),
            decision: None,
            limit: Some(20),
            cursor: None,
        }),
    )
    .await?;
    let axum::Json(tickets) = crate::api::tickets::list(
        st(),
        page.as_role::<Viewer>()?,
        ApiQuery(TicketQuery {
            state: None,
            limit: Some(100),
            cursor: None,
        }),
    )
    .await?;
    let ticket = tickets.tickets.into_iter().find(|t| t.incident_id == id);
    let i = d.incident;
    let resolvable = matches!(i.status, Status::Open | Status::Regressed | Status::Pending);
    Ok(render(&DetailPage {
        nav: page.nav("incidents"),
        id,
        status: i.status.as_str().to_owned(),
        severity: severity_name(i.severity),
        class: i.class.unwrap_or_default(),
        service: i.service.unwrap_or_default(),
        fix: i.suggested_fix.unwrap_or_default(),
        resolvable,
        facts: vec![
            ("First seen", fmt_ms(i.first_seen_ms)),
            ("Last seen", fmt_ms(i.last_seen_ms)),
            ("Opened", fmt_opt(i.opened_ms)),
            ("Resolved", fmt_opt(i.resolved_ms)),
            (
                "Resolved by",
                i.resolved_by.unwrap_or_else(|| "—".to_owned()),
            ),
            ("Events", i.event_count.to_string()),
            ("Hosts", i.host_count.to_string()),
            ("Regressions", i.regressions.to_string()),
            ("Fingerprint", i.fingerprint),
        ],
        hosts: i.hosts,
        samples: i
            .samples
            .into_iter()
            .map(|s| Row {
                link: format!("/events/{}", s.event_id),
                cells: vec![fmt_ms(s.ts_ms), s.host, s.line],
                class: String::new(),
            })
            .collect(),
        related: i.related,
        timeline: d
            .timeline
            .into_iter()
            .map(|t| Row {
                class: t.change.clone(),
                link: String::new(),
                cells: vec![
                    fmt_ms(t.ts_ms),
                    t.change,
                    t.status,
                    t.severity,
                    t.host_count.to_string(),
                    t.event_count.to_string(),
                    t.actor.unwrap_or_default(),
                ],
            })
            .collect(),
        ticket_key: ticket
            .as_ref()
            .and_then(|t| t.key.clone())
            .unwrap_or_default(),
        ticket_url: ticket.and_then(|t| t.url).unwrap_or_default(),
        decisions: decisions
            .decisions
            .into_iter()
            .map(|x| Row {
                class: x.outcome.clone(),
                link: String::new(),
                cells: vec![
                    fmt_ms(x.decided_ms),
                    x.decision,
                    x.reason,
                    x.ticket_key.unwrap_or_default(),
                    x.outcome,
                ],
            })
            .collect(),
        title: i.title,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_or_say_what_is_wrong() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            parse::<Status>("status", &s("open")).ok().flatten(),
            Some(Status::Open)
        );
        assert_eq!(parse::<Status>("status", &s("  ")).ok().flatten(), None);
        assert_eq!(parse::<Status>("status", &None).ok().flatten(), None);
        let err = parse::<Severity>("severity", &s("<b>"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("unknown severity `<b>`"));
    }
}
