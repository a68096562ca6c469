//! `/api/v1/alerts`: current alerts (pending and firing, or any state), their history,
//! and acknowledging a firing alert (analyst).

use std::collections::BTreeMap;

use axum::extract::State as AxState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Analyst, Auth, Viewer};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::paging;
use crate::alerts::decide::{Ack, State};
use crate::store::alerts::{AlertFilter, AlertRecord};

/// An alert: one rule over one scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDto {
    pub id: i64,
    pub rule_id: i64,
    /// Stable across replicas and restarts (rule + labels); notifications carry it.
    pub fingerprint: String,
    /// `inactive`, `pending`, `firing` or `resolved`.
    pub state: String,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub threshold: f64,
    pub summary: String,
    pub pending_since_ms: Option<i64>,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_ms: Option<i64>,
    pub acknowledged_until_ms: Option<i64>,
    pub updated_ms: i64,
}

pub(super) fn dto(a: AlertRecord) -> AlertDto {
    let ack = a.decider.ack.clone();
    AlertDto {
        id: a.id,
        rule_id: a.rule_id,
        fingerprint: a.fingerprint,
        state: a.decider.state.as_str().to_owned(),
        severity: a.severity,
        labels: a.labels,
        value: a.value,
        threshold: a.threshold,
        summary: a.summary,
        pending_since_ms: a.decider.pending_since_ms,
        started_ms: a.started_ms,
        ended_ms: a.ended_ms,
        acknowledged_by: ack.as_ref().map(|k| k.by.clone()),
        acknowledged_ms: ack.as_ref().map(|k| k.at_ms),
        acknowledged_until_ms: ack.and_then(|k| k.until_ms),
        updated_ms: a.updated_ms,
    }
}

/// Alerts, most recently changed first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertDto>,
}

/// Filters of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `pending`, `firing`, `resolved`, `inactive`, or `all` (default: pending and firing).
    pub state: Option<String>,
    pub rule_id: Option<i64>,
    pub host: Option<String>,
    pub service: Option<String>,
    pub store: Option<String>,
    pub site: Option<String>,
    /// At most this many (default 100, at most `api.max_page`).
    pub limit: Option<u32>,
}

/// Current alerts (or any state), most recently changed first.
#[utoipa::path(
    get, path = "/alerts", tag = "alerts",
    params(AlertQuery),
    responses((status = 200, description = "Alerts", body = AlertList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<AlertQuery>,
) -> Result<axum::Json<AlertList>, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let states = match q.state.as_deref() {
        None => Vec::new(),
        Some("all") => vec![
            State::Inactive,
            State::Pending,
            State::Firing,
            State::Resolved,
        ],
        Some(s) => vec![State::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "state `{s}` is not pending, firing, resolved, inactive or all"
            ))
        })?],
    };
    let mut matchers = BTreeMap::new();
    for (k, v) in [
        ("host", q.host),
        ("service", q.service),
        ("store", q.store),
        ("site", q.site),
    ] {
        if let Some(v) = v {
            matchers.insert(k.to_owned(), v);
        }
    }
    let filter = AlertFilter {
        states,
        rule_id: q.rule_id,
        matchers,
    };
    let alerts = state.store.alerts(&filter, limit as usize).await?;
    Ok(axum::Json(AlertList {
        alerts: alerts.into_iter().map(dto).collect(),
    }))
}

/// One change of an alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertChangeDto {
    pub id: i64,
    pub alert_id: i64,
    pub rule_id: i64,
    /// `pending`, `firing`, `resolved`, `inactive` or `acknowledged`.
    pub state: String,
    pub severity: String,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
    pub actor: Option<String>,
    pub ts_ms: i64,
}

/// A page of the alert history, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertHistoryPage {
    pub changes: Vec<AlertChangeDto>,
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/alerts/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    pub alert_id: Option<i64>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The alert history: every state change and acknowledgement, newest first.
#[utoipa::path(
    get, path = "/alerts/history", tag = "alerts",
    params(HistoryQuery),
    responses((status = 200, description = "History", body = AlertHistoryPage)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn history(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<HistoryQuery>,
) -> Result<axum::Json<AlertHistoryPage>, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let before = paging::decode_id_cursor(q.cursor.as_deref())?;
    let rows = state.store.alert_history(q.alert_id, before, limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| paging::encode_id_cursor(r.id)))
        .flatten();
    Ok(axum::Json(AlertHistoryPage {
        changes: rows
            .into_iter()
            .map(|c| AlertChangeDto {
                id: c.id,
                alert_id: c.alert_id,
                rule_id: c.rule_id,
                state: c.state,
                severity: c.severity,
                value: c.value,
                labels: c.labels,
                actor: c.actor,
                ts_ms: c.ts_ms,
            })
            .collect(),
        next_cursor,
    }))
}

/// `POST /api/v1/alerts/{id}/ack`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Until when (RFC 3339 or epoch ms); default: until the alert resolves.
    pub until: Option<String>,
}

/// Acknowledges a firing alert: no repeat notifications until it resolves or `until`.
#[utoipa::path(
    post, path = "/alerts/{id}/ack", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    request_body = AckRequest,
    responses(
        (status = 200, description = "The acknowledged alert", body = AlertDto),
        (status = 404, description = "No such alert", body = super::error::ErrorBody),
        (status = 409, description = "The alert is not firing", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn ack(
    AxState(state): AxState<AppState>,
    auth: Auth<Analyst>,
    Path(id): Path<i64>,
    Json(req): Json<AckRequest>,
) -> Result<axum::Json<AlertDto>, ApiError> {
    let now = crate::now_ms();
    let until = paging::time_ms("until", req.until.as_deref())?;
    if until.is_some_and(|u| u <= now) {
        return Err(ApiError::BadRequest("until must be in the future".into()));
    }
    let a = state
        .store
        .ack_alert(
            id,
            Ack {
                by: auth.principal.name.clone(),
                at_ms: now,
                until_ms: until,
            },
            auth.audit("alert.ack", format!("alert:{id}")),
            now,
        )
        .await?;
    Ok(axum::Json(dto(a)))
}
