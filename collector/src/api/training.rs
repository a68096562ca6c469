//! `/api/v1/training`: train a model from uploaded known-good logs, from a host's archived
//! lines over a time range marked healthy, or from the objects under an S3 prefix, as
//! background jobs with progress and cancel. A finished job adds an inactive model version (`/api/v1/models`).
//!
//! Uploads are `multipart/form-data` (one part per file) or a raw body (one file, named by
//! `?name=`); each file is plain text or gzip, told apart by its magic bytes. The whole body
//! is bounded by `training.max_upload_bytes` (413 above), read as it streams. Bad files are
//! reported per file in the job (`files`), never fatal to the others.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Analyst, Auth, Viewer};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::paging;
use crate::auth::Principal;
use crate::now_ms;
use crate::store::audit::AuditEntry;
use crate::store::training_jobs::{JobInfo, JobKind};
use crate::training::job::{JobState, percent};
use crate::training::runner::{JobInput, S3Spec, WindowSpec};
use crate::training::train::UploadFile;

/// Longest file name kept from an upload, in characters.
const MAX_NAME_CHARS: usize = 255;
/// Longest host or service name, in bytes.
const MAX_HOST_LEN: usize = 253;

/// What became of one uploaded file.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileReportDto {
    pub name: String,
    /// Bytes as uploaded.
    pub bytes: u64,
    /// `gzip` or `plain` (by magic bytes).
    pub encoding: String,
    pub lines: u64,
    pub records: u64,
    /// Why the file was skipped (corrupt gzip, binary data, too large); absent if learned.
    pub error: Option<String>,
}

/// A training job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDto {
    pub id: i64,
    /// `upload`, `window` or `s3`.
    pub kind: String,
    pub state: JobState,
    /// The upload's file names, or the window's host, service and time range.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    pub created_by: String,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub bytes_total: u64,
    pub bytes_done: u64,
    /// 0-100, when the input size is known (uploads).
    pub percent: Option<u8>,
    pub lines_read: u64,
    /// Per uploaded file, once the job has ended.
    pub files: Vec<FileReportDto>,
    pub cancel_requested: bool,
    /// Why the job failed.
    pub error: Option<String>,
    /// The model it made.
    pub model_id: Option<i64>,
}

impl From<JobInfo> for JobDto {
    fn from(j: JobInfo) -> Self {
        JobDto {
            percent: percent(j.bytes_done, j.bytes_total, j.state),
            files: serde_json::from_value(j.files).unwrap_or_default(),
            id: j.id,
            kind: j.kind,
            state: j.state,
            spec: j.spec,
            created_by: j.created_by,
            created_ms: j.created_ms,
            started_ms: j.started_ms,
            finished_ms: j.finished_ms,
            bytes_total: j.bytes_total,
            bytes_done: j.bytes_done,
            lines_read: j.lines_read,
            cancel_requested: j.cancel_requested,
            error: j.error,
            model_id: j.model_id,
        }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub jobs: Vec<JobDto>,
    pub next_cursor: Option<String>,
}

/// The name of a raw-body upload.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// File name of a raw-body upload (default `upload`); multipart parts carry their own.
    pub name: Option<String>,
}

/// A multipart upload: one part per file (any field name; the part's file name is kept).
#[derive(Debug, ToSchema)]
pub struct UploadForm {
    /// A log file, plain text or gzip.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// A time range of one host (and optionally one service) marked healthy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    #[schema(example = "pos-042")]
    pub host: String,
    /// Only lines of this service (file stem or pod container), e.g. `register`.
    pub service: Option<String>,
    /// Start, RFC 3339 or epoch milliseconds (inclusive).
    #[schema(example = "2026-11-28T08:00:00Z")]
    pub from: String,
    /// End, RFC 3339 or epoch milliseconds (exclusive).
    #[schema(example = "2026-11-28T12:00:00Z")]
    pub to: String,
}

/// The objects under an S3 prefix, known to be healthy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct S3TrainingRequest {
    #[schema(example = "store-logs")]
    pub bucket: String,
    /// Key prefix (empty: the whole bucket), e.g. `pos-042/2026-11-27/`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Credentials reference: an AWS profile name (never a key).
    #[serde(default)]
    pub credentials: Option<String>,
}

/// Paging of `GET /api/v1/training/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Page size (1 to `api.max_page`, default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A file name fit for a report: no control characters, at most 255 characters.
fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    if cleaned.trim().is_empty() {
        "upload".to_owned()
    } else {
        cleaned
    }
}

fn too_large(state: &AppState) -> ApiError {
    state.metrics.api_reject("training_upload_too_large");
    let max = state.training.config().max_upload_bytes;
    ApiError::PayloadTooLarge(usize::try_from(max).unwrap_or(usize::MAX))
}

