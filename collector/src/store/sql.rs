//! SQL text shared by SQLite and PostgreSQL, and the one place the dialects differ.
//!
//! Every statement runs unchanged on both databases through `sqlx::Any`:
//! `$n` placeholders (SQLite reads `$n` as parameter n), `ON CONFLICT ... DO`,
//! `RETURNING`, and `CASE` instead of `MAX`/`GREATEST`, which the two spell differently.
//! Aggregates that PostgreSQL widens to NUMERIC are cast back to BIGINT, because the
//! `Any` driver has no NUMERIC type.
//! Only DDL differs, and it lives in `migrations/sqlite/` and `migrations/postgres/`.

use sqlx::migrate::Migrator;

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of a connection URL, or `None` if it is neither SQLite nor PostgreSQL.
    pub fn of_url(url: &str) -> Option<Dialect> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Dialect::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else {
            None
        }
    }

    /// The embedded migrations for this dialect.
    pub fn migrator(self) -> &'static Migrator {
        static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
        match self {
            Dialect::Sqlite => &SQLITE,
            Dialect::Postgres => &POSTGRES,
        }
    }

    /// Run first in an ingest transaction, with the host as `$1`, so that a host's
    /// segment ids are allocated in commit order and a reader's cursor never skips a
    /// segment that commits late. SQLite needs nothing: `BEGIN IMMEDIATE` already
    /// serialises writers. On PostgreSQL the lock is per host and released at commit.
    pub fn host_lock(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SELECT pg_advisory_xact_lock(hashtext($1))"),
        }
    }

    /// How an ingest transaction begins. SQLite takes the write lock up front
    /// (waiting out `busy_timeout`) instead of failing to upgrade a read lock later.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
}

pub(super) const BATCH_EXISTS: &str =
    "SELECT segment_id, content_hash FROM batches WHERE agent_id = $1 AND seq = $2";

pub(super) const INSERT_SEGMENT: &str = "INSERT INTO segments \
    (agent_id, host, seq, path, sources_json, min_ts_ms, max_ts_ms, line_count, bytes, raw_len, \
     created_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

/// The exactly-once arbiter: zero rows affected means another writer stored this batch.
pub(super) const INSERT_BATCH: &str = "INSERT INTO batches \
    (agent_id, seq, segment_id, stored_ms, content_hash) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id, seq) DO NOTHING";

pub(super) const UPSERT_HOST: &str = "INSERT INTO hosts (host, last_seen_ms, lines_received) \
    VALUES ($1, $2, $3) ON CONFLICT (host) DO UPDATE SET \
    lines_received = hosts.lines_received + excluded.lines_received, \
    last_seen_ms = CASE WHEN excluded.last_seen_ms > hosts.last_seen_ms \
        THEN excluded.last_seen_ms ELSE hosts.last_seen_ms END";

pub(super) const UPSERT_AGENT: &str = "INSERT INTO agents \
    (agent_id, host, labels_json, first_seen_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4) \
    ON CONFLICT (agent_id) DO UPDATE SET host = excluded.host, labels_json = excluded.labels_json, \
    last_seen_ms = CASE WHEN excluded.last_seen_ms > agents.last_seen_ms \
        THEN excluded.last_seen_ms ELSE agents.last_seen_ms END";

/// Columns of one event row, in `insert_events` order.
pub(super) const EVENT_COLUMNS: usize = 15;
/// Event rows per INSERT. Binding a numbered parameter costs time linear in the
/// statement's parameter count in sqlx-sqlite (a name lookup per bind), so a statement's
/// cost grows with the square of its size: at 400 rows (3,600 parameters) the lookups
/// were 13 % of the collector's CPU. 32 rows keeps that negligible while still
/// amortising the statement round trip; both databases' limits are far away.
pub(super) const EVENTS_PER_INSERT: usize = 32;

/// A multi-row event INSERT for `rows` rows (1..=EVENTS_PER_INSERT).
pub(super) fn insert_events(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (host, source, ts_ms, level, score, line, segment_id, line_no, class, \
         service, fingerprint, occurrences, last_ts_ms, logged_ms, template_id) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..EVENT_COLUMNS {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * EVENT_COLUMNS + col + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

pub(super) const LAST_SEQ: &str = "SELECT MAX(seq) FROM batches WHERE agent_id = $1";

pub(super) const HOSTS: &str = "SELECT host, last_seen_ms, lines_received FROM hosts ORDER BY host";

/// A host's segments from a given id on, in arrival order.
pub(super) const HOST_SEGMENTS: &str = "SELECT id, seq, path, raw_len, line_count FROM segments \
    WHERE host = $1 AND id >= $2 ORDER BY id LIMIT $3";

/// A host's segments from `$2` (inclusive) back to the oldest, newest first.
pub(super) const HOST_SEGMENTS_BACKWARDS: &str = "SELECT id, seq, path, raw_len, line_count \
    FROM segments WHERE host = $1 AND id <= $2 ORDER BY id DESC LIMIT $3";

pub(super) const SEGMENT_EXISTS: &str = "SELECT id FROM segments WHERE id = $1";

/// Segment rows in id order for the orphan sweep: `$1` the id to read after, `$2` how many.
pub(super) const SEGMENT_PATHS: &str =
    "SELECT id, path, created_ms FROM segments WHERE id > $1 ORDER BY id LIMIT $2";

pub(super) const TOTAL_BYTES: &str = "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM segments";

pub(super) const OLDEST_SEGMENTS: &str =
    "SELECT id, created_ms, bytes, path FROM segments WHERE id > $1 ORDER BY id LIMIT $2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_insert_numbers_placeholders_in_order() {
        assert_eq!(
            insert_events(2),
            "INSERT INTO events (host, source, ts_ms, level, score, line, segment_id, line_no, class, \
             service, fingerprint, occurrences, last_ts_ms, logged_ms, template_id) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15), \
             ($16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"
        );
    }

    #[test]
    fn dialect_from_url() {
        assert_eq!(
            Dialect::of_url("postgres://u@h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(
            Dialect::of_url("postgresql://u@h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(
            Dialect::of_url("sqlite://x.db?mode=rwc"),
            Some(Dialect::Sqlite)
        );
        assert_eq!(Dialect::of_url("sqlite::memory:"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::of_url("mysql://x"), None);
    }
}
