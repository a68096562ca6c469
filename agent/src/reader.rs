//! The reader task: tail → classify → commit (batch + checkpoints in one transaction).
//!
//! Lines accumulate until `batch.max_bytes` or `batch.max_wait`; a critical line flushes
//! at once into a priority-lane batch. When the buffer is full under the `block` policy
//! the reader stops reading (backpressure) and retries the same commit after acks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetlog_protocol::codec;
use fleetlog_protocol::messages::{Batch, BatchPayload, Entry, Frame};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::buffer::{Appended, Buffer, BufferError, NewBatch};
use crate::metrics::Metrics;
use crate::ship::driver::Signals;
use crate::tail::{FileKey, Tailer, Watcher};

/// Least time between two rescans file-system events ask for: a directory where files
/// come and go all the time is walked at most this often.
const EVENT_RESCAN_SPACING: Duration = Duration::from_millis(100);

/// Lines read but not yet committed, with the positions they reach.
#[derive(Default)]
struct Pending {
    sources: Vec<Arc<str>>,
    normal: Vec<Entry>,
    priority: Vec<Entry>,
    bytes: usize,
    checkpoints: BTreeMap<Vec<u8>, Vec<u8>>,
    forget: Vec<Vec<u8>>,
    since: Option<Instant>,
}

impl Pending {
    fn forget_templates(&mut self) {
        for e in self.normal.iter_mut().chain(self.priority.iter_mut()) {
            e.template = None;
        }
    }

    fn source_index(&mut self, source: &Arc<str>) -> u32 {
        // Few sources per batch: a linear scan beats hashing.
        if let Some(i) = self
            .sources
            .iter()
            .position(|s| Arc::ptr_eq(s, source) || s == source)
        {
            return i as u32;
        }
        self.sources.push(source.clone());
        (self.sources.len() - 1) as u32
    }

    fn is_empty(&self) -> bool {
        self.normal.is_empty()
            && self.priority.is_empty()
            && self.checkpoints.is_empty()
            && self.forget.is_empty()
    }
}

/// When the globs are re-expanded: every `poll_interval` (a timed rescan, which advances
/// the tailer's clock by the ticks elapsed), and between those when file-system events
/// ask for it, at most every [`EVENT_RESCAN_SPACING`] (such a rescan adds no tick).
#[derive(Debug)]
struct ScanClock {
    last_timed: Instant,
    last_any: Instant,
    /// Time since `last_timed` not yet counted in ticks.
    carry: Duration,
    /// An event asked for a rescan that the spacing held back.
    wanted: bool,
}

impl ScanClock {
    fn new(now: Instant) -> ScanClock {
        ScanClock {
            last_timed: now,
            last_any: now,
            carry: Duration::ZERO,
            wanted: false,
        }
    }

    /// Whether to rescan now, and with how many ticks.
    fn due(&mut self, now: Instant, asked: bool, poll_interval: Duration) -> Option<u32> {
        self.wanted |= asked;
        if now.saturating_duration_since(self.last_timed) >= poll_interval {
            let elapsed = now.saturating_duration_since(self.last_timed) + self.carry;
            let ticks = (elapsed.as_millis() / crate::tail::TICK.as_millis()) as u32;
            self.carry = elapsed.saturating_sub(crate::tail::TICK * ticks);
            (self.last_timed, self.last_any, self.wanted) = (now, now, false);
            return Some(ticks);
        }
        if self.wanted && now.saturating_duration_since(self.last_any) >= EVENT_RESCAN_SPACING {
            (self.last_any, self.wanted) = (now, false);
            return Some(0);
        }
        None
    }

    /// How long until a rescan is due without a new event.
    fn until_due(&self, now: Instant, poll_interval: Duration) -> Duration {
        let timed = poll_interval.saturating_sub(now.saturating_duration_since(self.last_timed));
        if self.wanted {
            timed.min(
                EVENT_RESCAN_SPACING.saturating_sub(now.saturating_duration_since(self.last_any)),
            )
        } else {
            timed
        }
    }
}

