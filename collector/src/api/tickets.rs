//! `/api/v1/tickets`: the Jira ticket of each incident that has one.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Auth, Viewer};
use super::error::ApiError;
use super::extract::Query;
use super::paging;
use crate::store::tickets::{TicketFilter, TicketRecord};

/// An incident's ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDto {
    pub id: i64,
    pub incident_id: i64,
    pub fingerprint: String,
    /// The Jira key; absent while the create is in flight.
    pub key: Option<String>,
    /// `<jira.url>/browse/<key>`.
    pub url: Option<String>,
    /// `creating` or `open`.
    pub state: String,
    pub severity: String,
    pub confidence: f64,
    pub comments: u64,
    pub reopens: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

fn dto(t: TicketRecord, base: Option<&str>) -> TicketDto {
    TicketDto {
        url: match (&t.issue_key, base) {
            (Some(k), Some(b)) => Some(format!("{}/browse/{k}", b.trim_end_matches('/'))),
            _ => None,
        },
        id: t.id,
        incident_id: t.incident_id,
        fingerprint: t.fingerprint,
        key: t.issue_key,
        state: t.state,
        severity: t.severity,
        confidence: t.confidence,
        comments: t.comments,
        reopens: t.reopens,
        created_ms: t.created_ms,
        updated_ms: t.updated_ms,
    }
}

/// A page of tickets, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    pub tickets: Vec<TicketDto>,
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/tickets`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// `creating` or `open`.
    pub state: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Tickets, newest first.
#[utoipa::path(
    get, path = "/tickets", tag = "automation",
    params(TicketQuery),
    responses((status = 200, description = "A page of tickets", body = TicketPage)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<TicketQuery>,
) -> Result<axum::Json<TicketPage>, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let filter = TicketFilter {
        state: q.state,
        before_id: paging::decode_id_cursor(q.cursor.as_deref())?,
    };
    let rows = state.store.tickets(&filter, limit).await?;
    let next_cursor = paging::next_id_cursor(rows.iter().map(|r| r.id), rows.len(), limit);
    let settings = crate::jira::deliver::settings(&state.store, &state.config.automation).await;
    let base = settings.jira.url.as_deref();
    Ok(axum::Json(TicketPage {
        tickets: rows.into_iter().map(|t| dto(t, base)).collect(),
        next_cursor,
    }))
}
