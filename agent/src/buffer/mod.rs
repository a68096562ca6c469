//! Durable buffer: batches waiting for the collector's ack, and file checkpoints, in one
//! redb database.
//!
//! The invariant this module exists for: a batch and the file positions just after its
//! lines are committed in ONE transaction, so after any crash the stored checkpoint
//! points exactly past the last line that is either buffered or already acknowledged.
//! A batch is removed only by `ack`, which the shipper calls after the collector's ack.
//!
//! `policy` decides what happens when the buffer is full (see `FullPolicy`).
//!
//! The database also keeps the latest model the collector pushed (`save_model`,
//! `load_model`), so that a restarted agent classifies with it before it reconnects.

mod policy;

use std::path::Path;
use std::sync::Mutex;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

pub use policy::FullPolicy;

/// Normal-lane batches: seq → `[lines: u32 LE][encoded frame]`.
const NORMAL: TableDefinition<u64, &[u8]> = TableDefinition::new("batches_normal");
/// Priority-lane batches (critical lines), same layout.
const PRIORITY: TableDefinition<u64, &[u8]> = TableDefinition::new("batches_priority");
/// File identity → checkpoint, both opaque serialized bytes owned by `tail`.
const CHECKPOINTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("checkpoints");
/// redb page cache size.
const CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Counters that must survive restarts.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_NEXT_SEQ: &str = "next_seq";
const META_DROPPED_LINES: &str = "dropped_lines";
const META_REKEYED_BELOW: &str = "rekeyed_below";
/// The latest pushed model: version → serialized baseline; at most one row.
const MODEL: TableDefinition<u64, &[u8]> = TableDefinition::new("model");
/// Stable agent identity, generated on first open.
const IDENTITY: TableDefinition<&str, &str> = TableDefinition::new("identity");
/// `IDENTITY` keys of the collector-issued credential and the agent id it was issued to.
const CREDENTIAL_KEY: &str = "credential";
const CREDENTIAL_AGENT_KEY: &str = "credential_agent_id";

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("buffer full: {used} of {cap} bytes used, policy `{policy}`")]
    Full {
        used: u64,
        cap: u64,
        policy: FullPolicy,
    },
    #[error("batch of {len} bytes can never fit a buffer of {cap} bytes")]
    TooLarge { len: u64, cap: u64 },
    #[error("sequence {got} appended while {expected} was expected")]
    OutOfOrder { got: u64, expected: u64 },
    #[error("buffer storage: {0}")]
    Storage(#[from] redb::Error),
    #[error("corrupt buffer entry for batch {seq}")]
    Corrupt { seq: u64 },
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for BufferError {
            fn from(e: $t) -> Self { BufferError::Storage(e.into()) }
        }
    )*};
}
storage_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// A checkpoint as stored: (file identity, position), both serialized by `tail`.
pub type CheckpointEntry = (Vec<u8>, Vec<u8>);

/// A batch ready to be buffered.
#[derive(Debug)]
pub struct NewBatch {
    pub seq: u64,
    pub priority: bool,
    /// The encoded `Frame::Batch`, shipped as is.
    pub frame: Vec<u8>,
    pub lines: u32,
}

/// A buffered batch waiting for its ack.
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: u64,
    pub priority: bool,
    pub frame: Vec<u8>,
    pub lines: u32,
}

/// What `append` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Everything was stored.
    Stored,
    /// The policy dropped this many lines to make the checkpoint advance.
    Dropped { lines: u64 },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferStats {
    pub used_bytes: u64,
    pub capacity_bytes: u64,
    pub pending_batches: u64,
    pub dropped_lines: u64,
    /// When the oldest batch still buffered was appended (ms since the epoch).
    pub oldest_appended_ms: Option<i64>,
}

#[derive(Debug)]
struct State {
    /// When each buffered batch was appended (ms since the epoch; the open time for
    /// batches found at start), for the oldest unacked age.
    appended_at: std::collections::BTreeMap<u64, i64>,
    next_seq: u64,
    used: u64,
    pending: u64,
    dropped_lines: u64,
}

