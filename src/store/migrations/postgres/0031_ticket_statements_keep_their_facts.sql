-- PostgreSQL twin of SQLite's 0031: the statements that change a ticket write what follows
-- from the change (the status change, a reopened ticket's words forgotten, the scheduler's
-- next look), on both stores alike. A ticket deleted while solved still forgets its words
-- by the trigger of 0015.
DROP TRIGGER tickets_scheduler_changed ON tickets;
DROP TRIGGER tickets_scheduler_vendor_changed ON tickets;
DROP FUNCTION reqmail_tickets_scheduler_changed();
DROP TRIGGER status_changes_on_update ON tickets;
DROP FUNCTION reqmail_status_changes_on_update();
DROP TRIGGER knowledge_on_reopened ON tickets;
