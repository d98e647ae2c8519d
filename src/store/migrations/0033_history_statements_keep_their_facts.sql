-- What follows from a new history entry is written by `store::tickets`, no longer by
-- triggers on `history`, as for a ticket since 0031 and 0032: a note in the search index
-- (from the text in hand, not decompressed again), a staff member's first comment as the
-- ticket's first response, time spent. A trigger made SQLite first copy every page each
-- insert changed into a statement journal.
DROP TRIGGER search_note_on_insert;
DROP TRIGGER first_responses_on_comment;
DROP TRIGGER time_entries_on_time;
