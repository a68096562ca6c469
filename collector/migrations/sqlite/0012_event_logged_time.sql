-- Protocol v4 (issue 17 item 7): the time the line says it was logged, from its own
-- timestamp, next to `ts_ms` (the time the agent read it, which windows and health use).
-- NULL for lines without a timestamp and for v1 agents. `template_id` (0003) is filled from
-- the agent's model from v4 on. Keep table and column names identical in sqlite/ and
-- postgres/ (tests/store.rs checks it).
ALTER TABLE events ADD COLUMN logged_ms BIGINT;
