//! The collector's store: raw lines in a segment archive, everything else in SQL.
//!
//! [`Store`] is the driver; the pure parts are `cursor` (page positions),
//! `retention` (which segments and rows to delete; `expire` deletes the rows) and `sql`
//! (statement text and dialects).
//!
//! Exactly-once ingest ([`Store::ingest`]):
//! 1. `(agent_id, seq)` already in `batches` → `Duplicate`, nothing written.
//! 2. The payload is written to a fresh segment file and made durable
//!    (temp file, fsync, rename, fsync directory).
//! 3. One transaction inserts the `segments` row, the `batches` row (the arbiter:
//!    `ON CONFLICT DO NOTHING` on its primary key), the `events` rows (each with its
//!    error class from `fleetlog_lines::judge::Judge`) and the `hosts`
//!    counters. If the `batches` insert loses to a concurrent copy (another task or
//!    another replica), the transaction rolls back, the fresh file is deleted, and the
//!    outcome is `Duplicate`.
//!
//! Only after `ingest` returns `Stored` or `Duplicate` may the caller ack.
//!
//! Arrival order: a host's lines are read in segment-id order. Ingest transactions of
//! one host are serialised (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a per-host advisory
//! transaction lock taken first), so a host's segment ids are allocated in commit order
//! and a reader's cursor never passes a segment that commits later. The lock is held to
//! commit on purpose: released right after the id is allocated, a later id of the same
//! host could commit first, and a reader would pass the earlier one for good.
//!
//! Orphans: a crash (or an error whose commit outcome is unknown) between steps 2 and 3
//! leaves a segment file no row names. It is never indexed: a re-send writes a new file
//! with a new name. [`Store::sweep_orphans`] deletes unindexed files older than a grace
//! period, far longer than [`INDEX_TIMEOUT`], so a file whose transaction is still in
//! flight is never swept. Retention runs the sweep too.
//!
//! Durability: SQLite runs in WAL mode with `synchronous = FULL`, so a commit is on disk
//! when it returns, including after power loss. `NORMAL` would only survive a process
//! crash; a lost commit after an ack would orphan the segment and lose acked lines.
//! The cost is one WAL fsync per batch, which batching at the agent amortises.
//!
//! Event rows stand for groups of lines (`grouping`): the lines of one batch with the same
//! source, fingerprint, level, judged severity and minute are one row with an
//! `occurrences` count, so a repeated warning costs one row per minute, not one per line.
//!
//! Event lines are the lines at warn or worse *and* the lines the agent scored unhealthy
//! (score >= 0.5) whatever their level: an OOM kill in a syslog file without `<PRI>` has no
//! level field but is an event. Only event rows are classified, never every line: ingest
//! stays one parse and one keyword-automaton pass per event row on top of the SQL work it
//! already does. The class rule is the agent's (`Judge::class_of`).
//!
//! Text from agents is stored with NUL characters replaced by U+FFFD, because
//! PostgreSQL `TEXT` rejects NUL and a batch that can never be stored would block its
//! agent forever.

pub mod alerts;
mod archive;
pub mod audit;
pub mod auth;
pub mod automation;
pub mod channels;
pub mod classes;
mod cursor;
pub mod dashboard;
pub mod enrollments;
pub mod events;
mod expire;
mod grouping;
pub mod health;
pub mod incidents;
pub mod lease;
pub mod line_search;
pub mod models;
pub mod nudge;
pub mod outbox;
mod retention;
pub mod s3;
pub mod space;
mod sql;
mod stats;
pub mod tickets;
pub mod training_jobs;

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fleetlog_lines::detect::parse_line;
use fleetlog_lines::judge::Judge;
use fleetlog_lines::score::Severity;

use fleetlog_protocol::codec::decode_compressed_payload;
use fleetlog_protocol::{Batch, BatchPayload, Entry, Level};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Row};
use tracing::{debug, error, info, warn};

pub use archive::{Archive, ArchiveFile};
pub use expire::RowRetentionReport;
pub use retention::{RowPolicy, RowTable};
pub use sql::Dialect;

use cursor::Cursor;
use retention::{Policy, SegmentSize};

