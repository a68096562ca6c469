-- The outbox (one persistent queue for every side effect: notifications, Jira calls) and
-- alerting: rules, alert states and their change feed, silences, channels, groups.
-- Keep table and column names identical in sqlite/ and postgres/ (tests/store.rs checks it).

-- A side effect to perform, written in the transaction of the decision that caused it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- "email" | "slack" | "webhook" | "jira" | ...: which Deliver impl handles it.
    kind            TEXT NOT NULL,
    -- The channel id, or e.g. "jira".
    target          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    -- JSON; never a secret (deliverers look secrets up by target).
    payload         TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    due_ms          BIGINT NOT NULL,
    -- Claims so far (a claim counts as an attempt, so a crash loop also dead-letters).
    attempts        BIGINT NOT NULL,
    -- "pending" | "done" | "dead"
    state           TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  BIGINT,
    last_error      TEXT,
    finished_ms     BIGINT
);
CREATE INDEX outbox_due ON outbox (state, due_ms);
CREATE INDEX outbox_target ON outbox (target, id);

-- Every delivery attempt: the per-channel delivery history.
CREATE TABLE outbox_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  BIGINT NOT NULL,
    target      TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    started_ms  BIGINT NOT NULL,
    latency_ms  BIGINT NOT NULL,
    -- "delivered" | "retry" | "dead"
    outcome     TEXT NOT NULL,
    http_status BIGINT,
    error       TEXT
);
CREATE INDEX outbox_attempts_target ON outbox_attempts (target, id);
CREATE INDEX outbox_attempts_message ON outbox_attempts (message_id, id);

-- Notification channels; secrets_json is write-only through the API.
CREATE TABLE channels (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    config_json  TEXT NOT NULL,
    secrets_json TEXT NOT NULL,
    -- Which alerts go here: {"rules": [...], "matchers": {...}, "default": bool}.
    route_json   TEXT NOT NULL,
    -- "api" | "config" (declared in the config file, re-applied at start).
    source       TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL
);

-- Alert rules: the built-in ones (seeded at start, thresholds editable) and custom ones.
CREATE TABLE alert_rules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    builtin       BIGINT NOT NULL,
    enabled       BIGINT NOT NULL,
    -- The rule as JSON (measure, scope, comparison, threshold, window, for, ...).
    spec_json     TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

-- One alert per (rule, scope labels): its current state.
CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id          BIGINT NOT NULL,
    -- Stable across replicas and restarts: FNV-1a of rule id + sorted labels.
    fingerprint      TEXT NOT NULL UNIQUE,
    labels_json      TEXT NOT NULL,
    -- "inactive" | "pending" | "firing" | "resolved"
    state            TEXT NOT NULL,
    severity         TEXT NOT NULL,
    value            REAL NOT NULL,
    threshold        REAL NOT NULL,
    summary          TEXT NOT NULL,
    -- The decider's state (pending/firing/last-true times, ack) as JSON.
    state_json       TEXT NOT NULL,
    started_ms       BIGINT,
    ended_ms         BIGINT,
    updated_ms       BIGINT NOT NULL
);
CREATE INDEX alerts_state ON alerts (state, updated_ms);

-- Every alert state change (the history and the feed for the stream).
CREATE TABLE alert_changes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id  BIGINT NOT NULL,
    rule_id   BIGINT NOT NULL,
    state     TEXT NOT NULL,
    severity  TEXT NOT NULL,
    value     REAL NOT NULL,
    labels_json TEXT NOT NULL,
    actor     TEXT,
    ts_ms     BIGINT NOT NULL
);
CREATE INDEX alert_changes_alert ON alert_changes (alert_id, id);

-- Silences: label matchers over a time range; they suppress notifications, not evaluation.
CREATE TABLE silences (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers_json TEXT NOT NULL,
    starts_ms     BIGINT NOT NULL,
    ends_ms       BIGINT NOT NULL,
    comment       TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_ms);

-- Notification groups (rule + group labels): when each was last sent and what it held.
CREATE TABLE alert_groups (
    group_key    TEXT PRIMARY KEY NOT NULL,
    state_json   TEXT NOT NULL,
    updated_ms   BIGINT NOT NULL
);
