//! Fleet health endpoints: the fleet at a glance (`/fleet`), hosts with their state
//! (`/hosts`, `/hosts/{name}`), and per-minute series for charts
//! (`/hosts/{name}/health`, `/hosts/{name}/services/{service}/health`).
//! Every figure comes from the store, so every replica shows the same.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State as AxState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Auth, Viewer};
use super::error::ApiError;
use super::extract::{Path, Query};
use super::paging;
use crate::health::State;
use crate::store::health::HealthRow;

/// Most points one series returns.
pub const MAX_POINTS: i64 = 1440;

/// A host: its state, why, and what it sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostDto {
    pub name: String,
    /// When its last batch arrived (epoch ms).
    pub last_seen_ms: i64,
    pub lines_received: u64,
    /// Health state, once the health worker has evaluated the host.
    pub state: Option<State>,
    /// Why it is in that state, e.g. `error rate 7.5% over 5 min, mostly payment`.
    pub reason: Option<String>,
    /// Since when it has been in that state (epoch ms).
    pub since_ms: Option<i64>,
    /// Labels from the agent's config (store, site, region, ...).
    pub labels: BTreeMap<String, String>,
}

/// Every host, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostList {
    pub hosts: Vec<HostDto>,
}

/// Hosts per health state.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StateCounts {
    pub healthy: u64,
    pub degraded: u64,
    pub down: u64,
    pub silent: u64,
    /// Hosts not evaluated yet.
    pub unknown: u64,
}

/// The fleet at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct FleetDto {
    pub counts: StateCounts,
    /// Every host, worst first (silent and down, then degraded, then healthy), then
    /// longest in that state first.
    pub hosts: Vec<HostDto>,
    /// Incidents open or regressed now.
    pub active_incidents: u64,
}

async fn host_dtos(state: &AppState) -> Result<(Vec<HostDto>, Vec<HealthRow>), ApiError> {
    let rows = state.store.health_rows().await?;
    let by_host: HashMap<&str, &HealthRow> = rows
        .iter()
        .filter(|r| r.service.is_empty())
        .map(|r| (r.host.as_str(), r))
        .collect();
    let mut labels = state.store.host_labels().await?;
    let hosts = state
        .store
        .hosts()
        .await?
        .into_iter()
        .map(|h| {
            let health = by_host.get(h.host.as_str());
            HostDto {
                state: health.map(|r| r.health.state),
                reason: health.map(|r| r.health.reason.clone()),
                since_ms: health.map(|r| r.health.since_ms),
                labels: labels.remove(&h.host).unwrap_or_default(),
                name: h.host,
                last_seen_ms: h.last_seen_ms,
                lines_received: h.lines_received,
            }
        })
        .collect();
    Ok((hosts, rows))
}

/// Counts per state and every host, worst first.
#[utoipa::path(
    get, path = "/fleet", tag = "fleet",
    responses((status = 200, description = "The fleet", body = FleetDto)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn fleet(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
) -> Result<axum::Json<FleetDto>, ApiError> {
    fleet_view(&state).await.map(axum::Json)
}

/// The fleet at a glance, as `GET /api/v1/fleet` (and the MCP `get_fleet_health`) serve it.
pub(crate) async fn fleet_view(state: &AppState) -> Result<FleetDto, ApiError> {
    let (mut hosts, _) = host_dtos(state).await?;
    let mut counts = StateCounts::default();
    for h in &hosts {
        match h.state {
            Some(State::Healthy) => counts.healthy += 1,
            Some(State::Degraded) => counts.degraded += 1,
            Some(State::Down) => counts.down += 1,
            Some(State::Silent) => counts.silent += 1,
            None => counts.unknown += 1,
        }
    }
    hosts.sort_by(|a, b| {
        let bad = |h: &HostDto| h.state.map_or(1, State::badness);
        bad(b)
            .cmp(&bad(a))
            .then(a.since_ms.cmp(&b.since_ms))
            .then(a.name.cmp(&b.name))
    });
    let active = state.store.active_incidents().await?.len() as u64;
    Ok(FleetDto {
        counts,
        hosts,
        active_incidents: active,
    })
}

/// Hosts that have sent lines, with their health.
#[utoipa::path(
    get, path = "/hosts", tag = "fleet",
    responses((status = 200, description = "Every host, by name", body = HostList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn hosts(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
) -> Result<axum::Json<HostList>, ApiError> {
    let (hosts, _) = host_dtos(&state).await?;
    Ok(axum::Json(HostList { hosts }))
}

/// The health of one service on a host.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceHealthDto {
    pub service: String,
    pub state: State,
    pub reason: String,
    pub since_ms: i64,
}

/// An agent's latest heartbeat.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentStatusDto {
    pub agent_id: String,
    /// The agent's own time of the heartbeat.
    pub ts_ms: i64,
    pub received_ms: i64,
    /// Buffer fill, pending batches, drops, watched files (and host metrics when the
    /// agent sends them).
    #[schema(value_type = Object)]
    pub status: serde_json::Value,
}

/// One host in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostDetail {
    pub host: HostDto,
    pub services: Vec<ServiceHealthDto>,
    pub agents: Vec<AgentStatusDto>,
}

