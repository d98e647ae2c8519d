-- Notes compressed like the decision records (`store::compression`, kind 'note'): what
-- people wrote, kept in history, was the largest part of the store after the raw mail.
-- A compressed entry has its text in `detail_zstd` and '' in `detail`; entries written
-- before, and short ones, keep their text in `detail`. SQL reads a note as
-- `reqmail_note(detail, detail_zstd)`, a function every connection the store opens has.
ALTER TABLE history ADD COLUMN detail_zstd BLOB;

-- The dictionaries' table learns the fourth kind; a CHECK cannot be altered, so the
-- (small) table is copied.
CREATE TABLE zstd_dictionaries_new (
    id         INTEGER PRIMARY KEY,
    dict_id    INTEGER NOT NULL UNIQUE,
    direction  TEXT NOT NULL CHECK (direction IN ('in', 'out', 'decision', 'note')),
    trained_at INTEGER NOT NULL,
    dictionary BLOB NOT NULL
) STRICT;
INSERT INTO zstd_dictionaries_new (id, dict_id, direction, trained_at, dictionary)
SELECT id, dict_id, direction, trained_at, dictionary FROM zstd_dictionaries;
DROP TABLE zstd_dictionaries;
ALTER TABLE zstd_dictionaries_new RENAME TO zstd_dictionaries;

-- The triggers that read a note's text, reading it through the function.
DROP TRIGGER search_note_on_insert;
CREATE TRIGGER search_note_on_insert AFTER INSERT ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment') BEGIN
    INSERT INTO search_text (rowid, body, ticket, message)
    SELECT NEW.id * 4 + 1, CASE WHEN instr(note, ' (matched by ') > 0 THEN substr(note, 1, instr(note, ' (matched by ') - 1) ELSE note END, NEW.ticket, NEW.message
      FROM (SELECT reqmail_note(NEW.detail, NEW.detail_zstd) AS note);
END;
-- A note compressed where it was text (`store compact`) reads the same: the index and
-- the knowledge words stay as they are.
DROP TRIGGER search_note_on_change;
CREATE TRIGGER search_note_on_change AFTER UPDATE OF ticket, detail, detail_zstd ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment')
 AND (NEW.ticket IS NOT OLD.ticket OR reqmail_note(NEW.detail, NEW.detail_zstd) IS NOT reqmail_note(OLD.detail, OLD.detail_zstd)) BEGIN
    DELETE FROM search_text WHERE rowid = NEW.id * 4 + 1;
    INSERT INTO search_text (rowid, body, ticket, message) VALUES (NEW.id * 4 + 1, reqmail_note(NEW.detail, NEW.detail_zstd), NEW.ticket, NEW.message);
END;
DROP TRIGGER knowledge_on_solved;
CREATE TRIGGER knowledge_on_solved AFTER UPDATE OF status ON tickets
WHEN NEW.status IN ('resolved', 'closed') AND OLD.status NOT IN ('resolved', 'closed') BEGIN
    INSERT OR IGNORE INTO knowledge_words (word, ticket)
    SELECT value, NEW.number FROM json_each(reqmail_knowledge_words(NEW.subject || char(10) || COALESCE(
        (SELECT reqmail_note(detail, detail_zstd) FROM history WHERE ticket = NEW.number AND action = 'comment' ORDER BY id LIMIT 1), '')));
    INSERT INTO knowledge_counts (word, tickets) VALUES ('', 1) ON CONFLICT (word) DO UPDATE SET tickets = tickets + 1;
END;
DROP TRIGGER knowledge_on_request_edit;
CREATE TRIGGER knowledge_on_request_edit AFTER UPDATE OF detail, detail_zstd ON history
WHEN NEW.action = 'comment' AND (SELECT status FROM tickets WHERE number = NEW.ticket) IN ('resolved', 'closed')
 AND reqmail_note(NEW.detail, NEW.detail_zstd) IS NOT reqmail_note(OLD.detail, OLD.detail_zstd) BEGIN
    DELETE FROM knowledge_words WHERE ticket = NEW.ticket;
    INSERT OR IGNORE INTO knowledge_words (word, ticket)
    SELECT value, NEW.ticket FROM json_each(reqmail_knowledge_words((SELECT subject FROM tickets WHERE number = NEW.ticket) || char(10) || COALESCE(
        (SELECT reqmail_note(detail, detail_zstd) FROM history WHERE ticket = NEW.ticket AND action = 'comment' ORDER BY id LIMIT 1), '')));
END;

-- Dedupe keys kept as a digest (`store::messages::stored_key`): 22 characters where a
-- key (a Message-ID with a body hash) took 80 or more, in the row and in its unique index.
-- No digest equals a key of before (every one of those has a colon).
UPDATE messages SET dedupe_key = reqmail_dedupe_digest(dedupe_key) WHERE dedupe_key IS NOT NULL;
