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
