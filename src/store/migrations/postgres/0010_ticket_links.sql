-- PostgreSQL twin of SQLite's 0010: tickets linked by hand or by a split, stored once per
-- pair (lower number first).
CREATE TABLE ticket_links (
    low  BIGINT NOT NULL REFERENCES tickets(number) ON DELETE CASCADE DEFERRABLE,
    high BIGINT NOT NULL REFERENCES tickets(number) ON DELETE CASCADE DEFERRABLE,
    PRIMARY KEY (low, high),
    CHECK (low < high)
);
CREATE INDEX ticket_links_high ON ticket_links(high);
