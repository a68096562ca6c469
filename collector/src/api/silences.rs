//! `/api/v1/silences`: label matchers over a time range that suppress notifications
//! (never evaluation). Analysts create and end them.

use std::collections::BTreeMap;

use axum::extract::State as AxState;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Analyst, Auth, Viewer};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::paging;
use crate::alerts::rules::LABELS;
use crate::store::alerts::SilenceRecord;

/// A silence.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceDto {
    pub id: i64,
    /// Label → value or `*` glob; every matcher must match.
    pub matchers: BTreeMap<String, String>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub comment: String,
    pub created_by: String,
    pub created_ms: i64,
}

fn dto(s: SilenceRecord) -> SilenceDto {
    SilenceDto {
        id: s.id,
        matchers: s.matchers,
        starts_ms: s.starts_ms,
        ends_ms: s.ends_ms,
        comment: s.comment,
        created_by: s.created_by,
        created_ms: s.created_ms,
    }
}

/// Silences.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceList {
    pub silences: Vec<SilenceDto>,
}

/// Filters of `GET /api/v1/silences`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SilenceQuery {
    /// Include ended silences.
    pub all: Option<bool>,
}

/// Active and future silences (or all).
#[utoipa::path(
    get, path = "/silences", tag = "alerts",
    params(SilenceQuery),
    responses((status = 200, description = "Silences", body = SilenceList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<SilenceQuery>,
) -> Result<axum::Json<SilenceList>, ApiError> {
    let rows = state
        .store
        .silences(crate::now_ms(), q.all.unwrap_or(false))
        .await?;
    Ok(axum::Json(SilenceList {
        silences: rows.into_iter().map(dto).collect(),
    }))
}

/// `POST /api/v1/silences`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSilence {
    pub matchers: BTreeMap<String, String>,
    /// RFC 3339 or epoch ms; default now.
    pub starts: Option<String>,
    /// RFC 3339 or epoch ms.
    pub ends: String,
    pub comment: String,
}

/// Creates a silence.
#[utoipa::path(
    post, path = "/silences", tag = "alerts",
    request_body = CreateSilence,
    responses((status = 201, description = "Created", body = SilenceDto)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn create(
    AxState(state): AxState<AppState>,
    auth: Auth<Analyst>,
    Json(req): Json<CreateSilence>,
) -> Result<(StatusCode, axum::Json<SilenceDto>), ApiError> {
    let now = crate::now_ms();
    if req.matchers.is_empty() {
        return Err(ApiError::BadRequest(
            "a silence needs at least one matcher".into(),
        ));
    }
    if let Some(k) = req.matchers.keys().find(|k| !LABELS.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "unknown label `{k}` (known: {})",
            LABELS.join(", ")
        )));
    }
    if req.comment.trim().is_empty() {
        return Err(ApiError::BadRequest("a silence needs a comment".into()));
    }
    let starts = paging::time_ms("starts", req.starts.as_deref())?.unwrap_or(now);
    let ends = paging::time_ms("ends", Some(&req.ends))?
        .ok_or_else(|| ApiError::BadRequest("ends is required".into()))?;
    if ends <= starts.max(now) {
        return Err(ApiError::BadRequest(
            "ends must be after starts and in the future".into(),
        ));
    }
    let s = state
        .store
        .create_silence(
            &req.matchers,
            starts,
            ends,
            req.comment.trim(),
            auth.audit("silence.create", "silence"),
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(dto(s))))
}

/// Ends a silence now.
#[utoipa::path(
    delete, path = "/silences/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Silence id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such active silence", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn delete(
    AxState(state): AxState<AppState>,
    auth: Auth<Analyst>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .expire_silence(
            id,
            auth.audit("silence.expire", format!("silence:{id}")),
            crate::now_ms(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
