-- PostgreSQL twin of SQLite's 0009: why each inbound message did what it did.
ALTER TABLE messages ADD COLUMN decision TEXT;
