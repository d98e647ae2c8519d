-- Inbound mail with a Message-ID is found by it through the unique index of its dedupe
-- key, whose stored form now begins with a digest of the Message-ID
-- (`store::messages::stored_key`). The Message-ID index keeps our letters, whose IDs
-- begin with the time they were written and so join it at its end, and the inbound mail
-- kept before (and any without a Message-ID the spool could see): a key below '~'. An
-- index keyed at random costs a page written for nearly every message once it outgrows
-- a batch many times over; inbound mail paid that twice.
DROP INDEX messages_message_id;
CREATE INDEX messages_message_id_out ON messages(message_id) WHERE direction = 'out';
CREATE INDEX messages_message_id_in ON messages(message_id) WHERE direction = 'in' AND dedupe_key < '~';

-- A retry of mail spooled before is found under its key as kept then
-- (`pipeline::stored_before_upgrade`); a store without mail skips that look-up.
INSERT INTO settings (name, value)
SELECT 'keys_before_message_id_prefix', 'kept'
WHERE EXISTS (SELECT 1 FROM messages WHERE direction = 'in');
