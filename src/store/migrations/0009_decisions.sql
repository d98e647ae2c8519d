-- Why each inbound message did what it did (`reqmail trace`): the pipeline's decision
-- record as compact JSON, written in the transaction that applied it. Messages
-- processed before this column existed have none.
ALTER TABLE messages ADD COLUMN decision TEXT;
