-- PostgreSQL twin of SQLite's 0008: reports' facts and search, kept by triggers in the
-- same transaction as the change. SQLite's triggers are PL/pgSQL functions here (a
-- PostgreSQL trigger's WHEN cannot hold a subquery, so those tests moved into the body).
-- SQLite's backfill of rows written before the migration has nothing to fill: a
-- PostgreSQL store starts empty at this schema, or is filled by `store copy`, which copies
-- these tables with their triggers off.

CREATE TABLE status_changes (
    ticket      BIGINT NOT NULL,
    at          TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    backlog     BIGINT NOT NULL
);
CREATE INDEX status_changes_at ON status_changes(at, ticket, to_status, from_status, backlog);
CREATE INDEX status_changes_ticket ON status_changes(ticket, at);

CREATE FUNCTION reqmail_status_changes_on_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
    VALUES (NEW.number, NEW.created, NULL, NEW.status, (NEW.status IN ('new', 'open', 'hold'))::int);
    RETURN NULL;
END $$;
CREATE TRIGGER status_changes_on_create AFTER INSERT ON tickets
FOR EACH ROW EXECUTE FUNCTION reqmail_status_changes_on_create();

CREATE FUNCTION reqmail_status_changes_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
    VALUES (NEW.number, NEW.updated, OLD.status, NEW.status,
            (NEW.status IN ('new', 'open', 'hold'))::int - (OLD.status IN ('new', 'open', 'hold'))::int);
    RETURN NULL;
END $$;
CREATE TRIGGER status_changes_on_update AFTER UPDATE OF status ON tickets
FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION reqmail_status_changes_on_update();

CREATE TABLE status_days (
    day       TEXT NOT NULL,
    to_status TEXT NOT NULL,
    reopened  BIGINT NOT NULL,
    changes   BIGINT NOT NULL,
    backlog   BIGINT NOT NULL,
    PRIMARY KEY (day, to_status, reopened)
);

CREATE FUNCTION reqmail_status_days_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_days (day, to_status, reopened, changes, backlog)
    VALUES (substr(NEW.at, 1, 10), NEW.to_status,
            (COALESCE(NEW.from_status, '') IN ('resolved', 'closed') AND NEW.to_status IN ('new', 'open', 'hold'))::int, 1, NEW.backlog)
    ON CONFLICT (day, to_status, reopened)
    DO UPDATE SET changes = status_days.changes + 1, backlog = status_days.backlog + excluded.backlog;
    RETURN NULL;
END $$;
CREATE TRIGGER status_days_on_insert AFTER INSERT ON status_changes
FOR EACH ROW EXECUTE FUNCTION reqmail_status_days_on_insert();

CREATE FUNCTION reqmail_status_days_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE status_days SET changes = changes - 1, backlog = backlog - OLD.backlog
     WHERE day = substr(OLD.at, 1, 10) AND to_status = OLD.to_status
       AND reopened = (COALESCE(OLD.from_status, '') IN ('resolved', 'closed') AND OLD.to_status IN ('new', 'open', 'hold'))::int;
    RETURN NULL;
END $$;
CREATE TRIGGER status_days_on_delete AFTER DELETE ON status_changes
FOR EACH ROW EXECUTE FUNCTION reqmail_status_days_on_delete();

CREATE TABLE first_responses (
    ticket BIGINT PRIMARY KEY,
    at     TEXT NOT NULL
);
CREATE INDEX first_responses_at ON first_responses(at);

CREATE FUNCTION reqmail_first_responses_on_comment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM first_responses WHERE ticket = NEW.ticket) THEN
        INSERT INTO first_responses (ticket, at)
        SELECT NEW.ticket, NEW.at
          FROM addresses JOIN people ON people.id = addresses.person
         WHERE addresses.address = lower(NEW.actor)
           AND people.role IN ('agent', 'admin')
           AND people.id IS DISTINCT FROM (SELECT requester FROM tickets WHERE number = NEW.ticket);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER first_responses_on_comment AFTER INSERT ON history
FOR EACH ROW WHEN (NEW.action = 'comment') EXECUTE FUNCTION reqmail_first_responses_on_comment();

CREATE TABLE time_entries (
    ticket  BIGINT NOT NULL,
    at      TEXT NOT NULL,
    minutes BIGINT NOT NULL,
    vendor  BIGINT NOT NULL
);
CREATE INDEX time_entries_at ON time_entries(at);

-- SQLite's CAST reads the digits after "(+" and stops at the first other character; a
-- regular expression does that here.
CREATE FUNCTION reqmail_time_entries_on_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO time_entries (ticket, at, minutes, vendor)
    VALUES (NEW.ticket, NEW.at, COALESCE(substring(NEW.detail FROM '\(\+(\d+)'), '0')::bigint,
            EXISTS (SELECT 1 FROM addresses JOIN people ON people.id = addresses.person
                     WHERE addresses.address = lower(NEW.actor) AND people.role = 'vendor')::int);
    RETURN NULL;
END $$;
CREATE TRIGGER time_entries_on_time AFTER INSERT ON history
FOR EACH ROW WHEN (NEW.action = 'time' AND strpos(NEW.detail, '(+') > 0) EXECUTE FUNCTION reqmail_time_entries_on_time();

