//! `/api/v1/incidents`: incidents grouped across hosts, with evidence, timeline, related
//! incidents and a suggested fix; resolving one needs the analyst role. And
//! `/api/v1/patterns`: error patterns with counts per window and the trend.

use std::collections::HashMap;

use axum::extract::State as AxState;
use fleetlog_protocol::Level;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Analyst, Auth, Viewer};
use super::error::ApiError;
use super::events::Severity;
use super::extract::{Path, Query};
use super::paging;
use crate::auth::Principal;
use crate::incidents::decide::Status;
use crate::incidents::fingerprint::template;
use crate::store::audit::AuditEntry;
use crate::store::incidents::{IncidentFilter, IncidentRecord};

/// A sample line of an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleDto {
    pub event_id: i64,
    pub host: String,
    pub ts_ms: i64,
    pub line: String,
}

/// An incident: one problem, grouped across hosts.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDto {
    pub id: i64,
    pub status: Status,
    /// The worst of its events, raised one level once it spread to many hosts.
    pub severity: Severity,
    pub title: String,
    pub class: Option<String>,
    pub service: Option<String>,
    /// What to do about it (the error class's fix, as an admin may edit it at `/api/v1/classes`).
    pub suggested_fix: Option<String>,
    pub fingerprint: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub event_count: u64,
    pub host_count: u64,
    /// Hosts affected (up to 1000).
    pub hosts: Vec<String>,
    pub samples: Vec<SampleDto>,
    pub opened_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub resolved_by: Option<String>,
    /// Times it came back after being resolved.
    pub regressions: u32,
    /// Incidents that started together on the same hosts.
    pub related: Vec<i64>,
}

/// `fixes`: the suggested fix in force per class id (`Store::suggested_fixes`).
fn dto(fixes: &HashMap<String, String>, r: IncidentRecord) -> IncidentDto {
    let i = r.incident;
    IncidentDto {
        id: r.id,
        status: i.status,
        severity: i.severity.into(),
        suggested_fix: i.class.as_deref().and_then(|c| fixes.get(c)).cloned(),
        title: i.title,
        class: i.class,
        service: i.service,
        fingerprint: i.fingerprint,
        first_seen_ms: i.first_seen_ms,
        last_seen_ms: i.last_seen_ms,
        event_count: i.count,
        host_count: i.host_count,
        hosts: i.hosts.into_iter().collect(),
        samples: i
            .samples
            .into_iter()
            .map(|s| SampleDto {
                event_id: s.event_id,
                host: s.host,
                ts_ms: s.ts_ms,
                line: s.line,
            })
            .collect(),
        opened_ms: i.opened_ms,
        resolved_ms: i.resolved_ms,
        resolved_by: r.resolved_by,
        regressions: i.regressions,
        related: r.related,
    }
}

/// A page of incidents, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentDto>,
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// `open`, `regressed`, `resolved` or `pending` (default: all but pending).
    pub status: Option<Status>,
    /// Only incidents at this severity or worse.
    pub severity: Option<Severity>,
    pub host: Option<String>,
    pub class: Option<String>,
    pub service: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Incidents, newest first.
#[utoipa::path(
    get, path = "/incidents", tag = "incidents",
    params(IncidentQuery),
    responses((status = 200, description = "A page of incidents", body = IncidentPage)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<IncidentQuery>,
) -> Result<axum::Json<IncidentPage>, ApiError> {
    page(&state, q).await.map(axum::Json)
}

/// A page of incidents, as `GET /api/v1/incidents` (and the MCP `list_incidents`) serve it.
pub(crate) async fn page(state: &AppState, q: IncidentQuery) -> Result<IncidentPage, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let filter = IncidentFilter {
        statuses: q.status.into_iter().collect(),
        min_severity: q.severity.map(Level::from),
        host: q.host,
        class: q.class,
        service: q.service,
        before_id: paging::decode_id_cursor(q.cursor.as_deref())?,
    };
    let rows = state.store.incidents(&filter, limit).await?;
    let fixes = state.store.suggested_fixes().await?;
    let next_cursor = paging::next_id_cursor(rows.iter().map(|r| r.id), rows.len(), limit);
    Ok(IncidentPage {
        incidents: rows.into_iter().map(|r| dto(&fixes, r)).collect(),
        next_cursor,
    })
}

/// One step of an incident's life.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineDto {
    /// `opened`, `escalated`, `resolved`, `regressed`.
    pub change: String,
    pub status: String,
    pub severity: String,
    pub host_count: i64,
    pub event_count: i64,
    /// Who, when a user did it.
    pub actor: Option<String>,
    pub ts_ms: i64,
}

/// An incident with its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    pub incident: IncidentDto,
    pub timeline: Vec<TimelineDto>,
}

