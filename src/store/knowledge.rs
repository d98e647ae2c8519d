//! The SQL behind the receipt's suggestions: the words of resolved tickets
//! (`knowledge_words`, subject and first request) and in how many tickets each occurs
//! (`knowledge_counts`; the empty word counts the tickets), kept by [`learn`] and
//! [`forget`] as `store::tickets` solves and reopens tickets, and by the triggers of
//! migration 0015 as a solved ticket is deleted or its request rewritten. The SQLite
//! triggers call the SQL function `reqmail_knowledge_words`, which [`register`] adds to
//! every connection the store opens.

use std::collections::HashSet;
use std::sync::LazyLock;

use rusqlite::functions::FunctionFlags;
use crate::store::{params, Backend, Connection, OptionalExtension};

/// Longest word kept, in characters; longer ones are cut (ids, hashes).
const MAX_WORD_CHARS: usize = 24;
/// Words kept of one text: a subject and the start of a request say what it is about.
const MOST_WORDS: usize = 60;

/// Words that say nothing about a problem: function words, greetings, mail phrases.
const STOP_WORDS: &[&str] = &[
    "about", "after", "again", "all", "also", "and", "any", "are", "because", "been", "before", "best", "but", "can",
    "cannot", "could", "dear", "did", "does", "doesn", "don", "each", "for", "from", "get", "got", "had", "has", "have",
    "hello", "help", "her", "here", "him", "his", "how", "into", "its", "just", "know", "like", "may", "more", "most",
    "much", "must", "need", "not", "now", "off", "one", "only", "other", "our", "out", "over", "please", "problem",
    "regard", "same", "she", "should", "since", "some", "still", "such", "thank", "thanks", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "through", "too", "try", "under", "very", "want",
    "was", "way", "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "without", "would",
    "you", "your", "fwd", "aw", "wg", "und", "der", "die", "das", "ist", "nicht", "mit", "ein", "eine", "bitte", "danke",
    "ich", "sie", "wir", "auf", "für", "von",
];

/// [`STOP_WORDS`] to look up: every word of a text is, where a scan of the list took
/// most of the time of a receipt's suggestions.
static STOP_WORD_SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| STOP_WORDS.iter().copied().collect());

/// The words of `text` that say what it is about: lower case, letters and digits, at
/// least three characters with a letter, no stop words, a plural `s` dropped; each once,
/// in order, at most [`MOST_WORDS`].
pub fn words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for piece in text.split(|c: char| !c.is_alphanumeric()) {
        // Most words are ASCII: a byte is a character there, and lower case is one byte.
        let ascii = piece.is_ascii();
        let length = |text: &str| if ascii { text.len() } else { text.chars().count() };
        if length(piece) < 3 || !piece.chars().any(char::is_alphabetic) {
            continue;
        }
        let mut word: String = if ascii {
            piece[..piece.len().min(MAX_WORD_CHARS)].to_ascii_lowercase()
        } else {
            piece.chars().flat_map(char::to_lowercase).take(MAX_WORD_CHARS).collect()
        };
        if length(&word) > 4 && word.ends_with('s') && !word.ends_with("ss") {
            word.pop();
        }
        if STOP_WORD_SET.contains(word.as_str()) || words.contains(&word) {
            continue;
        }
        words.push(word);
        if words.len() == MOST_WORDS {
            break;
        }
    }
    words
}

/// Adds `reqmail_knowledge_words(text)` to `conn`: [`words`] as a JSON array, which the
/// triggers read with `json_each`.
pub fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("reqmail_knowledge_words", 1, flags, |context| {
        let text: Option<String> = context.get(0)?;
        Ok(serde_json::to_string(&words(text.as_deref().unwrap_or(""))).expect("a list of strings is JSON"))
    })
}

/// A ticket just resolved or closed: its words into `knowledge_words` and one more ticket
/// counted.
pub fn learn(conn: &Connection, ticket: i64) -> crate::store::Result<()> {
    insert_words(conn, ticket)?;
    conn.prepare_cached("INSERT INTO knowledge_counts (word, tickets) VALUES ('', 1) ON CONFLICT (word) DO UPDATE SET tickets = knowledge_counts.tickets + 1")?
        .execute([])?;
    Ok(())
}

/// A ticket no longer resolved or closed: its words and its count gone.
pub fn forget(conn: &Connection, ticket: i64) -> crate::store::Result<()> {
    conn.prepare_cached("DELETE FROM knowledge_words WHERE ticket = ?1")?.execute([ticket])?;
    conn.prepare_cached("UPDATE knowledge_counts SET tickets = tickets - 1 WHERE word = ''")?.execute([])?;
    Ok(())
}

