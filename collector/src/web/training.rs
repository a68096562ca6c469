//! `/training` — page 7, first half: upload known-good logs (a file input that also takes
//! drag and drop, `training.js`) and mark a host's time window healthy (analysts); the
//! training jobs with state and progress, refreshed every few seconds while one is
//! queued or running; the model versions with their source, templates, creation, the
//! active flag and how many agents run each, with Activate / Roll back buttons (admins).
//! Every action is a `fetch` to the REST endpoint (`/api/v1/training/*`,
//! `/api/v1/models/{id}/activate`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::layout::{Nav, Page, PageResult, fmt_ms, fmt_opt, render};
use crate::api::AppState;
use crate::api::auth::Viewer;
use crate::api::extract::Query as ApiQuery;
use crate::api::models::{ModelDto, ModelsQuery};
use crate::api::training::{JobDto, JobsQuery};
use crate::training::job::JobState;

/// Jobs and models shown per page.
const PER_PAGE: u32 = 25;
/// Seconds between refreshes of the live region while a job is queued or running, and
/// otherwise.
const REFRESH_BUSY_SECS: u32 = 2;
const REFRESH_IDLE_SECS: u32 = 30;

/// `?jobs=<cursor>&models=<cursor>`: older pages of either list.
#[derive(Debug, Default, Deserialize)]
pub struct TrainingQuery {
    pub jobs: Option<String>,
    pub models: Option<String>,
}

/// A job row.
#[derive(Debug, PartialEq)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub state: &'static str,
    /// What it trains on: file names, or host/service and window.
    pub input: String,
    /// `42 %`, `12,345 lines read`, or both.
    pub progress: String,
    /// 0-100 for the progress bar, when known.
    pub percent: Option<u8>,
    pub created: String,
    pub created_by: String,
    pub finished: String,
    /// The model it made, or why it failed.
    pub outcome: String,
    pub model_id: Option<i64>,
    /// Queued or running: it can be cancelled.
    pub live: bool,
}

/// A model row.
#[derive(Debug, PartialEq)]
pub struct ModelRow {
    pub id: i64,
    pub source: String,
    pub detail: String,
    pub templates: u64,
    pub created: String,
    pub created_by: String,
    pub active: bool,
    pub activated: String,
    pub agents: u64,
    /// `Activate v3` for a newer version than the active one, `Roll back to v1` for an
    /// older one.
    pub action: String,
}