/// The agent's durable queue and checkpoint store.
#[derive(Debug)]
pub struct Buffer {
    db: Database,
    cap: u64,
    /// Bytes at the top of `cap` that only commits with critical lines may use.
    priority_reserve: u64,
    policy: FullPolicy,
    /// Replaced by `rekey` when the collector reports an identity conflict.
    agent_id: Mutex<String>,
    state: Mutex<State>,
}

fn entry(lines: u32, frame: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + frame.len());
    v.extend_from_slice(&lines.to_le_bytes());
    v.extend_from_slice(frame);
    v
}

fn split_entry(seq: u64, bytes: &[u8]) -> Result<(u32, &[u8]), BufferError> {
    let (head, frame) = bytes
        .split_at_checked(4)
        .ok_or(BufferError::Corrupt { seq })?;
    Ok((
        u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
        frame,
    ))
}

impl Buffer {
    /// Opens (or creates) the buffer at `path`.
    pub fn open(path: &Path, cap: u64, policy: FullPolicy) -> Result<Buffer, BufferError> {
        // The buffer is written once and read once per batch: a small page cache is
        // enough, and redb's default (up to 1 GiB) would dominate the agent's memory.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)?;
        let txn = db.begin_write()?;
        let (next_seq, dropped_lines, used, pending, agent_id);
        let mut appended_at = std::collections::BTreeMap::new();
        {
            let meta = txn.open_table(META)?;
            next_seq = meta.get(META_NEXT_SEQ)?.map(|v| v.value()).unwrap_or(1);
            dropped_lines = meta
                .get(META_DROPPED_LINES)?
                .map(|v| v.value())
                .unwrap_or(0);
            txn.open_table(CHECKPOINTS)?;
            txn.open_table(MODEL)?;
            let mut used_sum = 0u64;
            let mut count = 0u64;
            let opened = crate::now_ms();
            for def in [NORMAL, PRIORITY] {
                let table = txn.open_table(def)?;
                for row in table.iter()? {
                    let (k, v) = row?;
                    used_sum += v.value().len() as u64;
                    count += 1;
                    appended_at.insert(k.value(), opened);
                }
            }
            used = used_sum;
            pending = count;
            let mut identity = txn.open_table(IDENTITY)?;
            let existing = identity.get("agent_id")?.map(|v| v.value().to_owned());
            agent_id = match existing {
                Some(id) => id,
                None => {
                    let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
                    identity.insert("agent_id", id.as_str())?;
                    id
                }
            };
        }
        txn.commit()?;
        Ok(Buffer {
            db,
            cap,
            priority_reserve: 0,
            policy,
            agent_id: Mutex::new(agent_id),
            state: Mutex::new(State {
                appended_at,
                next_seq,
                used,
                pending,
                dropped_lines,
            }),
        })
    }

    /// Keeps the top `bytes` of the cap for commits that carry critical lines
    /// (`buffer.priority_reserve_bytes`): a buffer full of bulk batches still takes them.
    pub fn with_priority_reserve(mut self, bytes: u64) -> Buffer {
        self.priority_reserve = bytes.min(self.cap);
        self
    }

    /// Hands out `n` consecutive sequence numbers, never handed out before (also across
    /// restarts: the stored next seq is at least every seq reserved before a commit).
    pub fn reserve_seqs(&self, n: u64) -> u64 {
        let mut state = self.state();
        let first = state.next_seq;
        state.next_seq += n;
        first
    }

