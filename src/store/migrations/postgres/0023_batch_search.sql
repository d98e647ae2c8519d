-- PostgreSQL twin of SQLite's 0023. SQLite's FTS5 writes a segment at every statement
-- that opens a savepoint, so a batch there keeps its search text in `search_pending` and
-- indexes it once before the commit. A GIN index gathers new entries in its own pending
-- list, so here the triggers of 0008 index at once and both tables stay empty; they
-- exist so that the two schemas, and `store copy` between them, have the same tables.
CREATE TABLE search_deferred ("only" BIGINT PRIMARY KEY CHECK ("only" = 1));
CREATE TABLE search_pending (
    row     BIGINT PRIMARY KEY,
    subject TEXT,
    body    TEXT,
    ticket  BIGINT,
    message BIGINT
);
