-- The desk: the next action to take on a ticket (`Next:`), shown in the queue and to agents.
ALTER TABLE tickets ADD COLUMN next_action TEXT;
