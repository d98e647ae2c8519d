-- PostgreSQL twin of SQLite's 0012: when `tick` next needs to look at a ticket, and the
-- listings' indexes.

ALTER TABLE tickets ADD COLUMN scheduler_at TEXT DEFAULT '';
CREATE INDEX tickets_scheduler_at ON tickets(scheduler_at) WHERE scheduler_at IS NOT NULL;
-- SQLite's AFTER trigger writes '' into the row it just changed; a BEFORE trigger sets it
-- in the same row version here. Either way a change of a column the jobs depend on
-- leaves scheduler_at = '', whatever the UPDATE itself wrote there.
CREATE FUNCTION reqmail_tickets_scheduler_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.scheduler_at := '';
    RETURN NEW;
END $$;
CREATE TRIGGER tickets_scheduler_changed
BEFORE UPDATE OF status, queue, due, created, updated, hold_started, resolved_at, closed_at, approval_stage ON tickets
FOR EACH ROW EXECUTE FUNCTION reqmail_tickets_scheduler_changed();

CREATE INDEX tickets_status ON tickets(status);
CREATE INDEX tickets_queue ON tickets(queue);
CREATE INDEX tickets_owner_status ON tickets(owner, status);
CREATE INDEX tickets_requester_status ON tickets(requester, status);

ALTER TABLE messages ADD COLUMN raw_zstd BIGINT NOT NULL DEFAULT 0;