/// One host: state, reason, services, agent status.
#[utoipa::path(
    get, path = "/hosts/{name}", tag = "fleet",
    params(("name" = String, Path, description = "Host name")),
    responses(
        (status = 200, description = "The host", body = HostDetail),
        (status = 404, description = "No such host", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn host(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Path(name): Path<String>,
) -> Result<axum::Json<HostDetail>, ApiError> {
    host_detail(&state, name).await.map(axum::Json)
}

/// One host in detail, as `GET /api/v1/hosts/{name}` (and the MCP resource
/// `fleetlog://hosts/{name}`) serve it.
pub(crate) async fn host_detail(state: &AppState, name: String) -> Result<HostDetail, ApiError> {
    let (hosts, rows) = host_dtos(state).await?;
    let host = hosts.into_iter().find(|h| h.name == name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "host `{}`",
            name.chars().take(100).collect::<String>()
        ))
    })?;
    let services = rows
        .into_iter()
        .filter(|r| r.host == name && !r.service.is_empty())
        .map(|r| ServiceHealthDto {
            service: r.service,
            state: r.health.state,
            reason: r.health.reason,
            since_ms: r.health.since_ms,
        })
        .collect();
    let agents = state
        .store
        .agent_status(&name)
        .await?
        .into_iter()
        .map(|a| AgentStatusDto {
            agent_id: a.agent_id,
            ts_ms: a.ts_ms,
            received_ms: a.received_ms,
            status: a.status,
        })
        .collect();
    Ok(HostDetail {
        host,
        services,
        agents,
    })
}

/// Range and resolution of a series.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// Start (RFC 3339 or epoch ms); default one hour before `to`.
    pub from: Option<String>,
    /// End (RFC 3339 or epoch ms); default now.
    pub to: Option<String>,
    /// Seconds per point, a multiple of 60 (default 60); at most 1440 points.
    pub step: Option<u32>,
}

/// One point of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// Start of the step (epoch ms, by the lines' own time).
    pub t_ms: i64,
    pub lines: i64,
    pub warn: i64,
    pub error: i64,
    pub critical: i64,
    /// (error + critical) / lines, 0 when there were no lines.
    pub error_rate: f64,
    /// Mean of arrival − line time over the step's lines, in ms.
    pub mean_lag_ms: Option<i64>,
}

/// Per-step counts for charts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    pub host: String,
    pub service: Option<String>,
    pub step_ms: i64,
    pub points: Vec<SeriesPoint>,
}

async fn series(
    state: &AppState,
    host: String,
    service: Option<String>,
    q: SeriesQuery,
) -> Result<Series, ApiError> {
    let to = paging::time_ms("to", q.to.as_deref())?.unwrap_or_else(crate::now_ms);
    let from = paging::time_ms("from", q.from.as_deref())?.unwrap_or(to - 3_600_000);
    paging::range(Some(from), Some(to))?;
    let step_s = q.step.unwrap_or(60);
    if step_s == 0 || !step_s.is_multiple_of(60) {
        return Err(ApiError::BadRequest(
            "step must be a positive multiple of 60 seconds".into(),
        ));
    }
    let step = i64::from(step_s) * 1000;
    // Align to whole minutes so points match the stored buckets.
    let from = from - from.rem_euclid(60_000);
    if (to - from) / step > MAX_POINTS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_POINTS} points: widen step or narrow the range"
        )));
    }
    let rows = state
        .store
        .series(&host, service.as_deref(), from, to, step)
        .await?;
    let points = rows
        .into_iter()
        .map(|(t, c)| SeriesPoint {
            t_ms: t,
            lines: c.lines,
            warn: c.warn,
            error: c.error,
            critical: c.critical,
            error_rate: if c.lines > 0 {
                (c.error + c.critical) as f64 / c.lines as f64
            } else {
                0.0
            },
            mean_lag_ms: (c.lines > 0).then(|| c.lag_ms_sum / c.lines),
        })
        .collect();
    Ok(Series {
        host,
        service,
        step_ms: step,
        points,
    })
}

/// A host's lines and errors per step.
#[utoipa::path(
    get, path = "/hosts/{name}/health", tag = "fleet",
    params(("name" = String, Path, description = "Host name"), SeriesQuery),
    responses((status = 200, description = "The series", body = Series)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn host_series(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Path(name): Path<String>,
    Query(q): Query<SeriesQuery>,
) -> Result<axum::Json<Series>, ApiError> {
    Ok(axum::Json(series(&state, name, None, q).await?))
}

/// One service's lines and errors per step on a host.
#[utoipa::path(
    get, path = "/hosts/{name}/services/{service}/health", tag = "fleet",
    params(
        ("name" = String, Path, description = "Host name"),
        ("service" = String, Path, description = "Service name"),
        SeriesQuery
    ),
    responses((status = 200, description = "The series", body = Series)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn service_series(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Path((name, service)): Path<(String, String)>,
    Query(q): Query<SeriesQuery>,
) -> Result<axum::Json<Series>, ApiError> {
    Ok(axum::Json(series(&state, name, Some(service), q).await?))
}
