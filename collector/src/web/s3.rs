//! `/s3` and `/s3/scans/{id}` — page 7, second half: S3 scans with their state and
//! object counts (done / failed / skipped / pending), a "start scan" form (bucket and
//! prefix) and Cancel for analysts, the configured sources for admins; one scan's page
//! lists its objects with status and error, filtered by status and paged by key. Both
//! refresh every few seconds while a scan is queued or running. Actions are `fetch`es to
//! `POST /api/v1/s3/scans` and `POST /api/v1/s3/scans/{id}/cancel`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::layout::{Nav, Page, PageResult, encode_component, fmt_ms, fmt_opt, render};
use super::training::thousands;
use crate::api::AppState;
use crate::api::auth::{Admin, Viewer};
use crate::api::extract::{Path, Query as ApiQuery};
use crate::api::s3::{ObjectQuery, ScanDto, ScanQuery};

/// Scans and objects shown per page.
const PER_PAGE: u32 = 50;
/// Seconds between refreshes while a scan is queued or running, and otherwise.
const REFRESH_BUSY_SECS: u32 = 2;
const REFRESH_IDLE_SECS: u32 = 30;
/// Object statuses, for the detail page's filter.
const STATUSES: [&str; 4] = ["pending", "done", "failed", "skipped"];

/// `?cursor=` of the scan list.
#[derive(Debug, Default, Deserialize)]
pub struct ScansQuery {
    pub cursor: Option<String>,
}

/// `?status=failed&cursor=` of a scan's objects.
#[derive(Debug, Default, Deserialize)]
pub struct ScanPageQuery {
    pub status: Option<String>,
    pub cursor: Option<String>,
}

/// A scan as the list and the detail page show it.
#[derive(Debug, PartialEq)]
pub struct ScanRow {
    pub id: i64,
    /// `s3://bucket/prefix`.
    pub target: String,
    pub state: String,
    pub done: i64,
    pub failed: i64,
    pub skipped: i64,
    pub pending: i64,
    /// `12 of 40 objects` (done + failed + skipped of all listed so far).
    pub progress: String,
    /// 0-100 when any object is listed.
    pub percent: Option<i64>,
    pub lines: String,
    pub events: String,
    pub analyst: String,
    pub origin: String,
    pub created: String,
    pub finished: String,
    pub error: String,
    /// Queued or running: it can be cancelled, and the page refreshes.
    pub live: bool,
}

/// One object of a scan.
#[derive(Debug)]
pub struct ObjectRow {
    pub key: String,
    pub status: String,
    pub reason: String,
    pub size: String,
    pub modified: String,
    pub lines: String,
    pub events: String,
    pub attempts: i64,
}

#[derive(askama::Template)]
#[template(path = "s3.html")]
struct ScansPage {
    nav: Nav,
    scans: Vec<ScanRow>,
    next: String,
    older: bool,
    refresh: u32,
    /// Admins: the configured buckets (empty: any) and endpoint.
    sources: Option<(Vec<String>, String)>,
}

#[derive(askama::Template)]
#[template(path = "s3_scan.html")]
struct ScanPage {
    nav: Nav,
    scan: ScanRow,
    objects: Vec<ObjectRow>,
    status: String,
    statuses: [&'static str; 4],
    next: String,
    paged: bool,
    refresh: u32,
}

/// Scans in these states are still working.
fn is_live(state: &str) -> bool {
    matches!(state, "queued" | "running")
}

/// A scan as its row.
pub fn scan_row(s: ScanDto) -> ScanRow {
    let c = &s.counts;
    let finished = c.done + c.failed + c.skipped;
    let listed = finished + c.pending;
    ScanRow {
        id: s.id,
        target: format!("s3://{}/{}", s.bucket, s.prefix),
        live: is_live(&s.state),
        done: c.done,
        failed: c.failed,
        skipped: c.skipped,
        pending: c.pending,
        progress: format!(
            "{} of {} object{}",
            thousands(u64::try_from(finished).unwrap_or(0)),
            thousands(u64::try_from(listed).unwrap_or(0)),
            if listed == 1 { "" } else { "s" }
        ),
        percent: (listed > 0).then(|| 100 * finished / listed),
        lines: thousands(u64::try_from(c.lines).unwrap_or(0)),
        events: thousands(u64::try_from(c.events).unwrap_or(0)),
        state: s.state,
        analyst: s.analyst,
        origin: s.origin,
        created: fmt_ms(s.created_ms),
        finished: fmt_opt(s.finished_ms),
        error: s.error.unwrap_or_default(),
    }
}

/// `1536` as `1.5 KiB`.
fn size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1_048_576 {
        format!("{:.1} KiB", b / 1024.0)
    } else if bytes < 1_073_741_824 {
        format!("{:.1} MiB", b / 1_048_576.0)
    } else {
        format!("{:.1} GiB", b / 1_073_741_824.0)
    }
}

