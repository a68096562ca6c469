-- The model registry and its training jobs (issue 11). Keep table and column names
-- identical in sqlite/ and postgres/ (tests/store.rs checks it).

-- Every baseline model the collector ever had: a row is never updated but for `active` and
-- `activated_ms`, and never deleted; a retrained model is a new row (a new version).
-- The model's JSON is kept here, not in a file: every replica on one PostgreSQL reads the
-- same bytes without a shared disk, and the row and its bytes commit together.
CREATE TABLE models (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- FNV-1a 64 of `model` (bit-cast to signed): the version agents report in heartbeats.
    content_hash BIGINT NOT NULL,
    -- upload | window | s3 | file
    source       TEXT NOT NULL,
    -- What it was trained from: file names, a host/service/time window, a path.
    source_detail TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    templates    BIGINT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    -- JSON: lines and records read, files used and skipped, time taken.
    summary_json TEXT NOT NULL,
    -- The training job that made it, if any.
    job_id       BIGINT,
    -- 1 for the one model pushed to agents, else 0.
    active       BIGINT NOT NULL DEFAULT 0,
    activated_ms BIGINT,
    model        BLOB NOT NULL
);
CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active = 1;

-- Training jobs: queued → running → succeeded | failed | cancelled.
CREATE TABLE training_jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- upload | window
    kind         TEXT NOT NULL,
    -- queued | running | succeeded | failed | cancelled
    state        TEXT NOT NULL,
    -- JSON: the upload's file names or the window's host, service and time range.
    spec_json    TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    started_ms   BIGINT,
    finished_ms  BIGINT,
    -- Refreshed with progress; a queued or running job not refreshed for long is abandoned.
    updated_ms   BIGINT NOT NULL,
    bytes_total  BIGINT NOT NULL DEFAULT 0,
    bytes_done   BIGINT NOT NULL DEFAULT 0,
    lines_read   BIGINT NOT NULL DEFAULT 0,
    -- JSON array: per input file, its name, lines read and the error that skipped it.
    files_json   TEXT NOT NULL DEFAULT '[]',
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    error        TEXT,
    model_id     BIGINT
);
CREATE INDEX training_jobs_state ON training_jobs (state);
