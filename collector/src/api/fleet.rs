//! A host's raw lines, and `/readyz`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Auth, Viewer};
use super::error::ApiError;
use super::events::Severity;
use super::extract::Query;
use crate::store::{LineRecord, MAX_PAGE_LINES};

const DEFAULT_LIMIT: u32 = 1_000;

/// Ready when the database answers and the store's volumes have `store.min_free_bytes` free
/// (503 with the reason otherwise: agents' batches wait in their buffers meanwhile).
pub(super) async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.hosts().await?;
    let store = state.store.clone();
    let (found, short) = tokio::task::spawn_blocking(move || store.space())
        .await
        .unwrap_or_default();
    state.metrics.disk_free(&found);
    if let Some(full) = short {
        return Err(ApiError::Unavailable(full.to_string()));
    }
    Ok("ready")
}

/// One raw line from the archive.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineDto {
    /// The agent's batch sequence number.
    pub seq: u64,
    /// Position within the batch.
    pub line_no: u32,
    pub ts_ms: i64,
    pub source: String,
    pub line: String,
    pub level: Severity,
    pub score: f32,
}

impl From<LineRecord> for LineDto {
    fn from(l: LineRecord) -> Self {
        LineDto {
            seq: l.seq,
            line_no: l.line_no,
            ts_ms: l.ts_ms,
            source: l.source,
            line: l.line,
            level: l.level.into(),
            score: if l.score.is_finite() { l.score } else { 0.0 },
        }
    }
}

/// A page of a host's lines, oldest first; with `q`, the matching lines newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinePage {
    pub lines: Vec<LineDto>,
    /// Pass as `cursor` for the next page; absent when no more lines are stored yet
    /// (tail by polling with the last line's position later). With `q`: absent when the
    /// search read back to the oldest stored line.
    pub next_cursor: Option<String>,
    /// With `q`: the lines this request read (a search reads at most `scan_limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanned: Option<u64>,
    /// With `q`: most lines one request reads (`api.max_line_search_scan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_limit: Option<u64>,
}

/// Which lines `GET /api/v1/lines` returns.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LinesQuery {
    /// Host name.
    pub host: String,
    /// Lines per page, 1-10000 (default 1000); a page also stops at 8 MiB of text.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only lines containing this text (case-insensitive), newest first; one request
    /// reads at most `api.max_line_search_scan` lines (default 100,000), then answers
    /// with what it found and a `next_cursor` to search older lines.
    pub q: Option<String>,
}

/// Longest search text, in bytes.
pub const MAX_SEARCH_LEN: usize = 256;

/// A host's raw lines in arrival order, or a bounded search of them (`q`).
#[utoipa::path(
    get, path = "/lines", tag = "fleet",
    params(LinesQuery),
    responses((status = 200, description = "A page of lines", body = LinePage)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn lines(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<LinesQuery>,
) -> Result<axum::Json<LinePage>, ApiError> {
    line_page(&state, q).await.map(axum::Json)
}

/// A page of a host's lines, as `GET /api/v1/lines` (the host page and the MCP
/// `search_logs`) serve it.
pub(crate) async fn line_page(state: &AppState, q: LinesQuery) -> Result<LinePage, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_PAGE_LINES {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE_LINES}"
        )));
    }
    if let Some(needle) = q.q.as_deref().filter(|s| !s.is_empty()) {
        if needle.len() > MAX_SEARCH_LEN || needle.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(format!(
                "q must be at most {MAX_SEARCH_LEN} bytes without control characters"
            )));
        }
        let max_scan = state.api.max_line_search_scan;
        let found = state
            .store
            .search_lines(&q.host, needle, q.cursor.as_deref(), limit, max_scan)
            .await?;
        return Ok(LinePage {
            lines: found.lines.into_iter().map(LineDto::from).collect(),
            next_cursor: found.next_cursor,
            scanned: Some(found.scanned),
            scan_limit: Some(max_scan),
        });
    }
    let page = state
        .store
        .lines(&q.host, q.cursor.as_deref(), limit)
        .await?;
    Ok(LinePage {
        lines: page.lines.into_iter().map(LineDto::from).collect(),
        next_cursor: page.next_cursor,
        scanned: None,
        scan_limit: None,
    })
}
