//! Search over subjects, notes and text attachments: the words a person types become an
//! FTS5 query over the index that migration 0006 keeps current by triggers; results are
//! ranked by bm25, one per ticket, with the matching passage. `--sounds-like` replaces
//! each word by the subject words that sound like it ([`phonetic::soundex`]), searched
//! unstemmed in their own index.

pub mod phonetic;

use crate::store::report::Filter;
use crate::store::search::{self as sql, Hit};

/// The words of `text` as FTS5 sees them: letters and digits, lower case; a trailing `*`
/// asks for every word that starts so.
fn words(text: &[String]) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    for argument in text {
        for piece in argument.split(|c: char| !c.is_alphanumeric() && c != '*') {
            let prefix = piece.ends_with('*');
            let word: String = piece.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
            if !word.is_empty() {
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
pub fn search(conn: &rusqlite::Connection, text: &[String], sounds_like: bool, filter: &Filter, limit: usize) -> anyhow::Result<Found> {
    let words = words(text);
    if words.is_empty() {
        anyhow::bail!("nothing to search for: give words of letters or digits");
    }
    // Each word is quoted, so no input is read as FTS5 syntax (AND, NEAR, column names).
    let query = if sounds_like {
        let terms = sql::subject_terms(conn)?;
        let keyed: Vec<(Option<String>, &String)> = terms.iter().map(|term| (phonetic::soundex(term), term)).collect();
        let mut parts = Vec::new();
        for (word, _) in &words {
            let Some(key) = phonetic::soundex(word) else {
                parts.push(format!("\"{word}\""));
                continue;
            };
            let alike: Vec<String> =
                keyed.iter().filter(|(term_key, _)| term_key.as_deref() == Some(key.as_str())).map(|(_, term)| format!("\"{term}\"")).collect();
            if alike.is_empty() {
                return Ok(Found { hits: Vec::new(), ranked: false, matches: Some(0) });
            }
            parts.push(format!("({})", alike.join(" OR ")));
        }
        let hits = sql::search_subjects(conn, &parts.join(" AND "), filter, limit)?;
        return Ok(Found { hits, ranked: false, matches: None });
    } else {
        words.iter().map(|(word, prefix)| if *prefix { format!("\"{word}\"*") } else { format!("\"{word}\"") }).collect::<Vec<_>>().join(" ")
    };
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
}
