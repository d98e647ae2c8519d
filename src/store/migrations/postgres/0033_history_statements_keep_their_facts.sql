-- PostgreSQL twin of SQLite's 0033: `store::tickets` writes a comment's first response and
-- a time entry on both stores alike. The search index keeps its trigger here (it computes
-- the tsvector).
DROP TRIGGER first_responses_on_comment ON history;
DROP FUNCTION reqmail_first_responses_on_comment();
DROP TRIGGER time_entries_on_time ON history;
DROP FUNCTION reqmail_time_entries_on_time();
