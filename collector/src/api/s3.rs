//! `/api/v1/s3`: scans of a bucket prefix (queue, list, detail with per-object status,
//! cancel), the configured sources (admin), and pushed S3 event notifications
//! (`POST /s3/events`, authenticated by the `s3.events_secret` signature instead of a user).

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Admin, Analyst, Auth, Viewer};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::paging;
use crate::auth::Principal;
use crate::s3::events;
use crate::s3::scan::ObjectStatus;
use crate::store::audit::AuditEntry;
use crate::store::s3::{NewScan, ObjectRecord, ScanRecord};

/// Objects by status, and the lines and event lines of the analysed ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanCountsDto {
    pub pending: i64,
    pub done: i64,
    pub failed: i64,
    pub skipped: i64,
    pub lines: i64,
    pub events: i64,
}

/// A scan.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanDto {
    pub id: i64,
    pub bucket: String,
    pub prefix: String,
    pub start_after: Option<String>,
    pub modified_after_ms: Option<i64>,
    pub modified_before_ms: Option<i64>,
    /// The AWS profile the scan reads with (`null`: the collector's default AWS sources).
    pub credentials: Option<String>,
    pub analyst: String,
    /// `api` or `event`.
    pub origin: String,
    /// queued, running, done, failed or cancelled.
    pub state: String,
    /// Why the scan failed (access denied, missing bucket, wrong region...).
    pub error: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub finished_ms: Option<i64>,
    pub counts: ScanCountsDto,
}

fn scan_dto(s: ScanRecord) -> ScanDto {
    ScanDto {
        id: s.id,
        bucket: s.bucket,
        prefix: s.prefix,
        start_after: s.start_after,
        modified_after_ms: s.modified_after_ms,
        modified_before_ms: s.modified_before_ms,
        credentials: s.source,
        analyst: s.analyst,
        origin: s.origin,
        state: s.state.as_str().to_owned(),
        error: s.error,
        created_ms: s.created_ms,
        updated_ms: s.updated_ms,
        finished_ms: s.finished_ms,
        counts: ScanCountsDto {
            pending: s.counts.pending,
            done: s.counts.done,
            failed: s.counts.failed,
            skipped: s.counts.skipped,
            lines: s.counts.lines,
            events: s.counts.events,
        },
    }
}

/// One object of a scan.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectDto {
    pub key: String,
    pub etag: String,
    pub size: i64,
    pub last_modified_ms: Option<i64>,
    /// pending, done, failed or skipped.
    pub status: String,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    pub lines: i64,
    pub events: i64,
    /// Times its reading started (more than 1 after a crash or restart; its lines are
    /// stored once all the same).
    pub attempts: i64,
    pub updated_ms: i64,
}

fn object_dto(o: ObjectRecord) -> ObjectDto {
    ObjectDto {
        key: o.key,
        etag: o.etag,
        size: o.size,
        last_modified_ms: o.last_modified_ms,
        status: o.status.as_str().to_owned(),
        reason: o.reason,
        lines: o.lines,
        events: o.events,
        attempts: o.attempts,
        updated_ms: o.updated_ms,
    }
}

/// A page of scans, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanList {
    pub scans: Vec<ScanDto>,
    pub next_cursor: Option<String>,
}

/// A scan with a page of its objects (by key).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanDetail {
    pub scan: ScanDto,
    pub objects: Vec<ObjectDto>,
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/s3/scans` paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScanQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/s3/scans/{id}` object filter and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ObjectQuery {
    /// Only objects with this status: pending, done, failed, skipped.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `POST /api/v1/s3/scans`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScanDto {
    pub bucket: String,
    /// Key prefix (empty: the whole bucket).
    #[serde(default)]
    pub prefix: Option<String>,
    /// List keys after this one only.
    #[serde(default)]
    pub start_after: Option<String>,
    /// Only objects modified at or after this time (RFC 3339 or epoch ms).
    #[serde(default)]
    pub from: Option<String>,
    /// Only objects modified before this time (RFC 3339 or epoch ms).
    #[serde(default)]
    pub to: Option<String>,
    /// Credentials reference: an AWS profile name (never a key).
    #[serde(default)]
    pub credentials: Option<String>,
}