/// Reads a raw body up to the upload limit.
async fn read_raw(state: &AppState, body: Body) -> Result<Vec<u8>, ApiError> {
    let max = state.training.config().max_upload_bytes;
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the upload: {e}")))?;
        if (out.len() + chunk.len()) as u64 > max {
            return Err(too_large(state));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Reads the files of a multipart body up to the upload limit and file count.
async fn read_multipart(
    state: &AppState,
    boundary: String,
    body: Body,
) -> Result<Vec<UploadFile>, ApiError> {
    let cfg = state.training.config();
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(cfg.max_upload_bytes));
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut files = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(multer::Error::StreamSizeExceeded { .. }) => return Err(too_large(state)),
            Err(e) => {
                return Err(ApiError::BadRequest(format!(
                    "malformed multipart body: {e}"
                )));
            }
        };
        if files.len() >= cfg.max_upload_files {
            return Err(ApiError::BadRequest(format!(
                "more than training.max_upload_files ({}) files in one upload",
                cfg.max_upload_files
            )));
        }
        let name = clean_name(
            field
                .file_name()
                .or_else(|| field.name())
                .unwrap_or("upload"),
        );
        let bytes = match field.bytes().await {
            Ok(b) => b.to_vec(),
            Err(multer::Error::StreamSizeExceeded { .. }) => return Err(too_large(state)),
            Err(e) => {
                return Err(ApiError::BadRequest(format!(
                    "malformed multipart body: {e}"
                )));
            }
        };
        files.push(UploadFile { name, bytes });
    }
    Ok(files)
}

/// Queues a job and starts it; 429 when the queue is full.
async fn submit(
    state: &AppState,
    (principal, client): (&Principal, Option<String>),
    kind: JobKind,
    spec: serde_json::Value,
    bytes_total: u64,
    input: JobInput,
) -> Result<(StatusCode, axum::Json<JobDto>), ApiError> {
    let ticket = state.training.reserve().map_err(|full| {
        state.metrics.api_reject("training_queue_full");
        ApiError::TooManyRequests {
            message: full.to_string(),
            retry_after: std::time::Duration::from_secs(5),
        }
    })?;
    let action = match kind {
        JobKind::Upload => "training.upload",
        JobKind::Window => "training.window",
        JobKind::S3 => "training.s3",
    };
    let audit = AuditEntry::new(principal, client, action, "training_job");
    let job = state
        .store
        .create_training_job(kind, &spec, bytes_total, audit, now_ms())
        .await?;
    state.training.spawn(
        ticket,
        state.store.clone(),
        state.metrics.clone(),
        job.id,
        input,
    );
    Ok((StatusCode::ACCEPTED, axum::Json(JobDto::from(job))))
}

/// Uploads known-good logs to train a model on; returns the queued job.
#[utoipa::path(
    post, path = "/training/uploads", tag = "training",
    params(UploadQuery),
    request_body(
        description = "One log file (plain text or gzip) as the raw body, or several as multipart/form-data parts",
        content(
            (String = "application/octet-stream"),
            (UploadForm = "multipart/form-data"),
        )
    ),
    responses(
        (status = 202, description = "The training job, queued", body = JobDto),
        (status = 400, description = "Empty or malformed", body = super::error::ErrorBody),
        (status = 413, description = "Over training.max_upload_bytes", body = super::error::ErrorBody),
        (status = 429, description = "Too many jobs queued", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    auth: Auth<Analyst>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<JobDto>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let files = if content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        let boundary = multer::parse_boundary(content_type)
            .map_err(|e| ApiError::BadRequest(format!("bad multipart Content-Type: {e}")))?;
        read_multipart(&state, boundary, body).await?
    } else {
        let bytes = read_raw(&state, body).await?;
        vec![UploadFile {
            name: clean_name(q.name.as_deref().unwrap_or("upload")),
            bytes,
        }]
    };
    if files.iter().all(|f| f.bytes.is_empty()) {
        return Err(ApiError::BadRequest(
            "the upload holds no data: send a log file (plain or gzip)".to_owned(),
        ));
    }
    let total: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let spec = serde_json::json!({
        "files": files.iter().map(|f| serde_json::json!({"name": f.name, "bytes": f.bytes.len()})).collect::<Vec<_>>(),
    });
    submit(
        &state,
        (&auth.principal, auth.client.clone()),
        JobKind::Upload,
        spec,
        total,
        JobInput::Upload(files),
    )
    .await
}

fn valid_name(what: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > MAX_HOST_LEN || value.chars().any(char::is_control)
    {
        return Err(ApiError::BadRequest(format!(
            "{what} must be 1-{MAX_HOST_LEN} printable bytes"
        )));
    }
    Ok(())
}

