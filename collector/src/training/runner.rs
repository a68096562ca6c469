//! The driver of training jobs: one job at a time per replica (a semaphore of one), the
//! others waiting in a bounded queue (`training.max_queued_jobs`). A job reads its input
//! (uploaded files held in memory, a host's archived lines, or the objects under an S3
//! prefix), trains on the blocking pool,
//! reports progress to its row twice a second and reads its cancel flag back, then ends in
//! one transaction (`Store::finish_training_job`): a new inactive model, or an error.
//!
//! Uploads are not written anywhere before training: a job whose replica stops is failed as
//! abandoned (`Store::fail_abandoned_training_jobs`) and must be submitted again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::config::TrainingConfig;
use super::job::{JobEvent, JobState};
use super::train::{FileReport, Progress, Session, TrainError, Trained, UploadFile};
use crate::metrics::Metrics;
use crate::store::events::service_of;
use crate::store::models::{ModelSource, NewModel};
use crate::store::{MAX_PAGE_LINES, Store};

/// How often a running job writes its progress and reads its cancel flag.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Decompressed size allowed per uploaded file, as a multiple of `training.max_upload_bytes`.
pub const MAX_INFLATION: u64 = 16;
/// A queued or running job not refreshed for this long is abandoned (see module doc).
pub const ABANDONED_AFTER_MS: i64 = 60 * 60 * 1000;

/// A host (and optionally one service) over a time range, marked healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    pub host: String,
    pub service: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The objects under an S3 prefix, known to be healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Spec {
    pub bucket: String,
    pub prefix: String,
    /// An AWS profile name (never a key); `None` = the default credential chain.
    pub credentials: Option<String>,
}

/// What a job trains from.
#[derive(Debug)]
pub enum JobInput {
    Upload(Vec<UploadFile>),
    Window(WindowSpec),
    /// `target` is where S3 is (the `[s3]` keys with the spec's profile).
    S3(S3Spec, crate::s3::client::Target),
}

/// The queue is full.
#[derive(Debug, thiserror::Error)]
#[error("{queued} training jobs are already waiting (training.max_queued_jobs); try again later")]
pub struct QueueFull {
    pub queued: usize,
}

/// Runs this replica's training jobs. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Runner {
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    config: TrainingConfig,
}

/// A place in the queue, taken before the job row is written; dropping it gives it back.
#[derive(Debug)]
pub struct Ticket {
    runner: Runner,
    armed: bool,
}

