//! The fleet: `get_fleet_health` (`GET /api/v1/fleet`, paged) and `get_log_analysis_summary`
//! (one window for the fleet or a host: counts, health, patterns or events, incidents).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ctx, Effect, TimeArg, ToolDef, cut_line, def, time};
use crate::api::error::ApiError;
use crate::api::events::{EventDto, EventQuery};
use crate::api::health::{HostDto, ServiceHealthDto, StateCounts};
use crate::api::incidents::{IncidentQuery, PatternDto, PatternQuery};
use crate::api::paging;
use crate::auth::Role;
use crate::health::State;
use crate::mcp::error::ToolError;
use crate::now_ms;

/// A host health state to filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateArg {
    Healthy,
    Degraded,
    Down,
    Silent,
    /// Not evaluated yet.
    Unknown,
}

impl StateArg {
    fn matches(self, s: Option<State>) -> bool {
        matches!(
            (self, s),
            (StateArg::Healthy, Some(State::Healthy))
                | (StateArg::Degraded, Some(State::Degraded))
                | (StateArg::Down, Some(State::Down))
                | (StateArg::Silent, Some(State::Silent))
                | (StateArg::Unknown, None)
        )
    }
}

/// Which hosts to list.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthArgs {
    /// Only hosts in this state (default: every host).
    pub state: Option<StateArg>,
    /// Hosts per page, worst first (default 20, at most the server's `mcp.max_page`).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous call.
    pub cursor: Option<String>,
}

/// The fleet at a glance.
#[derive(Debug, Serialize)]
pub struct FleetOut {
    /// The collector's clock (epoch ms), to read `last_seen_ms` and `since_ms` against.
    pub now_ms: i64,
    /// Hosts per state, over the whole fleet.
    pub counts: StateCounts,
    /// Incidents open or regressed now.
    pub active_incidents: u64,
    /// Hosts (all, or in `state`) matching, before paging.
    pub hosts_matching: usize,
    /// Worst first: silent and down, then degraded, then healthy; longest in that state first.
    pub hosts: Vec<HostDto>,
    /// Pass as `cursor` for the next hosts; absent on the last page.
    pub next_cursor: Option<String>,
}

pub fn get_fleet_health() -> ToolDef {
    def(
        "get_fleet_health",
        "Fleet health",
        "The fleet at a glance: how many hosts are healthy, degraded, down or silent, how many \
         incidents are active, and the hosts worst first with their state, the reason a \
         person can act on (e.g. `error rate 7.5% over 5 min, mostly payment`), since when, \
         when they last sent lines and their labels (store, site...). Start here; filter by \
         `state` and page with `cursor`.",
        Role::Viewer,
        Effect::ReadOnly,
        fleet_health,
    )
}

/// Cursor of an offset into the worst-first host list.
fn decode_offset(cursor: Option<&str>) -> Result<usize, ToolError> {
    let Some(c) = cursor else { return Ok(0) };
    c.strip_prefix('o')
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| ToolError::BadArgument("bad cursor: pass back a next_cursor".into()))
}

async fn fleet_health(ctx: Ctx, a: HealthArgs) -> Result<FleetOut, ToolError> {
    let limit = ctx.limit(a.limit)? as usize;
    let offset = decode_offset(a.cursor.as_deref())?;
    let fleet = crate::api::health::fleet_view(&ctx.state).await?;
    let matching: Vec<HostDto> = fleet
        .hosts
        .into_iter()
        .filter(|h| a.state.is_none_or(|s| s.matches(h.state)))
        .collect();
    let total = matching.len();
    let hosts: Vec<HostDto> = matching.into_iter().skip(offset).take(limit).collect();
    let next = offset + hosts.len();
    Ok(FleetOut {
        now_ms: now_ms(),
        counts: fleet.counts,
        active_incidents: fleet.active_incidents,
        hosts_matching: total,
        next_cursor: (next < total).then(|| format!("o{next}")),
        hosts,
    })
}

/// The window and scope of a summary.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryArgs {
    /// A host to summarise; without it, the whole fleet.
    pub host: Option<String>,
    /// Window start (default: one hour before `to`).
    pub from: Option<TimeArg>,
    /// Window end (default: now).
    pub to: Option<TimeArg>,
    /// How many patterns (fleet) or events (host) to include, 1 to 50 (default 10).
    pub top: Option<u32>,
}

/// Line counts over the window, by judged severity.
#[derive(Debug, Serialize)]
pub struct Volume {
    pub lines: i64,
    pub warn: i64,
    pub error: i64,
    pub critical: i64,
    /// (error + critical) / lines, 0 without lines.
    pub error_rate: f64,
}

/// A short view of an incident.
#[derive(Debug, Serialize)]
pub struct IncidentBrief {
    pub id: i64,
    pub title: String,
    pub status: crate::incidents::decide::Status,
    pub severity: crate::api::events::Severity,
    pub class: Option<String>,
    pub host_count: u64,
    pub event_count: u64,
    pub last_seen_ms: i64,
}

impl From<crate::api::incidents::IncidentDto> for IncidentBrief {
    fn from(i: crate::api::incidents::IncidentDto) -> Self {
        IncidentBrief {
            id: i.id,
            title: i.title,
            status: i.status,
            severity: i.severity,
            class: i.class,
            host_count: i.host_count,
            event_count: i.event_count,
            last_seen_ms: i.last_seen_ms,
        }
    }
}

