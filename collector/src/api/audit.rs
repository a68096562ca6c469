//! `GET /api/v1/audit` (admin): the audit trail, newest first, filtered and cursor-paged.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Admin, Auth};
use super::error::ApiError;
use super::extract::Query;
use super::paging;
use crate::store::audit::{AuditFilter, AuditRecord};

/// One audited change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDto {
    pub id: i64,
    pub ts_ms: i64,
    /// Who: a user name, `token:<name>`, `bootstrap` or `cli:<os user>`.
    pub actor: String,
    pub actor_role: String,
    /// What, e.g. `user.create`, `token.revoke`, `auth.login`, `auth.login_failed`.
    pub action: String,
    /// On what, e.g. `user:alice`, `token:7`.
    pub target: String,
    /// A summary of the target before the change (never a secret).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// A summary of the target after the change (never a secret).
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub client_addr: Option<String>,
}

impl From<AuditRecord> for AuditDto {
    fn from(r: AuditRecord) -> Self {
        AuditDto {
            id: r.id,
            ts_ms: r.ts_ms,
            actor: r.actor,
            actor_role: r.actor_role,
            action: r.action,
            target: r.target,
            before: r.before,
            after: r.after,
            client_addr: r.client_addr,
        }
    }
}

/// A page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditDto>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (`user.`).
    pub action: Option<String>,
    /// Exact target.
    pub target: Option<String>,
    /// From this time on (RFC 3339 or epoch ms).
    pub from: Option<String>,
    /// Before this time (RFC 3339 or epoch ms).
    pub to: Option<String>,
    /// Page size (1 to `api.max_page`, default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The audit trail, newest first.
#[utoipa::path(
    get, path = "/audit", tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of audit entries", body = AuditPage)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _auth: Auth<Admin>,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let from_ms = paging::time_ms("from", q.from.as_deref())?;
    let to_ms = paging::time_ms("to", q.to.as_deref())?;
    paging::range(from_ms, to_ms)?;
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        target: q.target,
        from_ms,
        to_ms,
        before_id: paging::decode_id_cursor(q.cursor.as_deref())?,
    };
    let rows = state.store.audit_page(&filter, limit).await?;
    let next_cursor = paging::next_id_cursor(rows.iter().map(|r| r.id), rows.len(), limit);
    Ok(axum::Json(AuditPage {
        entries: rows.into_iter().map(AuditDto::from).collect(),
        next_cursor,
    }))
}
