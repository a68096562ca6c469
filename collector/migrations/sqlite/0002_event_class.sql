-- Error class of an event row (`fleetlog_lines::classes::ClassTable` id, e.g. `disk_full`),
-- computed at ingest; NULL when no class matched and for rows stored before this migration.
-- Keep identical in name and type to ../postgres/0002_event_class.sql.
ALTER TABLE events ADD COLUMN class TEXT;
