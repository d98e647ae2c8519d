-- PostgreSQL twin of SQLite's 0003: a message's queue from its mailbox, and where each
-- IMAP mailbox's fetching stands.

ALTER TABLE messages ADD COLUMN queue TEXT;

CREATE TABLE imap_mailboxes (
    account     TEXT NOT NULL,
    mailbox     TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    last_uid    BIGINT NOT NULL,
    updated     TEXT NOT NULL,
    PRIMARY KEY (account, mailbox)
);
