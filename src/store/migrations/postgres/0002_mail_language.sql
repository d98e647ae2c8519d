-- PostgreSQL twin of SQLite's 0002: per-person preferences and organisation, SLA clock
-- state, checklists, internal notes, one-time notices, the close-approval loop.

ALTER TABLE people ADD COLUMN organisation TEXT;
ALTER TABLE people ADD COLUMN format TEXT NOT NULL DEFAULT 'full' CHECK (format IN ('full', 'brief'));
ALTER TABLE people ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE people ADD COLUMN notify_own_actions BIGINT NOT NULL DEFAULT 0;

ALTER TABLE tickets ADD COLUMN response_due TEXT;
ALTER TABLE tickets ADD COLUMN hold_started TEXT;
ALTER TABLE tickets ADD COLUMN held_minutes BIGINT NOT NULL DEFAULT 0;

CREATE TABLE ticket_checks (
    ticket BIGINT NOT NULL REFERENCES tickets(number) DEFERRABLE,
    item   BIGINT NOT NULL,
    PRIMARY KEY (ticket, item)
);

ALTER TABLE history ADD COLUMN internal BIGINT NOT NULL DEFAULT 0;

CREATE TABLE notices_sent (
    address TEXT NOT NULL,
    notice  TEXT NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (address, notice)
);

ALTER TABLE tickets ADD COLUMN resolved_at TEXT;
ALTER TABLE tickets ADD COLUMN closed_at TEXT;
ALTER TABLE tickets ADD COLUMN approval_stage TEXT CHECK (approval_stage IN ('supervisor', 'customer'));
ALTER TABLE tickets ADD COLUMN follow_up_of BIGINT REFERENCES tickets(number) DEFERRABLE;

CREATE TABLE scheduled_done (
    ticket BIGINT NOT NULL REFERENCES tickets(number) DEFERRABLE,
    job    TEXT NOT NULL,
    key    TEXT NOT NULL,
    at     TEXT NOT NULL,
    PRIMARY KEY (ticket, job, key)
);

CREATE TABLE surveys (
    ticket  BIGINT PRIMARY KEY REFERENCES tickets(number) DEFERRABLE,
    rating  BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    at      TEXT NOT NULL,
    message BIGINT REFERENCES messages(id) DEFERRABLE
);
CREATE INDEX tickets_resolved ON tickets(resolved_at) WHERE status = 'resolved';
