-- PostgreSQL twin of SQLite's 0024. Queries and triggers read a history entry's note as
-- reqmail_note(detail, detail_zstd), on SQLite a Rust function that decompresses it;
-- PostgreSQL compresses its pages itself (TOAST), so reqmail never compresses a note
-- there and the note is always `detail`.
CREATE OR REPLACE FUNCTION reqmail_note(detail TEXT, detail_zstd BYTEA) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT detail $$;
