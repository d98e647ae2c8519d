-- PostgreSQL twin of SQLite's 0018: compressed decision records, and the dictionaries'
-- third kind (PostgreSQL alters the CHECK where SQLite copies the table).
ALTER TABLE messages ADD COLUMN decision_zstd BYTEA;

ALTER TABLE zstd_dictionaries DROP CONSTRAINT zstd_dictionaries_direction_check;
ALTER TABLE zstd_dictionaries ADD CONSTRAINT zstd_dictionaries_direction_check CHECK (direction IN ('in', 'out', 'decision'));
