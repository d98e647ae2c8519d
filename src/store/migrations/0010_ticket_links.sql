-- Tickets linked by hand or by a split, stored once per pair (lower number first).
CREATE TABLE ticket_links (
    low  INTEGER NOT NULL REFERENCES tickets(number) ON DELETE CASCADE,
    high INTEGER NOT NULL REFERENCES tickets(number) ON DELETE CASCADE,
    PRIMARY KEY (low, high),
    CHECK (low < high)
) STRICT, WITHOUT ROWID;
CREATE INDEX ticket_links_high ON ticket_links(high);
