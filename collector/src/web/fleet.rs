//! `/` — the fleet overview: hosts per health state, hosts grouped by their `store`
//! (else `site`) label with the worst group and host first, each with its state in
//! colour and text, its reason and a sparkline of its error rate over the last hour;
//! filters by label and state. `app.js` re-renders the page's live region when the
//! live stream reports a health change, and every 30 s otherwise.

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::charts::sparkline;
use super::layout::{Nav, Page, PageResult, ago, render};
use crate::api::AppState;
use crate::api::auth::Viewer;
use crate::api::health::{FleetDto, HostDto, StateCounts};
use crate::health::State as Health;

/// Sparkline window and step.
const SPARK_WINDOW_MS: i64 = 3_600_000;
const SPARK_STEP_MS: i64 = 300_000;
/// The group of hosts with neither a `store` nor a `site` label.
const NO_LABEL: &str = "no store label";

/// `?label=store:0042&state=degraded`.
#[derive(Debug, Default, Deserialize)]
pub struct FleetQuery {
    /// `key:value` (or a bare value matched against any label).
    pub label: Option<String>,
    /// `healthy`, `degraded`, `down`, `silent` or `unknown`.
    pub state: Option<String>,
}

/// One host row.
#[derive(Debug)]
pub struct HostRow {
    pub name: String,
    pub state: &'static str,
    pub reason: String,
    pub since: String,
    pub last_seen: String,
    pub spark: String,
    badness: u8,
}

/// Hosts sharing a store/site label.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub worst: &'static str,
    pub hosts: Vec<HostRow>,
    badness: u8,
}

#[derive(askama::Template)]
#[template(path = "fleet.html")]
struct FleetPage {
    nav: Nav,
    counts: StateCounts,
    active_incidents: u64,
    groups: Vec<Group>,
    shown: usize,
    label: String,
    state: String,
    states: [&'static str; 5],
}

fn state_name(s: Option<Health>) -> &'static str {
    s.map_or("unknown", Health::as_str)
}

fn group_key(labels: &BTreeMap<String, String>) -> String {
    labels
        .get("store")
        .map(|s| format!("store {s}"))
        .or_else(|| labels.get("site").map(|s| format!("site {s}")))
        .unwrap_or_else(|| NO_LABEL.to_owned())
}

/// Whether `h` passes the filters.
pub fn matches(h: &HostDto, q: &FleetQuery) -> bool {
    if let Some(want) = q.state.as_deref().filter(|s| !s.is_empty())
        && state_name(h.state) != want
    {
        return false;
    }
    match q.label.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => true,
        Some(l) => match l.split_once(':') {
            Some((k, v)) => h.labels.get(k.trim()).is_some_and(|x| x == v.trim()),
            None => h.labels.values().any(|x| x == l),
        },
    }
}

/// Groups the fleet's hosts (already worst first) by store/site label, worst group
/// first, then by name; `rates` gives each host's sparkline.
pub fn group_hosts(
    hosts: Vec<HostDto>,
    q: &FleetQuery,
    rates: &HashMap<String, Vec<f64>>,
    now_ms: i64,
) -> Vec<Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for h in hosts.into_iter().filter(|h| matches(h, q)) {
        let key = group_key(&h.labels);
        let badness = h.state.map_or(1, Health::badness);
        let state = state_name(h.state);
        let spark = match rates.get(&h.name) {
            Some(r) => sparkline(r, &format!("error rate of {} over the last hour", h.name)),
            None => sparkline(&[], &format!("no lines from {} in the last hour", h.name)),
        };
        let row = HostRow {
            reason: h.reason.unwrap_or_default(),
            since: h.since_ms.map_or_else(String::new, |s| ago(now_ms, s)),
            last_seen: ago(now_ms, h.last_seen_ms),
            spark,
            name: h.name,
            state,
            badness,
        };
        let g = groups.entry(key.clone()).or_insert_with(|| Group {
            name: key,
            worst: state,
            hosts: Vec::new(),
            badness,
        });
        if badness > g.badness {
            g.badness = badness;
            g.worst = state;
        }
        g.hosts.push(row);
    }
    let mut out: Vec<Group> = groups.into_values().collect();
    for g in &mut out {
        // Stable: keeps the API's order (longest in the state first) within a state.
        g.hosts.sort_by_key(|h| std::cmp::Reverse(h.badness));
    }
    // Worst first; hosts without a store or site label after the labelled ones.
    let unlabelled = |g: &Group| g.name == NO_LABEL;
    out.sort_by(|a, b| {
        b.badness
            .cmp(&a.badness)
            .then(unlabelled(a).cmp(&unlabelled(b)))
            .then(a.name.cmp(&b.name))
    });
    out
}

