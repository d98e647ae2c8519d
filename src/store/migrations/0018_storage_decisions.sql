-- Decision records (`reqmail trace`) compressed like the raw messages
-- (`store::compression`, kind 'decision'): some 450 bytes of JSON each, about 55 with a
-- dictionary trained on the site's own decisions. Rows written before keep theirs in
-- `decision`, as text.
ALTER TABLE messages ADD COLUMN decision_zstd BLOB;

-- The dictionaries' table learns the third kind; a CHECK cannot be altered, so the
-- (small) table is copied.
CREATE TABLE zstd_dictionaries_new (
    id         INTEGER PRIMARY KEY,
    dict_id    INTEGER NOT NULL UNIQUE,
    direction  TEXT NOT NULL CHECK (direction IN ('in', 'out', 'decision')),
    trained_at INTEGER NOT NULL,
    dictionary BLOB NOT NULL
) STRICT;
INSERT INTO zstd_dictionaries_new (id, dict_id, direction, trained_at, dictionary)
SELECT id, dict_id, direction, trained_at, dictionary FROM zstd_dictionaries;
DROP TABLE zstd_dictionaries;
ALTER TABLE zstd_dictionaries_new RENAME TO zstd_dictionaries;