impl Ticket {
    /// The job left the queue to run: its place is free.
    fn started(mut self) {
        self.armed = false;
        self.runner.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.armed {
            self.runner.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Runner {
    pub fn new(config: TrainingConfig) -> Runner {
        Runner {
            running: Arc::new(Semaphore::new(1)),
            waiting: Arc::new(AtomicUsize::new(0)),
            config,
        }
    }

    pub fn config(&self) -> &TrainingConfig {
        &self.config
    }

    /// Takes a place in the queue, or says it is full.
    pub fn reserve(&self) -> Result<Ticket, QueueFull> {
        let max = self.config.max_queued_jobs;
        let taken = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Ticket {
                runner: self.clone(),
                armed: true,
            }),
            Err(queued) => Err(QueueFull { queued }),
        }
    }

    /// Starts job `id` (its row is queued) in the background with its ticket.
    pub fn spawn(
        &self,
        ticket: Ticket,
        store: Store,
        metrics: Arc<Metrics>,
        id: i64,
        input: JobInput,
    ) {
        let runner = self.clone();
        tokio::spawn(async move {
            // The semaphore is never closed.
            let Ok(_permit) = runner.running.clone().acquire_owned().await else {
                return;
            };
            ticket.started();
            let outcome = run(&store, &runner.config, id, input).await;
            metrics
                .training_jobs
                .get_or_create(&crate::metrics::OutcomeLabel {
                    outcome: match outcome {
                        Some(JobState::Succeeded) => "succeeded",
                        Some(JobState::Cancelled) => "cancelled",
                        _ => "failed",
                    },
                })
                .inc();
        });
    }
}

/// Runs one job to its end; returns its final state (`None` if it was not ours to run).
async fn run(store: &Store, config: &TrainingConfig, id: i64, input: JobInput) -> Option<JobState> {
    let now = crate::now_ms;
    match store.start_training_job(id, now()).await {
        Ok(Some(JobState::Running)) => {}
        Ok(other) => return other,
        Err(err) => {
            warn!(job = id, error = %err, "Starting a training job failed.");
            return None;
        }
    }
    let job = match store.training_job(id).await {
        Ok(job) => job,
        Err(err) => {
            warn!(job = id, error = %err, "Reading a training job failed.");
            return None;
        }
    };
    let started = Instant::now();
    let progress = Arc::new(Progress::default());
    let (source, detail, window) = match &input {
        JobInput::Upload(files) => (
            ModelSource::Upload,
            files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            None,
        ),
        JobInput::Window(w) => (
            ModelSource::Window,
            format!(
                "host {} service {} from {} to {}",
                w.host,
                w.service.as_deref().unwrap_or("*"),
                w.from_ms,
                w.to_ms
            ),
            Some(w.clone()),
        ),
        JobInput::S3(spec, _) => (
            ModelSource::S3,
            format!("s3://{}/{}", spec.bucket, spec.prefix),
            None,
        ),
    };
    let work = train(store.clone(), config, input, progress.clone());
    tokio::pin!(work);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let (result, files) = loop {
        tokio::select! {
            done = &mut work => break done,
            _ = tick.tick() => {
                let bytes = progress.bytes_done.load(Ordering::Relaxed);
                let lines = progress.lines.load(Ordering::Relaxed);
                match store.training_job_progress(id, bytes, lines, now()).await {
                    Ok(true) => progress.cancel.store(true, Ordering::Relaxed),
                    Ok(false) => {}
                    Err(err) => warn!(job = id, error = %err, "Recording training progress failed."),
                }
            }
        }
    };
    let files_json = serde_json::to_value(&files).unwrap_or_default();
    let bytes = progress.bytes_done.load(Ordering::Relaxed);
    let lines = progress.lines.load(Ordering::Relaxed);
    let _ = store.training_job_progress(id, bytes, lines, now()).await;
    let ended = match result {
        Ok(trained) => {
            let model = new_model(
                &trained,
                &job.created_by,
                id,
                source,
                detail,
                &files,
                window,
                started,
            );
            store
                .finish_training_job(id, &model, &files_json, now())
                .await
                .map(|(state, model_id)| {
                    if let Some(model_id) = model_id {
                        info!(
                            job = id,
                            model = model_id,
                            templates = trained.templates,
                            records = trained.records,
                            "Training job made a model (inactive until activated)."
                        );
                    }
                    state
                })
        }
        Err(TrainError::Cancelled) => {
            info!(job = id, "Training job cancelled.");
            store
                .end_training_job(id, JobEvent::Stopped, None, &files_json, now())
                .await
        }
        Err(err) => {
            info!(job = id, error = %err, "Training job failed.");
            store
                .end_training_job(
                    id,
                    JobEvent::Fail,
                    Some(&err.to_string()),
                    &files_json,
                    now(),
                )
                .await
        }
    };
    match ended {
        Ok(state) => Some(state),
        Err(err) => {
            warn!(job = id, error = %err, "Recording the end of a training job failed.");
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn new_model(
    trained: &Trained,
    created_by: &str,
    job: i64,
    source: ModelSource,
    source_detail: String,
    files: &[FileReport],
    window: Option<WindowSpec>,
    started: Instant,
) -> NewModel {
    let skipped: Vec<&FileReport> = files.iter().filter(|f| f.error.is_some()).collect();
    NewModel {
        bytes: trained.bytes.clone(),
        content_hash: trained.content_hash,
        source,
        source_detail,
        created_by: created_by.to_owned(),
        templates: trained.templates,
        summary: serde_json::json!({
            "job": job,
            "lines": trained.lines,
            "records": trained.records,
            "templates": trained.templates,
            "files_used": files.len() - skipped.len(),
            "files_skipped": skipped.iter().map(|f| serde_json::json!({"name": f.name, "error": f.error})).collect::<Vec<_>>(),
            "window": window,
            "duration_ms": started.elapsed().as_millis() as u64,
        }),
        job_id: Some(job),
    }
}

/// Trains on the input; the per-file reports are returned whatever the outcome.
async fn train(
    store: Store,
    config: &TrainingConfig,
    input: JobInput,
    progress: Arc<Progress>,
) -> (Result<Trained, TrainError>, Vec<FileReport>) {
    let year = crate::analyze::current_year();
    let mut session = Session::new(year, progress);
    match input {
        JobInput::Upload(files) => {
            let max_decoded = config.max_upload_bytes.saturating_mul(MAX_INFLATION);
            let done = tokio::task::spawn_blocking(move || {
                let mut reports = Vec::new();
                for file in &files {
                    match session.add_file(file, max_decoded) {
                        Ok(r) => reports.push(r),
                        Err(e) => return (Err(e), reports),
                    }
                }
                let used = reports.iter().filter(|r| r.error.is_none()).count();
                let result = session.finish().map_err(|e| match e {
                    TrainError::NothingToTrain(why) if used == 0 => {
                        TrainError::NothingToTrain(format!(
                            "no usable file ({} skipped, see files); {why}",
                            reports.len()
                        ))
                    }
                    other => other,
                });
                (result, reports)
            })
            .await;
            done.unwrap_or_else(|e| {
                (
                    Err(TrainError::Failed(format!("training task failed: {e}"))),
                    Vec::new(),
                )
            })
        }
        JobInput::Window(w) => {
            let result = train_window(&store, config, &w, session).await;
            (result, Vec::new())
        }
        JobInput::S3(spec, target) => train_s3(config, &spec, &target, session).await,
    }
}

/// Objects listed per ListObjectsV2 page.
const S3_LIST_PAGE: i32 = 1_000;

/// Reads the objects under the prefix in key order, each learned like an uploaded file
/// (plain or gzip by content, bounded like an upload); an object that cannot be read is
/// reported in its file entry, a prefix that cannot be listed fails the job.
async fn train_s3(
    config: &TrainingConfig,
    spec: &S3Spec,
    target: &crate::s3::client::Target,
    mut session: Session,
) -> (Result<Trained, TrainError>, Vec<FileReport>) {
    use crate::s3::client;
    let s3 = client::s3(target).await;
    let max_decoded = config.max_upload_bytes.saturating_mul(MAX_INFLATION);
    let mut reports: Vec<FileReport> = Vec::new();
    let mut token: Option<String> = None;
    let mut read = 0u64;
    let mut over_limit = 0u64;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(&spec.bucket)
            .prefix(&spec.prefix)
            .set_continuation_token(token.take())
            .max_keys(S3_LIST_PAGE)
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let why = format!(
                    "listing s3://{}/{} failed: {}",
                    spec.bucket,
                    spec.prefix,
                    client::describe(&e)
                );
                return (Err(TrainError::Failed(why)), reports);
            }
        };
        for obj in page.contents() {
            let Some(key) = obj.key() else { continue };
            if key.ends_with('/') {
                continue;
            }
            if read >= config.max_s3_objects {
                over_limit += 1;
                continue;
            }
            read += 1;
            let name = format!("s3://{}/{key}", spec.bucket);
            let size = u64::try_from(obj.size().unwrap_or(0)).unwrap_or(0);
            let skipped = |error: String| FileReport {
                name: name.clone(),
                bytes: size,
                encoding: "plain",
                lines: 0,
                records: 0,
                error: Some(error),
            };
            if size > config.max_upload_bytes {
                reports.push(skipped(format!(
                    "{size} bytes, over training.max_upload_bytes ({})",
                    config.max_upload_bytes
                )));
                continue;
            }
            let got = s3.get_object().bucket(&spec.bucket).key(key).send().await;
            let bytes = match got {
                Ok(g) => match g.body.collect().await {
                    Ok(b) => b.into_bytes().to_vec(),
                    Err(e) => {
                        reports.push(skipped(format!("reading the object failed: {e}")));
                        continue;
                    }
                },
                Err(e) => {
                    reports.push(skipped(format!(
                        "reading the object failed: {}",
                        client::describe(&e)
                    )));
                    continue;
                }
            };
            let file = UploadFile { name, bytes };
            let done = tokio::task::spawn_blocking(move || {
                let r = session.add_file(&file, max_decoded);
                (session, r)
            })
            .await;
            match done {
                Ok((s, Ok(report))) => {
                    session = s;
                    reports.push(report);
                }
                Ok((_, Err(e))) => return (Err(e), reports),
                Err(e) => {
                    let why = format!("training task failed: {e}");
                    return (Err(TrainError::Failed(why)), reports);
                }
            }
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    if over_limit > 0 {
        reports.push(FileReport {
            name: format!("s3://{}/{}", spec.bucket, spec.prefix),
            bytes: 0,
            encoding: "plain",
            lines: 0,
            records: 0,
            error: Some(format!(
                "{over_limit} more objects not read: over training.max_s3_objects ({})",
                config.max_s3_objects
            )),
        });
    }
    let used = reports.iter().filter(|r| r.error.is_none()).count();
    if used == 0 {
        let why = if reports.is_empty() {
            format!("no object under s3://{}/{}", spec.bucket, spec.prefix)
        } else {
            format!("no usable object ({} skipped, see files)", reports.len())
        };
        return (Err(TrainError::NothingToTrain(why)), reports);
    }
    let done = tokio::task::spawn_blocking(move || session.finish()).await;
    let result =
        done.unwrap_or_else(|e| Err(TrainError::Failed(format!("training task failed: {e}"))));
    (result, reports)
}

/// Pages through the host's archived lines and learns those of the window (and service).
async fn train_window(
    store: &Store,
    config: &TrainingConfig,
    w: &WindowSpec,
    mut session: Session,
) -> Result<Trained, TrainError> {
    let mut cursor: Option<String> = None;
    let mut taken = 0u64;
    loop {
        let page = store
            .lines(&w.host, cursor.as_deref(), MAX_PAGE_LINES)
            .await
            .map_err(|e| TrainError::Failed(format!("reading the archive: {e}")))?;
        let picked: Vec<(String, String)> = page
            .lines
            .into_iter()
            .filter(|l| l.ts_ms >= w.from_ms && l.ts_ms < w.to_ms)
            .filter(|l| {
                w.service
                    .as_deref()
                    .is_none_or(|s| service_of(&l.source) == s)
            })
            .map(|l| (l.source, l.line))
            .take(usize::try_from(config.max_window_lines - taken).unwrap_or(usize::MAX))
            .collect();
        taken += picked.len() as u64;
        session = tokio::task::spawn_blocking(move || {
            for (source, line) in &picked {
                session.add_archived(source, line)?;
            }
            Ok::<_, TrainError>(session)
        })
        .await
        .map_err(|e| TrainError::Failed(format!("training task failed: {e}")))??;
        match page.next_cursor {
            Some(next) if taken < config.max_window_lines => cursor = Some(next),
            _ => break,
        }
    }
    if session.records() == 0 {
        return Err(TrainError::NothingToTrain(format!(
            "no archived line of host {} in the window{}",
            w.host,
            w.service
                .as_deref()
                .map(|s| format!(" for service {s}"))
                .unwrap_or_default()
        )));
    }
    tokio::task::spawn_blocking(move || session.finish())
        .await
        .map_err(|e| TrainError::Failed(format!("training task failed: {e}")))?
}
