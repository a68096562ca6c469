//! `/api/v1/agents` (admin): agent enrollments, revocation and reinstatement
//! (`ingest::credentials`). A revocation closes the agent's connection on this replica at
//! once and on the others within `ingest.credential_refresh_ms`; the agent's next `Hello`
//! is refused with the reason given here. Its buffered lines wait on the host.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Admin, Auth};
use super::error::ApiError;
use super::extract::{Json, Path};
use crate::now_ms;
use crate::store::enrollments::EnrollmentRecord;

/// Longest revocation reason, in characters.
const MAX_REASON_CHARS: usize = 500;

/// One agent id admitted on the fleet token, or revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentDto {
    pub agent_id: String,
    /// Host name of its latest enrollment.
    pub host: String,
    /// Whether it has presented a credential of its own (agents of protocol v5 and later
    /// are issued one when they enroll); the fleet token then no longer admits it.
    pub credential_used: bool,
    pub enrolled_ms: i64,
    /// Set while it is revoked.
    pub revoked_ms: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoked_reason: Option<String>,
}

impl From<EnrollmentRecord> for EnrollmentDto {
    fn from(r: EnrollmentRecord) -> Self {
        EnrollmentDto {
            agent_id: r.agent_id,
            host: r.host,
            credential_used: r.credential_used,
            enrolled_ms: r.enrolled_ms,
            revoked_ms: r.revoked_ms,
            revoked_by: r.revoked_by,
            revoked_reason: r.revoked_reason,
        }
    }
}

/// Every enrollment, by agent id.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentList {
    pub enrollments: Vec<EnrollmentDto>,
}

/// Why an agent is revoked; the agent is told this reason when it is refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// 1-500 printable characters.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$",
        example = "terminal reported stolen"
    )]
    pub reason: String,
}

/// Lists agent enrollments and revocations.
#[utoipa::path(
    get, path = "/agents/enrollments", tag = "agents",
    responses((status = 200, description = "Every enrollment, by agent id", body = EnrollmentList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _auth: Auth<Admin>,
) -> Result<axum::Json<EnrollmentList>, ApiError> {
    let rows = state.store.agent_enrollments().await?;
    Ok(axum::Json(EnrollmentList {
        enrollments: rows.into_iter().map(EnrollmentDto::from).collect(),
    }))
}

/// Revokes an agent: its connection is closed and it is refused, with `reason`, until it
/// is reinstated. Revoking it again keeps the first revocation.
#[utoipa::path(
    put, path = "/agents/{agent_id}/revocation", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    request_body = Revoke,
    responses(
        (status = 200, description = "Revoked", body = EnrollmentDto),
        (status = 400, description = "Bad reason", body = super::error::ErrorBody),
        (status = 404, description = "The collector never saw this agent", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn revoke(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(agent_id): Path<String>,
    Json(req): Json<Revoke>,
) -> Result<axum::Json<EnrollmentDto>, ApiError> {
    let reason = req.reason.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_REASON_CHARS
        || reason.chars().any(char::is_control)
    {
        return Err(ApiError::BadRequest(format!(
            "reason must be 1-{MAX_REASON_CHARS} printable characters"
        )));
    }
    let record = state
        .store
        .revoke_agent(
            &agent_id,
            reason,
            auth.audit("agent.revoke", format!("agent:{agent_id}")),
            now_ms(),
        )
        .await?;
    // This replica's connections close now; the others' at their next refresh.
    state.agents.note(&record.agent_id, record.auth());
    state.agents.refresh_now();
    Ok(axum::Json(record.into()))
}

/// Reinstates a revoked agent: its credential admits it again.
#[utoipa::path(
    delete, path = "/agents/{agent_id}/revocation", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses(
        (status = 200, description = "Not revoked (any more)", body = EnrollmentDto),
        (status = 404, description = "No enrollment for this agent", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn reinstate(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(agent_id): Path<String>,
) -> Result<axum::Json<EnrollmentDto>, ApiError> {
    let record = state
        .store
        .reinstate_agent(
            &agent_id,
            auth.audit("agent.reinstate", format!("agent:{agent_id}")),
            now_ms(),
        )
        .await?;
    state.agents.note(&record.agent_id, record.auth());
    state.agents.refresh_now();
    Ok(axum::Json(record.into()))
}

/// Forgets an agent's enrollment, so that the fleet token admits its id again (an agent
/// that lost its credential). A revoked agent must be reinstated first.
#[utoipa::path(
    delete, path = "/agents/{agent_id}/enrollment", tag = "agents",
    params(("agent_id" = String, Path, description = "Agent id")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 404, description = "No enrollment for this agent", body = super::error::ErrorBody),
        (status = 409, description = "The agent is revoked", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn forget(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(agent_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .forget_enrollment(
            &agent_id,
            auth.audit("agent.forget", format!("agent:{agent_id}")),
            now_ms(),
        )
        .await?;
    state.agents.refresh_now();
    Ok(StatusCode::NO_CONTENT)
}
