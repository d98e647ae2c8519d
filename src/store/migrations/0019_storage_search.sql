-- The search index without positions (detail = 'none'): on the benchmark's store it took
-- 14.4 MB, positions included, and takes 2.3 MB without. Searches quote each word on its
-- own (`search::words`) and rank by bm25 over rows, so nothing needs a word's position;
-- a phrase (one quoted word that the tokenizer splits in two) would be refused without
-- them, so combining marks (M*) now join the letters around them as they do in
-- `char::is_alphanumeric`, which splits the words of a search. The triggers name the
-- index only by name and stay; `Store::open` fills it once this has run.
DROP TABLE search_text;
-- SQLite leaves the table of the unindexed columns behind (its drop of a contentless
-- index forgets that one).
DROP TABLE IF EXISTS search_text_content;
CREATE VIRTUAL TABLE search_text USING fts5(
    subject, body, ticket UNINDEXED, message UNINDEXED,
    content = '', contentless_delete = 1, contentless_unindexed = 1, detail = 'none',
    tokenize = 'porter unicode61 remove_diacritics 2 categories ''L* N* Co M*'''
);
INSERT INTO settings (name, value) VALUES ('search_reindex', 'due') ON CONFLICT (name) DO UPDATE SET value = excluded.value;
