-- S3 analysis: scans of a bucket prefix, their per-object status, the objects already
-- analysed (by ETag) and the S3 event notifications already accepted. Keep table and column
-- names identical in sqlite/ and postgres/ (tests/store.rs checks it).

-- One row per scan (an API request, or one accepted ObjectCreated event).
CREATE TABLE s3_scans (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket             TEXT NOT NULL,
    prefix             TEXT NOT NULL,
    start_after        TEXT,
    modified_after_ms  BIGINT,
    modified_before_ms BIGINT,
    -- The `[[s3.sources]]` name whose endpoint/region/credentials the scan uses; NULL = the
    -- default AWS sources. Never a secret.
    source             TEXT,
    analyst            TEXT NOT NULL,
    -- api | event
    origin             TEXT NOT NULL,
    -- queued | running | done | failed | cancelled
    state              TEXT NOT NULL,
    error              TEXT,
    -- The last key listed: listing resumes after it. listed = 1 once the listing ended.
    list_after         TEXT,
    listed             BIGINT NOT NULL DEFAULT 0,
    created_ms         BIGINT NOT NULL,
    updated_ms         BIGINT NOT NULL,
    finished_ms        BIGINT
);
CREATE INDEX s3_scans_state ON s3_scans (state, id);

-- One row per listed object of a scan.
CREATE TABLE s3_objects (
    scan_id          BIGINT NOT NULL,
    object_key       TEXT NOT NULL,
    etag             TEXT NOT NULL,
    size             BIGINT NOT NULL,
    last_modified_ms BIGINT,
    -- pending | done | failed | skipped
    status           TEXT NOT NULL,
    reason           TEXT,
    lines            BIGINT NOT NULL DEFAULT 0,
    events           BIGINT NOT NULL DEFAULT 0,
    -- Times processing of this object started (more than 1 only after a crash or restart).
    attempts         BIGINT NOT NULL DEFAULT 0,
    updated_ms       BIGINT NOT NULL,
    PRIMARY KEY (scan_id, object_key)
);
CREATE INDEX s3_objects_status ON s3_objects (scan_id, status);

-- Objects analysed to the end, by content version: a later scan skips an unchanged object.
CREATE TABLE s3_done (
    bucket     TEXT NOT NULL,
    object_key TEXT NOT NULL,
    etag       TEXT NOT NULL,
    scan_id    BIGINT NOT NULL,
    lines      BIGINT NOT NULL,
    done_ms    BIGINT NOT NULL,
    PRIMARY KEY (bucket, object_key, etag)
);

-- ObjectCreated events accepted (from SQS or pushed): a second delivery is a no-op.
CREATE TABLE s3_events (
    bucket      TEXT NOT NULL,
    object_key  TEXT NOT NULL,
    etag        TEXT NOT NULL,
    scan_id     BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (bucket, object_key, etag)
);
