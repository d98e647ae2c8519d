-- PostgreSQL twin of SQLite's 0019, which has nothing to do here: it rebuilds SQLite's
-- FTS5 index without word positions and with another tokenizer setting. PostgreSQL's
-- search index (0008) is a tsvector per row, and the search asks for each word on its own
-- there too.
SELECT 1;
