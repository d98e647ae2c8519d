-- Listings over every ticket (`ticket list --all --sort due|priority|updated`, a page at
-- a time) read the order's index from the top and stop at the limit, instead of sorting
-- a million tickets first. The expressions are word for word those of the listing's
-- ORDER BY, so SQLite knows an index serves it; the number (rowid) breaks ties.
-- `--sort created` has tickets_created.
CREATE INDEX tickets_due_order ON tickets(due IS NULL, due);
CREATE INDEX tickets_priority_order ON tickets(CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, due IS NULL, due);
CREATE INDEX tickets_updated ON tickets(updated);