CREATE INDEX tickets_created ON tickets(created);
CREATE INDEX tickets_host ON tickets(host, created) WHERE host IS NOT NULL;
CREATE INDEX surveys_at ON surveys(at);

-- Full-text search over subjects, notes and text attachments. SQLite's FTS5 table is a
-- table of tsvectors with a GIN index here, its rows numbered as there: ticket number * 4
-- for a subject, history id * 4 + 1 for a note, attachment id * 4 + 2 for an attachment.
-- The 'english' configuration stems as FTS5's porter tokenizer does; diacritics are not
-- folded (that takes the unaccent extension, which not every database owner may
-- create). Only the words are kept, never the text (as SQLite's contentless index from
-- 0017 on). SQLite's subject_words (the sound search's vocabulary) has no twin: 0015
-- replaces it with subject_sounds on both stores.
CREATE TABLE search_text (
    id      BIGINT PRIMARY KEY,
    ticket  BIGINT,
    message BIGINT,
    words   tsvector NOT NULL
);
CREATE INDEX search_text_words ON search_text USING GIN (words);

-- The note without the "(matched by …)" that history adds to it.
CREATE FUNCTION reqmail_search_note(detail TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN strpos(detail, ' (matched by ') > 0 THEN substr(detail, 1, strpos(detail, ' (matched by ') - 1) ELSE detail END
$$;

CREATE FUNCTION reqmail_search_subject_on_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_text (id, ticket, words) VALUES (NEW.number * 4, NEW.number, to_tsvector('english', NEW.subject));
    RETURN NULL;
END $$;
CREATE TRIGGER search_subject_on_create AFTER INSERT ON tickets
FOR EACH ROW EXECUTE FUNCTION reqmail_search_subject_on_create();

CREATE FUNCTION reqmail_search_subject_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_text SET words = to_tsvector('english', NEW.subject) WHERE id = NEW.number * 4;
    RETURN NULL;
END $$;
CREATE TRIGGER search_subject_on_update AFTER UPDATE OF subject ON tickets
FOR EACH ROW WHEN (NEW.subject IS DISTINCT FROM OLD.subject) EXECUTE FUNCTION reqmail_search_subject_on_update();

CREATE FUNCTION reqmail_search_subject_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_text WHERE id = OLD.number * 4;
    DELETE FROM status_changes WHERE ticket = OLD.number;
    DELETE FROM first_responses WHERE ticket = OLD.number;
    DELETE FROM time_entries WHERE ticket = OLD.number;
    RETURN NULL;
END $$;
CREATE TRIGGER search_subject_on_delete AFTER DELETE ON tickets
FOR EACH ROW EXECUTE FUNCTION reqmail_search_subject_on_delete();

CREATE FUNCTION reqmail_search_note_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_text (id, ticket, message, words)
    VALUES (NEW.id * 4 + 1, NEW.ticket, NEW.message, to_tsvector('english', reqmail_search_note(NEW.detail)));
    RETURN NULL;
END $$;
CREATE TRIGGER search_note_on_insert AFTER INSERT ON history
FOR EACH ROW WHEN (NEW.action IN ('comment', 'internal-note', 'automatic-comment')) EXECUTE FUNCTION reqmail_search_note_on_insert();

-- A merge moves history to the surviving ticket; a note rewritten (a person forgotten)
-- is indexed as it now reads. (SQLite's two triggers, one since its 0017.)
CREATE FUNCTION reqmail_search_note_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_text SET ticket = NEW.ticket, words = to_tsvector('english', reqmail_search_note(NEW.detail))
     WHERE id = NEW.id * 4 + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER search_note_on_change AFTER UPDATE OF ticket, detail ON history
FOR EACH ROW WHEN (NEW.action IN ('comment', 'internal-note', 'automatic-comment')) EXECUTE FUNCTION reqmail_search_note_on_change();

CREATE FUNCTION reqmail_search_note_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_text WHERE id = OLD.id * 4 + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER search_note_on_delete AFTER DELETE ON history
FOR EACH ROW EXECUTE FUNCTION reqmail_search_note_on_delete();

-- Text attachments up to 1 MB; larger ones are logs nobody reads by search. An
-- attachment that is not UTF-8 is indexed by its ASCII words (SQLite reads such bytes as
-- far as it can; PostgreSQL would refuse them, and with them the change).
CREATE FUNCTION reqmail_search_bytes(content BYTEA) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN convert_from(content, 'UTF8');
EXCEPTION WHEN OTHERS THEN
    RETURN encode(content, 'escape');
END $$;

CREATE FUNCTION reqmail_search_attachment_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_text (id, message, words)
    SELECT NEW.id * 4 + 2, NEW.message, to_tsvector('english', reqmail_search_bytes(content))
      FROM blobs WHERE sha256 = NEW.blob AND size <= 1000000;
    RETURN NULL;
END $$;
CREATE TRIGGER search_attachment_on_insert AFTER INSERT ON attachments
FOR EACH ROW WHEN (NEW.content_type LIKE 'text/%') EXECUTE FUNCTION reqmail_search_attachment_on_insert();

CREATE FUNCTION reqmail_search_attachment_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_text WHERE id = OLD.id * 4 + 2;
    RETURN NULL;
END $$;
CREATE TRIGGER search_attachment_on_delete AFTER DELETE ON attachments
FOR EACH ROW EXECUTE FUNCTION reqmail_search_attachment_on_delete();