#[derive(askama::Template)]
#[template(path = "training.html")]
struct TrainingPage {
    nav: Nav,
    jobs: Vec<JobRow>,
    models: Vec<ModelRow>,
    next_jobs: String,
    next_models: String,
    older: bool,
    refresh: u32,
    max_upload_bytes: u64,
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a job trains on, from its `spec`.
fn job_input(kind: &str, spec: &serde_json::Value) -> String {
    let s = |k: &str| spec.get(k).and_then(serde_json::Value::as_str);
    let i = |k: &str| spec.get(k).and_then(serde_json::Value::as_i64);
    match kind {
        "upload" => spec
            .get("files")
            .and_then(serde_json::Value::as_array)
            .map(|files| {
                files
                    .iter()
                    .filter_map(|f| f.get("name").and_then(serde_json::Value::as_str))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        "window" => format!(
            "{}{} from {} to {}",
            s("host").unwrap_or("?"),
            s("service").map(|x| format!(" / {x}")).unwrap_or_default(),
            i("from_ms").map_or_else(|| "?".to_owned(), fmt_ms),
            i("to_ms").map_or_else(|| "?".to_owned(), fmt_ms),
        ),
        "s3" => format!(
            "s3://{}/{}",
            s("bucket").unwrap_or("?"),
            s("prefix").unwrap_or("")
        ),
        _ => spec.to_string(),
    }
}

/// A job as its table row.
pub fn job_row(j: JobDto) -> JobRow {
    let live = matches!(j.state, JobState::Queued | JobState::Running);
    let lines = format!("{} lines read", thousands(j.lines_read));
    let progress = match (j.state, j.percent) {
        (JobState::Queued, _) => "waiting".to_owned(),
        (_, Some(p)) => format!("{p} % · {lines}"),
        (_, None) => lines,
    };
    let outcome = match (j.model_id, &j.error) {
        (Some(m), _) => format!("model v{m}"),
        (None, Some(e)) => e.clone(),
        (None, None) if j.cancel_requested && live => "cancel requested".to_owned(),
        (None, None) => String::new(),
    };
    JobRow {
        input: job_input(&j.kind, &j.spec),
        id: j.id,
        kind: j.kind,
        state: j.state.as_str(),
        progress,
        percent: j.percent,
        created: fmt_ms(j.created_ms),
        created_by: j.created_by,
        finished: fmt_opt(j.finished_ms),
        outcome,
        model_id: j.model_id,
        live,
    }
}

/// A model as its table row; `active_id` decides Activate or Roll back.
pub fn model_row(m: ModelDto, active_id: Option<i64>) -> ModelRow {
    let action = match active_id {
        Some(a) if m.id < a => format!("Roll back to v{}", m.id),
        _ => format!("Activate v{}", m.id),
    };
    ModelRow {
        id: m.id,
        detail: m.source_detail,
        source: m.source,
        templates: m.templates,
        created: fmt_ms(m.created_ms),
        created_by: m.created_by,
        active: m.active,
        activated: fmt_opt(m.activated_ms),
        agents: m.agents,
        action,
    }
}

/// `GET /training`.
pub async fn page(
    State(state): State<AppState>,
    page: Page,
    q: Result<Query<TrainingQuery>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let st = || State(state.clone());
    let jobs_cursor = q.jobs.filter(|c| !c.is_empty());
    let models_cursor = q.models.filter(|c| !c.is_empty());
    let older = jobs_cursor.is_some() || models_cursor.is_some();
    let axum::Json(jobs) = crate::api::training::jobs(
        st(),
        page.as_role::<Viewer>()?,
        ApiQuery(JobsQuery {
            limit: Some(PER_PAGE),
            cursor: jobs_cursor,
        }),
    )
    .await?;
    let axum::Json(models) = crate::api::models::list(
        st(),
        page.as_role::<Viewer>()?,
        ApiQuery(ModelsQuery {
            limit: Some(PER_PAGE),
            cursor: models_cursor,
        }),
    )
    .await?;
    let next_jobs = jobs.next_cursor.unwrap_or_default();
    let next_models = models.next_cursor.unwrap_or_default();
    let jobs: Vec<JobRow> = jobs.jobs.into_iter().map(job_row).collect();
    let refresh = if jobs.iter().any(|j| j.live) {
        REFRESH_BUSY_SECS
    } else {
        REFRESH_IDLE_SECS
    };
    let active_id = models.active_id;
    Ok(render(&TrainingPage {
        nav: page.nav("training"),
        jobs,
        models: models
            .models
            .into_iter()
            .map(|m| model_row(m, active_id))
            .collect(),
        next_jobs,
        next_models,
        older,
        refresh,
        max_upload_bytes: state.config.training.max_upload_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(kind: &str, state: JobState, spec: serde_json::Value) -> JobDto {
        JobDto {
            id: 4,
            kind: kind.to_owned(),
            state,
            spec,
            created_by: "ann".to_owned(),
            created_ms: 0,
            started_ms: None,
            finished_ms: None,
            bytes_total: 1000,
            bytes_done: 420,
            percent: None,
            lines_read: 12_345,
            files: Vec::new(),
            cancel_requested: false,
            error: None,
            model_id: None,
        }
    }

    #[test]
    fn job_rows() {
        let upload =
            json!({"files": [{"name": "a.log", "bytes": 1}, {"name": "b.log.gz", "bytes": 2}]});
        let window =
            json!({"host": "pos-1", "service": "payments", "from_ms": 0, "to_ms": 3_600_000});
        let s3 = json!({"bucket": "logs", "prefix": "pos/", "credentials": null});
        let mut running = job("upload", JobState::Running, upload);
        running.percent = Some(42);
        let mut done = job("window", JobState::Succeeded, window);
        done.model_id = Some(3);
        let mut failed = job("s3", JobState::Failed, s3);
        failed.error = Some("nothing to train on: no lines".to_owned());
        let queued = job("upload", JobState::Queued, json!({}));
        let cases = [
            (
                running,
                (
                    "a.log, b.log.gz",
                    "running",
                    "42 % · 12,345 lines read",
                    "",
                    true,
                ),
            ),
            (
                done,
                (
                    "pos-1 / payments from 1970-01-01 00:00:00 to 1970-01-01 01:00:00",
                    "succeeded",
                    "12,345 lines read",
                    "model v3",
                    false,
                ),
            ),
            (
                failed,
                (
                    "s3://logs/pos/",
                    "failed",
                    "12,345 lines read",
                    "nothing to train on: no lines",
                    false,
                ),
            ),
            (queued, ("", "queued", "waiting", "", true)),
        ];
        for (input, want) in cases {
            let r = job_row(input);
            assert_eq!(
                (
                    r.input.as_str(),
                    r.state,
                    r.progress.as_str(),
                    r.outcome.as_str(),
                    r.live
                ),
                want
            );
        }
    }

    #[test]
    fn activate_or_roll_back() {
        let model = |id: i64| ModelDto {
            id,
            version: id,
            content_hash: String::new(),
            source: "upload".to_owned(),
            source_detail: String::new(),
            created_by: String::new(),
            created_ms: 0,
            templates: 0,
            size_bytes: 0,
            summary: serde_json::Value::Null,
            job_id: None,
            active: false,
            activated_ms: None,
            agents: 0,
        };
        assert_eq!(model_row(model(3), Some(2)).action, "Activate v3");
        assert_eq!(model_row(model(1), Some(2)).action, "Roll back to v1");
        assert_eq!(model_row(model(1), None).action, "Activate v1");
    }

    #[test]
    fn thousands_separators() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), want);
        }
    }
}
