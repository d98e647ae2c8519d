-- The default queue listing (`ticket list`: the tickets that take work, the least time
-- left first) reads this index in its order and stops at its limit, instead of sorting
-- every active ticket first. Partial: only the tickets the listing can show, and the
-- WHERE is exactly the listing's, so SQLite knows the index serves it. The number
-- (rowid) ends every entry and breaks ties.
CREATE INDEX tickets_queue_order ON tickets(due IS NULL, due) WHERE status IN ('new', 'open', 'hold');

-- A ticket's links (`ticket show`, each ticket of `ticket list --json`) include the
-- tickets that follow it up or were merged into it: without these, each look-up read
-- every ticket, and a JSON listing took time in the square of the ticket count.
CREATE INDEX tickets_follow_up_of ON tickets(follow_up_of) WHERE follow_up_of IS NOT NULL;
CREATE INDEX tickets_merged_into ON tickets(merged_into) WHERE merged_into IS NOT NULL;