/// What a pushed event body did.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsAccepted {
    /// Scans queued, one per first-seen object version.
    pub scans: Vec<i64>,
    /// Records delivered before (nothing done).
    pub duplicates: u32,
    /// Records that are not ObjectCreated, or for a bucket outside `s3.buckets`.
    pub ignored: u32,
}

/// The S3 sources this collector is configured for.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourcesDto {
    /// Buckets scans may read (`[]`: any bucket).
    pub buckets: Vec<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub force_path_style: bool,
    pub max_object_bytes: u64,
    pub max_decompressed_bytes: u64,
    /// The SQS queue polled for events, if any.
    pub sqs_queue_url: Option<String>,
    /// Whether `POST /api/v1/s3/events` accepts signed events (a secret is set).
    pub push_events: bool,
}

const MAX_PREFIX: usize = 1024;

/// S3's bucket naming rules (3–63 of `a-z0-9.-`, starting and ending alphanumeric).
/// Checks a bucket (a name, and among `s3.buckets`), a key prefix and a credentials
/// reference as a scan or a training job gives them; returns the bucket and the prefix.
pub(super) fn check_source(
    state: &AppState,
    bucket: &str,
    prefix: Option<&str>,
    credentials: Option<&str>,
) -> Result<(String, String), ApiError> {
    let bucket = bucket.trim().to_owned();
    if !valid_bucket(&bucket) {
        return Err(ApiError::BadRequest(
            "bucket must be an S3 bucket name: 3 to 63 of a-z, 0-9, '.', '-'".to_owned(),
        ));
    }
    if !state.config.s3.allows(&bucket) {
        return Err(ApiError::Forbidden(format!(
            "bucket {bucket} is not among the configured s3.buckets"
        )));
    }
    let prefix = prefix.unwrap_or_default().to_owned();
    valid_key_text("prefix", &prefix)?;
    if let Some(p) = credentials
        && !valid_profile(p)
    {
        return Err(ApiError::BadRequest(
            "credentials must name an AWS profile (1 to 64 of A-Z, a-z, 0-9, '_', '-', '.')"
                .to_owned(),
        ));
    }
    Ok((bucket, prefix))
}

fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

fn valid_profile(p: &str) -> bool {
    (1..=64).contains(&p.len())
        && p.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

fn valid_key_text(what: &str, v: &str) -> Result<(), ApiError> {
    if v.len() > MAX_PREFIX || v.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{what} must be at most {MAX_PREFIX} bytes without control characters"
        )));
    }
    Ok(())
}

/// Scans, newest first.
#[utoipa::path(
    get, path = "/s3/scans", tag = "s3",
    params(ScanQuery),
    responses((status = 200, description = "Scans", body = ScanList)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn list(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Query(q): Query<ScanQuery>,
) -> Result<axum::Json<ScanList>, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let before = paging::decode_id_cursor(q.cursor.as_deref())?;
    let scans = state.store.s3_scans(before, limit).await?;
    let next_cursor = paging::next_id_cursor(scans.iter().map(|s| s.id), scans.len(), limit);
    Ok(axum::Json(ScanList {
        scans: scans.into_iter().map(scan_dto).collect(),
        next_cursor,
    }))
}

/// Queues a scan of `s3://bucket/prefix`; the worker lists and analyses it.
#[utoipa::path(
    post, path = "/s3/scans", tag = "s3",
    request_body = NewScanDto,
    responses(
        (status = 202, description = "The queued scan", body = ScanDto),
        (status = 422, description = "A bucket outside s3.buckets", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn create(
    AxState(state): AxState<AppState>,
    auth: Auth<Analyst>,
    Json(body): Json<NewScanDto>,
) -> Result<(StatusCode, axum::Json<ScanDto>), ApiError> {
    let scan = create_as(&state, &auth.principal, auth.client.clone(), body).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(scan)))
}

