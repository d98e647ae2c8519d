-- A status change's day is counted by `store::tickets` with the change, no longer by a
-- trigger on `status_changes` (which made SQLite journal the pages of each insert). A
-- deleted ticket's changes are still taken off their days by the trigger of 0006.
DROP TRIGGER status_days_on_insert;
