-- Issue 7, safety: rate limits of automatic mail and addresses that bounce.
-- (0002 and 0003 are reserved for other work; the lead orders the list when merging.)

-- Every automatic letter admitted for the outbox, for sliding-window rate limits.
-- Rows older than the window are pruned as new ones arrive.
CREATE TABLE auto_mail (
    id      INTEGER PRIMARY KEY,
    address TEXT NOT NULL,
    ticket  INTEGER,
    at      TEXT NOT NULL
) STRICT;
CREATE INDEX auto_mail_address_at ON auto_mail(address, at);
CREATE INDEX auto_mail_at ON auto_mail(at);

-- Addresses that bounced permanently (RFC 3464 Action: failed): no mail until `until`.
CREATE TABLE undeliverable (
    address TEXT PRIMARY KEY,
    until   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    ticket  INTEGER REFERENCES tickets(number),
    at      TEXT NOT NULL
) STRICT;
