-- Which gateway holds an outbox row's claim (host, process and start): several gateways
-- deliver from one database, and each records results only for the claims it holds.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
