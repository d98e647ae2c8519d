//! Subject words by sound, for `search --sounds-like`. On SQLite each ticket's subject
//! keys are one row of the FTS5 index `ticket_sounds` (migration 0037: its row id the
//! ticket's number, its text the keys as [`tokens`]), written with the ticket: in a batch
//! with the search index's kept-back text (`store::search`), else at once. The triggers
//! of a changed or deleted subject call the SQL function `reqmail_sound_tokens`, which
//! [`register`] adds to every connection the store opens. PostgreSQL keeps a row per
//! ticket and key in `subject_sounds`, written by [`index_subject`].
//!
//! The key is American Soundex (as the US National Archives define it): a letter and
//! three digits that words sounding alike share, e.g. "Robert" and "Rupert" R163,
//! "printer" and "prynter" P653. It forgives misspelt vowels and doubled or
//! similar-sounding consonants; it does not forgive a wrong first letter. Short and well
//! known, which is why it is written here rather than pulled in as a crate. A word
//! without ASCII letters (a number, a word in another script) is its own key.

use rusqlite::functions::FunctionFlags;

use crate::store::{params, Backend, Connection};


/// The digit of a consonant; `None` for vowels (and y), which separate equal digits;
/// `Some('-')` for h and w, which do not.
fn digit(letter: char) -> Option<char> {
    match letter {
        'b' | 'f' | 'p' | 'v' => Some('1'),
        'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => Some('2'),
        'd' | 't' => Some('3'),
        'l' => Some('4'),
        'm' | 'n' => Some('5'),
        'r' => Some('6'),
        'h' | 'w' => Some('-'),
        _ => None,
    }
}

/// The Soundex key of `word`'s ASCII letters; `None` when it has none.
pub fn soundex(word: &str) -> Option<String> {
    let mut letters = word.chars().filter(char::is_ascii_alphabetic).map(|letter| letter.to_ascii_lowercase());
    let first = letters.next()?;
    let mut key = String::with_capacity(4);
    key.push(first.to_ascii_uppercase());
    let mut previous = digit(first);
    for letter in letters {
        let code = digit(letter);
        match code {
            Some('-') => continue,
            Some(code_digit) if code != previous => key.push(code_digit),
            _ => {}
        }
        previous = code;
        if key.len() == 4 {
            break;
        }
    }
    while key.len() < 4 {
        key.push('0');
    }
    Some(key)
}

/// The sound key of each distinct word of `text` (letters and digits), in order.
pub fn sound_keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
        let key = soundex(word).unwrap_or_else(|| word.to_lowercase());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// `key` as a word of `ticket_sounds`, which FTS5's `ascii` tokenizer keeps whole: a
/// Soundex key or a number as it is (lower case there), any other word as `u` and its
/// UTF-8 bytes in hex, so that a word of another script is one token however FTS5 would
/// split it. A Soundex key is four characters, the hex form at least five.
fn token(key: &str) -> String {
    match key.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        true => key.to_string(),
        false => format!("u{}", hex::encode(key)),
    }
}

/// The keys of `text` as the words of its `ticket_sounds` row.
pub fn tokens(text: &str) -> String {
    sound_keys(text).iter().map(|key| token(key)).collect::<Vec<_>>().join(" ")
}

/// An FTS5 query for the rows that hold every one of `keys`.
pub fn every_key(keys: &[String]) -> String {
    keys.iter().map(|key| format!("\"{}\"", token(key))).collect::<Vec<_>>().join(" ")
}

/// A new ticket's subject keys, at once (in a batch, `store::search` writes them with the
/// index's kept-back text).
pub fn index_subject(conn: &Connection, ticket: i64, subject: &str) -> crate::store::Result<()> {
    if conn.backend() == Backend::Sqlite {
        conn.prepare_cached("INSERT INTO ticket_sounds (rowid, keys) VALUES (?1, ?2)")?.execute(params![ticket, tokens(subject)])?;
        return Ok(());
    }
    let mut insert = conn.prepare_cached("INSERT OR IGNORE INTO subject_sounds (key, ticket) VALUES (?1, ?2)")?;
    for key in sound_keys(subject) {
        insert.execute(params![key, ticket])?;
    }
    Ok(())
}

/// Adds the SQL functions of the triggers to `conn`: `reqmail_sound_tokens(text)`, the
/// words of [`tokens`], and `reqmail_sound_keys(text)`, the keys of [`sound_keys`] as a
/// JSON array, which the triggers of migrations before 0037 read with `json_each`.
pub fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("reqmail_sound_tokens", 1, flags, |context| {
        let text: Option<String> = context.get(0)?;
        Ok(tokens(text.as_deref().unwrap_or("")))
    })?;
    conn.create_scalar_function("reqmail_sound_keys", 1, flags, |context| {
        let text: Option<String> = context.get(0)?;
        let keys = sound_keys(text.as_deref().unwrap_or(""));
        Ok(serde_json::to_string(&keys).expect("a list of strings is JSON"))
    })
}

/// The tickets whose subject has a word of sound `key`, in order (for the tests of the
/// modules that write subjects).
#[cfg(test)]
pub fn tickets_sounding(conn: &Connection, key: &str) -> Vec<i64> {
    let mut query = conn.prepare("SELECT rowid FROM ticket_sounds WHERE ticket_sounds MATCH ?1 ORDER BY rowid").unwrap();
    let tickets = query.query_map([every_key(&[key.to_string()])], |row| row.get(0)).unwrap();
    tickets.collect::<Result<_, _>>().unwrap()
}

#[cfg(test)]
mod tests {
    use super::{sound_keys, soundex};

    #[test]
    fn the_archives_examples_and_misspellings() {
        let cases = [
            ("Robert", "R163"),
            ("Rupert", "R163"),
            ("Rubin", "R150"),
            ("Ashcraft", "A261"),
            ("Tymczak", "T522"),
            ("Pfister", "P236"),
            ("Honeyman", "H555"),
            ("printer", "P653"),
            ("prynter", "P653"),
            ("Lee", "L000"),
        ];
        for (word, key) in cases {
            assert_eq!(soundex(word).as_deref(), Some(key), "{word}");
        }
        assert_eq!(soundex("1234"), None);
    }

    #[test]
    fn subject_words_become_distinct_keys() {
        assert_eq!(sound_keys("Printer prynter: error 404 on Drucker-3"), ["P653", "E660", "404", "O500", "D626", "3"]);
        assert_eq!(sound_keys("  -- "), Vec::<String>::new());
    }
}
