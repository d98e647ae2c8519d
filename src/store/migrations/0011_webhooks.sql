-- Events for webhooks: written with the ticket change, POSTed after commit. A queue of
-- its own beside the outbox, so that a slow endpoint never holds up mail.
CREATE TABLE webhook_events (
    id           INTEGER PRIMARY KEY,
    -- The [[webhooks]] name; its URL and secret are read from the configuration when sent.
    webhook      TEXT NOT NULL,
    ticket       INTEGER NOT NULL REFERENCES tickets(number),
    event        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    claims       INTEGER NOT NULL DEFAULT 0,
    created      TEXT NOT NULL,
    next_attempt TEXT NOT NULL,
    last_error   TEXT,
    sent         TEXT
) STRICT;
CREATE INDEX webhook_events_due ON webhook_events(next_attempt) WHERE status = 'queued';
CREATE INDEX webhook_events_ticket ON webhook_events(ticket);

-- The ticket a monitoring system's alert opened, with the alert's key: repeated alerts
-- thread onto it while it is open, and the monitor hears when it is resolved or closed.
CREATE TABLE monitor_tickets (
    ticket  INTEGER PRIMARY KEY REFERENCES tickets(number),
    monitor TEXT NOT NULL,
    key     TEXT NOT NULL,
    address TEXT NOT NULL
) STRICT;
CREATE INDEX monitor_tickets_key ON monitor_tickets(monitor, key);

-- Hosts from the site's inventory (`reqmail host import`): where a machine is and who
-- uses it, shown beside a ticket's Host.
CREATE TABLE hosts (
    name        TEXT PRIMARY KEY COLLATE NOCASE,
    location    TEXT,
    owner       TEXT,
    description TEXT,
    updated     TEXT NOT NULL
) STRICT;
