-- Collector store, SQLite dialect.
-- Keep table and column names identical to ../postgres/0001_store.sql
-- (tests/store.rs `migrations_have_identical_tables_and_columns` checks it).
-- Integers are BIGINT (INTEGER affinity) except the rowid aliases, which SQLite requires to be
-- spelled `INTEGER PRIMARY KEY`; AUTOINCREMENT keeps ids from ever being reused, so a read
-- cursor naming a segment deleted by retention can never point at a newer segment.

CREATE TABLE agents (
    agent_id      TEXT PRIMARY KEY NOT NULL,
    host          TEXT NOT NULL,
    labels_json   TEXT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL
);

-- One row per archived segment file (one agent batch, kept exactly as it arrived).
CREATE TABLE segments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id     TEXT NOT NULL,
    host         TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    path         TEXT NOT NULL UNIQUE,
    sources_json TEXT NOT NULL,
    min_ts_ms    BIGINT,
    max_ts_ms    BIGINT,
    line_count   BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    raw_len      BIGINT NOT NULL,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX segments_host_id ON segments (host, id);
CREATE INDEX segments_created ON segments (created_ms);

-- The exactly-once record: one row per (agent, seq) ever stored.
-- Outlives its segment (retention never deletes it), so a late re-send stays a duplicate.
CREATE TABLE batches (
    agent_id   TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    segment_id BIGINT NOT NULL,
    stored_ms  BIGINT NOT NULL,
    PRIMARY KEY (agent_id, seq)
);

CREATE TABLE hosts (
    host           TEXT PRIMARY KEY NOT NULL,
    last_seen_ms   BIGINT NOT NULL,
    lines_received BIGINT NOT NULL
);

-- Lines of level warn or worse. segment_id is NULL once retention removed the segment.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    host       TEXT NOT NULL,
    source     TEXT NOT NULL,
    ts_ms      BIGINT NOT NULL,
    level      TEXT NOT NULL,
    score      REAL NOT NULL,
    line       TEXT NOT NULL,
    segment_id BIGINT,
    line_no    BIGINT NOT NULL
);
CREATE INDEX events_host_ts ON events (host, ts_ms);
CREATE INDEX events_ts ON events (ts_ms);
CREATE INDEX events_segment ON events (segment_id);
