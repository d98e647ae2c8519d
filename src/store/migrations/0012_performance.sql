-- Performance: `tick` reads only the tickets with timed work due, and the queue listings
-- of `ticket list` find their rows by index, at any number of tickets.

-- When `tick` next needs to look at the ticket: the earliest moment one of its timed jobs
-- can fire, or NULL when none can. '' sorts before every time and means "changed since
-- `tick` last looked": new tickets start so, and the trigger below sets it whenever a
-- column the jobs depend on changes, by whichever path (mail, `ticket update`, merge,
-- import), so no change can leave a job unnoticed.
ALTER TABLE tickets ADD COLUMN scheduler_at TEXT DEFAULT '';
CREATE INDEX tickets_scheduler_at ON tickets(scheduler_at) WHERE scheduler_at IS NOT NULL;
CREATE TRIGGER tickets_scheduler_changed
AFTER UPDATE OF status, queue, due, created, updated, hold_started, resolved_at, closed_at, approval_stage ON tickets
WHEN NEW.scheduler_at IS NOT ''
BEGIN
    UPDATE tickets SET scheduler_at = '' WHERE number = NEW.number;
END;

-- Listings in ticket-number order: an index on (column) holds its rows in number order
-- within each value, so a filtered list with a limit reads only the rows it prints.
CREATE INDEX tickets_status ON tickets(status);
CREATE INDEX tickets_queue ON tickets(queue);
CREATE INDEX tickets_owner_status ON tickets(owner, status);
CREATE INDEX tickets_requester_status ON tickets(requester, status);

-- Raw messages in and out are stored zstd-compressed when this is 1; rows written before
-- hold the bytes verbatim (0). A flag, not magic bytes: a message received may begin
-- with anything, and must come back exactly as it came.
ALTER TABLE messages ADD COLUMN raw_zstd INTEGER NOT NULL DEFAULT 0;
