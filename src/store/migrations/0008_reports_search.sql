-- Reports and search. Everything here is derived from tables other code writes, and kept
-- by triggers in the same transaction as the change, so the code that writes tickets,
-- history and attachments needs to know nothing about it.

-- Every status a ticket entered and when. `backlog` is how the change moved the number of
-- unfinished tickets (new, open, hold): +1, -1 or 0. Creation counts as entering its first
-- status. `at` is the ticket's `updated`, which `apply` sets to the time of the change.
CREATE TABLE status_changes (
    ticket      INTEGER NOT NULL,
    at          TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    backlog     INTEGER NOT NULL
) STRICT;
CREATE INDEX status_changes_at ON status_changes(at, ticket, to_status, from_status, backlog);
CREATE INDEX status_changes_ticket ON status_changes(ticket, at);

CREATE TRIGGER status_changes_on_create AFTER INSERT ON tickets BEGIN
    INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
    VALUES (NEW.number, NEW.created, NULL, NEW.status, NEW.status IN ('new', 'open', 'hold'));
END;

CREATE TRIGGER status_changes_on_update AFTER UPDATE OF status ON tickets WHEN NEW.status IS NOT OLD.status BEGIN
    INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
    VALUES (NEW.number, NEW.updated, OLD.status, NEW.status,
            (NEW.status IN ('new', 'open', 'hold')) - (OLD.status IN ('new', 'open', 'hold')));
END;

