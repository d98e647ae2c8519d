-- IMAP sources: the queue a message's mailbox is tied to, and where each mailbox's
-- fetching stands. (0002 is another change; the lead orders the list when merging.)

-- The queue a new ticket from this message lands in, when its source names one.
ALTER TABLE messages ADD COLUMN queue TEXT;

-- Per account and mailbox: the UIDVALIDITY seen and the highest UID stored and marked.
-- A pass fetches UIDs above last_uid; a new UIDVALIDITY starts again from 0 (the spool's
-- dedupe keeps the rescan harmless).
CREATE TABLE imap_mailboxes (
    account     TEXT NOT NULL,
    mailbox     TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated     TEXT NOT NULL,
    PRIMARY KEY (account, mailbox)
) STRICT;
