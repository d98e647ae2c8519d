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