/// One incident: evidence, hosts, timeline, related incidents.
#[utoipa::path(
    get, path = "/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = IncidentDetail),
        (status = 404, description = "No such incident", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn get(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Path(id): Path<i64>,
) -> Result<axum::Json<IncidentDetail>, ApiError> {
    detail(&state, id).await.map(axum::Json)
}

/// One incident with its timeline, as `GET /api/v1/incidents/{id}` (and the MCP
/// `get_incident`) serve it.
pub(crate) async fn detail(state: &AppState, id: i64) -> Result<IncidentDetail, ApiError> {
    let rec = state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("incident {id}")))?;
    let timeline = state
        .store
        .incident_timeline(id)
        .await?
        .into_iter()
        .map(|t| TimelineDto {
            change: t.change,
            status: t.status,
            severity: t.severity,
            host_count: t.host_count,
            event_count: t.event_count,
            actor: t.actor,
            ts_ms: t.ts_ms,
        })
        .collect();
    let fixes = state.store.suggested_fixes().await?;
    Ok(IncidentDetail {
        incident: dto(&fixes, rec),
        timeline,
    })
}

/// Marks an open or regressed incident resolved (it regresses if seen again).
#[utoipa::path(
    post, path = "/incidents/{id}/resolve", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The resolved incident", body = IncidentDto),
        (status = 404, description = "No such incident", body = super::error::ErrorBody),
        (status = 409, description = "The incident is not open", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn resolve(
    AxState(state): AxState<AppState>,
    auth: Auth<Analyst>,
    Path(id): Path<i64>,
) -> Result<axum::Json<IncidentDto>, ApiError> {
    resolve_as(&state, id, &auth.principal, auth.client.clone())
        .await
        .map(axum::Json)
}

/// Resolves an incident as `principal` (whose role the caller checked: analyst or more),
/// audited; shared by `POST /api/v1/incidents/{id}/resolve` and the MCP `resolve_incident`.
pub(crate) async fn resolve_as(
    state: &AppState,
    id: i64,
    principal: &Principal,
    client: Option<String>,
) -> Result<IncidentDto, ApiError> {
    let audit = AuditEntry::new(
        principal,
        client,
        "incident.resolve",
        format!("incident:{id}"),
    );
    let rec = state
        .store
        .resolve_incident(id, &principal.name, audit, crate::now_ms())
        .await?;
    let fixes = state.store.suggested_fixes().await?;
    Ok(dto(&fixes, rec))
}

/// Window of `GET /api/v1/patterns`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PatternQuery {
    /// Start (RFC 3339 or epoch ms); default one hour before `to`.
    pub from: Option<String>,
    /// End (RFC 3339 or epoch ms); default now.
    pub to: Option<String>,
    /// Patterns to return (1 to `api.max_page`, default 100).
    pub limit: Option<u32>,
}

/// An error pattern: a template with its counts now and in the window before.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatternDto {
    pub fingerprint: String,
    /// The line with its variable parts as `<*>`.
    pub template: String,
    pub sample: String,
    pub count: i64,
    /// Count in the window of the same length just before.
    pub previous_count: i64,
    /// `new`, `rising`, `falling` or `steady` (±20 %).
    pub trend: String,
    pub hosts: i64,
    pub severity: Severity,
    pub class: Option<String>,
    pub service: Option<String>,
    pub suggested_fix: Option<String>,
    pub last_ts_ms: i64,
}

/// Error patterns in a window, most frequent first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatternList {
    pub from_ms: i64,
    pub to_ms: i64,
    pub patterns: Vec<PatternDto>,
}

/// Error patterns with counts and trends.
#[utoipa::path(
    get, path = "/patterns", tag = "incidents",
    params(PatternQuery),
    responses((status = 200, description = "Patterns", body = PatternList)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn patterns(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<PatternQuery>,
) -> Result<axum::Json<PatternList>, ApiError> {
    pattern_list(&state, q).await.map(axum::Json)
}

/// Error patterns in a window, as `GET /api/v1/patterns` (and the MCP
/// `get_log_analysis_summary`) serve them.
pub(crate) async fn pattern_list(
    state: &AppState,
    q: PatternQuery,
) -> Result<PatternList, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let to = paging::time_ms("to", q.to.as_deref())?.unwrap_or_else(crate::now_ms);
    let from = paging::time_ms("from", q.from.as_deref())?.unwrap_or(to - 3_600_000);
    paging::range(Some(from), Some(to))?;
    let now = state.store.pattern_counts(from, to, limit).await?;
    let fps: Vec<String> = now.iter().map(|p| p.fingerprint.clone()).collect();
    let before = state
        .store
        .fingerprint_counts(&fps, from - (to - from), from)
        .await?;
    let fixes = state.store.suggested_fixes().await?;
    let patterns = now
        .into_iter()
        .map(|p| {
            let prev = before.get(&p.fingerprint).copied().unwrap_or(0);
            let trend = if prev == 0 {
                "new"
            } else if p.count * 10 > prev * 12 {
                "rising"
            } else if p.count * 10 < prev * 8 {
                "falling"
            } else {
                "steady"
            };
            PatternDto {
                template: template(&p.sample),
                suggested_fix: p.class.as_deref().and_then(|c| fixes.get(c)).cloned(),
                fingerprint: p.fingerprint,
                sample: p.sample,
                count: p.count,
                previous_count: prev,
                trend: trend.to_owned(),
                hosts: p.hosts,
                severity: p.worst.into(),
                class: p.class,
                service: p.service,
                last_ts_ms: p.last_ts_ms,
            }
        })
        .collect();
    Ok(PatternList {
        from_ms: from,
        to_ms: to,
        patterns,
    })
}
