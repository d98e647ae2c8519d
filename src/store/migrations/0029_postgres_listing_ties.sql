-- Nothing to do in SQLite: each of its indexes ends in the rowid, the ticket number, so a
-- listing's ties already come in the order it asks for. PostgreSQL's twin adds the number
-- to the listing indexes of 0021.
SELECT 1;
