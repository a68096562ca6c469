-- Jira automation: one ticket per incident fingerprint, every decision audited, and the
-- settings changed at run time. Keep table and column names identical in sqlite/ and
-- postgres/ (tests/store.rs checks it).

-- One row per incident that has (or is getting) a ticket. The row is written in the same
-- transaction as the decision and its outbox message; the UNIQUE fingerprint makes a second
-- create decision for one incident impossible, on any replica.
CREATE TABLE tickets (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id      BIGINT NOT NULL,
    fingerprint      TEXT NOT NULL UNIQUE,
    -- NULL until Jira's answer (or a duplicate check) gave it.
    issue_key        TEXT,
    issue_id         TEXT,
    -- creating | open
    state            TEXT NOT NULL,
    severity         TEXT NOT NULL,
    confidence       REAL NOT NULL,
    regressions_seen BIGINT NOT NULL,
    -- Incident events and hosts already told to Jira (create or last comment).
    told_events      BIGINT NOT NULL,
    told_hosts       BIGINT NOT NULL,
    last_told_ms     BIGINT NOT NULL,
    comments         BIGINT NOT NULL,
    reopens          BIGINT NOT NULL,
    -- Set before each create request is sent: a create whose answer never came (timeout,
    -- crash) is not retried until Jira's search has had time to show it.
    create_started_ms BIGINT,
    created_ms       BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL
);
CREATE INDEX tickets_created ON tickets (created_ms);

-- Every decision: incident, decision, reason, ticket key, outcome and timings.
CREATE TABLE automation_decisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    -- create | comment | reopen | skip
    decision    TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    reason      TEXT NOT NULL,
    severity    TEXT NOT NULL,
    confidence  REAL NOT NULL,
    ticket_key  TEXT,
    -- skipped | queued | done | dead
    outcome     TEXT NOT NULL,
    -- The idempotency key of its Jira job in the outbox (NULL for a skip).
    job_key     TEXT UNIQUE,
    decided_ms  BIGINT NOT NULL,
    done_ms     BIGINT,
    attempts    BIGINT NOT NULL,
    error       TEXT
);
CREATE INDEX automation_decisions_incident ON automation_decisions (incident_id, id);

-- Run-time settings (`PUT /api/v1/automation`): one row, id 1, JSON of `jira::config::Settings`.
CREATE TABLE automation_settings (
    id            BIGINT PRIMARY KEY NOT NULL,
    settings_json TEXT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

-- What the last Jira call said: one row, id 1.
CREATE TABLE jira_status (
    id            BIGINT PRIMARY KEY NOT NULL,
    last_ok_ms    BIGINT,
    last_error    TEXT,
    last_error_ms BIGINT
);