pub(crate) struct Reader {
    pub tailer: Tailer,
    pub watcher: Watcher,
    pub buffer: Arc<Buffer>,
    pub classifier: crate::classify::Classifier,
    /// Lent to the running commit, which encodes off the reader's thread.
    pub encoder: Option<codec::PayloadEncoder>,
    /// The commit running in the background while the next lines are read and encoded.
    pub in_flight: Option<tokio::task::JoinHandle<anyhow::Result<codec::PayloadEncoder>>>,
    /// Hands a group with critical lines to the running commit when that one waits for
    /// space: both then commit together, in the buffer's reserved slice.
    pub join_running: Option<mpsc::UnboundedSender<Group>>,
    pub signals: Arc<Signals>,
    pub metrics: Arc<Metrics>,
    pub batch_max_bytes: usize,
    pub batch_max_wait: Duration,
    /// Longest time between two full rescans (`poll_interval_ms`).
    pub poll_interval: Duration,
    pub assemble: crate::assemble::AssembleConfig,
    /// Services named by `[[sources]]`, sent with each batch's sources.
    pub services: crate::assemble::Services,
}

fn key_bytes(key: &FileKey) -> Vec<u8> {
    crate::tail::encode_key(key)
}

/// Lines committed together at most when the files have a backlog: one fsync per
/// several wire batches keeps the disk from setting the pace, and the bound keeps the
/// lines held in memory small.
const COMMIT_GROUP_BYTES: usize = 8 * 1024 * 1024;

/// Bytes read per poll at most. A commit group fills over several polls, each starting at
/// the next file, so a critical line in a quiet file waits for one slice of a busy file's
/// backlog (read and classified), not for a whole commit group of it.
const READ_SLICE_BYTES: usize = 1024 * 1024;

