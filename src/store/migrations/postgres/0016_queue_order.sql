-- PostgreSQL twin of SQLite's 0016: the default queue listing's index, and those of a
-- ticket's follow-ups and merges.
CREATE INDEX tickets_queue_order ON tickets((due IS NULL), due) WHERE status IN ('new', 'open', 'hold');
CREATE INDEX tickets_follow_up_of ON tickets(follow_up_of) WHERE follow_up_of IS NOT NULL;
CREATE INDEX tickets_merged_into ON tickets(merged_into) WHERE merged_into IS NOT NULL;
