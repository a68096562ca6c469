//! Fleet endpoints: hosts and their lines.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

/// Largest page `GET /api/v1/lines` serves.
pub(super) const MAX_LIMIT: u32 = 10_000;
const DEFAULT_LIMIT: u32 = 1_000;

pub(super) async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.hosts().await?;
    Ok("ready")
}

pub(super) async fn hosts(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let hosts: Vec<Value> = state
        .store
        .hosts()
        .await?
        .into_iter()
        .map(|h| {
            json!({
                "name": h.host,
                "last_seen_ms": h.last_seen_ms,
                "lines_received": h.lines_received,
            })
        })
        .collect();
    Ok(Json(json!({ "hosts": hosts })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LinesQuery {
    host: String,
    limit: Option<u32>,
    cursor: Option<String>,
}

pub(super) async fn lines(
    State(state): State<AppState>,
    Query(q): Query<LinesQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let page = state
        .store
        .lines(&q.host, q.cursor.as_deref(), limit)
        .await?;
    let lines: Vec<Value> = page
        .lines
        .into_iter()
        .map(|l| {
            json!({
                "seq": l.seq,
                "line_no": l.line_no,
                "ts_ms": l.ts_ms,
                "source": l.source,
                "line": l.line,
                "level": l.level.as_str(),
                "score": l.score,
            })
        })
        .collect();
    Ok(Json(
        json!({ "lines": lines, "next_cursor": page.next_cursor }),
    ))
}
