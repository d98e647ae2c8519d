-- PostgreSQL twin of SQLite's 0034: `store::tickets` counts a status change's day.
DROP TRIGGER status_days_on_insert ON status_changes;
DROP FUNCTION reqmail_status_days_on_insert();