/// Trains a model from a host's archived lines over a time range marked healthy.
#[utoipa::path(
    post, path = "/training/windows", tag = "training",
    request_body = WindowRequest,
    responses(
        (status = 202, description = "The training job, queued", body = JobDto),
        (status = 429, description = "Too many jobs queued", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn window(
    State(state): State<AppState>,
    auth: Auth<Analyst>,
    Json(req): Json<WindowRequest>,
) -> Result<(StatusCode, axum::Json<JobDto>), ApiError> {
    window_as(&state, &auth.principal, auth.client.clone(), req).await
}

/// Queues a training job over a healthy window for `principal` (the REST handler and the
/// MCP tool `train_on_healthy_logs`).
pub(crate) async fn window_as(
    state: &AppState,
    principal: &Principal,
    client: Option<String>,
    req: WindowRequest,
) -> Result<(StatusCode, axum::Json<JobDto>), ApiError> {
    valid_name("host", &req.host)?;
    if let Some(s) = &req.service {
        valid_name("service", s)?;
    }
    let from_ms = paging::time_ms("from", Some(&req.from))?
        .ok_or_else(|| ApiError::BadRequest("from is required".to_owned()))?;
    let to_ms = paging::time_ms("to", Some(&req.to))?
        .ok_or_else(|| ApiError::BadRequest("to is required".to_owned()))?;
    if from_ms >= to_ms {
        return Err(ApiError::BadRequest("from must be before to".to_owned()));
    }
    let spec = WindowSpec {
        host: req.host,
        service: req.service,
        from_ms,
        to_ms,
    };
    let json = serde_json::to_value(&spec).map_err(ApiError::internal)?;
    submit(
        state,
        (principal, client),
        JobKind::Window,
        json,
        0,
        JobInput::Window(spec),
    )
    .await
}

/// Trains a model from the objects under an S3 prefix known to hold healthy logs (plain or
/// gzip by content; each object bounded like an uploaded file; at most
/// `training.max_s3_objects`, in key order).
#[utoipa::path(
    post, path = "/training/s3", tag = "training",
    request_body = S3TrainingRequest,
    responses(
        (status = 202, description = "The training job, queued", body = JobDto),
        (status = 400, description = "Not a bucket name, or a bad prefix or profile", body = super::error::ErrorBody),
        (status = 403, description = "The bucket is not among s3.buckets", body = super::error::ErrorBody),
        (status = 429, description = "Too many jobs queued", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn s3(
    State(state): State<AppState>,
    auth: Auth<Analyst>,
    Json(req): Json<S3TrainingRequest>,
) -> Result<(StatusCode, axum::Json<JobDto>), ApiError> {
    s3_as(&state, &auth.principal, auth.client.clone(), req).await
}

/// Queues a training job over an S3 prefix for `principal` (the REST handler and the MCP
/// tool `train_on_healthy_logs`).
pub(crate) async fn s3_as(
    state: &AppState,
    principal: &Principal,
    client: Option<String>,
    req: S3TrainingRequest,
) -> Result<(StatusCode, axum::Json<JobDto>), ApiError> {
    let (bucket, prefix) = super::s3::check_source(
        state,
        &req.bucket,
        req.prefix.as_deref(),
        req.credentials.as_deref(),
    )?;
    let target = crate::s3::client::Target::from_config(&state.config.s3, req.credentials.clone());
    let spec = S3Spec {
        bucket,
        prefix,
        credentials: req.credentials,
    };
    let json = serde_json::to_value(&spec).map_err(ApiError::internal)?;
    submit(
        state,
        (principal, client),
        JobKind::S3,
        json,
        0,
        JobInput::S3(spec, target),
    )
    .await
}

/// Lists training jobs, newest first.
#[utoipa::path(
    get, path = "/training/jobs", tag = "training",
    params(JobsQuery),
    responses((status = 200, description = "A page of jobs", body = JobPage)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn jobs(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<JobsQuery>,
) -> Result<axum::Json<JobPage>, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let before = paging::decode_id_cursor(q.cursor.as_deref())?;
    let rows = state.store.training_jobs(before, limit).await?;
    let next_cursor = paging::next_id_cursor(rows.iter().map(|j| j.id), rows.len(), limit);
    Ok(axum::Json(JobPage {
        jobs: rows.into_iter().map(JobDto::from).collect(),
        next_cursor,
    }))
}

/// One training job with its progress.
#[utoipa::path(
    get, path = "/training/jobs/{id}", tag = "training",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobDto),
        (status = 404, description = "No such job", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn job(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
    Path(id): Path<i64>,
) -> Result<axum::Json<JobDto>, ApiError> {
    job_by_id(&state, id).await.map(axum::Json)
}

/// One training job with its progress (the REST handler and the MCP tool).
pub(crate) async fn job_by_id(state: &AppState, id: i64) -> Result<JobDto, ApiError> {
    Ok(JobDto::from(state.store.training_job(id).await?))
}

/// Cancels a job: a queued one at once, a running one at its next progress check.
#[utoipa::path(
    post, path = "/training/jobs/{id}/cancel", tag = "training",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job after the request", body = JobDto),
        (status = 404, description = "No such job", body = super::error::ErrorBody),
        (status = 409, description = "The job has ended", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    auth: Auth<Analyst>,
    Path(id): Path<i64>,
) -> Result<axum::Json<JobDto>, ApiError> {
    let audit = auth.audit("training.cancel", format!("training_job:{id}"));
    let job = state.store.cancel_training_job(id, audit, now_ms()).await?;
    Ok(axum::Json(JobDto::from(job)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("app.log"), "app.log");
        assert_eq!(clean_name("a\u{0}b\nc"), "abc");
        assert_eq!(clean_name("  "), "upload");
        assert_eq!(clean_name(&"x".repeat(300)).len(), 255);
    }
}