/// What happened in a window, for the fleet or one host.
#[derive(Debug, Serialize)]
pub struct SummaryOut {
    /// `fleet` or the host name.
    pub scope: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub volume: Volume,
    /// Fleet: hosts per state now.
    pub fleet_health: Option<StateCounts>,
    /// Host: its state now, the reason and since when.
    pub host_health: Option<HostDto>,
    /// Host: its services that are not healthy now.
    pub unhealthy_services: Vec<ServiceHealthDto>,
    /// Fleet: the most frequent error patterns in the window with their trend against the
    /// window before (`GET /api/v1/patterns`).
    pub patterns: Vec<PatternDto>,
    /// Host: its most recent unhealthy lines in the window (`GET /api/v1/events`).
    pub recent_events: Vec<EventDto>,
    /// The 10 newest incidents (not pending) touching the scope; get_incident has the rest.
    pub incidents: Vec<IncidentBrief>,
}

pub fn get_log_analysis_summary() -> ToolDef {
    def(
        "get_log_analysis_summary",
        "Log analysis summary",
        "Summarise a time window (default: the last hour) for the whole fleet or one host: \
         lines and unhealthy lines by severity with the error rate, health now, the most \
         frequent error patterns with their trend (fleet) or the latest unhealthy lines \
         (host), and the newest incidents. Use it to answer `what happened` questions before \
         drilling down with filter_unhealthy_logs, get_incident or search_logs.",
        Role::Viewer,
        Effect::ReadOnly,
        summary,
    )
}

async fn summary(ctx: Ctx, a: SummaryArgs) -> Result<SummaryOut, ToolError> {
    let now = now_ms();
    let top = a.top.unwrap_or(10);
    if !(1..=50).contains(&top) {
        return Err(ToolError::BadArgument(
            "top must be between 1 and 50".into(),
        ));
    }
    let to = paging::time_ms("to", time("to", &a.to, now)?.as_deref())?.unwrap_or(now);
    let from =
        paging::time_ms("from", time("from", &a.from, now)?.as_deref())?.unwrap_or(to - 3_600_000);
    paging::range(Some(from), Some(to))?;
    // Whole minutes, as the stored counts and `/hosts/{name}/health` use them.
    let from = from - from.rem_euclid(60_000);
    let state = &ctx.state;
    if let Some(h) = &a.host {
        super::known_host(&ctx, h).await?;
    }
    let counts = state
        .store
        .totals(a.host.as_deref(), from, to)
        .await
        .map_err(ApiError::from)?;
    let volume = Volume {
        lines: counts.lines,
        warn: counts.warn,
        error: counts.error,
        critical: counts.critical,
        error_rate: if counts.lines > 0 {
            (counts.error + counts.critical) as f64 / counts.lines as f64
        } else {
            0.0
        },
    };
    let incidents = crate::api::incidents::page(
        state,
        IncidentQuery {
            status: None,
            severity: None,
            host: a.host.clone(),
            class: None,
            service: None,
            limit: Some(10),
            cursor: None,
        },
    )
    .await?
    .incidents
    .into_iter()
    .map(IncidentBrief::from)
    .collect();
    let mut out = SummaryOut {
        scope: a.host.clone().unwrap_or_else(|| "fleet".to_owned()),
        from_ms: from,
        to_ms: to,
        volume,
        fleet_health: None,
        host_health: None,
        unhealthy_services: Vec::new(),
        patterns: Vec::new(),
        recent_events: Vec::new(),
        incidents,
    };
    match a.host {
        None => {
            out.fleet_health = Some(crate::api::health::fleet_view(state).await?.counts);
            let q = PatternQuery {
                from: Some(from.to_string()),
                to: Some(to.to_string()),
                limit: Some(top),
            };
            out.patterns = crate::api::incidents::pattern_list(state, q)
                .await?
                .patterns;
            for p in &mut out.patterns {
                cut_line(&mut p.sample);
                cut_line(&mut p.template);
            }
        }
        Some(host) => {
            let detail = crate::api::health::host_detail(state, host.clone()).await?;
            out.unhealthy_services = detail
                .services
                .into_iter()
                .filter(|s| s.state != State::Healthy)
                .collect();
            out.host_health = Some(detail.host);
            let q = EventQuery {
                host: Some(host),
                service: None,
                severity: None,
                class: None,
                template_id: None,
                from: Some(from.to_string()),
                to: Some(to.to_string()),
                q: None,
                limit: Some(top),
                cursor: None,
            };
            out.recent_events = crate::api::events::search(state, q).await?.events;
            for e in &mut out.recent_events {
                cut_line(&mut e.line);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_bad_cursors_are_refused() {
        assert_eq!(decode_offset(None).unwrap(), 0);
        assert_eq!(decode_offset(Some("o40")).unwrap(), 40);
        assert!(decode_offset(Some("i40")).is_err());
        assert!(decode_offset(Some("o-1")).is_err());
    }

    #[test]
    fn state_filter() {
        assert!(StateArg::Down.matches(Some(State::Down)));
        assert!(!StateArg::Down.matches(Some(State::Silent)));
        assert!(StateArg::Unknown.matches(None));
        assert!(!StateArg::Healthy.matches(None));
    }
}
