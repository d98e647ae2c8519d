-- PostgreSQL twin of SQLite's 0013: people from the site's LDAP directory, the last sync,
-- and tickets a machine opened.
ALTER TABLE people ADD COLUMN directory_key TEXT;
ALTER TABLE people ADD COLUMN retired TEXT;
CREATE UNIQUE INDEX people_directory_key ON people(directory_key) WHERE directory_key IS NOT NULL;

CREATE TABLE directory_syncs (
    directory    TEXT PRIMARY KEY,
    last_attempt TEXT NOT NULL,
    last_success TEXT,
    people       BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT
);

ALTER TABLE tickets ADD COLUMN opened_by_machine BIGINT NOT NULL DEFAULT 0;
UPDATE tickets SET opened_by_machine = 1 WHERE number IN (SELECT ticket FROM monitor_tickets);
