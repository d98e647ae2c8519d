-- Every listing of `ticket list`, whatever its filter and order, reads a page without
-- sorting the tickets it matches. Status goes with time (the open tickets are the new
-- ones, the closed the old), so an index of the order alone can make a listing of one
-- status read past nearly every ticket of the others before it finds the first of
-- its own. One index per order, led by status, serves them all: a listing reads the
-- index of its order for each status it admits and merges them (UNION ALL with ORDER
-- BY), stopping at the limit. `tickets_status` is the one for number order (an index
-- holds its rows in number order within each value). The expressions are word for
-- word those of the listing's ORDER BY, so SQLite knows an index serves it.
CREATE INDEX tickets_status_due ON tickets(status, due IS NULL, due);
CREATE INDEX tickets_status_priority ON tickets(status, CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, due IS NULL, due);
CREATE INDEX tickets_status_created ON tickets(status, created);
CREATE INDEX tickets_status_updated ON tickets(status, updated);
-- A queue's tickets, of one status or any: counted to choose a listing's plan, read when
-- there are few.
CREATE INDEX tickets_queue_status ON tickets(queue, status);

-- What the indexes above make redundant: each costs a write on every new ticket and on
-- every change of its columns. A look-up by owner or requester reads the leading column
-- of (owner, status) and (requester, status); by status and queue, (queue, status).
DROP INDEX tickets_status_queue;
DROP INDEX tickets_queue;
DROP INDEX tickets_owner;
DROP INDEX tickets_requester;
DROP INDEX tickets_queue_order;
DROP INDEX tickets_due_order;
DROP INDEX tickets_priority_order;
DROP INDEX tickets_updated;
