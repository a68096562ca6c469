//! The scan worker: under the `s3` lease (one replica scans at a time), takes the oldest
//! open scan, lists it page by page (resuming after the last key stored), then analyses its
//! pending objects one by one, and marks it done. Errors end a scan (`failed`, with the
//! S3 error's words) or an object (`failed`, with its reason); the worker itself goes on.
//!
//! Exactly-once per object version: an object's batches are stored by `Store::ingest` under
//! the identity (`s3:<bucket>/<key>#<etag>`, batch index), so reading an object again after
//! a crash stores nothing twice (its batches are `Duplicate`), and `done` is written after the
//! last batch. See `store/s3.rs`.

use std::sync::Arc;

use aws_sdk_s3::primitives::DateTime;
use fleetlog_protocol::Batch;
use fleetlog_protocol::codec::encode_payload;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::client::{self, Target};
use super::config::S3Config;
use super::object::{self, ObjectError};
use super::scan::{self, Listed, Plan, ScanState, Step};
use crate::metrics::Metrics;
use crate::now_ms;
use crate::store::s3::{ObjectOutcome, ObjectRecord, ScanRecord};
use crate::store::{IngestOutcome, Store, StoreError};

/// The lease every replica competes for.
pub const LEASE: &str = "s3";
/// Objects fetched from the store per round of a scan.
const PENDING_PAGE: u32 = 100;
/// Keys per ListObjectsV2 page.
const LIST_PAGE: i32 = 1000;

/// The host name events of a bucket are stored under.
pub fn host_of(bucket: &str) -> String {
    format!("s3:{bucket}")
}

/// The source name of an object's lines.
pub fn source_of(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// The batch identity of an object version (the `agent_id` of its batches).
pub fn batch_identity(bucket: &str, key: &str, etag: &str) -> String {
    format!("s3:{bucket}/{key}#{etag}")
}

/// Why a scan or the worker stopped early.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("lease lost")]
    LeaseLost,
    #[error("shutting down")]
    Shutdown,
}

/// The worker and what it needs.
#[derive(Debug, Clone)]
pub struct ScanWorker {
    pub store: Store,
    pub replica: String,
    pub config: Arc<S3Config>,
    pub metrics: Arc<Metrics>,
}