/// Unindexed segment files younger than this are left alone by the sweep run from
/// [`Store::apply_retention`]: their transaction may still be in flight.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(15 * 60);
/// Longest an ingest transaction may take before it is abandoned (and rolled back).
/// Kept far below [`ORPHAN_GRACE`] so the sweep never races a commit.
pub const INDEX_TIMEOUT: Duration = Duration::from_secs(60);
/// Most lines one [`Store::lines`] page returns.
pub const MAX_PAGE_LINES: u32 = 10_000;
/// Most line bytes one [`Store::lines`] page holds: with lines of up to 64 KiB, 10,000
/// of them could need 640 MiB; a page stops early (with a cursor) at this budget, so a
/// request costs at most one decoded segment plus this much.
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;
/// How long a SQLite connection waits for the write lock.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;
const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// PostgreSQL pool size unless [`StoreOptions::max_connections`] says otherwise.
pub const DEFAULT_POSTGRES_MAX_CONNECTIONS: u32 = 8;
/// Segment rows fetched per index query while paging lines.
const SEGMENTS_PER_QUERY: i64 = 32;
/// Segment rows fetched per index query while planning retention; the expired ones of a
/// chunk are deleted in one transaction.
const RETENTION_CHUNK: i64 = 256;
/// Segment rows read per index query by the orphan sweep.
const SWEEP_CHUNK: i64 = 10_000;

/// How [`Store::open_with`] sizes the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// PostgreSQL pool size (`store.max_connections`). SQLite keeps its own small pool:
    /// it has one writer, and readers share the WAL.
    pub max_connections: u32,
    /// Below this many free bytes on the archive's (or SQLite's) volume, batches are refused
    /// before anything is written (`store.min_free_bytes`; 0 turns the check off).
    pub min_free_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: DEFAULT_POSTGRES_MAX_CONNECTIONS,
            min_free_bytes: space::DEFAULT_MIN_FREE_BYTES,
        }
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("archive I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad cursor: {0}")]
    BadCursor(String),
    #[error(transparent)]
    DiskFull(#[from] space::DiskFull),
    #[error("segment {segment} is corrupt: {reason}")]
    Corrupt { segment: i64, reason: String },
    #[error("unsupported database URL scheme `{0}` (expected sqlite: or postgres://)")]
    UnsupportedUrl(String),
    #[error("{what} {value} does not fit the store's signed 64-bit column")]
    OutOfRange { what: &'static str, value: u64 },
    #[error("batch does not match its payload: {0}")]
    Mismatch(String),
    #[error("encoding {what} as JSON: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("ingest transaction took longer than {0:?} and was abandoned")]
    Timeout(Duration),
    #[error("collector_secrets row `{0}` is not hex")]
    BadSecret(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What [`Store::ingest`] did with a batch. Both outcomes may be acked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// The batch is durably stored as segment `segment_id`.
    Stored { segment_id: i64, lines: u32 },
    /// The batch had been stored before; this copy was discarded.
    Duplicate,
    /// A batch with this (agent id, seq) and other content is stored: two installations
    /// share the agent id (a cloned data directory). Nothing was stored; not to be acked.
    Conflict,
}

/// The content hash kept per stored batch: FNV-1a 64 of the compressed payload, which a
/// re-send carries byte for byte.
pub fn content_hash(payload: &[u8]) -> i64 {
    let h = payload.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// Per-host counters for the fleet view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSummary {
    pub host: String,
    pub last_seen_ms: i64,
    pub lines_received: u64,
}

/// One archived line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRecord {
    /// The segment holding the line (segment ids grow in arrival order).
    pub segment_id: i64,
    /// The batch sequence number the agent gave it.
    pub seq: u64,
    /// Position within the batch.
    pub line_no: u32,
    pub ts_ms: i64,
    pub source: String,
    pub line: String,
    pub level: Level,
    pub score: f32,
}

impl LineRecord {
    /// A cursor that resumes right after this line, e.g. to tail a host once a page
    /// came back with no `next_cursor`.
    pub fn cursor(&self) -> String {
        Cursor {
            segment_id: self.segment_id,
            line_no: self.line_no,
        }
        .encode()
    }
}

/// One page of a host's lines.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePage {
    pub lines: Vec<LineRecord>,
    /// Pass back to get the next page; `None` when no more lines are stored yet.
    pub next_cursor: Option<String>,
}

/// What [`Store::apply_retention`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    pub segments_deleted: u64,
    pub bytes_freed: u64,
    /// Unindexed segment files (and stale temp files) removed by the sweep.
    pub orphans_deleted: u64,
    /// Segment rows whose file is missing (lost lines; logged at ERROR, rows kept).
    pub missing_files: u64,
    /// Delete transactions committed for segments.
    pub transactions: u64,
}

/// A segment's index row, as the line reader needs it.
struct SegmentRow {
    id: i64,
    seq: i64,
    path: String,
    raw_len: i64,
    line_count: i64,
}

impl SegmentRow {
    /// From a row whose first columns are `id, seq, path, raw_len, line_count`.
    fn from_row(row: &sqlx::any::AnyRow) -> Result<SegmentRow, sqlx::Error> {
        Ok(SegmentRow {
            id: row.try_get(0)?,
            seq: row.try_get(1)?,
            path: row.try_get(2)?,
            raw_len: row.try_get(3)?,
            line_count: row.try_get(4)?,
        })
    }
}

