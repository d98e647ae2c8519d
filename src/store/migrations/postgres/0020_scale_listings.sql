-- PostgreSQL twin of SQLite's 0020: the indexes of listings over every ticket, with the
-- expressions of the listing's ORDER BY.
CREATE INDEX tickets_due_order ON tickets((due IS NULL), due);
CREATE INDEX tickets_priority_order ON tickets((CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END), (due IS NULL), due);
CREATE INDEX tickets_updated ON tickets(updated);