    /// Replaces the buffered batch `seq` by `pieces` (a split of its lines, with seqs from
    /// `reserve_seqs`) in one durable transaction; nothing else moves. Returns false when
    /// `seq` was not buffered any more.
    pub fn replace(
        &self,
        seq: u64,
        priority: bool,
        pieces: &[NewBatch],
    ) -> Result<bool, BufferError> {
        let mut state = self.state();
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let (freed, added);
        {
            let mut normal = txn.open_table(NORMAL)?;
            let mut prio = txn.open_table(PRIORITY)?;
            let table = if priority { &mut prio } else { &mut normal };
            let Some(old) = table.remove(seq)? else {
                return Ok(false);
            };
            freed = old.value().len() as u64;
            drop(old);
            let mut sum = 0u64;
            for b in pieces {
                let row = entry(b.lines, &b.frame);
                sum += row.len() as u64;
                let table = if b.priority { &mut prio } else { &mut normal };
                table.insert(b.seq, row.as_slice())?;
            }
            added = sum;
            let last = pieces.iter().map(|b| b.seq + 1).max().unwrap_or(0);
            state.next_seq = state.next_seq.max(last);
            let mut meta = txn.open_table(META)?;
            meta.insert(META_NEXT_SEQ, state.next_seq)?;
        }
        txn.commit()?;
        state.used = (state.used + added).saturating_sub(freed);
        state.pending = (state.pending + pieces.len() as u64).saturating_sub(1);
        let at = state.appended_at.remove(&seq).unwrap_or_else(crate::now_ms);
        state.appended_at.extend(pieces.iter().map(|b| (b.seq, at)));
        Ok(true)
    }

    /// Drops the buffered batch `seq` (one that can never be delivered), counting its lines
    /// as dropped; returns how many lines that was.
    pub fn discard(&self, seq: u64, priority: bool) -> Result<u64, BufferError> {
        let mut state = self.state();
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut lines = 0u64;
        let mut freed = 0u64;
        {
            let mut table = txn.open_table(if priority { PRIORITY } else { NORMAL })?;
            if let Some(old) = table.remove(seq)? {
                let (n, _) = split_entry(seq, old.value())?;
                lines = u64::from(n);
                freed = old.value().len() as u64;
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(META_DROPPED_LINES, state.dropped_lines + lines)?;
        }
        txn.commit()?;
        state.appended_at.remove(&seq);
        if freed > 0 {
            state.used = state.used.saturating_sub(freed);
            state.pending = state.pending.saturating_sub(1);
        }
        state.dropped_lines += lines;
        Ok(lines)
    }

    /// The agent's stable identity, generated when the buffer was first created.
    pub fn agent_id(&self) -> String {
        self.agent_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes a new agent id (same buffer, same positions), durably: the collector saw
    /// this id's batches with other content (a data directory cloned to another host).
    /// Batches below the returned seq may carry the old id and are re-stamped when sent.
    pub fn rekey(&self) -> Result<(String, u64), BufferError> {
        let new_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let below = self.state().next_seq;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut identity = txn.open_table(IDENTITY)?;
            identity.insert("agent_id", new_id.as_str())?;
            // A credential names the old id: the new one enrolls afresh.
            identity.remove(CREDENTIAL_KEY)?;
            identity.remove(CREDENTIAL_AGENT_KEY)?;
            let mut meta = txn.open_table(META)?;
            meta.insert(META_REKEYED_BELOW, below)?;
            meta.insert(META_NEXT_SEQ, below)?;
        }
        txn.commit()?;
        *self.agent_id.lock().unwrap_or_else(|e| e.into_inner()) = new_id.clone();
        Ok((new_id, below))
    }

    /// Keeps the collector-issued credential of `agent_id`, durably (protocol v5).
    pub fn save_credential(&self, agent_id: &str, token: &str) -> Result<(), BufferError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut identity = txn.open_table(IDENTITY)?;
            identity.insert(CREDENTIAL_KEY, token)?;
            identity.insert(CREDENTIAL_AGENT_KEY, agent_id)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The saved credential, if it was issued to the current agent id.
    pub fn credential(&self) -> Result<Option<String>, BufferError> {
        let txn = self.db.begin_read()?;
        let identity = txn.open_table(IDENTITY)?;
        let issued_to = identity
            .get(CREDENTIAL_AGENT_KEY)?
            .map(|v| v.value().to_owned());
        if issued_to.as_deref() != Some(self.agent_id().as_str()) {
            return Ok(None);
        }
        Ok(identity.get(CREDENTIAL_KEY)?.map(|v| v.value().to_owned()))
    }

    /// Forgets the saved credential (the collector no longer accepts it).
    pub fn clear_credential(&self) -> Result<(), BufferError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut identity = txn.open_table(IDENTITY)?;
            identity.remove(CREDENTIAL_KEY)?;
            identity.remove(CREDENTIAL_AGENT_KEY)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Batches with a seq below this were made before the last `rekey` (0: never re-keyed).
    pub fn rekeyed_below(&self) -> Result<u64, BufferError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta
            .get(META_REKEYED_BELOW)?
            .map(|v| v.value())
            .unwrap_or(0))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a panic mid-update elsewhere; the counters are still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sequence number the next appended batch must carry.
    pub fn next_seq(&self) -> u64 {
        self.state().next_seq
    }

