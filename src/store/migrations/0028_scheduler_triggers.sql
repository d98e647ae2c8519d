-- The triggers that run on every history entry and status change test a value against
-- a list of three with `=` rather than `IN (…)`: SQLite evaluates `IN` with more than two
-- constants by filling a temporary index, once per run of the trigger, so each entry
-- and status change paid for building one (a scheduler pass writes tens of thousands).
-- The same results: for a NULL both give NULL.
DROP TRIGGER status_changes_on_create;
CREATE TRIGGER status_changes_on_create AFTER INSERT ON tickets BEGIN
    INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
    VALUES (NEW.number, NEW.created, NULL, NEW.status, (NEW.status = 'new' OR NEW.status = 'open' OR NEW.status = 'hold'));
END;

DROP TRIGGER status_changes_on_update;
CREATE TRIGGER status_changes_on_update AFTER UPDATE OF status ON tickets WHEN NEW.status IS NOT OLD.status BEGIN
    INSERT INTO status_changes (ticket, at, from_status, to_status, backlog)
    VALUES (NEW.number, NEW.updated, OLD.status, NEW.status,
            (NEW.status = 'new' OR NEW.status = 'open' OR NEW.status = 'hold') - (OLD.status = 'new' OR OLD.status = 'open' OR OLD.status = 'hold'));
END;

DROP TRIGGER status_days_on_insert;
CREATE TRIGGER status_days_on_insert AFTER INSERT ON status_changes BEGIN
    INSERT INTO status_days (day, to_status, reopened, changes, backlog)
    VALUES (substr(NEW.at, 1, 10), NEW.to_status,
            COALESCE(NEW.from_status, '') IN ('resolved', 'closed')
            AND (NEW.to_status = 'new' OR NEW.to_status = 'open' OR NEW.to_status = 'hold'), 1, NEW.backlog)
    ON CONFLICT (day, to_status, reopened) DO UPDATE SET changes = changes + 1, backlog = backlog + excluded.backlog;
END;

DROP TRIGGER status_days_on_delete;
CREATE TRIGGER status_days_on_delete AFTER DELETE ON status_changes BEGIN
    UPDATE status_days SET changes = changes - 1, backlog = backlog - OLD.backlog
     WHERE day = substr(OLD.at, 1, 10) AND to_status = OLD.to_status
       AND reopened = (COALESCE(OLD.from_status, '') IN ('resolved', 'closed')
                       AND (OLD.to_status = 'new' OR OLD.to_status = 'open' OR OLD.to_status = 'hold'));
END;

DROP TRIGGER search_note_on_insert;
CREATE TRIGGER search_note_on_insert AFTER INSERT ON history
WHEN NEW.action = 'comment' OR NEW.action = 'internal-note' OR NEW.action = 'automatic-comment' BEGIN
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
WHEN (NEW.action = 'comment' OR NEW.action = 'internal-note' OR NEW.action = 'automatic-comment')
 AND (NEW.ticket IS NOT OLD.ticket OR reqmail_note(NEW.detail, NEW.detail_zstd) IS NOT reqmail_note(OLD.detail, OLD.detail_zstd)) BEGIN
    DELETE FROM search_text WHERE rowid = NEW.id * 4 + 1;
    INSERT INTO search_text (rowid, body, ticket, message)
    SELECT NEW.id * 4 + 1, reqmail_note(NEW.detail, NEW.detail_zstd), NEW.ticket, NEW.message WHERE NOT EXISTS (SELECT 1 FROM search_deferred);
    INSERT OR REPLACE INTO search_pending (row, body, ticket, message)
    SELECT NEW.id * 4 + 1, reqmail_note(NEW.detail, NEW.detail_zstd), NEW.ticket, NEW.message WHERE EXISTS (SELECT 1 FROM search_deferred);
END;