/// `GET /s3`.
pub async fn list(
    State(state): State<AppState>,
    page: Page,
    q: Result<Query<ScansQuery>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let older = cursor.is_some();
    let axum::Json(list) = crate::api::s3::list(
        State(state.clone()),
        page.as_role::<Viewer>()?,
        ApiQuery(ScanQuery {
            limit: Some(PER_PAGE),
            cursor,
        }),
    )
    .await?;
    let sources = match page.as_role::<Admin>() {
        Ok(admin) => {
            let axum::Json(s) = crate::api::s3::sources(State(state.clone()), admin).await;
            Some((s.buckets, s.endpoint.unwrap_or_default()))
        }
        Err(_) => None,
    };
    let scans: Vec<ScanRow> = list.scans.into_iter().map(scan_row).collect();
    let refresh = if scans.iter().any(|s| s.live) {
        REFRESH_BUSY_SECS
    } else {
        REFRESH_IDLE_SECS
    };
    Ok(render(&ScansPage {
        nav: page.nav("s3"),
        scans,
        next: list.next_cursor.unwrap_or_default(),
        older,
        refresh,
        sources,
    }))
}

/// `GET /s3/scans/{id}`.
pub async fn scan(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    q: Result<Query<ScanPageQuery>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let status = q.status.filter(|s| !s.is_empty());
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let paged = cursor.is_some();
    // The viewer's own credentials, checked like `GET /api/v1/s3/scans/{id}`.
    page.as_role::<Viewer>()?;
    let detail = crate::api::s3::detail(
        &state,
        id,
        ObjectQuery {
            status: status.clone(),
            limit: Some(PER_PAGE),
            cursor,
        },
    )
    .await?;
    let scan = scan_row(detail.scan);
    let refresh = if scan.live {
        REFRESH_BUSY_SECS
    } else {
        REFRESH_IDLE_SECS
    };
    let next = detail.next_cursor.map_or_else(String::new, |c| {
        format!(
            "/s3/scans/{id}?status={}&cursor={}",
            encode_component(status.as_deref().unwrap_or("")),
            encode_component(&c)
        )
    });
    Ok(render(&ScanPage {
        nav: page.nav("s3"),
        scan,
        objects: detail
            .objects
            .into_iter()
            .map(|o| ObjectRow {
                key: o.key,
                status: o.status,
                reason: o.reason.unwrap_or_default(),
                size: size(o.size),
                modified: fmt_opt(o.last_modified_ms),
                lines: thousands(u64::try_from(o.lines).unwrap_or(0)),
                events: thousands(u64::try_from(o.events).unwrap_or(0)),
                attempts: o.attempts,
            })
            .collect(),
        status: status.unwrap_or_default(),
        statuses: STATUSES,
        next,
        paged,
        refresh,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::s3::ScanCountsDto;

    fn scan(state: &str, done: i64, failed: i64, skipped: i64, pending: i64) -> ScanDto {
        ScanDto {
            id: 7,
            bucket: "logs".to_owned(),
            prefix: "pos/2026/".to_owned(),
            start_after: None,
            modified_after_ms: None,
            modified_before_ms: None,
            credentials: None,
            analyst: "alice".to_owned(),
            origin: "api".to_owned(),
            state: state.to_owned(),
            error: None,
            created_ms: 0,
            updated_ms: 0,
            finished_ms: None,
            counts: ScanCountsDto {
                pending,
                done,
                failed,
                skipped,
                lines: 12_345,
                events: 3,
            },
        }
    }

    #[test]
    fn scan_rows() {
        let cases = [
            (scan("queued", 0, 0, 0, 0), "0 of 0 objects", None, true),
            (
                scan("running", 5, 1, 2, 2),
                "8 of 10 objects",
                Some(80),
                true,
            ),
            (scan("done", 1, 0, 0, 0), "1 of 1 object", Some(100), false),
            (
                scan("cancelled", 1, 0, 0, 3),
                "1 of 4 objects",
                Some(25),
                false,
            ),
        ];
        for (input, progress, percent, live) in cases {
            let state = input.state.clone();
            let row = scan_row(input);
            assert_eq!(
                (row.progress.as_str(), row.percent, row.live),
                (progress, percent, live),
                "{state}"
            );
            assert_eq!(row.target, "s3://logs/pos/2026/");
            assert_eq!(row.lines, "12,345");
        }
    }

    #[test]
    fn sizes() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (5 * 1_048_576, "5.0 MiB"),
            (3 * 1_073_741_824, "3.0 GiB"),
        ];
        for (b, want) in cases {
            assert_eq!(size(b), want);
        }
    }
}
