-- SQLite keeps its subjects' sound keys in an FTS5 index from its 0037 on; PostgreSQL
-- keeps its subject_sounds (0015), rows the store writes with each new ticket.
SELECT 1;