/// Renders the fleet page from the fleet as `GET /api/v1/fleet` returns it.
pub fn render_fleet(
    nav: Nav,
    fleet: FleetDto,
    q: FleetQuery,
    rates: &HashMap<String, Vec<f64>>,
    now_ms: i64,
) -> axum::response::Response {
    let groups = group_hosts(fleet.hosts, &q, rates, now_ms);
    let shown = groups.iter().map(|g| g.hosts.len()).sum();
    render(&FleetPage {
        nav,
        counts: fleet.counts,
        active_incidents: fleet.active_incidents,
        groups,
        shown,
        label: q.label.unwrap_or_default(),
        state: q.state.unwrap_or_default(),
        states: ["silent", "down", "degraded", "healthy", "unknown"],
    })
}

/// `GET /`.
pub async fn page(
    State(state): State<AppState>,
    page: Page,
    q: Result<Query<FleetQuery>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let now = crate::now_ms();
    let from = now - SPARK_WINDOW_MS;
    let from = from - from.rem_euclid(60_000);
    // The fleet and the sparklines are independent reads: on two pool connections at once.
    let (fleet, rates) = tokio::join!(
        crate::api::health::fleet(State(state.clone()), page.as_role::<Viewer>()?),
        state.store.fleet_error_rates(from, now, SPARK_STEP_MS),
    );
    let axum::Json(fleet) = fleet?;
    let rates = rates.map_err(crate::api::error::ApiError::from)?;
    Ok(render_fleet(page.nav("fleet"), fleet, q, &rates, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, state: Option<Health>, labels: &[(&str, &str)]) -> HostDto {
        HostDto {
            name: name.to_owned(),
            last_seen_ms: 0,
            lines_received: 1,
            state,
            reason: Some(format!("reason of {name}")),
            since_ms: Some(0),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn fleet() -> Vec<HostDto> {
        vec![
            host("pos-3", Some(Health::Down), &[("store", "0002")]),
            host("pos-1", Some(Health::Degraded), &[("store", "0001")]),
            host("kiosk-9", None, &[("site", "hq")]),
            host("pos-2", Some(Health::Healthy), &[("store", "0001")]),
            host("bare", Some(Health::Healthy), &[]),
        ]
    }

    fn check(q: FleetQuery, want: &[(&str, &str, &[&str])]) {
        let groups = group_hosts(fleet(), &q, &HashMap::new(), 0);
        let got: Vec<(String, &str, Vec<String>)> = groups
            .iter()
            .map(|g| {
                (
                    g.name.clone(),
                    g.worst,
                    g.hosts.iter().map(|h| h.name.clone()).collect(),
                )
            })
            .collect();
        let want: Vec<(String, &str, Vec<String>)> = want
            .iter()
            .map(|(n, w, hs)| {
                (
                    (*n).to_owned(),
                    *w,
                    hs.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "{q:?}");
    }

    #[test]
    fn groups_worst_first() {
        check(
            FleetQuery::default(),
            &[
                ("store 0002", "down", &["pos-3"]),
                ("store 0001", "degraded", &["pos-1", "pos-2"]),
                ("site hq", "unknown", &["kiosk-9"]),
                ("no store label", "healthy", &["bare"]),
            ],
        );
    }

    #[test]
    fn filters_by_state_and_label() {
        let q = |label: Option<&str>, state: Option<&str>| FleetQuery {
            label: label.map(str::to_owned),
            state: state.map(str::to_owned),
        };
        check(
            q(None, Some("healthy")),
            &[
                ("store 0001", "healthy", &["pos-2"]),
                ("no store label", "healthy", &["bare"]),
            ],
        );
        check(
            q(Some("store:0001"), None),
            &[("store 0001", "degraded", &["pos-1", "pos-2"])],
        );
        check(q(Some("hq"), None), &[("site hq", "unknown", &["kiosk-9"])]);
        check(q(Some("store:0001"), Some("down")), &[]);
        check(
            q(Some(""), Some("")),
            &[
                ("store 0002", "down", &["pos-3"]),
                ("store 0001", "degraded", &["pos-1", "pos-2"]),
                ("site hq", "unknown", &["kiosk-9"]),
                ("no store label", "healthy", &["bare"]),
            ],
        );
    }
}
