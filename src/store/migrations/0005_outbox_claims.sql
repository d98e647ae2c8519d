-- Claims of the row since a result was last recorded. A claim that finds another one
-- before it came after a deliverer that died mid-delivery: the letter may have been
-- handed over already, and a transport that can tell (Maildir) checks before writing
-- it again.
ALTER TABLE outbox ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
