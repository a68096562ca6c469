-- Per-agent credentials (issue 16, ingest::credentials). Keep identical to the other
-- dialect's 0014.

-- One row per agent id admitted on the fleet token (or revoked by an operator): whether the
-- agent has presented its own credential (the fleet token then no longer admits it) and
-- whether it is revoked. The credential itself is never stored: it is derived from the key
-- below.
CREATE TABLE agent_enrollments (
    agent_id        TEXT PRIMARY KEY NOT NULL,
    host            TEXT NOT NULL,
    credential_used BIGINT NOT NULL DEFAULT 0,
    enrolled_ms     BIGINT NOT NULL,
    revoked_ms      BIGINT,
    revoked_by      TEXT,
    revoked_reason  TEXT
);

-- Secrets the replicas share, created once by whichever replica starts first
-- (`agent-credentials`: the HMAC key agent credentials are derived from).
CREATE TABLE collector_secrets (
    name        TEXT PRIMARY KEY NOT NULL,
    secret_hex  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);
