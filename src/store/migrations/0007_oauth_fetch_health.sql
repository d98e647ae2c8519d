-- The health of each fetched mailbox: the last success, the last error, since when it
-- fails, what to do about it, and whether the admins were told.
CREATE TABLE fetch_health (
    account       TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    last_success  TEXT,
    last_error_at TEXT,
    last_error    TEXT,
    failing_since TEXT,
    remedy        TEXT,
    alerted       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, mailbox)
);
