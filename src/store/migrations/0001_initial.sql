-- The first schema: tickets, people, messages in and out, attachments, history, outbox, quarantine.
-- Times are RFC 3339 UTC text with whole seconds ("2026-11-21T09:00:00Z"), which sorts correctly.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE people (
    id      INTEGER PRIMARY KEY,
    name    TEXT,
    role    TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'vendor', 'admin')),
    created TEXT NOT NULL
) STRICT;

-- Several addresses per person; addresses are stored lower-cased.
CREATE TABLE addresses (
    address    TEXT PRIMARY KEY,
    person     INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    is_primary INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX addresses_person ON addresses(person);

CREATE TABLE tickets (
    number             INTEGER PRIMARY KEY,
    subject            TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('new', 'open', 'hold', 'resolved', 'closed', 'merged', 'rejected')),
    queue              TEXT NOT NULL,
    importance         TEXT NOT NULL CHECK (importance IN ('urgent', 'high', 'medium', 'low')),
    priority           TEXT NOT NULL CHECK (priority IN ('urgent', 'high', 'medium', 'low')),
    owner              INTEGER REFERENCES people(id),
    requester          INTEGER NOT NULL REFERENCES people(id),
    category           TEXT,
    host               TEXT,
    due                TEXT,
    requested_due      TEXT,
    committed_due      TEXT,
    created            TEXT NOT NULL,
    updated            TEXT NOT NULL,
    time_spent_minutes INTEGER NOT NULL DEFAULT 0,
    merged_into        INTEGER REFERENCES tickets(number)
) STRICT;
CREATE INDEX tickets_status_queue ON tickets(status, queue);
CREATE INDEX tickets_requester ON tickets(requester);
CREATE INDEX tickets_owner ON tickets(owner);

CREATE TABLE ticket_cc (
    ticket INTEGER NOT NULL REFERENCES tickets(number),
    person INTEGER NOT NULL REFERENCES people(id),
    PRIMARY KEY (ticket, person)
) STRICT, WITHOUT ROWID;

-- Every message in or out, raw bytes verbatim. Inbound rows are the spool: a row exists
-- before the source is acknowledged, and `state` says how far processing got.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    direction    TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    state        TEXT NOT NULL CHECK (state IN ('spooled', 'applied', 'quarantined', 'ignored', 'outgoing')),
    dedupe_key   TEXT,
    message_id   TEXT,
    ticket       INTEGER REFERENCES tickets(number),
    source       TEXT NOT NULL,
    recipient    TEXT,
    from_address TEXT,
    subject      TEXT,
    note         TEXT,
    outcome      TEXT,
    received     TEXT NOT NULL,
    size         INTEGER NOT NULL,
    raw          BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX messages_inbound_dedupe ON messages(dedupe_key) WHERE direction = 'in';
CREATE INDEX messages_message_id ON messages(message_id);
CREATE INDEX messages_ticket ON messages(ticket);
CREATE INDEX messages_spooled ON messages(id) WHERE state = 'spooled';

-- Attachment contents stored once, by SHA-256.
CREATE TABLE blobs (
    sha256  TEXT PRIMARY KEY,
    size    INTEGER NOT NULL,
    content BLOB NOT NULL
) STRICT;

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message      INTEGER NOT NULL REFERENCES messages(id),
    blob         TEXT NOT NULL REFERENCES blobs(sha256),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL
) STRICT;
CREATE INDEX attachments_message ON attachments(message);

-- Append-only: who did what to which ticket, when, and by which message.
CREATE TABLE history (
    id      INTEGER PRIMARY KEY,
    ticket  INTEGER NOT NULL REFERENCES tickets(number),
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    message INTEGER REFERENCES messages(id)
) STRICT;
CREATE INDEX history_ticket ON history(ticket);

-- Transactional outbox: written with the ticket change, delivered after commit.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    message      INTEGER NOT NULL REFERENCES messages(id),
    ticket       INTEGER REFERENCES tickets(number),
    sender       TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error   TEXT,
    sent         TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox(next_attempt) WHERE status = 'queued';

CREATE TABLE quarantine (
    message INTEGER PRIMARY KEY REFERENCES messages(id),
    reason  TEXT NOT NULL,
    at      TEXT NOT NULL
) STRICT;