impl Reader {
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        // Lines held before a commit is due regardless of `batch_max_wait`: at most a
        // quarter of the buffer, so even incompressible lines always fit one commit
        // (config validation guarantees the buffer holds 4 batches).
        let quarter = usize::try_from(self.buffer.stats().capacity_bytes / 4).unwrap_or(usize::MAX);
        let commit_max_bytes = self.batch_max_bytes.max(COMMIT_GROUP_BYTES.min(quarter));
        let mut pending = Pending::default();
        let mut scans = ScanClock::new(Instant::now());
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Written files are read at once; files coming and going, or the poll
            // interval passing, re-expand the globs.
            let changes = self.watcher.take();
            tokio::task::block_in_place(|| self.tailer.touch(&changes.written));
            if let Some(ticks) = scans.due(Instant::now(), changes.rescan, self.poll_interval) {
                tokio::task::block_in_place(|| self.tailer.rescan_after(ticks))?;
                self.metrics
                    .watched_files
                    .set(self.tailer.watched_files() as i64);
                self.metrics.rescans.inc();
                *self
                    .signals
                    .file_lag
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = self.tailer.lags();
            }
            let group_left = commit_max_bytes.saturating_sub(pending.bytes).max(1);
            let budget = group_left.min(READ_SLICE_BYTES);
            let chunk = tokio::task::block_in_place(|| self.tailer.poll(budget))?;
            // A model pushed meanwhile applies from this chunk on (one atomic load when not).
            if self.classifier.refresh() {
                // Template ids name templates of the model they were matched in; a batch
                // names one model, the new one.
                pending.forget_templates();
            }
            let got_lines = !chunk.lines.is_empty();
            // Only the group's budget completes a group; a spent slice just reads on.
            let budget_spent = chunk.budget_spent && budget == group_left;
            let slice_spent = chunk.budget_spent && !budget_spent;
            let now = crate::now_ms();
            self.classifier.set_now(now);
            for event in crate::assemble::assemble(chunk.lines, self.assemble) {
                let c = self.classifier.classify(&event.source, &event.text);
                let source = pending.source_index(&event.source);
                pending.bytes += event.text.len() + 1;
                self.metrics.bytes_read.inc_by(event.text.len() as u64 + 1);
                self.metrics.lines_read.inc_by(event.lines as u64);
                if event.lines > 1 {
                    self.metrics.joined_entries.inc();
                }
                if event.flags & fleetlog_protocol::messages::ENTRY_CONTINUATION != 0 {
                    self.metrics.continued_entries.inc();
                }
                let entry = Entry {
                    ts_ms: now,
                    source,
                    line: event.text,
                    level: c.level,
                    score: c.score,
                    logged_ms: c.logged_ms,
                    class: self.classifier.class_id(&c).map(str::to_owned),
                    template: c.template,
                    flags: event.flags,
                };
                if c.critical {
                    pending.priority.push(entry);
                } else {
                    pending.normal.push(entry);
                }
            }
            for (key, cp) in chunk.checkpoints {
                let k = key_bytes(&key);
                pending.forget.retain(|f| f != &k);
                pending
                    .checkpoints
                    .insert(k, crate::tail::encode_checkpoint(&cp));
            }
            for key in chunk.forget {
                let k = key_bytes(&key);
                pending.checkpoints.remove(&k);
                pending.forget.push(k);
            }
            if !pending.is_empty() && pending.since.is_none() {
                pending.since = Some(Instant::now());
            }
            // A group whose budget is spent is complete even when its last read ended
            // inside a line (the fragment waits in the tailer): waiting for more would
            // only sit out `batch_max_wait` with the backlog unread.
            let due = pending.bytes >= commit_max_bytes
                || budget_spent
                || !pending.priority.is_empty()
                || pending
                    .since
                    .is_some_and(|t| t.elapsed() >= self.batch_max_wait);
            if due && !pending.is_empty() {
                self.commit(&mut pending, &mut shutdown).await?;
            } else if !got_lines && !budget_spent && !slice_spent {
                let wait = pending
                    .since
                    .map(|t| self.batch_max_wait.saturating_sub(t.elapsed()))
                    .unwrap_or(self.poll_interval)
                    .min(scans.until_due(Instant::now(), self.poll_interval));
                tokio::select! {
                    _ = self.watcher.changed(wait) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        // Commit what was read before stopping, so a clean stop re-reads nothing.
        if !pending.is_empty() {
            let (_tx, mut never) = watch::channel(false);
            if let Err(err) = tokio::time::timeout(
                Duration::from_secs(2),
                self.commit(&mut pending, &mut never),
            )
            .await
            {
                debug!(error = %err, "Final commit skipped; lines will be re-read from files.");
            }
        }
        if let Some(handle) = self.in_flight.take() {
            match tokio::time::timeout(Duration::from_secs(5), handle).await {
                Ok(joined) => {
                    joined??;
                }
                Err(_) => debug!("Final commit still running at exit; lines will be re-read."),
            }
        }
        Ok(())
    }

    /// Encodes the pending lines into batches and commits them with the checkpoints.
    async fn commit(
        &mut self,
        pending: &mut Pending,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut payloads = Vec::new();
        let sources: Vec<String> = pending.sources.iter().map(|s| s.to_string()).collect();
        let model_version = self.classifier.model_version();
        let source_meta: Vec<_> = if !self.services.is_empty()
            || sources.iter().any(|s| crate::assemble::is_cri_path(s))
        {
            sources
                .iter()
                .map(|s| crate::assemble::source_meta(s, &self.services))
                .collect()
        } else {
            Vec::new()
        };
        for (priority, entries) in [(true, &mut pending.priority), (false, &mut pending.normal)] {
            let mut entries = std::mem::take(entries);
            // One wire batch per `batch_max_bytes` of lines; all of them share this commit.
            while !entries.is_empty() {
                let mut size = 0usize;
                let cut = entries
                    .iter()
                    .position(|e| {
                        size += e.line.len() + 1;
                        size > self.batch_max_bytes
                    })
                    .map_or(entries.len(), |i| i.max(1));
                let rest = entries.split_off(cut);
                let payload = BatchPayload {
                    sources: sources.clone(),
                    entries: std::mem::replace(&mut entries, rest),
                    source_meta: source_meta.clone(),
                    model_version,
                };
                payloads.push((priority, payload));
            }
        }
        // Consecutive seqs for this group (the shipper's splits take theirs from the same
        // counter, so commits may leave gaps, never reuse a seq).
        let first = self.buffer.reserve_seqs(payloads.len() as u64);
        let payloads: Vec<(u64, bool, BatchPayload)> = payloads
            .into_iter()
            .zip(first..)
            .map(|((priority, payload), seq)| (seq, priority, payload))
            .collect();
        let urgent = payloads.iter().any(|p| p.1);
        let checkpoints: Vec<(Vec<u8>, Vec<u8>)> = std::mem::take(&mut pending.checkpoints)
            .into_iter()
            .collect();
        let forget = std::mem::take(&mut pending.forget);
        *pending = Pending::default();
        let mut group = Group {
            payloads,
            checkpoints,
            forget,
        };
        // Critical lines do not wait behind a commit that waits for space: they join it,
        // and the two commit together in the reserved slice.
        if urgent
            && self.in_flight.as_ref().is_some_and(|h| !h.is_finished())
            && let Some(tx) = &self.join_running
        {
            match tx.send(group) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => group = back,
            }
        }
        // One commit runs while the next lines are read and encoded: the fsync overlaps
        // the CPU work, and commits still land in sequence order.
        if let Some(previous) = self.in_flight.take() {
            self.encoder = Some(previous.await??);
        }
        let (join_tx, join_rx) = mpsc::unbounded_channel();
        self.join_running = Some(join_tx);
        let encoder = match self.encoder.take() {
            Some(e) => e,
            None => codec::PayloadEncoder::new()?,
        };
        let job = CommitJob {
            group,
            joined: join_rx,
            encoder,
            agent_id: self.buffer.agent_id().to_owned(),
            buffer: self.buffer.clone(),
            metrics: self.metrics.clone(),
            signals: self.signals.clone(),
            shutdown: shutdown.clone(),
        };
        self.in_flight = Some(tokio::spawn(job.run()));
        Ok(())
    }
}

