-- PostgreSQL twin of SQLite's 0021: one index per listing order led by status, (queue,
-- status) for a queue's listings, and the indexes these make redundant dropped.
CREATE INDEX tickets_status_due ON tickets(status, (due IS NULL), due);
CREATE INDEX tickets_status_priority ON tickets(status, (CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END), (due IS NULL), due);
CREATE INDEX tickets_status_created ON tickets(status, created);
CREATE INDEX tickets_status_updated ON tickets(status, updated);
CREATE INDEX tickets_queue_status ON tickets(queue, status);

DROP INDEX tickets_status_queue;
DROP INDEX tickets_queue;
DROP INDEX tickets_owner;
DROP INDEX tickets_requester;
DROP INDEX tickets_queue_order;
DROP INDEX tickets_due_order;
DROP INDEX tickets_priority_order;
DROP INDEX tickets_updated;
