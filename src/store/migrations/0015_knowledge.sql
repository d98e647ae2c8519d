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

-- The words of resolved and closed tickets (subject and first request, by the SQL
-- function reqmail_knowledge_words, store::knowledge) for the receipt's suggestions, and
-- in how many tickets each occurs; the empty word counts the tickets. A ticket's words
-- come when it is resolved or closed and go when it is reopened, merged, rejected or
-- deleted.
CREATE TABLE knowledge_words (
    word   TEXT NOT NULL,
    ticket INTEGER NOT NULL,
    PRIMARY KEY (word, ticket)
) STRICT, WITHOUT ROWID;
CREATE INDEX knowledge_words_ticket ON knowledge_words(ticket);
CREATE TABLE knowledge_counts (
    word    TEXT PRIMARY KEY,
    tickets INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER knowledge_count_on_insert AFTER INSERT ON knowledge_words BEGIN
    INSERT INTO knowledge_counts (word, tickets) VALUES (NEW.word, 1)
    ON CONFLICT (word) DO UPDATE SET tickets = tickets + 1;
END;
CREATE TRIGGER knowledge_count_on_delete AFTER DELETE ON knowledge_words BEGIN
    UPDATE knowledge_counts SET tickets = tickets - 1 WHERE word = OLD.word;
END;

CREATE TRIGGER knowledge_on_solved AFTER UPDATE OF status ON tickets
WHEN NEW.status IN ('resolved', 'closed') AND OLD.status NOT IN ('resolved', 'closed') BEGIN
    INSERT OR IGNORE INTO knowledge_words (word, ticket)
    SELECT value, NEW.number FROM json_each(reqmail_knowledge_words(NEW.subject || char(10) || COALESCE(
        (SELECT detail FROM history WHERE ticket = NEW.number AND action = 'comment' ORDER BY id LIMIT 1), '')));
    INSERT INTO knowledge_counts (word, tickets) VALUES ('', 1) ON CONFLICT (word) DO UPDATE SET tickets = tickets + 1;
END;
CREATE TRIGGER knowledge_on_reopened AFTER UPDATE OF status ON tickets
WHEN OLD.status IN ('resolved', 'closed') AND NEW.status NOT IN ('resolved', 'closed') BEGIN
    DELETE FROM knowledge_words WHERE ticket = OLD.number;
    UPDATE knowledge_counts SET tickets = tickets - 1 WHERE word = '';
END;
CREATE TRIGGER knowledge_on_delete AFTER DELETE ON tickets WHEN OLD.status IN ('resolved', 'closed') BEGIN
    DELETE FROM knowledge_words WHERE ticket = OLD.number;
    UPDATE knowledge_counts SET tickets = tickets - 1 WHERE word = '';
END;
-- A request rewritten (a person forgotten) keeps none of its old words.
CREATE TRIGGER knowledge_on_request_edit AFTER UPDATE OF detail ON history
WHEN NEW.action = 'comment' AND (SELECT status FROM tickets WHERE number = NEW.ticket) IN ('resolved', 'closed') BEGIN
    DELETE FROM knowledge_words WHERE ticket = NEW.ticket;
    INSERT OR IGNORE INTO knowledge_words (word, ticket)
    SELECT value, NEW.ticket FROM json_each(reqmail_knowledge_words((SELECT subject FROM tickets WHERE number = NEW.ticket) || char(10) || COALESCE(
        (SELECT detail FROM history WHERE ticket = NEW.ticket AND action = 'comment' ORDER BY id LIMIT 1), '')));
END;

INSERT INTO knowledge_words (word, ticket)
SELECT words.value, tickets.number
  FROM tickets, json_each(reqmail_knowledge_words(tickets.subject || char(10) || COALESCE(
       (SELECT detail FROM history WHERE history.ticket = tickets.number AND action = 'comment' ORDER BY id LIMIT 1), ''))) AS words
 WHERE tickets.status IN ('resolved', 'closed');
INSERT INTO knowledge_counts (word, tickets)
SELECT '', COUNT(*) FROM tickets WHERE status IN ('resolved', 'closed');
