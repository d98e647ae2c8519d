//! Search over subjects, notes and text attachments: the words a person types become an
//! FTS5 query over the index that migration 0006 keeps current by triggers; results are
//! ranked by bm25, one per ticket, with the matching passage. `--sounds-like` finds the
//! tickets whose subjects have a word that sounds like each given word, by the sound
//! keys kept beside the tickets ([`crate::store::sounds`]).

use crate::store::report::Filter;
use crate::store::search::{self as sql, Hit};
use crate::store::sounds::sound_keys;
use unicode_normalization::char::is_combining_mark;

/// The words of `text` as FTS5 sees them: letters and digits with their combining marks,
/// lower case; a trailing `*` asks for every word that starts so.
fn words(text: &[String]) -> Vec<(String, bool)> {
    // A mark belongs to its word ("Cafe" + U+0301 is one word), as in the index: split
    // there, the search would ask for "cafe", which PostgreSQL's index (no diacritics
    // folded) does not hold.
    let in_word = |c: char| c.is_alphanumeric() || is_combining_mark(c);
    let mut words = Vec::new();
    for argument in text {
        for piece in argument.split(|c: char| !in_word(c) && c != '*') {
            let prefix = piece.ends_with('*');
            let word: String = piece.chars().filter(|&c| in_word(c)).flat_map(char::to_lowercase).collect();
            // Marks alone are no word: FTS5 would find nothing to ask for.
            if word.chars().any(char::is_alphanumeric) {
                words.push((word, prefix));
            }
        }
    }
    words
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// False when so many rows matched ([`sql::MOST_RANKED`]) that the most recent come
    /// first rather than the best; and for `--sounds-like`, which lists the newest first.
    pub ranked: bool,
    /// Matching rows (subjects, notes, attachments), when counted.
    pub matches: Option<i64>,
}

/// Tickets matching all of `text`'s words: best first, unless very many match.
pub fn search(conn: &crate::store::Connection, text: &[String], sounds_like: bool, filter: &Filter, limit: usize) -> anyhow::Result<Found> {
    let words = words(text);
    if words.is_empty() {
        anyhow::bail!("nothing to search for: give words of letters or digits");
    }
    // Each word is quoted, so no input is read as FTS5 syntax (AND, NEAR, column names).
    if sounds_like {
        let keys: Vec<String> = words.iter().map(|(word, _)| sound_keys(word)).flat_map(|keys| keys.into_iter()).collect();
        return Ok(Found { hits: sql::search_by_sound(conn, &keys, filter, limit)?, ranked: false, matches: None });
    }
    let query = words.iter().map(|(word, prefix)| if *prefix { format!("\"{word}\"*") } else { format!("\"{word}\"") }).collect::<Vec<_>>().join(" ");
    let matches = sql::count(conn, &query)?;
    let ranked = matches <= sql::MOST_RANKED;
    Ok(Found { hits: sql::search(conn, &query, filter, limit, ranked)?, ranked, matches: Some(matches) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_letters_and_digits_with_an_optional_prefix_star() {
        let text = vec!["Printer-jam".to_string(), "NEAR(x".to_string(), "\"quoted\"".to_string(), "serv*".to_string(), "---".to_string()];
        let found: Vec<(String, bool)> = words(&text);
        let expected = [("printer", false), ("jam", false), ("near", false), ("x", false), ("quoted", false), ("serv", true)];
        assert_eq!(found, expected.map(|(word, prefix)| (word.to_string(), prefix)));
    }

    #[test]
    fn combining_marks_stay_with_their_word_and_are_no_word_alone() {
        let text = vec!["Cafe\u{301}-wifi".to_string(), "\u{301}".to_string(), "हिंदी*".to_string()];
        let found: Vec<(String, bool)> = words(&text);
        let expected = [("cafe\u{301}", false), ("wifi", false), ("हिंदी", true)];
        assert_eq!(found, expected.map(|(word, prefix)| (word.to_string(), prefix)));
    }
}
