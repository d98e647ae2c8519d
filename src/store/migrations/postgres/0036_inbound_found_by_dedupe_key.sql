-- Inbound mail's dedupe key now begins with a digest of its Message-ID
-- (`store::messages::stored_key`); SQLite finds inbound mail by it, PostgreSQL keeps its
-- Message-ID index. A retry of mail spooled before is found under its key as kept then
-- (`pipeline::stored_before_upgrade`); a store without mail skips that look-up.
INSERT INTO settings (name, value)
SELECT 'keys_before_message_id_prefix', 'kept'
WHERE EXISTS (SELECT 1 FROM messages WHERE direction = 'in');
