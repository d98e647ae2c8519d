-- A batch of messages indexes its search text once, just before it commits. FTS5 writes
-- what it holds to the disk whenever a statement opens a savepoint, and every insert
-- whose triggers write does: a segment per statement, and merging them, took 13 % of the
-- processing of a batch. While `search_deferred` has its row (only inside a batch's
-- transaction, which removes it before it commits: no other connection ever sees it),
-- the triggers keep the text in `search_pending` instead, under its rowid in the index;
-- `store::search::index_deferred` moves it into the index in one statement.
CREATE TABLE search_deferred (only INTEGER PRIMARY KEY CHECK (only = 1)) STRICT;
CREATE TABLE search_pending (
    row     INTEGER PRIMARY KEY,
    subject TEXT,
    body    TEXT,
    ticket  INTEGER,
    message INTEGER
) STRICT;

DROP TRIGGER search_note_on_insert;
CREATE TRIGGER search_note_on_insert AFTER INSERT ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment') BEGIN
    INSERT INTO search_text (rowid, body, ticket, message)
    SELECT NEW.id * 4 + 1, CASE WHEN instr(note, ' (matched by ') > 0 THEN substr(note, 1, instr(note, ' (matched by ') - 1) ELSE note END, NEW.ticket, NEW.message
      FROM (SELECT reqmail_note(NEW.detail, NEW.detail_zstd) AS note)
     WHERE NOT EXISTS (SELECT 1 FROM search_deferred);
    INSERT INTO search_pending (row, body, ticket, message)
    SELECT NEW.id * 4 + 1, CASE WHEN instr(note, ' (matched by ') > 0 THEN substr(note, 1, instr(note, ' (matched by ') - 1) ELSE note END, NEW.ticket, NEW.message
      FROM (SELECT reqmail_note(NEW.detail, NEW.detail_zstd) AS note)
     WHERE EXISTS (SELECT 1 FROM search_deferred);
END;

DROP TRIGGER search_note_on_change;
CREATE TRIGGER search_note_on_change AFTER UPDATE OF ticket, detail, detail_zstd ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment')
 AND (NEW.ticket IS NOT OLD.ticket OR reqmail_note(NEW.detail, NEW.detail_zstd) IS NOT reqmail_note(OLD.detail, OLD.detail_zstd)) BEGIN
    DELETE FROM search_text WHERE rowid = NEW.id * 4 + 1;
    INSERT INTO search_text (rowid, body, ticket, message)
    SELECT NEW.id * 4 + 1, reqmail_note(NEW.detail, NEW.detail_zstd), NEW.ticket, NEW.message WHERE NOT EXISTS (SELECT 1 FROM search_deferred);
    INSERT OR REPLACE INTO search_pending (row, body, ticket, message)
    SELECT NEW.id * 4 + 1, reqmail_note(NEW.detail, NEW.detail_zstd), NEW.ticket, NEW.message WHERE EXISTS (SELECT 1 FROM search_deferred);
END;

DROP TRIGGER search_note_on_delete;
CREATE TRIGGER search_note_on_delete AFTER DELETE ON history BEGIN
    DELETE FROM search_text WHERE rowid = OLD.id * 4 + 1;
    DELETE FROM search_pending WHERE row = OLD.id * 4 + 1;
END;

DROP TRIGGER search_attachment_on_insert;
CREATE TRIGGER search_attachment_on_insert AFTER INSERT ON attachments
WHEN NEW.content_type LIKE 'text/%' BEGIN
    INSERT INTO search_text (rowid, body, message)
    SELECT NEW.id * 4 + 2, CAST(content AS TEXT), NEW.message FROM blobs
     WHERE sha256 = NEW.blob AND size <= 1000000 AND NOT EXISTS (SELECT 1 FROM search_deferred);
    INSERT INTO search_pending (row, body, message)
    SELECT NEW.id * 4 + 2, CAST(content AS TEXT), NEW.message FROM blobs
     WHERE sha256 = NEW.blob AND size <= 1000000 AND EXISTS (SELECT 1 FROM search_deferred);
END;

DROP TRIGGER search_attachment_on_delete;
CREATE TRIGGER search_attachment_on_delete AFTER DELETE ON attachments BEGIN
    DELETE FROM search_text WHERE rowid = OLD.id * 4 + 2;
    DELETE FROM search_pending WHERE row = OLD.id * 4 + 2;
END;

DROP TRIGGER search_subject_on_create;
CREATE TRIGGER search_subject_on_create AFTER INSERT ON tickets BEGIN
    INSERT INTO search_text (rowid, subject, ticket)
    SELECT NEW.number * 4, NEW.subject, NEW.number WHERE NOT EXISTS (SELECT 1 FROM search_deferred);
    INSERT INTO search_pending (row, subject, ticket)
    SELECT NEW.number * 4, NEW.subject, NEW.number WHERE EXISTS (SELECT 1 FROM search_deferred);
    INSERT OR IGNORE INTO subject_sounds (key, ticket) SELECT value, NEW.number FROM json_each(reqmail_sound_keys(NEW.subject));
END;

DROP TRIGGER search_subject_on_update;
CREATE TRIGGER search_subject_on_update AFTER UPDATE OF subject ON tickets WHEN NEW.subject IS NOT OLD.subject BEGIN
    DELETE FROM search_text WHERE rowid = NEW.number * 4;
    INSERT INTO search_text (rowid, subject, ticket)
    SELECT NEW.number * 4, NEW.subject, NEW.number WHERE NOT EXISTS (SELECT 1 FROM search_deferred);
    INSERT OR REPLACE INTO search_pending (row, subject, ticket)
    SELECT NEW.number * 4, NEW.subject, NEW.number WHERE EXISTS (SELECT 1 FROM search_deferred);
    DELETE FROM subject_sounds WHERE ticket = OLD.number AND key IN (SELECT value FROM json_each(reqmail_sound_keys(OLD.subject)));
    INSERT OR IGNORE INTO subject_sounds (key, ticket) SELECT value, NEW.number FROM json_each(reqmail_sound_keys(NEW.subject));
END;

DROP TRIGGER search_subject_on_delete;
CREATE TRIGGER search_subject_on_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM search_text WHERE rowid = OLD.number * 4;
    DELETE FROM search_pending WHERE row = OLD.number * 4;
    DELETE FROM subject_sounds WHERE ticket = OLD.number AND key IN (SELECT value FROM json_each(reqmail_sound_keys(OLD.subject)));
    DELETE FROM status_changes WHERE ticket = OLD.number;
    DELETE FROM first_responses WHERE ticket = OLD.number;
    DELETE FROM time_entries WHERE ticket = OLD.number;
END;
