-- Suggested fixes an admin edited through `PUT /api/v1/classes/{id}/fix`, one row per error
-- class id (`fleetlog_lines::classes::ClassTable`); a class without a row shows the class
-- table's own fix, and deleting the row restores it.
-- Keep identical in name and type to ../sqlite/0009_class_fixes.sql.
CREATE TABLE class_fixes (
    class_id TEXT PRIMARY KEY,
    fix TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