    /// Commits `batches` (consecutive seqs starting at `next_seq`) together with the file
    /// checkpoints reached after their lines, in one durable transaction.
    ///
    /// When the batches don't fit, `FullPolicy::Block` returns `BufferError::Full` and
    /// commits nothing: the caller keeps its lines and retries after acks free space.
    pub fn append(
        &self,
        batches: &[NewBatch],
        checkpoints: &[CheckpointEntry],
        forget: &[Vec<u8>],
    ) -> Result<Appended, BufferError> {
        let mut state = self.state();
        // Seqs come from `reserve_seqs` (the reader's groups and the shipper's splits share
        // it), so they increase within a call but may leave gaps between calls.
        let mut expected = 0u64;
        for b in batches {
            if b.seq < expected {
                return Err(BufferError::OutOfOrder {
                    got: b.seq,
                    expected,
                });
            }
            expected = b.seq + 1;
        }
        let expected = state.next_seq.max(expected);
        let incoming: u64 = batches.iter().map(|b| 4 + b.frame.len() as u64).sum();
        // Bulk-only commits stop `priority_reserve` bytes short of the cap; a commit that
        // carries critical lines may use the whole buffer (the reserved slice).
        let limit = if batches.iter().any(|b| b.priority) {
            self.cap
        } else {
            self.cap.saturating_sub(self.priority_reserve)
        };
        if incoming > self.cap {
            return Err(BufferError::TooLarge {
                len: incoming,
                cap: self.cap,
            });
        }
        let fits = state.used + incoming <= limit;
        if !fits && self.policy == FullPolicy::Block {
            return Err(BufferError::Full {
                used: state.used,
                cap: self.cap,
                policy: self.policy,
            });
        }

        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut used = state.used;
        let mut pending = state.pending;
        let mut dropped = 0u64;
        let mut stored_any = false;
        {
            if fits || self.policy == FullPolicy::DropOldest {
                if !fits {
                    // Evict the oldest normal-lane batches; the priority lane is never evicted.
                    let mut normal = txn.open_table(NORMAL)?;
                    while used + incoming > limit {
                        let Some((k, v)) = normal.pop_first()? else {
                            break;
                        };
                        let (lines, _) = split_entry(k.value(), v.value())?;
                        used -= v.value().len() as u64;
                        pending -= 1;
                        dropped += u64::from(lines);
                    }
                }
                if used + incoming <= limit {
                    let mut normal = txn.open_table(NORMAL)?;
                    let mut prio = txn.open_table(PRIORITY)?;
                    for b in batches {
                        let table = if b.priority { &mut prio } else { &mut normal };
                        table.insert(b.seq, entry(b.lines, &b.frame).as_slice())?;
                    }
                    used += incoming;
                    pending += batches.len() as u64;
                    stored_any = true;
                }
            }
            if !stored_any {
                // DropNewest (or nothing left to evict): skip these lines deliberately.
                dropped += batches.iter().map(|b| u64::from(b.lines)).sum::<u64>();
            }
            let mut cps = txn.open_table(CHECKPOINTS)?;
            for key in forget {
                cps.remove(key.as_slice())?;
            }
            for (k, v) in checkpoints {
                cps.insert(k.as_slice(), v.as_slice())?;
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(META_NEXT_SEQ, expected)?;
            meta.insert(META_DROPPED_LINES, state.dropped_lines + dropped)?;
        }
        txn.commit()?;
        if stored_any {
            let now = crate::now_ms();
            state
                .appended_at
                .extend(batches.iter().map(|b| (b.seq, now)));
        }
        state.next_seq = expected;
        state.used = used;
        state.pending = pending;
        state.dropped_lines += dropped;
        Ok(if dropped == 0 {
            Appended::Stored
        } else {
            Appended::Dropped { lines: dropped }
        })
    }

    /// Batches waiting for an ack, oldest first, priority lane before normal lane,
    /// skipping those `skip` says are already in flight.
    pub fn pending(
        &self,
        max: usize,
        skip: impl Fn(u64) -> bool,
    ) -> Result<Vec<Pending>, BufferError> {
        self.pending_in(&[true, false], max, skip)
    }

    /// Like `pending`, for the lanes listed (`true` = priority), in that order.
    pub fn pending_in(
        &self,
        lanes: &[bool],
        max: usize,
        skip: impl Fn(u64) -> bool,
    ) -> Result<Vec<Pending>, BufferError> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for &priority in lanes {
            let def = if priority { PRIORITY } else { NORMAL };
            let table = txn.open_table(def)?;
            for row in table.iter()? {
                if out.len() >= max {
                    return Ok(out);
                }
                let (k, v) = row?;
                let seq = k.value();
                if skip(seq) {
                    continue;
                }
                let (lines, frame) = split_entry(seq, v.value())?;
                out.push(Pending {
                    seq,
                    priority,
                    frame: frame.to_vec(),
                    lines,
                });
            }
        }
        Ok(out)
    }

