-- PostgreSQL twin of SQLite's 0028, which has nothing to do here: it rewrites SQLite
-- triggers whose `IN (…)` lists built a temporary index on every run. PostgreSQL's
-- trigger functions (0008, 0023) compare against such a list directly.
SELECT 1;