/// A solved ticket whose request was rewritten (a person forgotten) keeps none of its old
/// words, on PostgreSQL (on SQLite the trigger `knowledge_on_request_edit`).
pub fn relearn(conn: &Connection, ticket: i64) -> crate::store::Result<()> {
    if conn.backend() != Backend::Postgres {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM knowledge_words WHERE ticket = ?1")?.execute([ticket])?;
    insert_words(conn, ticket)
}

/// The words of `ticket`'s subject and first request.
fn insert_words(conn: &Connection, ticket: i64) -> crate::store::Result<()> {
    let text: String = conn
        .prepare_cached(
            "SELECT t.subject || ?2 || COALESCE((SELECT reqmail_note(detail, detail_zstd) FROM history WHERE ticket = t.number AND action = 'comment' ORDER BY id LIMIT 1), '')
               FROM tickets t WHERE t.number = ?1",
        )?
        .query_row(params![ticket, "\n"], |row| row.get(0))?;
    let mut insert = conn.prepare_cached("INSERT OR IGNORE INTO knowledge_words (word, ticket) VALUES (?1, ?2)")?;
    for word in words(&text) {
        insert.execute(params![word, ticket])?;
    }
    Ok(())
}

/// How many resolved tickets hold `word`; the empty word: how many there are.
pub fn tickets_holding(conn: &Connection, word: &str) -> crate::store::Result<i64> {
    Ok(conn
        .prepare_cached("SELECT tickets FROM knowledge_counts WHERE word = ?1")?
        .query_row([word], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The newest `limit` resolved tickets that hold `word`, newest first, each given to `each`.
pub fn tickets_with(conn: &Connection, word: &str, limit: usize, mut each: impl FnMut(i64)) -> crate::store::Result<()> {
    // A bound LIMIT would make SQLite prepare the statement anew for every word.
    let mut statement = conn.prepare_cached(&format!("SELECT ticket FROM knowledge_words WHERE word = ?1 ORDER BY ticket DESC LIMIT {limit}"))?;
    let mut rows = statement.query(params![word])?;
    while let Some(row) = rows.next()? {
        each(row.get(0)?);
    }
    Ok(())
}

/// A resolved or closed ticket as the receipt names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub ticket: i64,
    pub subject: String,
    /// The last public comment before the ticket was resolved (else closed), after the
    /// request itself: the answer, not the requester's thanks in the same second.
    pub resolution: Option<String>,
}

/// Ticket `ticket` if it is resolved or closed.
pub fn resolved(conn: &Connection, ticket: i64) -> crate::store::Result<Option<Resolved>> {
    conn.prepare_cached(
        "SELECT t.number, t.subject,
                (SELECT reqmail_note(h.detail, h.detail_zstd) FROM history h
                  WHERE h.ticket = t.number AND h.action = 'comment' AND (h.detail <> '' OR h.detail_zstd IS NOT NULL)
                    AND h.at <= COALESCE(t.resolved_at, t.closed_at, t.updated)
                    AND h.id < COALESCE(
                        (SELECT MAX(s.id) FROM history s WHERE s.ticket = t.number AND s.action = 'status' AND s.detail LIKE '%→ resolved%'),
                        (SELECT MAX(s.id) FROM history s WHERE s.ticket = t.number AND s.action = 'status' AND s.detail LIKE '%→ closed%'),
                        h.id + 1)
                    AND h.id > (SELECT MIN(f.id) FROM history f WHERE f.ticket = t.number AND f.action = 'comment')
                  ORDER BY h.id DESC LIMIT 1)
           FROM tickets t WHERE t.number = ?1 AND t.status IN ('resolved', 'closed')",
    )?
    .query_row([ticket], |row| Ok(Resolved { ticket: row.get(0)?, subject: row.get(1)?, resolution: row.get(2)? }))
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_say_what_it_is_about() {
        assert_eq!(
            words("Re: Printers on floor 3 don't print; the printer says 'Paper jam' (error E-1234), please help!"),
            ["printer", "floor", "print", "says", "paper", "jam", "error"]
        );
        assert_eq!(words("Access denied / Zugriff verweigert: ÄRGER"), ["access", "denied", "zugriff", "verweigert", "ärger"]);
        assert!(words("a b to 12 345").is_empty());
    }
}