-- The same per UTC day and status entered: what reports read when they need no ticket
-- attribute (unfiltered, by time), a year being 365 days rather than a million changes.
CREATE TABLE status_days (
    day       TEXT NOT NULL,
    to_status TEXT NOT NULL,
    -- Out of resolved or closed, back into new, open or hold.
    reopened  INTEGER NOT NULL,
    changes   INTEGER NOT NULL,
    backlog   INTEGER NOT NULL,
    PRIMARY KEY (day, to_status, reopened)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER status_days_on_insert AFTER INSERT ON status_changes BEGIN
    INSERT INTO status_days (day, to_status, reopened, changes, backlog)
    VALUES (substr(NEW.at, 1, 10), NEW.to_status,
            COALESCE(NEW.from_status, '') IN ('resolved', 'closed') AND NEW.to_status IN ('new', 'open', 'hold'), 1, NEW.backlog)
    ON CONFLICT (day, to_status, reopened) DO UPDATE SET changes = changes + 1, backlog = backlog + excluded.backlog;
END;

CREATE TRIGGER status_days_on_delete AFTER DELETE ON status_changes BEGIN
    UPDATE status_days SET changes = changes - 1, backlog = backlog - OLD.backlog
     WHERE day = substr(OLD.at, 1, 10) AND to_status = OLD.to_status
       AND reopened = (COALESCE(OLD.from_status, '') IN ('resolved', 'closed') AND OLD.to_status IN ('new', 'open', 'hold'));
END;

-- The first public answer to the requester by an agent (or admin) who is not the requester.
CREATE TABLE first_responses (
    ticket INTEGER PRIMARY KEY,
    at     TEXT NOT NULL
) STRICT;
CREATE INDEX first_responses_at ON first_responses(at);

CREATE TRIGGER first_responses_on_comment AFTER INSERT ON history
WHEN NEW.action = 'comment' AND NOT EXISTS (SELECT 1 FROM first_responses WHERE ticket = NEW.ticket) BEGIN
    INSERT INTO first_responses (ticket, at)
    SELECT NEW.ticket, NEW.at
      FROM addresses JOIN people ON people.id = addresses.person
     WHERE addresses.address = lower(NEW.actor)
       AND people.role IN ('agent', 'admin')
       AND people.id IS NOT (SELECT requester FROM tickets WHERE number = NEW.ticket);
END;

-- Time worked, one row per `Time:` entry ("time: 10m → 25m (+15m)" in history), and
-- whether a vendor logged it.
CREATE TABLE time_entries (
    ticket  INTEGER NOT NULL,
    at      TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    vendor  INTEGER NOT NULL
) STRICT;
CREATE INDEX time_entries_at ON time_entries(at);

CREATE TRIGGER time_entries_on_time AFTER INSERT ON history
WHEN NEW.action = 'time' AND instr(NEW.detail, '(+') > 0 BEGIN
    INSERT INTO time_entries (ticket, at, minutes, vendor)
    VALUES (NEW.ticket, NEW.at, CAST(substr(NEW.detail, instr(NEW.detail, '(+') + 2) AS INTEGER),
            EXISTS (SELECT 1 FROM addresses JOIN people ON people.id = addresses.person
                     WHERE addresses.address = lower(NEW.actor) AND people.role = 'vendor'));
END;

CREATE INDEX tickets_created ON tickets(created);
CREATE INDEX tickets_host ON tickets(host, created) WHERE host IS NOT NULL;
CREATE INDEX surveys_at ON surveys(at);

-- Full-text search over subjects, notes and text attachments. The rowid says what a row
-- is: ticket number * 4 for a subject, history id * 4 + 1 for a note, attachment id * 4 + 2
-- for an attachment (whose ticket is its message's). Porter stemming finds "printers"
-- for "printer"; diacritics are folded.
CREATE VIRTUAL TABLE search_text USING fts5(
    subject, body, ticket UNINDEXED, message UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- Subject words as written (not stemmed), for searching by sound: the vocabulary lists
-- every word once, each is keyed by sound when searching, and the index finds the
-- tickets. Contentless: the subjects themselves are in `tickets`.
CREATE VIRTUAL TABLE subject_words USING fts5(
    subject, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE subject_terms USING fts5vocab(subject_words, 'row');

CREATE TRIGGER search_subject_on_create AFTER INSERT ON tickets BEGIN
    INSERT INTO search_text (rowid, subject, ticket) VALUES (NEW.number * 4, NEW.subject, NEW.number);
    INSERT INTO subject_words (rowid, subject) VALUES (NEW.number, NEW.subject);
END;
CREATE TRIGGER search_subject_on_update AFTER UPDATE OF subject ON tickets WHEN NEW.subject IS NOT OLD.subject BEGIN
    UPDATE search_text SET subject = NEW.subject WHERE rowid = NEW.number * 4;
    DELETE FROM subject_words WHERE rowid = NEW.number;
    INSERT INTO subject_words (rowid, subject) VALUES (NEW.number, NEW.subject);
END;
CREATE TRIGGER search_subject_on_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM search_text WHERE rowid = OLD.number * 4;
    DELETE FROM subject_words WHERE rowid = OLD.number;
    DELETE FROM status_changes WHERE ticket = OLD.number;
    DELETE FROM first_responses WHERE ticket = OLD.number;
    DELETE FROM time_entries WHERE ticket = OLD.number;
END;

-- The note without the "(matched by …)" that history adds to it.
CREATE TRIGGER search_note_on_insert AFTER INSERT ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment') BEGIN
    INSERT INTO search_text (rowid, body, ticket, message) VALUES (NEW.id * 4 + 1, CASE WHEN instr(NEW.detail, ' (matched by ') > 0 THEN substr(NEW.detail, 1, instr(NEW.detail, ' (matched by ') - 1) ELSE NEW.detail END, NEW.ticket, NEW.message);
END;
-- A merge moves history to the surviving ticket.
CREATE TRIGGER search_note_on_move AFTER UPDATE OF ticket ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment') BEGIN
    UPDATE search_text SET ticket = NEW.ticket WHERE rowid = NEW.id * 4 + 1;
END;
-- A note rewritten (a person forgotten) is indexed as it now reads.
CREATE TRIGGER search_note_on_edit AFTER UPDATE OF detail ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment') BEGIN
    UPDATE search_text SET body = CASE WHEN instr(NEW.detail, ' (matched by ') > 0 THEN substr(NEW.detail, 1, instr(NEW.detail, ' (matched by ') - 1) ELSE NEW.detail END
     WHERE rowid = NEW.id * 4 + 1;
END;
CREATE TRIGGER search_note_on_delete AFTER DELETE ON history BEGIN
    DELETE FROM search_text WHERE rowid = OLD.id * 4 + 1;
END;

-- Text attachments up to 1 MB; larger ones are logs nobody reads by search.
CREATE TRIGGER search_attachment_on_insert AFTER INSERT ON attachments
WHEN NEW.content_type LIKE 'text/%' BEGIN
    INSERT INTO search_text (rowid, body, message)
    SELECT NEW.id * 4 + 2, CAST(content AS TEXT), NEW.message FROM blobs WHERE sha256 = NEW.blob AND size <= 1000000;
END;
CREATE TRIGGER search_attachment_on_delete AFTER DELETE ON attachments BEGIN
    DELETE FROM search_text WHERE rowid = OLD.id * 4 + 2;
END;

-- What existed before this migration.
INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
SELECT number, created, NULL, 'new', 1 FROM tickets;
INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
SELECT number, resolved_at, 'open', 'resolved', -1 FROM tickets WHERE resolved_at IS NOT NULL;
INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
SELECT number, closed_at, CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END, 'closed',
       CASE WHEN resolved_at IS NULL THEN -1 ELSE 0 END
  FROM tickets WHERE closed_at IS NOT NULL;
INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
SELECT number, updated, 'open', status, -1 FROM tickets WHERE status IN ('merged', 'rejected');

INSERT INTO first_responses (ticket, at)
SELECT history.ticket, MIN(history.at)
  FROM history
  JOIN addresses ON addresses.address = lower(history.actor)
  JOIN people ON people.id = addresses.person
  JOIN tickets ON tickets.number = history.ticket
 WHERE history.action = 'comment' AND people.role IN ('agent', 'admin') AND people.id IS NOT tickets.requester
 GROUP BY history.ticket;

INSERT INTO time_entries (ticket, at, minutes, vendor)
SELECT ticket, at, CAST(substr(detail, instr(detail, '(+') + 2) AS INTEGER),
       EXISTS (SELECT 1 FROM addresses JOIN people ON people.id = addresses.person
                WHERE addresses.address = lower(history.actor) AND people.role = 'vendor')
  FROM history WHERE action = 'time' AND instr(detail, '(+') > 0;

INSERT INTO search_text (rowid, subject, ticket) SELECT number * 4, subject, number FROM tickets;
INSERT INTO subject_words (rowid, subject) SELECT number, subject FROM tickets;
INSERT INTO search_text (rowid, body, ticket, message)
SELECT id * 4 + 1, CASE WHEN instr(detail, ' (matched by ') > 0 THEN substr(detail, 1, instr(detail, ' (matched by ') - 1) ELSE detail END, ticket, message FROM history WHERE action IN ('comment', 'internal-note', 'automatic-comment');
INSERT INTO search_text (rowid, body, message)
SELECT attachments.id * 4 + 2, CAST(blobs.content AS TEXT), attachments.message
  FROM attachments JOIN blobs ON blobs.sha256 = attachments.blob
 WHERE attachments.content_type LIKE 'text/%' AND blobs.size <= 1000000;
