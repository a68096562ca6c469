//! `/api/v1/jira/status`: is Jira configured, what did the last call say, and a connection
//! test (`GET /rest/api/3/myself`) made now.

use std::time::Instant;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Analyst, Auth};
use super::error::ApiError;

/// The result of a connection test.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    pub ok: bool,
    /// The account Jira says the credentials belong to.
    pub account: Option<String>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// Jira's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct JiraStatusDto {
    pub configured: bool,
    /// The first missing key, if not configured.
    pub missing: Option<String>,
    pub url: Option<String>,
    pub project: Option<String>,
    pub automation_enabled: bool,
    pub last_ok_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    /// Absent when Jira is not configured.
    pub test: Option<ConnectionTest>,
}

/// Jira's status with a connection test.
#[utoipa::path(
    get, path = "/jira/status", tag = "automation",
    responses((status = 200, description = "Status", body = JiraStatusDto)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn status(
    State(state): State<AppState>,
    _auth: Auth<Analyst>,
) -> Result<axum::Json<JiraStatusDto>, ApiError> {
    let cfg = &state.config.automation;
    let s = crate::jira::deliver::settings(&state.store, cfg).await;
    let last = state.store.jira_status().await?;
    let missing = s.jira.missing().map(str::to_owned);
    let test = if missing.is_none() {
        let t0 = Instant::now();
        let r = match crate::jira::deliver::client_for(&s, cfg.request_timeout) {
            Ok(c) => c.myself().await,
            Err(e) => Err(e),
        };
        let latency_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
        Some(match r {
            Ok(account) => ConnectionTest {
                ok: true,
                account: Some(account),
                error: None,
                latency_ms,
            },
            Err(e) => ConnectionTest {
                ok: false,
                account: None,
                error: Some(e.to_string()),
                latency_ms,
            },
        })
    } else {
        None
    };
    Ok(axum::Json(JiraStatusDto {
        configured: missing.is_none(),
        missing,
        url: s.jira.url,
        project: s.jira.project,
        automation_enabled: s.enabled,
        last_ok_ms: last.last_ok_ms,
        last_error: last.last_error,
        last_error_ms: last.last_error_ms,
        test,
    }))
}
