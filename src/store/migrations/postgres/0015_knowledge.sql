-- PostgreSQL twin of SQLite's 0015: subject words by sound, and the words of resolved
-- tickets for the receipt's suggestions.
--
-- On SQLite, triggers call reqmail_sound_keys and reqmail_knowledge_words, SQL functions
-- that reqmail registers on each connection (Rust: store::sounds, store::knowledge).
-- PostgreSQL cannot call into the application, and a PL/pgSQL copy of the Soundex keys
-- and the word splitting would drift from the Rust one; so on PostgreSQL the application
-- maintains what needs them: the rows of subject_sounds when a ticket is created or its
-- subject changes, and knowledge_words (with the '' count) when a ticket is resolved or
-- closed, or its first request rewritten. What needs no words is kept by the triggers
-- below, as on SQLite. SQLite's backfill has nothing to fill (see 0008); `store copy`
-- copies these tables as they are.

CREATE TABLE subject_sounds (
    key    TEXT NOT NULL,
    ticket BIGINT NOT NULL,
    PRIMARY KEY (key, ticket)
);

-- A deleted ticket's sound keys go with it (SQLite's delete trigger asks the function
-- for the keys; all of the ticket's rows are the same rows).
CREATE OR REPLACE FUNCTION reqmail_search_subject_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_text WHERE id = OLD.number * 4;
    DELETE FROM subject_sounds WHERE ticket = OLD.number;
    DELETE FROM status_changes WHERE ticket = OLD.number;
    DELETE FROM first_responses WHERE ticket = OLD.number;
    DELETE FROM time_entries WHERE ticket = OLD.number;
    RETURN NULL;
END $$;

CREATE TABLE knowledge_words (
    word   TEXT NOT NULL,
    ticket BIGINT NOT NULL,
    PRIMARY KEY (word, ticket)
);
CREATE INDEX knowledge_words_ticket ON knowledge_words(ticket);
CREATE TABLE knowledge_counts (
    word    TEXT PRIMARY KEY,
    tickets BIGINT NOT NULL
);

CREATE FUNCTION reqmail_knowledge_count_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO knowledge_counts (word, tickets) VALUES (NEW.word, 1)
    ON CONFLICT (word) DO UPDATE SET tickets = knowledge_counts.tickets + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER knowledge_count_on_insert AFTER INSERT ON knowledge_words
FOR EACH ROW EXECUTE FUNCTION reqmail_knowledge_count_on_insert();

CREATE FUNCTION reqmail_knowledge_count_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE knowledge_counts SET tickets = tickets - 1 WHERE word = OLD.word;
    RETURN NULL;
END $$;
CREATE TRIGGER knowledge_count_on_delete AFTER DELETE ON knowledge_words
FOR EACH ROW EXECUTE FUNCTION reqmail_knowledge_count_on_delete();

-- A ticket reopened, or deleted while solved, loses its words and its count.
CREATE FUNCTION reqmail_knowledge_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM knowledge_words WHERE ticket = OLD.number;
    UPDATE knowledge_counts SET tickets = tickets - 1 WHERE word = '';
    RETURN NULL;
END $$;
CREATE TRIGGER knowledge_on_reopened AFTER UPDATE OF status ON tickets
FOR EACH ROW WHEN (OLD.status IN ('resolved', 'closed') AND NEW.status NOT IN ('resolved', 'closed'))
EXECUTE FUNCTION reqmail_knowledge_forget();
CREATE TRIGGER knowledge_on_delete AFTER DELETE ON tickets
FOR EACH ROW WHEN (OLD.status IN ('resolved', 'closed'))
EXECUTE FUNCTION reqmail_knowledge_forget();