impl ScanWorker {
    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            // Dropping a round midway is safe: every step is idempotent (module doc).
            let flag = shutdown.clone();
            let round = tokio::select! {
                r = self.round(&flag) => r,
                _ = shutdown.changed() => return,
            };
            match round {
                Ok(()) => {}
                Err(WorkerError::Shutdown) => return,
                Err(WorkerError::LeaseLost) => debug!("S3 scan lease lost; another replica scans."),
                Err(WorkerError::Store(e)) => {
                    warn!(error = %e, "S3 scan round failed; will retry.")
                }
            }
        }
    }

    /// How often a running scan renews its lease and looks for a cancel: a fifth of the
    /// lease, at most a second.
    fn check_every(&self) -> std::time::Duration {
        (self.config.lease / 5).min(std::time::Duration::from_secs(1))
    }

    async fn renew(&self) -> Result<bool, StoreError> {
        let ttl = i64::try_from(self.config.lease.as_millis()).unwrap_or(60_000);
        Ok(self
            .store
            .take_lease(LEASE, &self.replica, now_ms(), ttl)
            .await?
            .is_some())
    }

    /// Works on open scans, oldest first, while this replica holds the lease.
    async fn round(&self, shutdown: &watch::Receiver<bool>) -> Result<(), WorkerError> {
        if !self.renew().await? {
            return Ok(());
        }
        while let Some(scan) = self.store.s3_next_open_scan().await? {
            if *shutdown.borrow() {
                return Err(WorkerError::Shutdown);
            }
            self.scan(scan, shutdown).await?;
        }
        Ok(())
    }

    /// Drives one scan to its end (or until shutdown, a lost lease or a cancel).
    async fn scan(
        &self,
        scan: ScanRecord,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), WorkerError> {
        let target = Target::from_config(&self.config, scan.source.clone());
        let s3 = client::s3(&target).await;
        let filter = scan::Filter {
            modified_after_ms: scan.modified_after_ms,
            modified_before_ms: scan.modified_before_ms,
        };
        info!(scan = scan.id, bucket = %scan.bucket, prefix = %scan.prefix, "S3 scan working.");
        loop {
            let current = self
                .store
                .s3_scan(scan.id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("scan {}", scan.id)))?;
            if !current.state.is_open() {
                info!(
                    scan = scan.id,
                    state = current.state.as_str(),
                    "S3 scan stopped."
                );
                return Ok(());
            }
            let step = scan::next_step(
                current.listed,
                current.list_after.as_deref(),
                current.start_after.as_deref(),
                u64::try_from(current.counts.pending).unwrap_or(0),
            );
            match step {
                Step::List { after } => {
                    let page = s3
                        .list_objects_v2()
                        .bucket(&scan.bucket)
                        .prefix(&scan.prefix)
                        .set_start_after(after)
                        .max_keys(LIST_PAGE)
                        .send()
                        .await;
                    let page = match page {
                        Ok(p) => p,
                        Err(e) => {
                            let msg = format!(
                                "listing s3://{}/{} failed: {}",
                                scan.bucket,
                                scan.prefix,
                                client::describe(&e)
                            );
                            warn!(scan = scan.id, error = %msg, "S3 scan failed.");
                            self.store
                                .s3_set_scan_state(scan.id, ScanState::Failed, Some(&msg), now_ms())
                                .await?;
                            return Ok(());
                        }
                    };
                    let listed: Vec<Listed> = page
                        .contents()
                        .iter()
                        .filter_map(|o| {
                            Some(Listed {
                                key: o.key()?.to_owned(),
                                etag: scan::bare_etag(o.e_tag().unwrap_or_default()),
                                size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                                last_modified_ms: o.last_modified().and_then(millis),
                            })
                        })
                        .collect();
                    let done = self.store.s3_done_versions(&scan.bucket, &listed).await?;
                    let last = listed.last().map(|o| o.key.clone());
                    let plans: Vec<(Listed, Plan)> = listed
                        .into_iter()
                        .map(|o| {
                            let seen = done.contains(&(o.key.clone(), o.etag.clone()));
                            let p = scan::plan(&o, &filter, seen, self.config.max_object_bytes);
                            (o, p)
                        })
                        .collect();
                    for (_, p) in &plans {
                        if let Plan::Skip(_) = p {
                            self.metrics
                                .s3_objects
                                .get_or_create(&outcome("skipped"))
                                .inc();
                        }
                    }
                    let more = page.is_truncated().unwrap_or(false) && last.is_some();
                    self.store
                        .s3_record_page(scan.id, &plans, last.as_deref(), !more, now_ms())
                        .await?;
                }
                Step::Process => {
                    // The lease is renewed, and a cancel looked for, every CHECK_EVERY (well
                    // inside the lease), not per object: each is a write or a read per object.
                    // Objects are read `s3.concurrency` at a time (their GETs and decoding
                    // overlap the store's commits); each is idempotent on its own.
                    let mut checked = std::time::Instant::now();
                    let pending = self.store.s3_pending(scan.id, PENDING_PAGE).await?;
                    for group in pending.chunks(self.config.concurrency.max(1)) {
                        if *shutdown.borrow() {
                            return Err(WorkerError::Shutdown);
                        }
                        if checked.elapsed() >= self.check_every() {
                            if !self.renew().await? {
                                return Err(WorkerError::LeaseLost);
                            }
                            if !self.store.s3_scan_open(scan.id).await? {
                                break;
                            }
                            checked = std::time::Instant::now();
                        }
                        let done = futures_util::future::join_all(
                            group.iter().map(|obj| self.object(&s3, &scan, obj)),
                        )
                        .await;
                        for r in done {
                            r?;
                        }
                    }
                }
                Step::Finish => {
                    self.store
                        .s3_set_scan_state(scan.id, ScanState::Done, None, now_ms())
                        .await?;
                    let c = self.store.s3_scan(scan.id).await?.map(|s| s.counts);
                    info!(scan = scan.id, counts = ?c, "S3 scan done.");
                    return Ok(());
                }
            }
        }
    }

    /// Reads, analyses and stores one object, then records how it ended.
    async fn object(
        &self,
        s3: &aws_sdk_s3::Client,
        scan: &ScanRecord,
        obj: &ObjectRecord,
    ) -> Result<(), WorkerError> {
        self.store
            .s3_start_object(scan.id, &obj.key, now_ms())
            .await?;
        let outcome = self.read_and_store(s3, scan, obj).await?;
        let label = match &outcome {
            ObjectOutcome::Done { lines, .. } => {
                self.metrics
                    .s3_lines
                    .inc_by(u64::try_from(*lines).unwrap_or(0));
                "done"
            }
            ObjectOutcome::Failed(reason) => {
                warn!(scan = scan.id, key = %obj.key, reason = %reason, "S3 object failed.");
                "failed"
            }
            ObjectOutcome::Skipped(_) => "skipped",
        };
        self.metrics
            .s3_objects
            .get_or_create(&outcome_label(label))
            .inc();
        self.store
            .s3_finish_object(scan.id, &scan.bucket, obj, &outcome, now_ms())
            .await?;
        Ok(())
    }

    async fn read_and_store(
        &self,
        s3: &aws_sdk_s3::Client,
        scan: &ScanRecord,
        obj: &ObjectRecord,
    ) -> Result<ObjectOutcome, WorkerError> {
        let max = self.config.max_object_bytes;
        let got = s3
            .get_object()
            .bucket(&scan.bucket)
            .key(&obj.key)
            .if_match(format!("\"{}\"", obj.etag))
            .send()
            .await;
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                let words = client::describe(&e);
                let reason = if words.starts_with("PreconditionFailed") {
                    "changed since it was listed (new ETag); a new scan or event picks it up"
                        .to_owned()
                } else {
                    format!("reading the object failed: {words}")
                };
                return Ok(ObjectOutcome::Failed(reason));
            }
        };
        let size = u64::try_from(got.content_length().unwrap_or(0)).unwrap_or(0);
        if size > max {
            let e = ObjectError::TooLarge { size, max };
            return Ok(ObjectOutcome::Skipped(e.to_string()));
        }
        let bytes = match got.body.collect().await {
            Ok(b) => b.into_bytes().to_vec(),
            Err(e) => {
                return Ok(ObjectOutcome::Failed(format!(
                    "reading the object body failed: {e}"
                )));
            }
        };
        let source = source_of(&scan.bucket, &obj.key);
        let identity = batch_identity(&scan.bucket, &obj.key, &obj.etag);
        let host = host_of(&scan.bucket);
        let fallback_ts = obj.last_modified_ms.unwrap_or_else(now_ms);
        let max_decompressed = self.config.max_decompressed_bytes;
        let year = crate::analyze::current_year();
        // The blocking reader hands batches over a small channel; this task stores them in
        // order, so memory holds at most a few batches besides the object's bytes.
        let (tx, mut rx) = mpsc::channel::<(u64, fleetlog_protocol::BatchPayload)>(2);
        let reader = tokio::task::spawn_blocking(move || {
            object::analyze(
                bytes,
                &source,
                max_decompressed,
                fallback_ts,
                year,
                |i, p| tx.blocking_send((i, p)).map_err(|_| ()),
            )
        });
        let mut store_error = None;
        while let Some((seq, payload)) = rx.recv().await {
            if let Err(e) = self.store_batch(&host, &identity, seq, &payload).await {
                store_error = Some(e);
                break;
            }
        }
        drop(rx);
        let read = reader.await.map_err(StoreError::from)?;
        if let Some(e) = store_error {
            return Err(e.into());
        }
        Ok(match read {
            // The receiver went away: only after a store error, handled above.
            Err(()) => ObjectOutcome::Failed("storing the object's lines stopped".to_owned()),
            Ok(Ok(summary)) => ObjectOutcome::Done {
                lines: i64::try_from(summary.lines).unwrap_or(i64::MAX),
                events: i64::try_from(summary.events).unwrap_or(i64::MAX),
            },
            Ok(Err(e)) if e.is_skip() => ObjectOutcome::Skipped(e.to_string()),
            Ok(Err(e)) => ObjectOutcome::Failed(e.to_string()),
        })
    }

    /// Stores one batch of an object through the ingest path (idempotent by identity).
    async fn store_batch(
        &self,
        host: &str,
        identity: &str,
        seq: u64,
        payload: &fleetlog_protocol::BatchPayload,
    ) -> Result<(), StoreError> {
        let (compressed, raw_len) = encode_payload(payload)
            .map_err(|e| StoreError::Mismatch(format!("encoding an S3 batch: {e}")))?;
        let batch = Batch {
            agent_id: identity.to_owned(),
            seq,
            priority: false,
            entry_count: u32::try_from(payload.entries.len()).unwrap_or(u32::MAX),
            raw_len,
            payload: compressed,
        };
        match self.store.ingest(host, &batch, payload, now_ms()).await? {
            IngestOutcome::Stored { lines, .. } => {
                self.metrics.batch("stored");
                self.metrics.lines.inc_by(u64::from(lines));
            }
            IngestOutcome::Duplicate => {
                debug!(identity, seq, "S3 batch stored before (resumed object).");
            }
            IngestOutcome::Conflict => {
                warn!(
                    identity,
                    seq, "S3 batch stored before with other content; kept the first."
                );
            }
        }
        Ok(())
    }
}

fn outcome(label: &'static str) -> crate::metrics::OutcomeLabel {
    crate::metrics::OutcomeLabel { outcome: label }
}

fn outcome_label(label: &'static str) -> crate::metrics::OutcomeLabel {
    outcome(label)
}

/// Epoch milliseconds of an S3 time.
pub fn millis(t: &DateTime) -> Option<i64> {
    t.to_millis().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(host_of("logs"), "s3:logs");
        assert_eq!(source_of("logs", "a/b.gz"), "s3://logs/a/b.gz");
        assert_eq!(batch_identity("logs", "a/b.gz", "e1"), "s3:logs/a/b.gz#e1");
    }
}
