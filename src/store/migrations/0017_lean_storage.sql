-- Lean storage. The raw bytes of a message, in or out, live apart from its `messages`
-- row, written once and never updated: SQLite rewrites a whole row when any of its
-- columns changes, and the pipeline changes the row when it records the outcome, which
-- copied a large message through memory and left its old pages free in the file.
-- zstd-compressed. Rows of `messages` written before this keep their bytes in
-- `messages.raw` (verbatim, or compressed when `raw_zstd` is 1); later rows have X'' there.
CREATE TABLE message_raw (
    message INTEGER PRIMARY KEY NOT NULL REFERENCES messages(id),
    zstd    BLOB NOT NULL
) STRICT;

-- Compression dictionaries trained on the site's own mail (`store::compression`), per
-- direction, never changed or deleted: a compressed message names its dictionary by
-- `dict_id` (zstd's dictionary id, a hash of the dictionary). `trained_at` is the row id
-- of the message whose storing trained it.
CREATE TABLE zstd_dictionaries (
    id         INTEGER PRIMARY KEY,
    dict_id    INTEGER NOT NULL UNIQUE,
    direction  TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    trained_at INTEGER NOT NULL,
    dictionary BLOB NOT NULL
) STRICT;

-- The search index keeps no second copy of the text it indexes: subjects, notes and text
-- attachments are in their own tables, and a hit's snippet is made from there
-- (`store::search`). Contentless, with each row's ticket and message kept. A contentless
-- index takes no UPDATE: the triggers of 0008 and 0015 that updated it write delete and
-- insert
-- (the others name the index only by name and stay). `Store::open` fills it once this
-- has run (`store::search::reindex`).
DROP TRIGGER search_subject_on_update;
DROP TRIGGER search_note_on_move;
DROP TRIGGER search_note_on_edit;
DROP TABLE search_text;
CREATE VIRTUAL TABLE search_text USING fts5(
    subject, body, ticket UNINDEXED, message UNINDEXED,
    content = '', contentless_delete = 1, contentless_unindexed = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO settings (name, value) VALUES ('search_reindex', 'due') ON CONFLICT (name) DO UPDATE SET value = excluded.value;

CREATE TRIGGER search_subject_on_update AFTER UPDATE OF subject ON tickets WHEN NEW.subject IS NOT OLD.subject BEGIN
    DELETE FROM search_text WHERE rowid = NEW.number * 4;
    INSERT INTO search_text (rowid, subject, ticket) VALUES (NEW.number * 4, NEW.subject, NEW.number);
    DELETE FROM subject_sounds WHERE ticket = OLD.number AND key IN (SELECT value FROM json_each(reqmail_sound_keys(OLD.subject)));
    INSERT OR IGNORE INTO subject_sounds (key, ticket) SELECT value, NEW.number FROM json_each(reqmail_sound_keys(NEW.subject));
END;
-- A merge moves history to the surviving ticket; a note rewritten (a person forgotten)
-- is indexed as it now reads.
CREATE TRIGGER search_note_on_change AFTER UPDATE OF ticket, detail ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment') BEGIN
    DELETE FROM search_text WHERE rowid = NEW.id * 4 + 1;
    INSERT INTO search_text (rowid, body, ticket, message) VALUES (NEW.id * 4 + 1, NEW.detail, NEW.ticket, NEW.message);
END;
