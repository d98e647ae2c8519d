-- Subject words by sound, for `search --sounds-like`: one row per ticket and distinct
-- sound key of its subject's words (store::sounds), written by triggers in the same
-- transaction as the ticket. A search walks one key's tickets newest first and stops
-- at its limit, where the subject-word index it replaces had to read its whole
-- vocabulary for every search.
CREATE TABLE subject_sounds (
    key    TEXT NOT NULL,
    ticket INTEGER NOT NULL,
    PRIMARY KEY (key, ticket)
) STRICT, WITHOUT ROWID;

DROP TRIGGER search_subject_on_create;
DROP TRIGGER search_subject_on_update;
DROP TRIGGER search_subject_on_delete;
DROP TABLE subject_terms;
DROP TABLE subject_words;

CREATE TRIGGER search_subject_on_create AFTER INSERT ON tickets BEGIN
    INSERT INTO search_text (rowid, subject, ticket) VALUES (NEW.number * 4, NEW.subject, NEW.number);
    INSERT OR IGNORE INTO subject_sounds (key, ticket) SELECT value, NEW.number FROM json_each(reqmail_sound_keys(NEW.subject));
END;
CREATE TRIGGER search_subject_on_update AFTER UPDATE OF subject ON tickets WHEN NEW.subject IS NOT OLD.subject BEGIN
    UPDATE search_text SET subject = NEW.subject WHERE rowid = NEW.number * 4;
    DELETE FROM subject_sounds WHERE ticket = OLD.number AND key IN (SELECT value FROM json_each(reqmail_sound_keys(OLD.subject)));
    INSERT OR IGNORE INTO subject_sounds (key, ticket) SELECT value, NEW.number FROM json_each(reqmail_sound_keys(NEW.subject));
END;
CREATE TRIGGER search_subject_on_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM search_text WHERE rowid = OLD.number * 4;
    DELETE FROM subject_sounds WHERE ticket = OLD.number AND key IN (SELECT value FROM json_each(reqmail_sound_keys(OLD.subject)));
    DELETE FROM status_changes WHERE ticket = OLD.number;
    DELETE FROM first_responses WHERE ticket = OLD.number;
    DELETE FROM time_entries WHERE ticket = OLD.number;
END;

INSERT OR IGNORE INTO subject_sounds (key, ticket)
SELECT keys.value, tickets.number FROM tickets, json_each(reqmail_sound_keys(tickets.subject)) AS keys;
