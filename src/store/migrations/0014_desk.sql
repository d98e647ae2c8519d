-- The desk: the next action to take on a ticket (`Next:`), shown in the queue and to agents.
ALTER TABLE tickets ADD COLUMN next_action TEXT;

-- Vendors: which vendor works on the ticket, their own number for it, and when their
-- answer is due (NULL while we do not wait for them).
ALTER TABLE tickets ADD COLUMN vendor TEXT;
ALTER TABLE tickets ADD COLUMN vendor_ticket TEXT;
ALTER TABLE tickets ADD COLUMN vendor_due TEXT;
CREATE INDEX tickets_vendor_ticket ON tickets(vendor, vendor_ticket) WHERE vendor_ticket IS NOT NULL;
-- The vendor clock is a scheduler job too: a new due date is looked at again.
CREATE TRIGGER tickets_scheduler_vendor_changed
AFTER UPDATE OF vendor_due ON tickets
WHEN NEW.scheduler_at IS NOT ''
BEGIN
    UPDATE tickets SET scheduler_at = '' WHERE number = NEW.number;
END;

-- Transfers between sites: the peer site a ticket went to or came from, the peer's
-- number for it (NULL until they answer), and whether the peer owns it now.
ALTER TABLE tickets ADD COLUMN peer_site TEXT;
ALTER TABLE tickets ADD COLUMN peer_ticket INTEGER;
ALTER TABLE tickets ADD COLUMN peer_owns INTEGER NOT NULL DEFAULT 0 CHECK (peer_owns IN (0, 1));
CREATE INDEX tickets_peer ON tickets(peer_site, peer_ticket) WHERE peer_site IS NOT NULL;
