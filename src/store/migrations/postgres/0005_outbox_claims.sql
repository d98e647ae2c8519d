-- PostgreSQL twin of SQLite's 0005: claims of an outbox row since its last result.
ALTER TABLE outbox ADD COLUMN claims BIGINT NOT NULL DEFAULT 0;
