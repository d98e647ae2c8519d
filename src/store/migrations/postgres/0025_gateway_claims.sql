-- PostgreSQL twin of SQLite's 0025: which gateway holds an outbox row's claim.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
