-- Operations: what retention did (purges, people forgotten), for the record. Entries
-- name tickets by number and people by id, never by address.
CREATE TABLE retention_log (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('purge', 'forget')),
    detail TEXT NOT NULL
) STRICT;
