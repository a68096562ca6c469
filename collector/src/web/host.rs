//! `/hosts/{name}` — one host: state and reason, its services, charts (lines and
//! errors per step by severity, CPU / memory / disk and the agent's buffer fill and lag
//! from heartbeats) over a picked time range, recent events, incidents on the host,
//! and a viewer of its raw lines (paged, searchable, with a live tail in `app.js`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::Value;

use super::charts::{Line, line_chart};
use super::layout::{Nav, Page, PageResult, ago, fmt_ms, render};
use super::training::thousands;
use crate::api::AppState;
use crate::api::auth::Viewer;
use crate::api::error::ApiError;
use crate::api::events::EventQuery;
use crate::api::extract::{Path, Query as ApiQuery};
use crate::api::fleet::LinesQuery;
use crate::api::health::SeriesQuery;
use crate::api::incidents::IncidentQuery;

/// Time ranges of the picker: name, milliseconds, step in seconds.
pub const RANGES: [(&str, i64, u32); 4] = [
    ("1h", 3_600_000, 60),
    ("6h", 21_600_000, 300),
    ("24h", 86_400_000, 900),
    ("7d", 604_800_000, 3600),
];

/// Raw lines per page of the log viewer.
const LINES_PER_PAGE: u32 = 100;

/// `?range=6h&cursor=...&q=timeout`.
#[derive(Debug, Default, Deserialize)]
pub struct HostQuery {
    pub range: Option<String>,
    /// The log viewer's page (`next_cursor` of `/api/v1/lines`).
    pub cursor: Option<String>,
    /// Search: the host's raw lines containing it (server-side, bounded, newest first)
    /// and the matching events.
    pub q: Option<String>,
}

/// The figures of one heartbeat the charts use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeartbeatPoint {
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub disk_percent: Option<f64>,
    pub buffer_percent: Option<f64>,
    pub lag_seconds: Option<f64>,
}

fn pct(used: f64, total: f64) -> Option<f64> {
    (total > 0.0).then(|| 100.0 * used / total)
}

/// Reads a stored heartbeat (v1 fields, plus `host` and `agent` from v2 agents).
pub fn heartbeat_point(v: &Value) -> HeartbeatPoint {
    let f = |p: &str| v.pointer(p).and_then(Value::as_f64);
    let disk = v
        .pointer("/host/volumes")
        .and_then(Value::as_array)
        .and_then(|vols| {
            vols.iter()
                .find(|x| x.get("role").and_then(Value::as_str) == Some("data"))
                .or_else(|| vols.first())
        })
        .and_then(|vol| {
            let total = vol.get("total_bytes")?.as_f64()?;
            let avail = vol.get("available_bytes")?.as_f64()?;
            pct(total - avail, total)
        });
    HeartbeatPoint {
        cpu_percent: f("/host/cpu_percent"),
        memory_percent: f("/host/memory_used_bytes")
            .zip(f("/host/memory_total_bytes"))
            .and_then(|(u, t)| pct(u, t)),
        disk_percent: disk,
        buffer_percent: f("/buffer_bytes")
            .zip(f("/buffer_capacity"))
            .and_then(|(u, t)| pct(u, t)),
        lag_seconds: f("/agent/oldest_unacked_ms").map(|ms| ms / 1000.0),
    }
}

/// A row of a small table.
#[derive(Debug)]
pub struct Row {
    pub cells: Vec<String>,
    pub link: String,
    pub class: String,
}

#[derive(askama::Template)]
#[template(path = "host.html")]
struct HostPage {
    nav: Nav,
    name: String,
    state: String,
    reason: String,
    since: String,
    last_seen: String,
    labels: Vec<(String, String)>,
    services: Vec<Row>,
    agents: Vec<Row>,
    range: String,
    ranges: Vec<&'static str>,
    chart_lines: String,
    chart_host: String,
    chart_agent: String,
    events: Vec<Row>,
    incidents: Vec<Row>,
    lines: Vec<Row>,
    lines_cursor: String,
    lines_total: usize,
    next_cursor: String,
    q: String,
    matches: Vec<Row>,
    /// What the raw-line search read (empty without a search).
    search_note: String,
    /// `api.max_line_search_scan`, with thousands separators.
    scan_limit: String,
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |x| format!("{x:.1}"))
}

