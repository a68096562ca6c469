//! `/api/v1/automation` (admin): Jira automation on/off, per-band confidence thresholds,
//! priority mapping, comment interval and where Jira is; and `/api/v1/automation/decisions`:
//! every decision with its reason, ticket key, outcome and timings.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Admin, Auth, Viewer};
use super::error::ApiError;
use super::extract::{Json, Query};
use super::paging;
use crate::jira::config::{Priorities, Settings};
use crate::jira::decide::Thresholds;
use crate::now_ms;
use crate::store::automation::{DecisionFilter, DecisionRecord};

/// The automation settings in force, and whether Jira is configured.
#[derive(Debug, Serialize, ToSchema)]
pub struct AutomationDto {
    pub settings: Settings,
    /// True when `jira.url`, `jira.email`, `jira.api_token_file` and `jira.project` are set.
    pub jira_configured: bool,
    /// The first missing Jira key, if any.
    pub missing: Option<String>,
}

fn dto(settings: Settings) -> AutomationDto {
    let missing = settings.jira.missing().map(str::to_owned);
    AutomationDto {
        jira_configured: missing.is_none(),
        missing,
        settings,
    }
}

/// Where Jira is; a given field replaces the current value, an empty string clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JiraUpdate {
    pub url: Option<String>,
    pub email: Option<String>,
    /// Path of a file holding the API token, under `<data_dir>/secrets/` (the token itself
    /// is never sent or stored; the configuration file may name any path).
    pub api_token_file: Option<String>,
    pub project: Option<String>,
    pub issue_type: Option<String>,
}

/// A change of the settings; absent fields keep their value. `thresholds` and `priorities`
/// replace the whole mapping (a band left out or `null` in `thresholds` never gets a ticket).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationUpdate {
    pub enabled: Option<bool>,
    pub thresholds: Option<Thresholds>,
    pub priorities: Option<Priorities>,
    pub comment_interval_secs: Option<u64>,
    pub jira: Option<JiraUpdate>,
}

/// The automation settings in force.
#[utoipa::path(
    get, path = "/automation", tag = "automation",
    responses((status = 200, description = "Settings", body = AutomationDto)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    _auth: Auth<Admin>,
) -> Result<axum::Json<AutomationDto>, ApiError> {
    let s = crate::jira::deliver::settings(&state.store, &state.config.automation).await;
    Ok(axum::Json(dto(s)))
}

fn set(field: &mut Option<String>, v: Option<String>) {
    if let Some(v) = v {
        *field = (!v.trim().is_empty()).then(|| v.trim().to_owned());
    }
}

/// Changes the automation settings (audited).
#[utoipa::path(
    put, path = "/automation", tag = "automation",
    request_body = AutomationUpdate,
    responses((status = 200, description = "The settings now in force", body = AutomationDto)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn put(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(req): Json<AutomationUpdate>,
) -> Result<axum::Json<AutomationDto>, ApiError> {
    let before = crate::jira::deliver::settings(&state.store, &state.config.automation).await;
    let mut next = before.clone();
    if let Some(e) = req.enabled {
        next.enabled = e;
    }
    if let Some(t) = req.thresholds {
        next.thresholds = t;
    }
    if let Some(p) = req.priorities {
        next.priorities = p;
    }
    if let Some(c) = req.comment_interval_secs {
        next.comment_interval_secs = c;
    }
    if let Some(j) = req.jira {
        set(&mut next.jira.url, j.url);
        set(&mut next.jira.email, j.email);
        set(&mut next.jira.project, j.project);
        set(&mut next.jira.issue_type, j.issue_type);
        if let Some(f) = j.api_token_file {
            let f = f.trim();
            if !f.is_empty() {
                // Only a file under `<data_dir>/secrets/`: the token file's content is sent
                // to `jira.url`, so the API must not be able to point it at any readable file.
                let dir = state.config.data_dir.join("secrets");
                let path = std::path::Path::new(f);
                let plain = path
                    .components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir));
                if !(plain && path.starts_with(&dir)) {
                    return Err(ApiError::BadRequest(format!(
                        "jira.api_token_file set through the API must be a file under {}",
                        dir.display()
                    )));
                }
            }
            next.jira.api_token_file = (!f.is_empty()).then(|| f.into());
        }
    }
    next.validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .store
        .put_automation_settings(
            &before,
            &next,
            auth.audit("automation.update", "automation"),
            now_ms(),
        )
        .await?;
    Ok(axum::Json(dto(next)))
}

/// One decision of the automation.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionDto {
    pub id: i64,
    pub incident_id: i64,
    pub fingerprint: String,
    /// `create`, `comment`, `reopen` or `skip`.
    pub decision: String,
    /// Stable code of the reason (`above_threshold`, `below_threshold`, `repeats`...).
    pub reason_code: String,
    pub reason: String,
    pub severity: String,
    pub confidence: f64,
    pub ticket_key: Option<String>,
    /// `skipped`, `queued`, `done`, or `dead` (Jira kept refusing; see `error`).
    pub outcome: String,
    pub decided_ms: i64,
    pub done_ms: Option<i64>,
    /// From decision to Jira's confirmation.
    pub latency_ms: Option<i64>,
    pub attempts: i64,
    pub error: Option<String>,
}

impl From<DecisionRecord> for DecisionDto {
    fn from(d: DecisionRecord) -> Self {
        DecisionDto {
            latency_ms: d.done_ms.map(|t| t - d.decided_ms),
            id: d.id,
            incident_id: d.incident_id,
            fingerprint: d.fingerprint,
            decision: d.decision,
            reason_code: d.reason_code,
            reason: d.reason,
            severity: d.severity,
            confidence: d.confidence,
            ticket_key: d.ticket_key,
            outcome: d.outcome,
            decided_ms: d.decided_ms,
            done_ms: d.done_ms,
            attempts: d.attempts,
            error: d.error,
        }
    }
}

/// A page of decisions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionPage {
    pub decisions: Vec<DecisionDto>,
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/automation/decisions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    pub incident_id: Option<i64>,
    /// `create`, `comment`, `reopen` or `skip`.
    pub decision: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Every decision, newest first.
#[utoipa::path(
    get, path = "/automation/decisions", tag = "automation",
    params(DecisionQuery),
    responses((status = 200, description = "A page of decisions", body = DecisionPage)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn decisions(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<DecisionQuery>,
) -> Result<axum::Json<DecisionPage>, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let filter = DecisionFilter {
        incident_id: q.incident_id,
        decision: q.decision,
        before_id: paging::decode_id_cursor(q.cursor.as_deref())?,
    };
    let rows = state.store.decisions(&filter, limit).await?;
    let next_cursor = paging::next_id_cursor(rows.iter().map(|r| r.id), rows.len(), limit);
    Ok(axum::Json(DecisionPage {
        decisions: rows.into_iter().map(DecisionDto::from).collect(),
        next_cursor,
    }))
}
