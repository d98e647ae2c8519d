-- A new ticket's first status change (for the reports), its subject in the search index
-- and its subject's sound keys are written by `store::tickets::create`, no longer by
-- triggers on `tickets`, as a change of a ticket is since 0031: with a trigger SQLite
-- first copied every page the insert changed into a statement journal, some ten index
-- entries of `tickets` and the random pages of `subject_sounds`.
DROP TRIGGER status_changes_on_create;
DROP TRIGGER search_subject_on_create;