/// Queues a scan for `principal` (the REST handler and the MCP tool `analyze_s3_logs`).
pub(crate) async fn create_as(
    state: &AppState,
    principal: &Principal,
    client: Option<String>,
    body: NewScanDto,
) -> Result<ScanDto, ApiError> {
    let (bucket, prefix) = check_source(
        state,
        &body.bucket,
        body.prefix.as_deref(),
        body.credentials.as_deref(),
    )?;
    if let Some(s) = &body.start_after {
        valid_key_text("start_after", s)?;
    }
    let from = paging::time_ms("from", body.from.as_deref())?;
    let to = paging::time_ms("to", body.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::BadRequest("from must be before to".to_owned()));
    }
    let scan = NewScan {
        bucket,
        prefix,
        start_after: body.start_after.filter(|s| !s.is_empty()),
        modified_after_ms: from,
        modified_before_ms: to,
        source: body.credentials,
        analyst: principal.name.clone(),
    };
    let audit = AuditEntry::new(
        principal,
        client,
        "s3.scan.create",
        format!("s3://{}/{}", scan.bucket, scan.prefix),
    )
    .after(serde_json::json!({
        "bucket": scan.bucket, "prefix": scan.prefix, "credentials": scan.source,
    }));
    let rec = state
        .store
        .s3_create_scan(&scan, Some(&audit), crate::now_ms())
        .await?;
    Ok(scan_dto(rec))
}

/// A scan with its counts and a page of its objects.
#[utoipa::path(
    get, path = "/s3/scans/{id}", tag = "s3",
    params(("id" = i64, Path, description = "Scan id"), ObjectQuery),
    responses(
        (status = 200, description = "The scan", body = ScanDetail),
        (status = 404, description = "No such scan", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn get(
    AxState(state): AxState<AppState>,
    _auth: Auth<Viewer>,
    Path(id): Path<i64>,
    Query(q): Query<ObjectQuery>,
) -> Result<axum::Json<ScanDetail>, ApiError> {
    detail(&state, id, q).await.map(axum::Json)
}

/// A scan with its counts and a page of its objects (the REST handler and the MCP tool).
pub(crate) async fn detail(
    state: &AppState,
    id: i64,
    q: ObjectQuery,
) -> Result<ScanDetail, ApiError> {
    let limit = paging::limit(q.limit, state.api.max_page)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(ObjectStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest("status must be pending, done, failed or skipped".to_owned())
        })?),
    };
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(decode_key_cursor(c)?),
    };
    let scan = state
        .store
        .s3_scan(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("scan {id}")))?;
    let objects = state
        .store
        .s3_objects(id, after.as_deref(), status, limit)
        .await?;
    let next_cursor = (objects.len() == limit as usize)
        .then(|| objects.last().map(|o| encode_key_cursor(&o.key)))
        .flatten();
    Ok(ScanDetail {
        scan: scan_dto(scan),
        objects: objects.into_iter().map(object_dto).collect(),
        next_cursor,
    })
}

fn encode_key_cursor(key: &str) -> String {
    format!("k{}", hex::encode(key.as_bytes()))
}

fn decode_key_cursor(c: &str) -> Result<String, ApiError> {
    c.strip_prefix('k')
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::BadRequest("bad cursor: pass back a next_cursor".to_owned()))
}