    /// Deletes acknowledged batches.
    ///
    /// Not fsynced: if the agent crashes before the next durable commit, the batches
    /// come back and are re-sent, and the collector's (agent id, seq) dedupe drops them.
    pub fn ack(&self, seqs: &[(u64, bool)]) -> Result<(), BufferError> {
        let mut state = self.state();
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None)?;
        let mut freed = 0u64;
        let mut removed = 0u64;
        {
            let mut normal = txn.open_table(NORMAL)?;
            let mut prio = txn.open_table(PRIORITY)?;
            for &(seq, priority) in seqs {
                let table = if priority { &mut prio } else { &mut normal };
                if let Some(v) = table.remove(seq)? {
                    freed += v.value().len() as u64;
                    removed += 1;
                }
                state.appended_at.remove(&seq);
            }
        }
        txn.commit()?;
        state.used -= freed.min(state.used);
        state.pending -= removed.min(state.pending);
        Ok(())
    }

    /// Replaces the saved model with `bytes` (the serialized baseline) at `version`, durably.
    pub fn save_model(&self, version: u64, bytes: &[u8]) -> Result<(), BufferError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(MODEL)?;
            while table.pop_first()?.is_some() {}
            table.insert(version, bytes)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The saved model as (version, serialized baseline), if the collector ever pushed one.
    pub fn load_model(&self) -> Result<Option<(u64, Vec<u8>)>, BufferError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MODEL)?;
        Ok(table.last()?.map(|(k, v)| (k.value(), v.value().to_vec())))
    }

    /// All saved checkpoints, as opaque (key, value) bytes.
    pub fn checkpoints(&self) -> Result<Vec<CheckpointEntry>, BufferError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CHECKPOINTS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn stats(&self) -> BufferStats {
        let s = self.state();
        BufferStats {
            used_bytes: s.used,
            capacity_bytes: self.cap,
            pending_batches: s.pending,
            dropped_lines: s.dropped_lines,
            oldest_appended_ms: s.appended_at.values().min().copied(),
        }
    }

    /// Whether a batch of `len` bytes would fit now.
    pub fn has_room_for(&self, len: u64) -> bool {
        self.state().used + len <= self.cap
    }

    /// Number of entries in the normal lane (for tests and metrics).
    pub fn normal_len(&self) -> Result<u64, BufferError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(NORMAL)?.len()?)
    }
}

#[cfg(test)]
mod tests;
