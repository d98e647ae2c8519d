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
-- (`store::search`). Contentless, with each row's ticket and message kept. The triggers
-- are those of 0008, with an update written as delete and insert (all a contentless
-- index can take); `store::search::reindex` fills it when this migration has run.
DROP TRIGGER search_subject_on_create;
DROP TRIGGER search_subject_on_update;
DROP TRIGGER search_note_on_insert;
DROP TRIGGER search_note_on_move;
DROP TRIGGER search_note_on_edit;
DROP TRIGGER search_note_on_delete;
DROP TRIGGER search_attachment_on_insert;
DROP TRIGGER search_attachment_on_delete;
DROP TABLE search_text;
CREATE VIRTUAL TABLE search_text USING fts5(
    subject, body, ticket UNINDEXED, message UNINDEXED,
    content = '', contentless_delete = 1, contentless_unindexed = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO settings (name, value) VALUES ('search_reindex', 'due') ON CONFLICT (name) DO UPDATE SET value = excluded.value;

CREATE TRIGGER search_subject_on_create AFTER INSERT ON tickets BEGIN
    INSERT INTO search_text (rowid, subject, ticket) VALUES (NEW.number * 4, NEW.subject, NEW.number);
    INSERT INTO subject_words (rowid, subject) VALUES (NEW.number, NEW.subject);
END;
CREATE TRIGGER search_subject_on_update AFTER UPDATE OF subject ON tickets WHEN NEW.subject IS NOT OLD.subject BEGIN
    DELETE FROM search_text WHERE rowid = NEW.number * 4;
    INSERT INTO search_text (rowid, subject, ticket) VALUES (NEW.number * 4, NEW.subject, NEW.number);
    DELETE FROM subject_words WHERE rowid = NEW.number;
    INSERT INTO subject_words (rowid, subject) VALUES (NEW.number, NEW.subject);
END;
CREATE TRIGGER search_note_on_insert AFTER INSERT ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment') BEGIN
    INSERT INTO search_text (rowid, body, ticket, message) VALUES (NEW.id * 4 + 1, NEW.detail, NEW.ticket, NEW.message);
END;
-- A merge moves history to the surviving ticket; a note rewritten (a person forgotten)
-- is indexed as it now reads.
CREATE TRIGGER search_note_on_change AFTER UPDATE OF ticket, detail ON history
WHEN NEW.action IN ('comment', 'internal-note', 'automatic-comment') BEGIN
    DELETE FROM search_text WHERE rowid = NEW.id * 4 + 1;
    INSERT INTO search_text (rowid, body, ticket, message) VALUES (NEW.id * 4 + 1, NEW.detail, NEW.ticket, NEW.message);
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
