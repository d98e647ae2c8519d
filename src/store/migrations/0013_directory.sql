-- People from the site's LDAP directory. `directory_key` is the entry's stable id (its
-- entryUUID or the configured attribute), set only on people the directory manages, so
-- that a sync retires exactly those who left it. `retired` is when that happened: a
-- retired person keeps their history and tickets and counts as a customer.
ALTER TABLE people ADD COLUMN directory_key TEXT;
ALTER TABLE people ADD COLUMN retired TEXT;
CREATE UNIQUE INDEX people_directory_key ON people(directory_key) WHERE directory_key IS NOT NULL;

-- The last sync from a directory ('ldap'): when it was tried, when it last worked and
-- how many people it listed then, and the error of a failed try, for `doctor` and logs.
CREATE TABLE directory_syncs (
    directory    TEXT PRIMARY KEY,
    last_attempt TEXT NOT NULL,
    last_success TEXT,
    people       INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
) STRICT;

-- A ticket a machine opened (a monitor's alert, automatic mail): its requester reads no
-- letters; a configured monitor gets its status mail instead.
ALTER TABLE tickets ADD COLUMN opened_by_machine INTEGER NOT NULL DEFAULT 0;
UPDATE tickets SET opened_by_machine = 1 WHERE number IN (SELECT ticket FROM monitor_tickets);
