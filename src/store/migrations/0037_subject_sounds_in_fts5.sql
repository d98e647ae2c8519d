-- Subject words by sound in an FTS5 index of their own, one row a ticket: its row id the
-- ticket's number, its words the subject's sound keys (store::sounds::tokens). A batch
-- adds its new tickets' rows in one statement at its end, with the search index's
-- kept-back text (store::search), and FTS5 writes them as one small segment, where the
-- row per ticket and key of subject_sounds put an entry on each key's own page. Row ids
-- only (detail = none): a search asks which tickets have every key, newest first.
CREATE VIRTUAL TABLE ticket_sounds USING fts5(
    keys, content = '', contentless_delete = 1, detail = none, tokenize = 'ascii'
);

INSERT INTO ticket_sounds (rowid, keys) SELECT number, reqmail_sound_tokens(subject) FROM tickets;

DROP TRIGGER search_subject_on_update;
CREATE TRIGGER search_subject_on_update AFTER UPDATE OF subject ON tickets WHEN NEW.subject IS NOT OLD.subject BEGIN
    DELETE FROM search_text WHERE rowid = NEW.number * 4;
    INSERT INTO search_text (rowid, subject, ticket)
    SELECT NEW.number * 4, NEW.subject, NEW.number WHERE NOT EXISTS (SELECT 1 FROM search_deferred);
    INSERT OR REPLACE INTO search_pending (row, subject, ticket)
    SELECT NEW.number * 4, NEW.subject, NEW.number WHERE EXISTS (SELECT 1 FROM search_deferred);
    DELETE FROM ticket_sounds WHERE rowid = OLD.number;
    INSERT INTO ticket_sounds (rowid, keys)
    SELECT NEW.number, reqmail_sound_tokens(NEW.subject) WHERE NOT EXISTS (SELECT 1 FROM search_deferred);
END;

DROP TRIGGER search_subject_on_delete;
CREATE TRIGGER search_subject_on_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM search_text WHERE rowid = OLD.number * 4;
    DELETE FROM search_pending WHERE row = OLD.number * 4;
    DELETE FROM ticket_sounds WHERE rowid = OLD.number;
    DELETE FROM status_changes WHERE ticket = OLD.number;
    DELETE FROM first_responses WHERE ticket = OLD.number;
    DELETE FROM time_entries WHERE ticket = OLD.number;
END;

DROP TABLE subject_sounds;
