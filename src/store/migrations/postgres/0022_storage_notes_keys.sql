-- PostgreSQL twin of SQLite's 0022: notes compressed like the decision records (kind
-- 'note', in `history.detail_zstd`) and dedupe keys kept as a 128-bit digest.
-- PostgreSQL cannot read a zstd frame, so the search words of a compressed note are
-- the application's to keep here, as the sound keys and knowledge words are (0015):
-- 0008's triggers index `detail`, which a compressed note leaves empty.
ALTER TABLE history ADD COLUMN detail_zstd BYTEA;

ALTER TABLE zstd_dictionaries DROP CONSTRAINT zstd_dictionaries_direction_check;
ALTER TABLE zstd_dictionaries ADD CONSTRAINT zstd_dictionaries_direction_check CHECK (direction IN ('in', 'out', 'decision', 'note'));

-- `store::messages::stored_key`: the first 16 bytes of the key's SHA-256 in base64
-- without padding. No digest equals a key of before (every one of those has a colon).
UPDATE messages SET dedupe_key = rtrim(encode(substring(sha256(convert_to(dedupe_key, 'UTF8')) FROM 1 FOR 16), 'base64'), '=')
 WHERE dedupe_key IS NOT NULL;