/// Segment archive plus SQL index. Cheap to clone; clones share the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    archive: Archive,
    dialect: Dialect,
    /// Sorts event rows into error classes (the built-in tables).
    judge: Arc<Judge>,
    /// Wake-ups between the stages that read what this store writes.
    nudges: nudge::Nudges,
    /// The volumes it writes to, and the free space it keeps (see [`space`]).
    volumes: Vec<space::Volume>,
    min_free_bytes: u64,
}

impl Store {
    /// Opens (creating if missing) the database at `url` and the archive at
    /// `archive_dir`, and runs the embedded migrations.
    /// `sqlite:` URLs get `mode=rwc` unless they name a mode; `postgres://` URLs
    /// select PostgreSQL.
    pub async fn open(url: &str, archive_dir: PathBuf) -> Result<Store, StoreError> {
        Store::open_with(url, archive_dir, StoreOptions::default()).await
    }

    /// [`Store::open`] with explicit options.
    pub async fn open_with(
        url: &str,
        archive_dir: PathBuf,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url).ok_or_else(|| {
            StoreError::UnsupportedUrl(url.split(':').next().unwrap_or_default().to_owned())
        })?;
        let archive = Archive::new(archive_dir);
        archive.create_root().await?;
        let pool = match dialect {
            Dialect::Sqlite => open_sqlite(url).await?,
            Dialect::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .connect(url)
                    .await?
            }
        };
        // On PostgreSQL the migrator holds an advisory lock, so replicas may start together.
        dialect.migrator().run(&pool).await?;
        info!(dialect = ?dialect, archive = %archive.root().display(), "Store opened.");
        let mut volumes = vec![space::Volume {
            role: "archive",
            path: archive.root().to_path_buf(),
        }];
        if let Some(dir) = space::sqlite_dir(url) {
            volumes.push(space::Volume {
                role: "database",
                path: dir,
            });
        }
        Ok(Store {
            pool,
            archive,
            dialect,
            judge: Arc::new(Judge::default()),
            nudges: nudge::Nudges::default(),
            volumes,
            min_free_bytes: options.min_free_bytes,
        })
    }

    /// Free space on each volume the store writes to, and whether it is too little to take a
    /// batch (`store.min_free_bytes`).
    pub fn space(&self) -> (Vec<space::Free>, Option<space::DiskFull>) {
        let found = space::measure(&self.volumes);
        let short = (self.min_free_bytes > 0)
            .then(|| space::short_of(&found, self.min_free_bytes))
            .flatten();
        (found, short)
    }

    /// Wake-ups for the stages that poll this store (see [`nudge`]).
    pub fn nudges(&self) -> &nudge::Nudges {
        &self.nudges
    }

    /// Closes the pool; pending queries finish first.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The SQL pool, for modules that keep their own tables in the same database.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The built-in error class `id` (title and suggested fix), if it exists.
    pub fn class_info(&self, id: &str) -> Option<fleetlog_lines::classes::ErrorClass> {
        self.judge.classes().get(id).cloned()
    }

    /// Each host's labels from its agents' latest `Hello` (merged when several agents).
    pub async fn host_labels(
        &self,
    ) -> Result<
        std::collections::HashMap<String, std::collections::BTreeMap<String, String>>,
        StoreError,
    > {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT host, labels_json FROM agents ORDER BY last_seen_ms")
                .fetch_all(&self.pool)
                .await?;
        let mut out: std::collections::HashMap<String, std::collections::BTreeMap<String, String>> =
            std::collections::HashMap::new();
        for (host, json) in rows {
            let labels: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&json).unwrap_or_default();
            out.entry(host).or_default().extend(labels);
        }
        Ok(out)
    }

    /// The segment archive.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Stores a batch exactly once. `payload` must be the decoded `batch.payload`
    /// (see `codec::decode_payload`); `batch.payload` is archived byte for byte.
    /// Returns only once the outcome is durable, so the caller may then ack.
    /// Whether batch `seq` of `agent_id` is stored (whatever its content).
    pub async fn batch_stored(&self, agent_id: &str, seq: u64) -> Result<bool, StoreError> {
        let seq = to_i64("seq", seq)?;
        let seen: Option<(i64, Option<i64>)> = sqlx::query_as(sql::BATCH_EXISTS)
            .bind(clean(agent_id).as_ref())
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(seen.is_some())
    }

    pub async fn ingest(
        &self,
        host: &str,
        batch: &Batch,
        payload: &BatchPayload,
        now_ms: i64,
    ) -> Result<IngestOutcome, StoreError> {
        let seq = to_i64("seq", batch.seq)?;
        if payload.entries.len() != batch.entry_count as usize {
            return Err(StoreError::Mismatch(format!(
                "batch declares {} entries, payload holds {}",
                batch.entry_count,
                payload.entries.len()
            )));
        }
        let agent_id = clean(&batch.agent_id);
        let hash = content_hash(&batch.payload);
        let seen: Option<(i64, Option<i64>)> = sqlx::query_as(sql::BATCH_EXISTS)
            .bind(agent_id.as_ref())
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        if let Some((_, stored_hash)) = seen {
            // Batches stored before migration 0008 have no hash: a duplicate, as before.
            if stored_hash.is_some_and(|h| h != hash) {
                return Ok(IngestOutcome::Conflict);
            }
            debug!(agent_id = %batch.agent_id, seq = batch.seq, "Duplicate batch discarded.");
            return Ok(IngestOutcome::Duplicate);
        }

        let rel_path = Archive::new_segment_path(&batch.agent_id, batch.seq);
        self.archive.write(&rel_path, batch.payload.clone()).await?;

        let indexed = tokio::time::timeout(
            INDEX_TIMEOUT,
            self.index(
                host,
                &agent_id,
                (seq, hash),
                batch,
                payload,
                &rel_path,
                now_ms,
            ),
        )
        .await;
        match indexed {
            Ok(Ok(Some(segment_id))) => {
                let lines = batch.entry_count;
                debug!(agent_id = %batch.agent_id, seq = batch.seq, segment_id, lines, "Batch stored.");
                self.nudges.incidents.notify_one();
                Ok(IngestOutcome::Stored { segment_id, lines })
            }
            Ok(Ok(None)) => {
                // Rolled back: no row names this file, so it is ours to delete.
                if let Err(err) = self.archive.remove(&rel_path).await {
                    warn!(path = %rel_path, error = %err, "Removing a duplicate segment failed; the sweep will.");
                }
                debug!(agent_id = %batch.agent_id, seq = batch.seq, "Concurrent duplicate discarded.");
                Ok(IngestOutcome::Duplicate)
            }
            // The commit may or may not have happened, so the file stays; if it is not
            // indexed, the sweep removes it after the grace period.
            Ok(Err(err)) => Err(err),
            Err(_elapsed) => Err(StoreError::Timeout(INDEX_TIMEOUT)),
        }
    }

    /// The ingest transaction; `Ok(None)` means another writer stored the batch first.
    #[allow(clippy::too_many_arguments)]
    async fn index(
        &self,
        host: &str,
        agent_id: &str,
        (seq, hash): (i64, i64),
        batch: &Batch,
        payload: &BatchPayload,
        rel_path: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let host = clean(host);
        let sources_json =
            serde_json::to_string(&payload.sources).map_err(|source| StoreError::Json {
                what: "sources",
                source,
            })?;
        let min_ts = payload.entries.iter().map(|e| e.ts_ms).min();
        let max_ts = payload.entries.iter().map(|e| e.ts_ms).max();
        let lines = i64::from(batch.entry_count);
        // What `lines_received` counts: the lines the source wrote, so a joined stack trace
        // counts as its lines (`wc -l`), not as one; merged CRI partials are the one line the
        // container wrote.
        let physical_lines: u64 = payload.entries.iter().map(Entry::physical_lines).sum();
        let bytes = i64::try_from(batch.payload.len()).unwrap_or(i64::MAX);

        // Parsing, classifying and grouping the event lines is CPU work that needs no
        // database: done before the transaction, so the host lock (and SQLite's write
        // lock) is held only for the SQL.
        let groups = grouping::group_events(&payload.entries, is_event, |entry| {
            let service = service_of_entry(payload, entry);
            self.event_class_and_fingerprint(&service, &entry.line)
        });

        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        if let Some(lock) = self.dialect.host_lock() {
            sqlx::query(lock)
                .bind(host.as_ref())
                .execute(&mut *tx)
                .await?;
        }
        let segment_id: i64 = sqlx::query_scalar(sql::INSERT_SEGMENT)
            .bind(agent_id)
            .bind(host.as_ref())
            .bind(seq)
            .bind(rel_path)
            .bind(sources_json)
            .bind(min_ts)
            .bind(max_ts)
            .bind(lines)
            .bind(bytes)
            .bind(i64::from(batch.raw_len))
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
        let inserted = sqlx::query(sql::INSERT_BATCH)
            .bind(agent_id)
            .bind(seq)
            .bind(segment_id)
            .bind(now_ms)
            .bind(hash)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                tx.rollback().await?;
                return Ok(None);
            }
            // Belt and braces: a unique violation means the same as "no row inserted".
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                tx.rollback().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }

        for chunk in groups.chunks(sql::EVENTS_PER_INSERT) {
            let statement = sql::insert_events(chunk.len());
            let mut query = sqlx::query(&statement);
            for group in chunk {
                let entry = group.entry;
                let source = source_of(payload, entry);
                let service = service_of_entry(payload, entry);
                query = query
                    .bind(host.as_ref())
                    .bind(clean(source).into_owned())
                    .bind(entry.ts_ms)
                    .bind(entry.level.as_str())
                    .bind(finite_score(entry.score))
                    .bind(clean(&entry.line).into_owned())
                    .bind(segment_id)
                    .bind(i64::from(group.line_no))
                    .bind(group.class.clone())
                    .bind(clean(&service).into_owned())
                    .bind(group.fingerprint.clone())
                    .bind(i64::from(group.occurrences))
                    .bind(group.last_ts_ms)
                    .bind(entry.logged_ms)
                    .bind(entry.template.map(i64::from));
            }
            query.execute(&mut *tx).await?;
        }

        let services: Vec<String> = (0..payload.sources.len())
            .map(|i| clean(&service_of_source(payload, i)).into_owned())
            .collect();
        stats::upsert(
            &mut tx,
            host.as_ref(),
            &services,
            stats::count(payload, now_ms),
            now_ms,
        )
        .await?;

        sqlx::query(sql::UPSERT_HOST)
            .bind(host.as_ref())
            .bind(now_ms)
            .bind(i64::try_from(physical_lines).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(segment_id))
    }

    /// Records an agent's identity as of its latest `Hello`.
    pub async fn upsert_agent(
        &self,
        agent_id: &str,
        host: &str,
        labels: &[(String, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let labels_json = serde_json::to_string(&labels).map_err(|source| StoreError::Json {
            what: "labels",
            source,
        })?;
        sqlx::query(sql::UPSERT_AGENT)
            .bind(clean(agent_id).as_ref())
            .bind(clean(host).as_ref())
            .bind(labels_json)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The highest sequence number stored for an agent (including batches whose segment
    /// retention has since deleted).
    pub async fn last_seq(&self, agent_id: &str) -> Result<Option<u64>, StoreError> {
        let max: Option<i64> = sqlx::query_scalar(sql::LAST_SEQ)
            .bind(clean(agent_id).as_ref())
            .fetch_one(&self.pool)
            .await?;
        // Stored seqs were checked to fit i64 and are never negative.
        Ok(max.and_then(|m| u64::try_from(m).ok()))
    }

    /// Every host that has sent lines, by name.
    pub async fn hosts(&self) -> Result<Vec<HostSummary>, StoreError> {
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as(sql::HOSTS).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(host, last_seen_ms, lines)| HostSummary {
                host,
                last_seen_ms,
                lines_received: u64::try_from(lines).unwrap_or(0),
            })
            .collect())
    }

    /// A page of `host`'s lines in arrival order (segment id, then line within the
    /// segment), after `cursor` (from a previous page) or from the oldest stored line.
    /// `limit` is clamped to `1..=MAX_PAGE_LINES`.
    pub async fn lines(
        &self,
        host: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<LinePage, StoreError> {
        let after = cursor.map(Cursor::parse).transpose()?;
        let limit = limit.clamp(1, MAX_PAGE_LINES) as usize;
        let host = clean(host);
        let mut out: Vec<LineRecord> = Vec::new();
        let mut page_bytes = 0usize;
        let mut from_id = after.map_or(0, |c| c.segment_id);
        loop {
            let rows = sqlx::query(sql::HOST_SEGMENTS)
                .bind(host.as_ref())
                .bind(from_id)
                .bind(SEGMENTS_PER_QUERY)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(LinePage {
                    lines: out,
                    next_cursor: None,
                });
            };
            from_id = last.try_get::<i64, _>(0)?.saturating_add(1);
            for row in rows {
                let seg = SegmentRow::from_row(&row)?;
                let skip = match after {
                    Some(c) if c.segment_id == seg.id => i64::from(c.line_no) + 1,
                    _ => 0,
                };
                if skip >= seg.line_count {
                    continue;
                }
                if out.len() == limit || page_bytes >= MAX_PAGE_BYTES {
                    // The index says more lines exist: no need to read this file now.
                    return Ok(LinePage {
                        next_cursor: last_cursor(&out),
                        lines: out,
                    });
                }
                let Some(payload) = self.load_segment(&seg).await? else {
                    continue; // deleted by retention while we read
                };
                let want = limit - out.len();
                let skip = usize::try_from(skip).unwrap_or(usize::MAX);
                let seq = u64::try_from(seg.seq).unwrap_or(0);
                let mut taken = 0usize;
                for (line_no, entry) in (0u32..).zip(payload.entries).skip(skip).take(want) {
                    if page_bytes >= MAX_PAGE_BYTES && !out.is_empty() {
                        break;
                    }
                    page_bytes += entry.line.len();
                    taken += 1;
                    let source = payload
                        .sources
                        .get(entry.source as usize)
                        .cloned()
                        .ok_or_else(|| corrupt(seg.id, "entry names an unknown source"))?;
                    out.push(LineRecord {
                        segment_id: seg.id,
                        seq,
                        line_no,
                        ts_ms: entry.ts_ms,
                        source,
                        line: entry.line,
                        level: entry.level,
                        score: entry.score,
                    });
                }
                let consumed = skip.saturating_add(taken);
                if (out.len() == limit || page_bytes >= MAX_PAGE_BYTES)
                    && i64::try_from(consumed).unwrap_or(i64::MAX) < seg.line_count
                {
                    return Ok(LinePage {
                        next_cursor: last_cursor(&out),
                        lines: out,
                    });
                }
            }
        }
    }

    /// Reads and decodes one segment; `Ok(None)` if retention deleted it meanwhile.
    async fn load_segment(&self, seg: &SegmentRow) -> Result<Option<BatchPayload>, StoreError> {
        let bytes = match self.archive.read(&seg.path).await {
            Ok(bytes) => bytes,
            Err(StoreError::Io { path, source }) => {
                if source.kind() == std::io::ErrorKind::NotFound
                    && !self.segment_exists(seg.id).await?
                {
                    return Ok(None);
                }
                return Err(corrupt(
                    seg.id,
                    &format!("reading {}: {source}", path.display()),
                ));
            }
            Err(other) => return Err(other),
        };
        let raw_len =
            usize::try_from(seg.raw_len).map_err(|_| corrupt(seg.id, "negative raw_len"))?;
        let payload =
            tokio::task::spawn_blocking(move || decode_compressed_payload(&bytes, raw_len))
                .await?
                .map_err(|e| corrupt(seg.id, &e.to_string()))?;
        if i64::try_from(payload.entries.len()).ok() != Some(seg.line_count) {
            return Err(corrupt(
                seg.id,
                &format!(
                    "holds {} lines, index says {}",
                    payload.entries.len(),
                    seg.line_count
                ),
            ));
        }
        Ok(Some(payload))
    }

    async fn segment_exists(&self, id: i64) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(sql::SEGMENT_EXISTS)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Deletes whole segments, oldest first, older than `max_age` or while the archive
    /// exceeds `max_bytes`, then sweeps orphan files older than [`ORPHAN_GRACE`].
    /// The expired segments of each chunk of `RETENTION_CHUNK` (256) rows go in one
    /// transaction (rows first), then their files; a crash in between leaves orphan
    /// files for the next sweep. Event rows stay (with a NULL `segment_id`), and
    /// `batches` rows stay so late re-sends remain duplicates (both have their own
    /// retention, [`Store::apply_row_retention`]).
    pub async fn apply_retention(
        &self,
        now_ms: i64,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<RetentionReport, StoreError> {
        let policy = Policy { max_age, max_bytes };
        let mut report = RetentionReport::default();
        if max_age.is_some() || max_bytes.is_some() {
            let total: i64 = sqlx::query_scalar(sql::TOTAL_BYTES)
                .fetch_one(&self.pool)
                .await?;
            let mut total = u64::try_from(total).unwrap_or(0);
            let mut after_id = 0i64;
            loop {
                let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sql::OLDEST_SEGMENTS)
                    .bind(after_id)
                    .bind(RETENTION_CHUNK)
                    .fetch_all(&self.pool)
                    .await?;
                let Some(last) = rows.last() else { break };
                after_id = last.0;
                let sizes: Vec<SegmentSize> = rows
                    .iter()
                    .map(|&(id, created_ms, bytes, _)| SegmentSize {
                        id,
                        created_ms,
                        bytes: u64::try_from(bytes).unwrap_or(0),
                    })
                    .collect();
                let (doomed, stopped) = retention::plan(&sizes, total, now_ms, policy);
                let doomed: Vec<&(i64, i64, i64, String)> =
                    rows.iter().filter(|r| doomed.contains(&r.0)).collect();
                total = total
                    .saturating_sub(doomed.iter().map(|r| u64::try_from(r.2).unwrap_or(0)).sum());
                if !doomed.is_empty() {
                    let (segments, bytes) = self.delete_segments(&doomed).await?;
                    report.segments_deleted += segments;
                    report.bytes_freed += bytes;
                    report.transactions += 1;
                }
                if stopped {
                    break;
                }
            }
        }
        let sweep = self.sweep(now_ms, ORPHAN_GRACE).await?;
        report.orphans_deleted = sweep.orphans;
        report.missing_files = sweep.missing;
        if report != RetentionReport::default() {
            info!(
                segments_deleted = report.segments_deleted,
                bytes_freed = report.bytes_freed,
                orphans_deleted = report.orphans_deleted,
                missing_files = report.missing_files,
                "Retention applied."
            );
        }
        Ok(report)
    }

    /// Deletes `doomed` segments' rows (detaching their events) in one transaction,
    /// then their files. Returns the segments and bytes this call deleted; a row another
    /// replica deleted first is not counted, and its file is that replica's to remove.
    async fn delete_segments(
        &self,
        doomed: &[&(i64, i64, i64, String)],
    ) -> Result<(u64, u64), StoreError> {
        let list = (1..=doomed.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let detach = format!("UPDATE events SET segment_id = NULL WHERE segment_id IN ({list})");
        let mut query = sqlx::query(&detach);
        for row in doomed {
            query = query.bind(row.0);
        }
        query.execute(&mut *tx).await?;
        let delete = format!("DELETE FROM segments WHERE id IN ({list}) RETURNING id");
        let mut query = sqlx::query_scalar::<_, i64>(&delete);
        for row in doomed {
            query = query.bind(row.0);
        }
        let deleted: Vec<i64> = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let (mut segments, mut bytes) = (0, 0);
        for (id, _, size, rel_path) in doomed.iter().filter(|r| deleted.contains(&r.0)) {
            segments += 1;
            bytes += u64::try_from(*size).unwrap_or(0);
            if let Err(err) = self.archive.remove(rel_path).await {
                warn!(segment = id, path = %rel_path, error = %err, "Removing an expired segment file failed; the sweep will.");
            }
        }
        Ok((segments, bytes))
    }

    /// Deletes archive files that no segment row names (and stale temp files), if
    /// last modified more than `grace` before `now_ms`. Returns how many it deleted.
    /// Safe to run while ingesting, and on several replicas sharing one archive, as long
    /// as `grace` exceeds [`INDEX_TIMEOUT`].
    pub async fn sweep_orphans(&self, now_ms: i64, grace: Duration) -> Result<u64, StoreError> {
        Ok(self.sweep(now_ms, grace).await?.orphans)
    }

    /// The sweep: one listing of the archive, then one pass over the index in chunks of
    /// [`SWEEP_CHUNK`] rows compared in memory (not one query per file).
    /// A file listed before its row commits is younger than `grace`, so never a
    /// candidate; a row older than `grace` whose file was not listed has lost its lines.
    async fn sweep(&self, now_ms: i64, grace: Duration) -> Result<Sweep, StoreError> {
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let files = self.archive.list().await?;
        let listed: HashSet<&str> = files
            .iter()
            .filter(|f| !f.temporary)
            .map(|f| f.rel_path.as_str())
            .collect();
        let old = |f: &&ArchiveFile| now_ms.saturating_sub(f.modified_ms) >= grace_ms;
        let mut candidates: HashSet<&str> = files
            .iter()
            .filter(old)
            .filter(|f| !f.temporary)
            .map(|f| f.rel_path.as_str())
            .collect();
        let mut sweep = Sweep::default();
        let mut after_id = 0i64;
        loop {
            let rows: Vec<(i64, String, i64)> = sqlx::query_as(sql::SEGMENT_PATHS)
                .bind(after_id)
                .bind(SWEEP_CHUNK)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after_id = last.0;
            for (id, path, created_ms) in &rows {
                candidates.remove(path.as_str());
                if !listed.contains(path.as_str())
                    && now_ms.saturating_sub(*created_ms) >= grace_ms
                    && !self.archive.exists(path).await?
                {
                    sweep.missing += 1;
                    error!(segment = id, %path, "Indexed segment file is missing: its lines are lost.");
                }
            }
            if rows.len() < usize::try_from(SWEEP_CHUNK).unwrap_or(usize::MAX) {
                break;
            }
        }
        let doomed = files
            .iter()
            .filter(old)
            .filter(|f| f.temporary || candidates.contains(f.rel_path.as_str()));
        for file in doomed {
            if self.archive.remove(&file.rel_path).await? {
                debug!(path = %file.rel_path, "Orphan segment file removed.");
                sweep.orphans += 1;
            }
        }
        Ok(sweep)
    }
}

/// What one sweep found.
#[derive(Debug, Default)]
struct Sweep {
    orphans: u64,
    missing: u64,
}

/// Opens a SQLite pool: file created if missing, WAL, `synchronous = FULL`, busy timeout.
async fn open_sqlite(url: &str) -> Result<AnyPool, StoreError> {
    let url = sqlite_url_with_mode(url);
    if let Some(parent) = sqlite_file(&url).and_then(Path::parent)
        && !parent.as_os_str().is_empty()
    {
        let parent = parent.to_path_buf();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|source| StoreError::Io {
                path: parent,
                source,
            })?;
    }
    // WAL is a property of the file. Switching to it needs an exclusive lock that
    // busy_timeout does not wait for, so it is done once, alone, before the pool opens.
    let mut conn = AnyConnection::connect(&url).await?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let pool = AnyPoolOptions::new()
        .max_connections(SQLITE_MAX_CONNECTIONS)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("PRAGMA synchronous = FULL")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(&format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    Ok(pool)
}

/// Adds `mode=rwc` (create if missing) unless the URL already names a mode.
fn sqlite_url_with_mode(url: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    if query.split('&').any(|kv| kv.starts_with("mode=")) {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The file a `sqlite:` URL names, if it names one.
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

fn to_i64(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { what, value })
}

/// Agent-supplied text with NUL replaced, which PostgreSQL `TEXT` cannot hold.
fn clean(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The source path of an entry (empty if its index is out of range).
fn source_of<'p>(payload: &'p BatchPayload, entry: &Entry) -> &'p str {
    payload
        .sources
        .get(entry.source as usize)
        .map(String::as_str)
        .unwrap_or("")
}

/// Whether a line gets an event row: warn or worse, or scored unhealthy by the agent.
/// The service of source `index` of a payload: the agent's (v4 source metadata) when it
/// names one, else derived from the path (`events::service_of`).
fn service_of_source(payload: &BatchPayload, index: usize) -> String {
    payload
        .source_meta
        .get(index)
        .and_then(|m| m.service.as_deref())
        .filter(|s| !s.trim().is_empty())
        .map_or_else(
            || events::service_of(payload.sources.get(index).map_or("", String::as_str)),
            str::to_owned,
        )
}

/// The service of an entry's source (see `service_of_source`).
fn service_of_entry(payload: &BatchPayload, entry: &Entry) -> String {
    service_of_source(payload, entry.source as usize)
}

fn is_event(entry: &Entry) -> bool {
    entry.level >= Level::Warn || entry.score >= Severity::UNHEALTHY_AT
}

impl Store {
    /// The error class of an event row's line, by the same rule as the agent's.
    /// An event row's class and fingerprint, from one parse of the line: the class by the
    /// agent's rule, the fingerprint from the message without its header (time, level,
    /// thread), so the header's format never splits an incident.
    fn event_class_and_fingerprint(
        &self,
        service: &str,
        line: &str,
    ) -> (Option<String>, Option<String>) {
        // A joined multi-line entry (a stack trace) is fingerprinted by its first line; the
        // rest helps to name its class.
        let (line, details) = line.split_once('\n').unwrap_or((line, ""));
        // The year only matters for RFC 3164 timestamps, which neither uses.
        let parsed = parse_line(line, 1970);
        let class = self.judge.class_of(&parsed, details).map(|c| c.id.clone());
        let fingerprint = crate::incidents::fingerprint::fingerprint(
            service,
            class.as_deref(),
            if crate::incidents::fingerprint::is_continuation(line) {
                line
            } else {
                &parsed.content
            },
        );
        (class, fingerprint)
    }
}

/// A score SQL can store: SQLite turns NaN into NULL, so non-finite scores become 0.
fn finite_score(score: f32) -> f64 {
    if score.is_finite() {
        f64::from(score)
    } else {
        0.0
    }
}

fn corrupt(segment: i64, reason: &str) -> StoreError {
    StoreError::Corrupt {
        segment,
        reason: reason.to_owned(),
    }
}

fn last_cursor(lines: &[LineRecord]) -> Option<String> {
    lines.last().map(|l| {
        Cursor {
            segment_id: l.segment_id,
            line_no: l.line_no,
        }
        .encode()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(
            sqlite_url_with_mode("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_mode("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_mode("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }

    #[test]
    fn sqlite_file_paths() {
        assert_eq!(
            sqlite_file("sqlite:///data/x.db?mode=rwc"),
            Some(Path::new("/data/x.db"))
        );
        assert_eq!(sqlite_file("sqlite:rel/x.db"), Some(Path::new("rel/x.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn text_and_scores_are_made_storable() {
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
        assert_eq!(finite_score(f32::NAN), 0.0);
        assert_eq!(finite_score(0.5), 0.5);
    }
}
