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
/// The latest pushed model: version → serialized baseline; at most one row.
const MODEL: TableDefinition<u64, &[u8]> = TableDefinition::new("model");
/// Stable agent identity, generated on first open.
const IDENTITY: TableDefinition<&str, &str> = TableDefinition::new("identity");

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
}

#[derive(Debug)]
struct State {
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
    policy: FullPolicy,
    agent_id: String,
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
            for def in [NORMAL, PRIORITY] {
                let table = txn.open_table(def)?;
                for row in table.iter()? {
                    let (_, v) = row?;
                    used_sum += v.value().len() as u64;
                    count += 1;
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
            policy,
            agent_id,
            state: Mutex::new(State {
                next_seq,
                used,
                pending,
                dropped_lines,
            }),
        })
    }

    /// The agent's stable identity, generated when the buffer was first created.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
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
        let mut expected = state.next_seq;
        for b in batches {
            if b.seq != expected {
                return Err(BufferError::OutOfOrder {
                    got: b.seq,
                    expected,
                });
            }
            expected += 1;
        }
        let incoming: u64 = batches.iter().map(|b| 4 + b.frame.len() as u64).sum();
        if incoming > self.cap {
            return Err(BufferError::TooLarge {
                len: incoming,
                cap: self.cap,
            });
        }
        let fits = state.used + incoming <= self.cap;
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
                    while used + incoming > self.cap {
                        let Some((k, v)) = normal.pop_first()? else {
                            break;
                        };
                        let (lines, _) = split_entry(k.value(), v.value())?;
                        used -= v.value().len() as u64;
                        pending -= 1;
                        dropped += u64::from(lines);
                    }
                }
                if used + incoming <= self.cap {
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
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for (def, priority) in [(PRIORITY, true), (NORMAL, false)] {
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
