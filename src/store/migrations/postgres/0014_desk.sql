-- PostgreSQL twin of SQLite's 0014: the next action, vendors and their clock, transfers
-- between sites.
ALTER TABLE tickets ADD COLUMN next_action TEXT;

ALTER TABLE tickets ADD COLUMN vendor TEXT;
ALTER TABLE tickets ADD COLUMN vendor_ticket TEXT;
ALTER TABLE tickets ADD COLUMN vendor_due TEXT;
CREATE INDEX tickets_vendor_ticket ON tickets(vendor, vendor_ticket) WHERE vendor_ticket IS NOT NULL;
-- The vendor clock is a scheduler job too (the function of 0012).
CREATE TRIGGER tickets_scheduler_vendor_changed
BEFORE UPDATE OF vendor_due ON tickets
FOR EACH ROW EXECUTE FUNCTION reqmail_tickets_scheduler_changed();

ALTER TABLE tickets ADD COLUMN peer_site TEXT;
ALTER TABLE tickets ADD COLUMN peer_ticket BIGINT;
ALTER TABLE tickets ADD COLUMN peer_owns BIGINT NOT NULL DEFAULT 0 CHECK (peer_owns IN (0, 1));
CREATE INDEX tickets_peer ON tickets(peer_site, peer_ticket) WHERE peer_site IS NOT NULL;
