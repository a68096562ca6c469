//! Lines: `filter_unhealthy_logs` (the events search, `GET /api/v1/events`) and
//! `search_logs` (a host's raw lines, `GET /api/v1/lines`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ctx, Effect, TimeArg, ToolDef, cut_line, def, time};
use crate::api::events::{EventDto, EventQuery, Severity};
use crate::api::fleet::{LineDto, LinesQuery};
use crate::auth::Role;
use crate::mcp::error::ToolError;
use crate::now_ms;

/// The least severity to return.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MinSeverity {
    Warn,
    Error,
    Critical,
}

impl From<MinSeverity> for Severity {
    fn from(s: MinSeverity) -> Self {
        match s {
            MinSeverity::Warn => Severity::Warn,
            MinSeverity::Error => Severity::Error,
            MinSeverity::Critical => Severity::Critical,
        }
    }
}

/// Filters for unhealthy lines; all optional, combined with AND.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterArgs {
    /// Exact host name (see get_fleet_health for the names).
    pub host: Option<String>,
    /// Exact service name (the log file's stem or container name, e.g. `payment`).
    pub service: Option<String>,
    /// Only this severity or worse (default: warn, i.e. every unhealthy line).
    pub severity: Option<MinSeverity>,
    /// Error class id, e.g. `disk_full`, `payment_terminal`, `tls` (suggest_solutions lists
    /// what each class means).
    pub class: Option<String>,
    /// Case-insensitive text the line must contain (at most 200 characters).
    pub text: Option<String>,
    /// From this time on, by the line's own time.
    pub from: Option<TimeArg>,
    /// Before this time.
    pub to: Option<TimeArg>,
    /// Events per page (default 20, at most the server's `mcp.max_page`, 100 unless set).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous call, for the next (older) page.
    pub cursor: Option<String>,
}

/// A page of unhealthy lines, newest first.
#[derive(Debug, Serialize)]
pub struct EventsOut {
    pub events: Vec<EventDto>,
    /// Pass as `cursor` (same filters) for older events; absent on the last page.
    pub next_cursor: Option<String>,
}

pub fn filter_unhealthy_logs() -> ToolDef {
    def(
        "filter_unhealthy_logs",
        "Find unhealthy log lines",
        "Search the fleet's unhealthy log lines (warn, error, critical; each event stands for \
         `occurrences` identical lines within a minute), newest first, filtered by host, \
         service, severity, error class, text and time range. Use it to see what went wrong \
         where and when; each event has its host, service, source file, line time (epoch ms), \
         severity, trouble score (0-1), error class and the line itself. Page with `cursor`.",
        Role::Viewer,
        Effect::ReadOnly,
        filter,
    )
}

async fn filter(ctx: Ctx, a: FilterArgs) -> Result<EventsOut, ToolError> {
    let now = now_ms();
    let q = EventQuery {
        host: a.host,
        service: a.service,
        severity: a.severity.map(Severity::from),
        class: a.class,
        template_id: None,
        from: time("from", &a.from, now)?,
        to: time("to", &a.to, now)?,
        q: a.text,
        limit: Some(ctx.limit(a.limit)?),
        cursor: a.cursor,
    };
    let page = crate::api::events::search(&ctx.state, q).await?;
    let mut events = page.events;
    for e in &mut events {
        cut_line(&mut e.line);
    }
    Ok(EventsOut {
        events,
        next_cursor: page.next_cursor,
    })
}

/// Which raw lines to read.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Exact host name (required; see get_fleet_health for the names).
    pub host: String,
    /// Lines per page (default 20, at most the server's `mcp.max_page`, 100 unless set).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous call, to read on.
    pub cursor: Option<String>,
}

/// A page of a host's raw lines, oldest first.
#[derive(Debug, Serialize)]
pub struct LinesOut {
    pub host: String,
    pub lines: Vec<LineDto>,
    /// Pass as `cursor` to read on; absent when no more lines are stored yet.
    pub next_cursor: Option<String>,
}

pub fn search_logs() -> ToolDef {
    def(
        "search_logs",
        "Read a host's raw log lines",
        "Read one host's raw log lines (every line it sent, healthy or not) in arrival order, \
         oldest first, a bounded page at a time; each line has its source file, line time \
         (epoch ms), level and trouble score. Use it for the context of an event found with \
         filter_unhealthy_logs, or to see what a host logs. Page with `cursor`; an empty page \
         without `next_cursor` means nothing more is stored yet.",
        Role::Viewer,
        Effect::ReadOnly,
        search,
    )
}

async fn search(ctx: Ctx, a: SearchArgs) -> Result<LinesOut, ToolError> {
    if a.host.trim().is_empty() {
        return Err(ToolError::BadArgument("host must not be empty".into()));
    }
    super::known_host(&ctx, &a.host).await?;
    let q = LinesQuery {
        host: a.host.clone(),
        limit: Some(ctx.limit(a.limit)?),
        cursor: a.cursor,
        q: None,
    };
    let page = crate::api::fleet::line_page(&ctx.state, q).await?;
    let mut lines = page.lines;
    for l in &mut lines {
        cut_line(&mut l.line);
    }
    Ok(LinesOut {
        host: a.host,
        lines,
        next_cursor: page.next_cursor,
    })
}
