//! `/api/v1/events`: unhealthy lines (warn and worse) filtered and cursor-paged, and one
//! event with the raw lines around it from the archive.

use axum::extract::State;
use fleetlog_protocol::Level;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Auth, Viewer};
use super::error::ApiError;
use super::extract::{Path, Query};
use super::fleet::LineDto;
use super::paging;
use crate::store::events::{EventFilter, EventRecord};

/// Most context lines `GET /api/v1/events/{id}` returns on each side.
pub const MAX_CONTEXT: u32 = 200;
const DEFAULT_CONTEXT: u32 = 10;

/// A line's severity, as filters and results name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl From<Level> for Severity {
    fn from(l: Level) -> Self {
        match l {
            Level::Trace => Severity::Trace,
            Level::Debug => Severity::Debug,
            Level::Info => Severity::Info,
            Level::Warn => Severity::Warn,
            Level::Error => Severity::Error,
            Level::Critical => Severity::Critical,
        }
    }
}

impl From<Severity> for Level {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Trace => Level::Trace,
            Severity::Debug => Level::Debug,
            Severity::Info => Level::Info,
            Severity::Warn => Level::Warn,
            Severity::Error => Level::Error,
            Severity::Critical => Level::Critical,
        }
    }
}

/// One unhealthy line, standing for `occurrences` lines of the same kind (same source,
/// fingerprint and severity) within one minute; `line` is the first of them, the others
/// are in the host's raw lines (`/api/v1/hosts/{name}/lines`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDto {
    pub id: i64,
    pub host: String,
    /// The service of its source (file stem or container name).
    pub service: Option<String>,
    /// The file it was read from.
    pub source: String,
    /// When the agent read the line (epoch ms); windows, health and incidents use this time.
    pub ts_ms: i64,
    /// When the line says it was logged (its own timestamp, epoch ms; UTC when the line names
    /// no zone); absent when the line has none or its agent predates protocol v4.
    pub logged_ms: Option<i64>,
    pub severity: Severity,
    /// Confidence that the line reports trouble, 0 to 1.
    pub score: f64,
    /// Error class (e.g. `disk_full`), if one matched.
    pub class: Option<String>,
    /// The line's template id in the model its agent applied (see the host's model), when
    /// the model knew the line.
    pub template_id: Option<i64>,
    pub line: String,
    /// Lines this event stands for (1 or more).
    pub occurrences: i64,
    /// The time of the last of them (epoch ms).
    pub last_ts_ms: i64,
}

impl From<EventRecord> for EventDto {
    fn from(e: EventRecord) -> Self {
        EventDto {
            id: e.id,
            host: e.host,
            service: e.service,
            source: e.source,
            ts_ms: e.ts_ms,
            logged_ms: e.logged_ms,
            severity: e.level.into(),
            score: e.score,
            class: e.class,
            template_id: e.template_id,
            line: e.line,
            occurrences: e.occurrences,
            last_ts_ms: e.last_ts_ms,
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventDto>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    pub host: Option<String>,
    pub service: Option<String>,
    /// Only events at this severity or worse.
    pub severity: Option<Severity>,
    /// Error class, e.g. `disk_full`.
    pub class: Option<String>,
    pub template_id: Option<i64>,
    /// From this time on (RFC 3339 or epoch ms), by the line's time.
    pub from: Option<String>,
    /// Before this time (RFC 3339 or epoch ms).
    pub to: Option<String>,
    /// Case-insensitive text the line contains (at most 200 characters).
    pub q: Option<String>,
    /// Page size (1 to `api.max_page`, default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Unhealthy lines, newest first.
#[utoipa::path(
    get, path = "/events", tag = "events",
    params(EventQuery),
    responses((status = 200, description = "A page of events", body = EventPage)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<EventQuery>,
) -> Result<axum::Json<EventPage>, ApiError> {
    search(&state, q).await.map(axum::Json)
}

/// The events search behind `GET /api/v1/events` (also the MCP `filter_unhealthy_logs`).
pub(crate) async fn search(state: &AppState, q: EventQuery) -> Result<EventPage, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let from_ms = paging::time_ms("from", q.from.as_deref())?;
    let to_ms = paging::time_ms("to", q.to.as_deref())?;
    paging::range(from_ms, to_ms)?;
    if q.q.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::BadRequest(
            "q must be at most 200 characters".to_owned(),
        ));
    }
    let filter = EventFilter {
        host: q.host,
        service: q.service,
        min_level: q.severity.map(Level::from),
        class: q.class,
        template_id: q.template_id,
        from_ms,
        to_ms,
        text: q.q.filter(|t| !t.is_empty()),
        before_id: paging::decode_id_cursor(q.cursor.as_deref())?,
    };
    let rows = state.store.events(&filter, limit).await?;
    let next_cursor = paging::next_id_cursor(rows.iter().map(|r| r.id), rows.len(), limit);
    Ok(EventPage {
        events: rows.into_iter().map(EventDto::from).collect(),
        next_cursor,
    })
}

/// Options of `GET /api/v1/events/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventDetailQuery {
    /// Raw lines of the same source to show before and after (0-200, default 10).
    pub context: Option<u32>,
}

/// An event with the raw lines around it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    pub event: EventDto,
    /// Lines of the same source just before the event, oldest first.
    pub before: Vec<LineDto>,
    /// Lines of the same source just after the event.
    pub after: Vec<LineDto>,
    /// False once retention has deleted the raw lines.
    pub archived: bool,
}

/// One event and the raw lines of its source around it.
#[utoipa::path(
    get, path = "/events/{id}", tag = "events",
    params(("id" = i64, Path, description = "Event id"), EventDetailQuery),
    responses(
        (status = 200, description = "The event in context", body = EventDetail),
        (status = 404, description = "No such event", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Path(id): Path<i64>,
    Query(q): Query<EventDetailQuery>,
) -> Result<axum::Json<EventDetail>, ApiError> {
    let n = q.context.unwrap_or(DEFAULT_CONTEXT);
    if n > MAX_CONTEXT {
        return Err(ApiError::BadRequest(format!(
            "context must be at most {MAX_CONTEXT}"
        )));
    }
    let ctx = state
        .store
        .event_context(id, n as usize)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {id}")))?;
    Ok(axum::Json(EventDetail {
        event: EventDto::from(ctx.event),
        before: ctx.before.into_iter().map(LineDto::from).collect(),
        after: ctx.after.into_iter().map(LineDto::from).collect(),
        archived: ctx.archived,
    }))
}
