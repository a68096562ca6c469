-- Fleet health and incidents: per-minute counts, heartbeats, health states and incidents,
-- each change also a row in a feed with a growing id (the store is the change feed).
-- Keep table and column names identical in sqlite/ and postgres/ (tests/store.rs checks it).

-- Lines per (host, service, minute of the line's own time), by level, written at ingest.
CREATE TABLE minute_stats (
    host            TEXT NOT NULL,
    service         TEXT NOT NULL,
    minute_ms       BIGINT NOT NULL,
    lines           BIGINT NOT NULL,
    warn            BIGINT NOT NULL,
    error           BIGINT NOT NULL,
    critical        BIGINT NOT NULL,
    -- Sum over lines of (arrival - line time), for the mean processing lag.
    lag_ms_sum      BIGINT NOT NULL,
    last_arrival_ms BIGINT NOT NULL,
    PRIMARY KEY (host, service, minute_ms)
);
CREATE INDEX minute_stats_minute ON minute_stats (minute_ms);

-- The grouping key of an event (service + class + template, see incidents/fingerprint.rs).
ALTER TABLE events ADD COLUMN fingerprint TEXT;
CREATE INDEX events_fingerprint_id ON events (fingerprint, id);

-- Agent heartbeats: the latest per agent, and a history.
CREATE TABLE agent_status (
    agent_id    TEXT PRIMARY KEY NOT NULL,
    host        TEXT NOT NULL,
    ts_ms       BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    status_json TEXT NOT NULL
);
CREATE TABLE heartbeats (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id    TEXT NOT NULL,
    host        TEXT NOT NULL,
    ts_ms       BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    status_json TEXT NOT NULL
);
CREATE INDEX heartbeats_host_ts ON heartbeats (host, ts_ms);

-- Current health per host (service = '') and per service on a host.
CREATE TABLE health (
    host           TEXT NOT NULL,
    service        TEXT NOT NULL,
    state          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    since_ms       BIGINT NOT NULL,
    clear_since_ms BIGINT,
    updated_ms     BIGINT NOT NULL,
    PRIMARY KEY (host, service)
);
-- Every health state change (the feed for the stream, alerts and history).
CREATE TABLE health_changes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    host    TEXT NOT NULL,
    service TEXT NOT NULL,
    state   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    ts_ms   BIGINT NOT NULL
);
CREATE INDEX health_changes_host ON health_changes (host, id);

CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint     TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    worst           TEXT NOT NULL,
    class           TEXT,
    service         TEXT,
    title           TEXT NOT NULL,
    first_seen_ms   BIGINT NOT NULL,
    last_seen_ms    BIGINT NOT NULL,
    event_count     BIGINT NOT NULL,
    host_count      BIGINT NOT NULL,
    hosts_json      TEXT NOT NULL,
    samples_json    TEXT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    window_count    BIGINT NOT NULL,
    opened_ms       BIGINT,
    resolved_ms     BIGINT,
    resolved_by     TEXT,
    regressions     BIGINT NOT NULL,
    related_json    TEXT NOT NULL,
    updated_ms      BIGINT NOT NULL
);
CREATE INDEX incidents_status ON incidents (status, last_seen_ms);
-- The timeline of every incident, and the feed of incident changes.
CREATE TABLE incident_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL,
    change      TEXT NOT NULL,
    status      TEXT NOT NULL,
    severity    TEXT NOT NULL,
    host_count  BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    actor       TEXT,
    ts_ms       BIGINT NOT NULL
);
CREATE INDEX incident_changes_incident ON incident_changes (incident_id, id);

-- Workers that must act once across replicas: a lease and a position per worker.
CREATE TABLE worker_leases (
    name           TEXT PRIMARY KEY NOT NULL,
    owner          TEXT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    position       BIGINT NOT NULL
);
