-- PostgreSQL twin of SQLite's 0032: `store::tickets::create` writes a new ticket's first
-- status change on both stores alike (its sound keys it wrote here already). The search
-- index keeps its trigger here: it computes the tsvector, and PostgreSQL journals no
-- pages for it.
DROP TRIGGER status_changes_on_create ON tickets;
DROP FUNCTION reqmail_status_changes_on_create();
