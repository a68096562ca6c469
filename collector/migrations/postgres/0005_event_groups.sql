-- An event row stands for the lines of one group: the same source, fingerprint and judged
-- severity within one minute of one batch (see store::group_events). The row is the group's
-- first line; `occurrences` counts its lines and `last_ts_ms` is the time of its last one.
-- Rows written before this migration stand for one line each.
ALTER TABLE events ADD COLUMN occurrences BIGINT NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN last_ts_ms BIGINT;

-- An incident's current opening window: its events and hosts (incidents::decide::Window).
ALTER TABLE incidents ADD COLUMN window_json TEXT;
