-- What follows from a change of a ticket is written by the statements of `store::tickets`
-- that change it, no longer by triggers on `tickets`: the status change for the reports
-- (`status_changes`, whose own trigger counts its day), the words of a ticket solved or
-- reopened, and `scheduler_at = ''` when a column the scheduler's jobs read changes. With
-- any trigger on a statement SQLite first copies every page the statement changes into a
-- statement journal, and a status change rewrites some ten index entries: that copy was
-- most of what a status change cost.
DROP TRIGGER tickets_scheduler_changed;
DROP TRIGGER tickets_scheduler_vendor_changed;
DROP TRIGGER status_changes_on_update;
DROP TRIGGER knowledge_on_solved;
DROP TRIGGER knowledge_on_reopened;