/// `GET /hosts/{name}`.
pub async fn page(
    State(state): State<AppState>,
    page: Page,
    Path(name): Path<String>,
    q: Result<Query<HostQuery>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let st = || State(state.clone());
    let auth = || page.as_role::<Viewer>();
    let axum::Json(detail) = crate::api::health::host(st(), auth()?, Path(name.clone())).await?;
    let (range, span, step) = RANGES
        .iter()
        .find(|(n, _, _)| Some(*n) == q.range.as_deref())
        .copied()
        .unwrap_or(RANGES[0]);
    let now = crate::now_ms();
    let axum::Json(series) = crate::api::health::host_series(
        st(),
        auth()?,
        Path(name.clone()),
        ApiQuery(SeriesQuery {
            from: Some((now - span).to_string()),
            to: Some(now.to_string()),
            step: Some(step),
        }),
    )
    .await?;
    let x_labels = (fmt_ms(now - span), fmt_ms(now));
    let xl = (x_labels.0.as_str(), x_labels.1.as_str());
    let col = |f: fn(&crate::api::health::SeriesPoint) -> i64| -> Vec<f64> {
        series.points.iter().map(|p| f(p) as f64).collect()
    };
    let chart_lines = line_chart(
        &format!("Lines and errors per {} s on {name}", step),
        &[
            Line {
                name: "lines",
                class: "s-lines",
                values: col(|p| p.lines),
            },
            Line {
                name: "warn",
                class: "s-warn",
                values: col(|p| p.warn),
            },
            Line {
                name: "error",
                class: "s-error",
                values: col(|p| p.error),
            },
            Line {
                name: "critical",
                class: "s-critical",
                values: col(|p| p.critical),
            },
        ],
        xl,
    );
    let beats = state
        .store
        .heartbeat_history(&name, now - span, now + 1, 2000)
        .await
        .map_err(ApiError::from)?;
    let points: Vec<HeartbeatPoint> = beats.iter().map(|(_, v)| heartbeat_point(v)).collect();
    let pick = |f: fn(&HeartbeatPoint) -> Option<f64>| -> Vec<f64> {
        points.iter().map(|p| f(p).unwrap_or(0.0)).collect()
    };
    let chart_host = line_chart(
        &format!("CPU, memory and disk use (%) on {name}, from heartbeats"),
        &[
            Line {
                name: "cpu %",
                class: "s-cpu",
                values: pick(|p| p.cpu_percent),
            },
            Line {
                name: "memory %",
                class: "s-mem",
                values: pick(|p| p.memory_percent),
            },
            Line {
                name: "disk %",
                class: "s-disk",
                values: pick(|p| p.disk_percent),
            },
        ],
        xl,
    );
    let chart_agent = line_chart(
        &format!("Agent buffer fill (%) and oldest unacked batch (s) on {name}"),
        &[
            Line {
                name: "buffer %",
                class: "s-buffer",
                values: pick(|p| p.buffer_percent),
            },
            Line {
                name: "lag s",
                class: "s-lag",
                values: pick(|p| p.lag_seconds),
            },
        ],
        xl,
    );
    let axum::Json(events) = crate::api::events::list(
        st(),
        auth()?,
        ApiQuery(EventQuery {
            host: Some(name.clone()),
            service: None,
            severity: None,
            class: None,
            template_id: None,
            from: None,
            to: None,
            q: None,
            limit: Some(15),
            cursor: None,
        }),
    )
    .await?;
    let axum::Json(incidents) = crate::api::incidents::list(
        st(),
        auth()?,
        ApiQuery(IncidentQuery {
            status: None,
            severity: None,
            host: Some(name.clone()),
            class: None,
            service: None,
            limit: Some(15),
            cursor: None,
        }),
    )
    .await?;
    let search = q.q.clone().unwrap_or_default();
    let matches = if search.trim().is_empty() {
        Vec::new()
    } else {
        let axum::Json(found) = crate::api::events::list(
            st(),
            auth()?,
            ApiQuery(EventQuery {
                host: Some(name.clone()),
                service: None,
                severity: None,
                class: None,
                template_id: None,
                from: None,
                to: None,
                q: Some(search.clone()),
                limit: Some(50),
                cursor: None,
            }),
        )
        .await?;
        found.events.into_iter().map(event_row).collect()
    };
    // With a search, the same bounded server-side search as `GET /api/v1/lines?q=`.
    let needle = search.trim().to_owned();
    let axum::Json(lines) = crate::api::fleet::lines(
        st(),
        auth()?,
        ApiQuery(LinesQuery {
            host: name.clone(),
            limit: Some(LINES_PER_PAGE),
            cursor: q.cursor.clone(),
            q: (!needle.is_empty()).then(|| needle.clone()),
        }),
    )
    .await?;
    let lines_total = lines.lines.len();
    let search_note = match (lines.scanned, lines.scan_limit) {
        (Some(scanned), Some(limit)) => format!(
            "{} matching line{} (newest first) among the {} line{} read; a search reads at most \
             {} lines per page (api.max_line_search_scan){}.",
            thousands(lines_total as u64),
            if lines_total == 1 { "" } else { "s" },
            thousands(scanned),
            if scanned == 1 { "" } else { "s" },
            thousands(limit),
            if lines.next_cursor.is_some() {
                "; “Older matches” searches further back"
            } else {
                ", and this one reached the oldest stored line"
            }
        ),
        _ => String::new(),
    };
    let line_rows = lines
        .lines
        .into_iter()
        .map(|l| Row {
            class: format!(
                "lv-{}",
                serde_json::to_value(l.level)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            cells: vec![fmt_ms(l.ts_ms), l.source, l.line],
            link: String::new(),
        })
        .collect();
    let h = detail.host;
    let tpl = HostPage {
        nav: page.nav("fleet"),
        state: h
            .state
            .map_or("unknown", crate::health::State::as_str)
            .to_owned(),
        reason: h.reason.unwrap_or_default(),
        since: h.since_ms.map_or_else(String::new, |s| ago(now, s)),
        last_seen: ago(now, h.last_seen_ms),
        labels: h.labels.into_iter().collect(),
        services: detail
            .services
            .into_iter()
            .map(|s| Row {
                class: s.state.as_str().to_owned(),
                cells: vec![
                    s.service,
                    s.state.as_str().to_owned(),
                    s.reason,
                    ago(now, s.since_ms),
                ],
                link: String::new(),
            })
            .collect(),
        agents: detail
            .agents
            .into_iter()
            .map(|a| {
                let p = heartbeat_point(&a.status);
                Row {
                    class: String::new(),
                    cells: vec![
                        a.agent_id,
                        format!("{} ago", ago(now, a.received_ms)),
                        opt(p.cpu_percent),
                        opt(p.memory_percent),
                        opt(p.disk_percent),
                        opt(p.buffer_percent),
                        opt(p.lag_seconds),
                    ],
                    link: String::new(),
                }
            })
            .collect(),
        range: range.to_owned(),
        ranges: RANGES.iter().map(|r| r.0).collect(),
        chart_lines,
        chart_host,
        chart_agent,
        events: events.events.into_iter().map(event_row).collect(),
        incidents: incidents
            .incidents
            .into_iter()
            .map(|i| Row {
                class: i.status.as_str().to_owned(),
                link: format!("/incidents/{}", i.id),
                cells: vec![
                    format!("#{}", i.id),
                    i.status.as_str().to_owned(),
                    severity_name(i.severity),
                    i.title,
                    fmt_ms(i.last_seen_ms),
                ],
            })
            .collect(),
        lines: line_rows,
        lines_total,
        lines_cursor: q.cursor.unwrap_or_default(),
        next_cursor: lines.next_cursor.unwrap_or_default(),
        q: search,
        matches,
        search_note,
        scan_limit: thousands(state.api.max_line_search_scan),
        name,
    };
    Ok(render(&tpl))
}

/// `warn`, `error`... as the API spells a severity.
pub fn severity_name(s: crate::api::events::Severity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// An event as a table row linking to `/events/{id}`.
pub fn event_row(e: crate::api::events::EventDto) -> Row {
    let sev = severity_name(e.severity);
    Row {
        link: format!("/events/{}", e.id),
        class: format!("lv-{sev}"),
        cells: vec![
            fmt_ms(e.ts_ms),
            e.host,
            e.service.unwrap_or_default(),
            sev,
            e.class.unwrap_or_default(),
            if e.occurrences > 1 {
                format!("{} (×{})", e.line, e.occurrences)
            } else {
                e.line
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_points() {
        let v2 = serde_json::json!({
            "ts_ms": 1, "buffer_bytes": 25, "buffer_capacity": 100, "pending_batches": 0,
            "dropped_lines": 0, "watched_files": 1,
            "host": {"cpu_percent": 12.5, "memory_total_bytes": 200, "memory_used_bytes": 50,
                     "volumes": [{"role": "log", "mount": "/var/log", "total_bytes": 10, "available_bytes": 10},
                                 {"role": "data", "mount": "/", "total_bytes": 10, "available_bytes": 1}]},
            "agent": {"oldest_unacked_ms": 1500}
        });
        let cases = [
            (
                v2,
                HeartbeatPoint {
                    cpu_percent: Some(12.5),
                    memory_percent: Some(25.0),
                    disk_percent: Some(90.0),
                    buffer_percent: Some(25.0),
                    lag_seconds: Some(1.5),
                },
            ),
            (
                serde_json::json!({"buffer_bytes": 5, "buffer_capacity": 0}),
                HeartbeatPoint {
                    cpu_percent: None,
                    memory_percent: None,
                    disk_percent: None,
                    buffer_percent: None,
                    lag_seconds: None,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(heartbeat_point(&input), want, "{input}");
        }
    }
}
