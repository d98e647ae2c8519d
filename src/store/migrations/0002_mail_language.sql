-- The mail language: per-person preferences and organisation, SLA clock state,
-- checklists, internal notes, and one-time notices.

ALTER TABLE people ADD COLUMN organisation TEXT;
ALTER TABLE people ADD COLUMN format TEXT NOT NULL DEFAULT 'full' CHECK (format IN ('full', 'brief'));
ALTER TABLE people ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE people ADD COLUMN notify_own_actions INTEGER NOT NULL DEFAULT 0;

ALTER TABLE tickets ADD COLUMN response_due TEXT;
-- While on hold: when the hold began. Working time spent on hold extends the SLA.
ALTER TABLE tickets ADD COLUMN hold_started TEXT;
ALTER TABLE tickets ADD COLUMN held_minutes INTEGER NOT NULL DEFAULT 0;

-- Ticked checklist items (1-based, as people write them).
CREATE TABLE ticket_checks (
    ticket INTEGER NOT NULL REFERENCES tickets(number),
    item   INTEGER NOT NULL,
    PRIMARY KEY (ticket, item)
) STRICT, WITHOUT ROWID;

-- Internal notes are never shown to customers or vendors.
ALTER TABLE history ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;

-- Notices a person gets once (e.g. how to write authentically).
CREATE TABLE notices_sent (
    address TEXT NOT NULL,
    notice  TEXT NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (address, notice)
) STRICT, WITHOUT ROWID;

-- The close-approval loop.
ALTER TABLE tickets ADD COLUMN resolved_at TEXT;
ALTER TABLE tickets ADD COLUMN closed_at TEXT;
-- Who decides a resolution now: 'supervisor' first when the queue asks for it, then 'customer'.
ALTER TABLE tickets ADD COLUMN approval_stage TEXT CHECK (approval_stage IN ('supervisor', 'customer'));
ALTER TABLE tickets ADD COLUMN follow_up_of INTEGER REFERENCES tickets(number);

-- Scheduler jobs done, one row per ticket, job and threshold: each fires once.
CREATE TABLE scheduled_done (
    ticket INTEGER NOT NULL REFERENCES tickets(number),
    job    TEXT NOT NULL,
    key    TEXT NOT NULL,
    at     TEXT NOT NULL,
    PRIMARY KEY (ticket, job, key)
) STRICT, WITHOUT ROWID;

-- Satisfaction survey answers.
CREATE TABLE surveys (
    ticket  INTEGER PRIMARY KEY REFERENCES tickets(number),
    rating  INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    at      TEXT NOT NULL,
    message INTEGER REFERENCES messages(id)
) STRICT;
CREATE INDEX tickets_resolved ON tickets(resolved_at) WHERE status = 'resolved';
