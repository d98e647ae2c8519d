-- Nothing to do on SQLite: its twin in postgres/ makes PostgreSQL's search index read
-- text in Unicode's composed form (NFC). FTS5's tokenizer here keeps combining marks with
-- their word (category M*) and folds the diacritics away, so "Cafe" + U+0301 and "Café"
-- are one word already.
SELECT 1;
