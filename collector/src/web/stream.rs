//! `/stream` — the live error stream: the latest matching events rendered here, then
//! `stream.js` follows `GET /api/v1/stream` (Server-Sent Events) with the same filters
//! (host, service, minimum severity; class is matched in the page), with pause and
//! resume (`Last-Event-ID` resumes without loss). `/events/{id}` shows one event with
//! the raw lines around it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::host::{Row, event_row, severity_name};
use super::layout::{Nav, Page, PageResult, fmt_ms, render};
use crate::api::AppState;
use crate::api::auth::Viewer;
use crate::api::events::{EventDetailQuery, EventQuery, Severity};
use crate::api::extract::{Path, Query as ApiQuery};

/// Filters of the live stream page.
#[derive(Debug, Default, Deserialize)]
pub struct StreamFilter {
    pub host: Option<String>,
    pub service: Option<String>,
    /// `warn`, `error` or `critical` (default `warn`).
    pub severity: Option<String>,
    pub class: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The minimum severity a filter asks for; `warn` unless it names a worse one.
pub fn min_severity(s: Option<&str>) -> (Severity, &'static str) {
    match s {
        Some("critical") => (Severity::Critical, "critical"),
        Some("error") => (Severity::Error, "error"),
        _ => (Severity::Warn, "warn"),
    }
}

#[derive(askama::Template)]
#[template(path = "stream.html")]
struct StreamPage {
    nav: Nav,
    host: String,
    service: String,
    severity: &'static str,
    class: String,
    severities: [&'static str; 3],
    events: Vec<Row>,
}

/// `GET /stream`.
pub async fn page(
    State(state): State<AppState>,
    page: Page,
    q: Result<Query<StreamFilter>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let (sev, sev_name) = min_severity(q.severity.as_deref());
    let host = non_empty(q.host);
    let service = non_empty(q.service);
    let class = non_empty(q.class);
    let axum::Json(found) = crate::api::events::list(
        State(state),
        page.as_role::<Viewer>()?,
        ApiQuery(EventQuery {
            host: host.clone(),
            service: service.clone(),
            severity: Some(sev),
            class: class.clone(),
            template_id: None,
            from: None,
            to: None,
            q: None,
            limit: Some(50),
            cursor: None,
        }),
    )
    .await?;
    Ok(render(&StreamPage {
        nav: page.nav("stream"),
        host: host.unwrap_or_default(),
        service: service.unwrap_or_default(),
        severity: sev_name,
        class: class.unwrap_or_default(),
        severities: ["warn", "error", "critical"],
        events: found.events.into_iter().map(event_row).collect(),
    }))
}

#[derive(askama::Template)]
#[template(path = "event.html")]
struct EventPage {
    nav: Nav,
    id: i64,
    event: Row,
    severity: String,
    before: Vec<Row>,
    after: Vec<Row>,
    archived: bool,
}

fn line_row(l: crate::api::fleet::LineDto) -> Row {
    Row {
        class: format!("lv-{}", severity_name(l.level)),
        cells: vec![fmt_ms(l.ts_ms), l.source, l.line],
        link: String::new(),
    }
}

/// `GET /events/{id}`: the event with 20 lines before and after it.
pub async fn event(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> PageResult {
    let axum::Json(d) = crate::api::events::get(
        State(state),
        page.as_role::<Viewer>()?,
        Path(id),
        ApiQuery(EventDetailQuery { context: Some(20) }),
    )
    .await?;
    let severity = severity_name(d.event.severity);
    Ok(render(&EventPage {
        nav: page.nav("stream"),
        id,
        event: event_row(d.event),
        severity,
        before: d.before.into_iter().map(line_row).collect(),
        after: d.after.into_iter().map(line_row).collect(),
        archived: d.archived,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_filter_defaults_to_warn() {
        for (input, want) in [
            (None, "warn"),
            (Some("info"), "warn"),
            (Some("error"), "error"),
            (Some("critical"), "critical"),
            (Some("bogus"), "warn"),
        ] {
            assert_eq!(min_severity(input).1, want, "{input:?}");
        }
    }
}
