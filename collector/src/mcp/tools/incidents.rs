//! Incidents: `list_incidents` (`GET /api/v1/incidents`), `get_incident`
//! (`GET /api/v1/incidents/{id}`) and `resolve_incident` (`POST .../resolve`, analyst).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ctx, Effect, MAX_HOSTS, ToolDef, cut_line, def};
use crate::api::events::Severity;
use crate::api::incidents::{IncidentDetail, IncidentDto, IncidentQuery};
use crate::auth::Role;
use crate::incidents::decide::Status;
use crate::mcp::error::ToolError;
use crate::mcp::tools::events::MinSeverity;

/// An incident status to filter on.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusArg {
    /// Happening now.
    Open,
    /// Came back after it was resolved.
    Regressed,
    Resolved,
    /// Seen, not yet over the threshold to open.
    Pending,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Open => Status::Open,
            StatusArg::Regressed => Status::Regressed,
            StatusArg::Resolved => Status::Resolved,
            StatusArg::Pending => Status::Pending,
        }
    }
}

/// Filters for incidents; all optional, combined with AND.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only this status (default: every status but pending).
    pub status: Option<StatusArg>,
    /// Only this severity or worse.
    pub severity: Option<MinSeverity>,
    /// Only incidents that touched this host.
    pub host: Option<String>,
    /// Error class id, e.g. `disk_full`.
    pub class: Option<String>,
    /// Service name, e.g. `payment`.
    pub service: Option<String>,
    /// Incidents per page, newest first (default 20, at most the server's `mcp.max_page`).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous call.
    pub cursor: Option<String>,
}

/// A page of incidents, newest first.
#[derive(Debug, Serialize)]
pub struct IncidentsOut {
    pub incidents: Vec<IncidentDto>,
    /// Pass as `cursor` (same filters) for older incidents; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Bounds an incident for a model: at most [`MAX_HOSTS`] host names (`host_count` is whole)
/// and sample lines cut.
fn bound(mut i: IncidentDto) -> IncidentDto {
    i.hosts.truncate(MAX_HOSTS);
    for s in &mut i.samples {
        cut_line(&mut s.line);
    }
    i
}

pub fn list_incidents() -> ToolDef {
    def(
        "list_incidents",
        "List incidents",
        "List incidents, newest first: each is one problem grouped across hosts (same service \
         and error class or message pattern), with status (open, regressed, resolved, \
         pending), severity, title, class, the suggested fix, first and last seen (epoch ms), \
         event and host counts, affected hosts (up to 50 names) and sample lines. Filter by \
         status, severity, host, class or service; page with `cursor`.",
        Role::Viewer,
        Effect::ReadOnly,
        list,
    )
}

async fn list(ctx: Ctx, a: ListArgs) -> Result<IncidentsOut, ToolError> {
    let q = IncidentQuery {
        status: a.status.map(Status::from),
        severity: a.severity.map(Severity::from),
        host: a.host,
        class: a.class,
        service: a.service,
        limit: Some(ctx.limit(a.limit)?),
        cursor: a.cursor,
    };
    let page = crate::api::incidents::page(&ctx.state, q).await?;
    Ok(IncidentsOut {
        incidents: page.incidents.into_iter().map(bound).collect(),
        next_cursor: page.next_cursor,
    })
}

/// One incident by id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdArgs {
    /// The incident id (from list_incidents or get_fleet_health).
    pub id: i64,
}

pub fn get_incident() -> ToolDef {
    def(
        "get_incident",
        "Get an incident",
        "One incident in full: status, severity, title, error class and the suggested fix, \
         affected hosts, sample lines with their event ids, related incidents (started \
         together on the same hosts), and its timeline (opened, escalated, resolved, \
         regressed, with who and when). Use it to explain an incident or before resolving it.",
        Role::Viewer,
        Effect::ReadOnly,
        get,
    )
}

async fn get(ctx: Ctx, a: IdArgs) -> Result<IncidentDetail, ToolError> {
    let mut d = crate::api::incidents::detail(&ctx.state, a.id).await?;
    d.incident = bound(d.incident);
    Ok(d)
}

pub fn resolve_incident() -> ToolDef {
    def(
        "resolve_incident",
        "Resolve an incident",
        "Mark an open or regressed incident resolved, in your name, audited. It regresses \
         (reopens) by itself if its errors come back. Only do this when the user asks, or \
         confirmed the problem is fixed.",
        Role::Analyst,
        Effect::Changes,
        resolve,
    )
}

async fn resolve(ctx: Ctx, a: IdArgs) -> Result<IncidentDto, ToolError> {
    let caller = &ctx.caller;
    let i = crate::api::incidents::resolve_as(
        &ctx.state,
        a.id,
        &caller.principal,
        caller.client.clone(),
    )
    .await?;
    Ok(bound(i))
}