/// Lines read, cut into wire batches with their seqs, and the positions after them.
pub(crate) struct Group {
    /// Wire batches to encode: (seq, priority lane, lines).
    payloads: Vec<(u64, bool, BatchPayload)>,
    checkpoints: Vec<(Vec<u8>, Vec<u8>)>,
    forget: Vec<Vec<u8>>,
}

/// One durable commit: batches plus the checkpoints after their lines.
struct CommitJob {
    group: Group,
    /// Later groups with critical lines that join this commit while it waits for space.
    joined: mpsc::UnboundedReceiver<Group>,
    encoder: codec::PayloadEncoder,
    agent_id: String,
    buffer: Arc<Buffer>,
    metrics: Arc<Metrics>,
    signals: Arc<Signals>,
    shutdown: watch::Receiver<bool>,
}

impl CommitJob {
    /// Encodes (off the reader's thread), commits, and hands the encoder back.
    async fn run(mut self) -> anyhow::Result<codec::PayloadEncoder> {
        let Group {
            payloads,
            mut checkpoints,
            mut forget,
        } = self.group;
        let (mut batches, mut encoder) =
            encode_batches(self.encoder, self.agent_id.clone(), payloads).await?;
        let mut committed: Vec<(u32, bool)> = Vec::new();
        let mut warned = false;
        loop {
            // Groups with critical lines that joined meanwhile commit with this one.
            while let Ok(g) = self.joined.try_recv() {
                let (more, enc) =
                    encode_batches(encoder, self.agent_id.clone(), g.payloads).await?;
                encoder = enc;
                batches.extend(more);
                merge_positions(&mut checkpoints, &mut forget, g.checkpoints, g.forget);
            }
            let buffer = self.buffer.clone();
            let (result, b, c, f) = tokio::task::spawn_blocking(move || {
                let r = buffer.append(&batches, &checkpoints, &forget);
                (r, batches, checkpoints, forget)
            })
            .await?;
            (batches, checkpoints, forget) = (b, c, f);
            match result {
                Ok(outcome) => {
                    if let Appended::Dropped { lines } = outcome {
                        self.metrics.dropped_lines.inc_by(lines);
                        self.metrics.drop_lines("policy", lines);
                        warn!(lines, "Buffer full: lines dropped by policy.");
                    }
                    committed.extend(batches.iter().map(|b| (b.lines, b.priority)));
                    // No group may join once this commit is done; one that joined just
                    // before the door closed is committed next, never lost.
                    self.joined.close();
                    batches.clear();
                    checkpoints.clear();
                    forget.clear();
                    if self.joined.is_empty() {
                        break;
                    }
                }
                Err(BufferError::Full { used, cap, .. }) => {
                    if !warned {
                        info!(
                            used,
                            cap,
                            "Buffer full: pausing reads until the collector acks (backpressure)."
                        );
                        warned = true;
                    }
                    tokio::select! {
                        _ = self.signals.space_freed.notified() => {}
                        Some(g) = self.joined.recv() => {
                            let (more, enc) =
                                encode_batches(encoder, self.agent_id.clone(), g.payloads).await?;
                            encoder = enc;
                            batches.extend(more);
                            merge_positions(&mut checkpoints, &mut forget, g.checkpoints, g.forget);
                        }
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = self.shutdown.changed() => {
                            // Nothing committed: the lines are re-read from the files on restart.
                            return Ok(encoder);
                        }
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        self.metrics.batches_buffered.inc_by(committed.len() as u64);
        self.metrics
            .lines_buffered
            .inc_by(committed.iter().map(|&(l, _)| u64::from(l)).sum());
        let stats = self.buffer.stats();
        self.metrics.buffer_bytes.set(stats.used_bytes as i64);
        self.metrics
            .pending_batches
            .set(stats.pending_batches as i64);
        if !committed.is_empty() {
            self.signals.batch_ready.notify_one();
        }
        Ok(encoder)
    }
}

/// Encodes wire batches (bincode + zstd) on the blocking pool.
async fn encode_batches(
    mut encoder: codec::PayloadEncoder,
    agent_id: String,
    payloads: Vec<(u64, bool, BatchPayload)>,
) -> anyhow::Result<(Vec<NewBatch>, codec::PayloadEncoder)> {
    let out = tokio::task::spawn_blocking(move || {
        let mut batches = Vec::with_capacity(payloads.len());
        for (seq, priority, payload) in payloads {
            batches.push(encode_batch(
                &mut encoder,
                &agent_id,
                seq,
                priority,
                &payload,
            )?);
        }
        Ok::<_, codec::CodecError>((batches, encoder))
    })
    .await??;
    Ok(out)
}

/// One wire batch, encoded as it is buffered and shipped.
pub(crate) fn encode_batch(
    encoder: &mut codec::PayloadEncoder,
    agent_id: &str,
    seq: u64,
    priority: bool,
    payload: &BatchPayload,
) -> Result<NewBatch, codec::CodecError> {
    let lines = payload.entries.len() as u32;
    let (compressed, raw_len) = encoder.encode(payload)?;
    let frame = codec::encode(&Frame::Batch(Batch {
        agent_id: agent_id.to_owned(),
        seq,
        priority,
        entry_count: lines,
        raw_len,
        payload: compressed,
    }))?;
    Ok(NewBatch {
        seq,
        priority,
        frame,
        lines,
    })
}

/// Folds a later group's file positions into an earlier one's: the later position of a
/// file wins, and a later forget removes the earlier position (and the reverse).
fn merge_positions(
    checkpoints: &mut Vec<(Vec<u8>, Vec<u8>)>,
    forget: &mut Vec<Vec<u8>>,
    later_checkpoints: Vec<(Vec<u8>, Vec<u8>)>,
    later_forget: Vec<Vec<u8>>,
) {
    for key in later_forget {
        checkpoints.retain(|(k, _)| k != &key);
        if !forget.contains(&key) {
            forget.push(key);
        }
    }
    for (key, value) in later_checkpoints {
        forget.retain(|k| k != &key);
        checkpoints.retain(|(k, _)| k != &key);
        checkpoints.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joined_group_moves_positions_forward_and_forgets_win_in_order() {
        let k = |s: &str| s.as_bytes().to_vec();
        let mut cps = vec![(k("a"), k("1")), (k("b"), k("1"))];
        let mut forget = vec![k("c")];
        merge_positions(
            &mut cps,
            &mut forget,
            vec![(k("a"), k("2")), (k("c"), k("5"))],
            vec![k("b")],
        );
        cps.sort();
        assert_eq!(cps, vec![(k("a"), k("2")), (k("c"), k("5"))]);
        assert_eq!(forget, vec![k("b")]);
    }

    #[test]
    fn scan_clock_times_rescans_and_spaces_event_ones() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let poll = ms(1000);
        let mut c = ScanClock::new(t0);
        // (at ms, an event asks, expected)
        let rows: [(u64, bool, Option<u32>); 9] = [
            (10, false, None),
            (50, true, None),      // asked, but 100 ms since the last rescan not yet
            (120, false, Some(0)), // the held-back request, without a tick
            (150, true, None),
            (300, false, Some(0)),
            (1000, false, Some(4)), // timed: four ticks of 250 ms
            (2100, false, Some(4)), // 1100 ms: four ticks, 100 ms carried
            (3000, false, None),
            (3200, false, Some(4)), // 1100 + 100 carried: four ticks, 200 carried
        ];
        for (at, asked, want) in rows {
            assert_eq!(c.due(t0 + ms(at), asked, poll), want, "at {at} ms");
        }
        assert_eq!(c.until_due(t0 + ms(3300), poll), ms(900));
        assert_eq!(c.due(t0 + ms(3250), true, poll), None);
        assert_eq!(c.until_due(t0 + ms(3260), poll), ms(40));
    }
}
