-- Mail spooled before the idempotency key held a hash of the body is found again under
-- its Message-ID alone (`pipeline::stored_before_upgrade`), one more look-up in the
-- dedupe index for every message spooled. A store that held no mail at this migration
-- has none under the old key and skips it.
INSERT INTO settings (name, value)
SELECT 'keys_before_body_hash', 'kept'
WHERE EXISTS (SELECT 1 FROM messages WHERE direction = 'in');
