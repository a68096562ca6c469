-- API platform: users, API tokens, browser sessions, the audit trail, and the event
-- columns the events search filters on.
-- Keep table and column names identical in sqlite/ and postgres/ (tests/store.rs checks it).
-- Booleans are BIGINT 0/1 and times are epoch milliseconds, as everywhere in this store.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    -- PHC string (argon2id); never a plain password.
    password_hash TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

-- API tokens. Only a SHA-256 of the secret is kept; the secret is shown once, at creation.
-- owner_user_id: the user who created it (NULL for the bootstrap admin token); a token of a
-- disabled user is refused, and its role is capped by its owner's current role.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    owner_user_id BIGINT,
    created_by    TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    last_used_ms  BIGINT,
    revoked_ms    BIGINT
);

-- Browser sessions (cookie). The cookie carries id and secret; only the secret's SHA-256 is kept.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    secret_sha256 TEXT NOT NULL,
    user_id       BIGINT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_ms);

-- Every state change made through the API or the CLI, written in the change's transaction.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    client_addr TEXT
);
CREATE INDEX audit_ts ON audit (ts_ms);
CREATE INDEX audit_action ON audit (action, id);

-- The service an event's source belongs to (file stem, e.g. `payment` for
-- /var/log/pos/payment.log.1), and its template id once the pipeline mines one.
ALTER TABLE events ADD COLUMN service TEXT;
ALTER TABLE events ADD COLUMN template_id BIGINT;
CREATE INDEX events_service_id ON events (service, id);
CREATE INDEX events_class_id ON events (class, id);