/// Cancels a queued or running scan (the object being read finishes first).
#[utoipa::path(
    post, path = "/s3/scans/{id}/cancel", tag = "s3",
    params(("id" = i64, Path, description = "Scan id")),
    responses(
        (status = 200, description = "The cancelled scan", body = ScanDto),
        (status = 404, description = "No such scan", body = super::error::ErrorBody),
        (status = 409, description = "The scan already ended", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn cancel(
    AxState(state): AxState<AppState>,
    auth: Auth<Analyst>,
    Path(id): Path<i64>,
) -> Result<axum::Json<ScanDto>, ApiError> {
    let rec = state
        .store
        .s3_cancel_scan(
            id,
            &auth.audit("s3.scan.cancel", format!("s3-scan:{id}")),
            crate::now_ms(),
        )
        .await?;
    Ok(axum::Json(scan_dto(rec)))
}

/// The configured S3 sources (no credentials: those come from the AWS sources).
#[utoipa::path(
    get, path = "/s3/sources", tag = "s3",
    responses((status = 200, description = "S3 configuration", body = SourcesDto)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn sources(
    AxState(state): AxState<AppState>,
    _auth: Auth<Admin>,
) -> axum::Json<SourcesDto> {
    let c = &state.config.s3;
    axum::Json(SourcesDto {
        buckets: c.buckets.clone(),
        endpoint: c.endpoint.clone(),
        region: c.region.clone(),
        force_path_style: c.force_path_style,
        max_object_bytes: c.max_object_bytes,
        max_decompressed_bytes: c.max_decompressed_bytes,
        sqs_queue_url: c.sqs_queue_url.clone(),
        push_events: c.events_secret.is_some(),
    })
}

/// Pushed S3 event notifications (the S3 event JSON), signed with `s3.events_secret`:
/// `X-Fleetlog-Timestamp` (unix seconds, within 5 minutes) and `X-Fleetlog-Signature:
/// sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. No user credentials.
#[utoipa::path(
    post, path = "/s3/events", tag = "s3",
    request_body(content = String, content_type = "application/json", description = "S3 event notification JSON"),
    params(
        ("X-Fleetlog-Timestamp" = String, Header, description = "Unix seconds"),
        ("X-Fleetlog-Signature" = String, Header, description = "sha256=<hex HMAC>"),
    ),
    responses(
        (status = 202, description = "Accepted", body = EventsAccepted),
        (status = 400, description = "Not an S3 event notification", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = super::error::ErrorBody),
        (status = 403, description = "Pushed events are disabled (no s3.events_secret)", body = super::error::ErrorBody),
    ),
    security(())
)]
pub(super) async fn push_events(
    AxState(state): AxState<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<EventsAccepted>), ApiError> {
    let label = |outcome| crate::metrics::OutcomeLabel { outcome };
    let Some(secret) = &state.config.s3.events_secret else {
        return Err(ApiError::Forbidden(
            "pushed S3 events are disabled: set s3.events_secret".to_owned(),
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ts = header("x-fleetlog-timestamp").and_then(|t| t.trim().parse::<i64>().ok());
    let sig = header("x-fleetlog-signature");
    let ok = match (ts, sig) {
        (Some(ts), Some(sig)) => crate::notify::webhook::verify(
            secret.expose().as_bytes(),
            ts,
            &body,
            sig.trim(),
            crate::now_ms() / 1000,
            events::SIGNATURE_WINDOW_SECS,
        ),
        _ => false,
    };
    if !ok {
        state
            .metrics
            .s3_events
            .get_or_create(&label("bad_signature"))
            .inc();
        return Err(ApiError::Unauthorized);
    }
    let parsed = events::parse(&body).map_err(|e| {
        state
            .metrics
            .s3_events
            .get_or_create(&label("invalid"))
            .inc();
        ApiError::BadRequest(e.to_string())
    })?;
    let out = events::accept(&state.store, &state.config.s3, &state.metrics, parsed).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(EventsAccepted {
            scans: out.scans,
            duplicates: u32::try_from(out.duplicates).unwrap_or(u32::MAX),
            ignored: u32::try_from(out.ignored).unwrap_or(u32::MAX),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for (b, ok) in [
            ("logs", true),
            ("my.logs-2026", true),
            ("ab", false),
            ("Logs", false),
            ("-logs", false),
            ("logs-", false),
            ("lo gs", false),
        ] {
            assert_eq!(valid_bucket(b), ok, "{b}");
        }
    }

    #[test]
    fn profiles_and_key_cursors() {
        assert!(valid_profile("prod-logs_1.ro"));
        assert!(!valid_profile("") && !valid_profile("a b") && !valid_profile("x/y"));
        let key = "a/b c/ü.log";
        assert_eq!(decode_key_cursor(&encode_key_cursor(key)).unwrap(), key);
        assert!(decode_key_cursor("zz").is_err());
    }
}
