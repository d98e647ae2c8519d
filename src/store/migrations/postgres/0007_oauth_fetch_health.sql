-- PostgreSQL twin of SQLite's 0007: the health of each fetched mailbox.
CREATE TABLE fetch_health (
    account       TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    last_success  TEXT,
    last_error_at TEXT,
    last_error    TEXT,
    failing_since TEXT,
    remedy        TEXT,
    alerted       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account, mailbox)
);
