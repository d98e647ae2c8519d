//! The SQL behind search: the FTS5 index `search_text`, kept by triggers (migrations 0008
//! and 0017; a new subject and a new note by [`index_subject`] and
//! [`index_note_just_added`] since 0032 and 0033) and contentless (the text stays in its
//! own tables), and the subjects' sound keys (`store::sounds`, written with them). On
//! PostgreSQL `search_text` holds a tsvector per row under the same row numbers (its
//! migration 0008): the same FTS5 query is asked as a tsquery, ranked by `ts_rank` and
//! marked by `ts_headline`. There the index holds the text in Unicode's composed form (NFC,
//! migration 0027), so every query and passage goes through the same `reqmail_search_nfc`
//! first: one normaliser, the database's, for both sides.

use rusqlite::types::Value;
use crate::store::{params, params_from_iter, Backend, Connection, OptionalExtension};

use crate::store::report::Filter;

/// One matching ticket, at its best-ranked row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    pub ticket: i64,
    pub subject: String,
    pub status: String,
    pub queue: String,
    /// Where the best match is: subject, note or attachment.
    pub found_in: &'static str,
    /// The matching passage, matches in [brackets].
    pub snippet: String,
    /// bm25: lower is better.
    pub rank: f64,
}

/// Ranking costs time for every matching row (bm25 reads each row's length); beyond this
/// many, the most recent rows come first instead (about 20 ms at 1,000,000 tickets).
pub const MOST_RANKED: i64 = 20_000;

/// From here until [`index_deferred`] in the same transaction, the triggers keep the
/// text to index in `search_pending` (migration 0023): FTS5 would otherwise write a
/// segment to the disk at every statement of a batch that opens a savepoint.
pub fn defer_indexing(conn: &Connection) -> crate::store::Result<()> {
    // A GIN index keeps its own pending list: PostgreSQL's triggers index at once.
    if conn.backend() == Backend::Postgres {
        return Ok(());
    }
    conn.prepare_cached("INSERT OR IGNORE INTO search_deferred (only) VALUES (1)")?.execute([])?;
    Ok(())
}

/// Indexes what [`defer_indexing`] kept back, and indexes at once again; before the
/// transaction commits, so that no other connection sees text that cannot be found.
pub fn index_deferred(conn: &Connection) -> crate::store::Result<()> {
    if conn.backend() == Backend::Postgres {
        return Ok(());
    }
    index_pending(conn)?;
    conn.prepare_cached("DELETE FROM search_deferred")?.execute([])?;
    Ok(())
}

/// A new ticket's subject in the index and by sound (or both kept back, see
/// [`defer_indexing`]). On PostgreSQL a trigger indexes it, as the tsvector its
/// migrations define.
pub fn index_subject(conn: &Connection, ticket: i64, subject: &str) -> crate::store::Result<()> {
    // Kept back, the subject gives its sound keys with the rest (`index_pending`).
    if conn.backend() == Backend::Sqlite && index_row(conn, ticket * 4, Some(subject), None, ticket, None)? {
        return Ok(());
    }
    crate::store::sounds::index_subject(conn, ticket, subject)
}

/// The note of the history entry just added on this connection, in the index (or kept
/// back). On PostgreSQL a trigger indexes it.
pub fn index_note_just_added(conn: &Connection, ticket: i64, note: &str, message: Option<i64>) -> crate::store::Result<()> {
    if conn.backend() == Backend::Sqlite {
        index_row(conn, conn.last_insert_rowid()? * 4 + 1, None, Some(note), ticket, message)?;
    }
    Ok(())
}

/// Indexes a row, or keeps it back; whether it was kept back.
fn index_row(conn: &Connection, row: i64, subject: Option<&str>, body: Option<&str>, ticket: i64, message: Option<i64>) -> crate::store::Result<bool> {
    let deferred: bool = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM search_deferred)")?.query_row([], |row| row.get(0))?;
    let insert = match deferred {
        true => "INSERT INTO search_pending (row, subject, body, ticket, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        false => "INSERT INTO search_text (rowid, subject, body, ticket, message) VALUES (?1, ?2, ?3, ?4, ?5)",
    };
    conn.prepare_cached(insert)?.execute(params![row, subject, body, ticket, message])?;
    Ok(deferred)
}

/// Moves the kept-back text into the index, and the kept-back subjects' sound keys into
/// theirs: each in one statement, one segment.
fn index_pending(conn: &Connection) -> crate::store::Result<()> {
    conn.prepare_cached(
        "INSERT INTO search_text (rowid, subject, body, ticket, message)
         SELECT row, subject, body, ticket, message FROM search_pending ORDER BY row",
    )?
    .execute([])?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO ticket_sounds (rowid, keys)
         SELECT ticket, reqmail_sound_tokens(subject) FROM search_pending WHERE subject IS NOT NULL ORDER BY ticket",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM search_pending")?.execute([])?;
    Ok(())
}

/// A search inside a batch's transaction (a `Search:` by mail) finds what the batch
/// wrote before it; elsewhere nothing is kept back and this only reads.
fn index_kept_back(conn: &Connection) -> crate::store::Result<()> {
    if conn.backend() == Backend::Postgres {
        return Ok(());
    }
    let kept_back: bool = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM search_pending)")?.query_row([], |row| row.get(0))?;
    if kept_back {
        index_pending(conn)?;
    }
    Ok(())
}

/// How many rows (subjects, notes, attachments) match `query`; counting is cheap.
pub fn count(conn: &Connection, query: &str) -> crate::store::Result<i64> {
    if conn.backend() == Backend::Postgres {
        return conn.query_row("SELECT COUNT(*) FROM search_text WHERE words @@ to_tsquery('english', reqmail_search_nfc(?1))", [ts_query(query)], |row| row.get(0));
    }
    index_kept_back(conn)?;
    conn.query_row("SELECT COUNT(*) FROM search_text WHERE search_text MATCH ?1", [query], |row| row.get(0))
}

/// The FTS5 query that `crate::search` makes (each word quoted, a prefix's `*` after its
/// quote, all of them required) as PostgreSQL's tsquery: `word & prefix:*`. The words are
/// letters, digits and combining marks only, so nothing in them is tsquery syntax.
fn ts_query(query: &str) -> String {
    query
        .split_whitespace()
        .map(|term| {
            let prefix = term.ends_with('*');
            let word = term.trim_end_matches('*').trim_matches('"');
            if prefix { format!("{word}:*") } else { word.to_string() }
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

/// Tickets whose subject, notes or text attachments match the FTS5 query `query`, at
/// most `limit`: best first when `ranked`, else the most recently written rows first.
pub fn search(conn: &Connection, query: &str, filter: &Filter, limit: usize, ranked: bool) -> crate::store::Result<Vec<Hit>> {
    // Rows are ordered first and tickets looked up after, so FTS5 can stop early; a
    // filter throws rows away, so it looks at more of them.
    index_kept_back(conn)?;
    let rows_looked_at = if filter.is_empty() { limit * 8 } else { limit * 200 };
    // Equally good passages oldest first, on both backends: a word in most of a small
    // store's rows ranks the same everywhere (FTS5 clamps its weight, ts_rank counts only
    // occurrences), and left alone each plan would order such ties its own way.
    let (order, outer_order) = match (ranked, conn.backend()) {
        (true, Backend::Sqlite) => ("s.rank, s.rowid", "m.rank, m.row"),
        (true, Backend::Postgres) => ("rank, s.id", "m.rank, m.row"),
        (false, Backend::Sqlite) => ("s.rowid DESC", "m.row DESC"),
        (false, Backend::Postgres) => ("s.id DESC", "m.row DESC"),
    };
    let (query_value, rows) = match conn.backend() {
        Backend::Sqlite => (query.to_string(), "s.rowid AS row, s.rowid % 4 AS kind, s.rank AS rank FROM search_text s WHERE search_text MATCH ?"),
        // ts_rank grows with the match, bm25 shrinks: negated, lower is better on both.
        Backend::Postgres => (
            ts_query(query),
            "s.id AS row, s.id % 4 AS kind, -ts_rank(s.words, q.query)::float8 AS rank
               FROM search_text s, to_tsquery('english', reqmail_search_nfc(?)) q(query) WHERE s.words @@ q.query",
        ),
    };
    let mut values = vec![Value::Text(query_value), Value::Integer(rows_looked_at as i64)];
    let filter_sql = filter.sql(&mut values);
    let sql = format!(
        "SELECT m.ticket, t.subject, t.status, t.queue, m.kind, m.row, m.rank FROM (
             SELECT COALESCE(s.ticket, (SELECT ticket FROM messages WHERE id = s.message)) AS ticket,
                    {rows} ORDER BY {order} LIMIT ?
         ) m JOIN tickets t ON t.number = m.ticket
         WHERE 1{filter_sql}
         ORDER BY {outer_order}"
    );
    let mut statement = conn.prepare(&sql)?;
    let mut hits: Vec<(Hit, i64)> = Vec::new();
    let mut rows = statement.query(params_from_iter(values))?;
    while let Some(row) = rows.next()? {
        let ticket: i64 = row.get(0)?;
        if hits.iter().any(|(hit, _)| hit.ticket == ticket) {
            continue;
        }
        let hit = Hit {
            ticket,
            subject: row.get(1)?,
            status: row.get(2)?,
            queue: row.get(3)?,
            found_in: match row.get::<_, i64>(4)? {
                0 => "subject",
                1 => "note",
                _ => "attachment",
            },
            snippet: String::new(),
            rank: row.get(6)?,
        };
        hits.push((hit, row.get(5)?));
        if hits.len() == limit {
            break;
        }
    }
    drop(rows);
    hits.into_iter()
        .map(|(mut hit, row)| {
            hit.snippet = snippet(conn, query, row)?;
            Ok(hit)
        })
        .collect()
}

/// The passage of row `row` of `search_text` that matches `query`, matches in
/// [brackets]. The index keeps no text: the row's text is read where it lives and marked
/// by a one-row index of the same kind.
fn snippet(conn: &Connection, query: &str, row: i64) -> crate::store::Result<String> {
    // A BYTEA cast to text is its hex form on PostgreSQL; its 0008 decodes it so.
    let attachment_text = match conn.backend() {
        Backend::Sqlite => "CAST(b.content AS TEXT)",
        Backend::Postgres => "reqmail_search_bytes(b.content)",
    };
    let text: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT CASE ?1 % 4
                 WHEN 0 THEN (SELECT subject FROM tickets WHERE number = ?1 / 4)
                 WHEN 1 THEN (SELECT CASE WHEN instr(note, ' (matched by ') > 0 THEN substr(note, 1, instr(note, ' (matched by ') - 1) ELSE note END
                                FROM (SELECT reqmail_note(detail, detail_zstd) AS note FROM history WHERE id = ?1 / 4))
                 ELSE (SELECT {attachment_text} FROM attachments a JOIN blobs b ON b.sha256 = a.blob WHERE a.id = ?1 / 4)
             END"
        ))?
        .query_row([row], |row| row.get(0))?;
    if conn.backend() == Backend::Postgres {
        // About FTS5's snippet: the matching passage of up to twelve words, a short text whole.
        return conn
            .prepare_cached(
                "SELECT ts_headline('english', reqmail_search_nfc(?1), to_tsquery('english', reqmail_search_nfc(?2)),
                                    'StartSel=[, StopSel=], MaxWords=12, MinWords=10, ShortWord=0')",
            )?
            .query_row(params![text.unwrap_or_default(), ts_query(query)], |row| row.get(0));
    }
    let (subject, body) = if row % 4 == 0 { (text, None) } else { (None, text) };
    conn.execute_batch(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_snippet USING fts5(subject, body, tokenize = 'porter unicode61 remove_diacritics 2 categories ''L* N* Co M*''');
         DELETE FROM temp.search_snippet;",
    )?;
    conn.prepare_cached("INSERT INTO temp.search_snippet (subject, body) VALUES (?1, ?2)")?.execute(params![subject, body])?;
    conn.prepare_cached("SELECT snippet(search_snippet, -1, '[', ']', '…', 12) FROM temp.search_snippet WHERE search_snippet MATCH ?1")?
        .query_row([query], |row| row.get(0))
        .optional()
        .map(Option::unwrap_or_default)
}

/// Fills the search indexes anew from the subjects, notes and text attachments: after a
/// migration that rebuilt them, and in a store loaded from SQL text (which holds no
/// index: a contentless one has no text to write out). `Store::open` runs it when asked.
pub fn reindex(conn: &Connection) -> crate::store::Result<()> {
    // Notes written before the threading became its own entry end in " (matched by …)"
    // (cut here and in `snippet`).
    conn.execute_batch(
        "INSERT INTO search_text (search_text) VALUES ('delete-all');
         INSERT INTO search_text (rowid, subject, ticket) SELECT number * 4, subject, number FROM tickets;
         INSERT INTO search_text (rowid, body, ticket, message)
         SELECT id * 4 + 1, CASE WHEN instr(note, ' (matched by ') > 0 THEN substr(note, 1, instr(note, ' (matched by ') - 1) ELSE note END,
                ticket, message
           FROM (SELECT id, reqmail_note(detail, detail_zstd) AS note, ticket, message
                   FROM history WHERE action IN ('comment', 'internal-note', 'automatic-comment'));
         INSERT INTO search_text (rowid, body, message)
         SELECT attachments.id * 4 + 2, CAST(blobs.content AS TEXT), attachments.message
           FROM attachments JOIN blobs ON blobs.sha256 = attachments.blob
          WHERE attachments.content_type LIKE 'text/%' AND blobs.size <= 1000000;
         INSERT INTO ticket_sounds (ticket_sounds) VALUES ('delete-all');
         INSERT INTO ticket_sounds (rowid, keys) SELECT number, reqmail_sound_tokens(subject) FROM tickets;
         DELETE FROM settings WHERE name = 'search_reindex';",
    )
}

/// Whether a migration or a restore asked for [`reindex`] (and it has not run since).
pub fn reindex_due(conn: &Connection) -> crate::store::Result<bool> {
    Ok(crate::store::setting(conn, REINDEX)?.is_some())
}

pub fn ask_for_reindex(conn: &Connection) -> crate::store::Result<()> {
    conn.execute(ASK_FOR_REINDEX, [])?;
    Ok(())
}

/// [`ask_for_reindex`] as SQL, for a SQLite file a restore is loading.
pub const ASK_FOR_REINDEX: &str =
    "INSERT INTO settings (name, value) VALUES ('search_reindex', 'due') ON CONFLICT (name) DO UPDATE SET value = excluded.value";

/// The setting that asks for [`reindex`]; migration 0017 writes it too.
const REINDEX: &str = "search_reindex";

/// Tickets whose subjects have a word of every sound key in `keys` (see
/// [`crate::store::sounds`]), the newest first (subjects are short: a rank would say
/// little); the snippet is the subject.
pub fn search_by_sound(conn: &Connection, keys: &[String], filter: &Filter, limit: usize) -> crate::store::Result<Vec<Hit>> {
    let Some((first, others)) = keys.split_first() else { return Ok(Vec::new()) };
    let mut values = Vec::new();
    // The tickets in index order, newest first: SQLite stops as soon as it has `limit`.
    let (mut sql, newest_first) = match conn.backend() {
        Backend::Sqlite => {
            index_kept_back(conn)?;
            values.push(Value::Text(crate::store::sounds::every_key(keys)));
            let sql = "SELECT t.number, t.subject, t.status, t.queue FROM ticket_sounds JOIN tickets t ON t.number = ticket_sounds.rowid
                        WHERE ticket_sounds MATCH ?";
            (sql.to_string(), " ORDER BY ticket_sounds.rowid DESC LIMIT ?")
        }
        // One key's tickets, each checked for the other keys.
        Backend::Postgres => {
            values.push(Value::Text(first.clone()));
            let mut sql = String::from(
                "SELECT t.number, t.subject, t.status, t.queue FROM subject_sounds s JOIN tickets t ON t.number = s.ticket WHERE s.key = ?",
            );
            for key in others {
                sql.push_str(" AND EXISTS (SELECT 1 FROM subject_sounds o WHERE o.key = ? AND o.ticket = s.ticket)");
                values.push(Value::Text(key.clone()));
            }
            (sql, " ORDER BY s.ticket DESC LIMIT ?")
        }
    };
    sql.push_str(&filter.sql(&mut values));
    sql.push_str(newest_first);
    values.push(Value::Integer(limit as i64));
    let mut statement = conn.prepare(&sql)?;
    let hits = statement.query_map(params_from_iter(values), |row| {
        let subject: String = row.get(1)?;
        Ok(Hit { ticket: row.get(0)?, snippet: subject.clone(), subject, status: row.get(2)?, queue: row.get(3)?, found_in: "subject", rank: 0.0 })
    })?;
    hits.collect()
}

#[cfg(test)]
mod tests {

    use rusqlite_migration::Migrations;

    use super::*;

    #[test]
    fn unranked_search_puts_the_most_recent_first() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::register_functions(&conn).unwrap();
        Migrations::from_slice(crate::store::MIGRATIONS).to_latest(&mut conn).unwrap();
        let conn = crate::store::Connection::Sqlite(conn);
        conn.execute_batch(
            "INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-11-01T00:00:00Z');
             INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated) VALUES
               (1, 'printer printer printer', 'open', 'general', 'medium', 'medium', 1, '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z'),
               (2, 'printer and a long subject about other things', 'open', 'general', 'medium', 'medium', 1, '2026-11-02T00:00:00Z', '2026-11-02T00:00:00Z');",
        )
        .unwrap();
        for number in [1, 2] {
            let subject: String = conn.query_row("SELECT subject FROM tickets WHERE number = ?1", [number], |row| row.get(0)).unwrap();
            index_subject(&conn, number, &subject).unwrap();
        }
        let numbers = |ranked: bool| -> Vec<i64> {
            search(&conn, "\"printer\"", &Filter::default(), 10, ranked).unwrap().iter().map(|hit| hit.ticket).collect()
        };
        assert_eq!(numbers(true), [1, 2], "bm25: three mentions in a short subject first");
        assert_eq!(numbers(false), [2, 1]);
        assert_eq!(count(&conn, "\"printer\"").unwrap(), 2);
        let by_sound = |keys: &[&str]| -> Vec<i64> {
            let keys: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
            search_by_sound(&conn, &keys, &Filter::default(), 10).unwrap().iter().map(|hit| hit.ticket).collect()
        };
        assert_eq!(by_sound(&["P653"]), [2, 1], "newest first");
        assert_eq!(by_sound(&["P653", "L520"]), [2], "every key");
        conn.execute("UPDATE tickets SET subject = 'scanner' WHERE number = 2", []).unwrap();
        assert_eq!(by_sound(&["P653"]), [1], "a new subject, new keys");
        conn.execute("DELETE FROM tickets WHERE number = 1", []).unwrap();
        assert!(by_sound(&["P653"]).is_empty());
        assert_eq!(crate::store::sounds::tickets_sounding(&conn, "S560"), [2], "scanner's key");
        assert!(crate::store::sounds::tickets_sounding(&conn, "P653").is_empty(), "no printer left");
    }

    /// In a batch the subjects' keys wait with the kept-back text, yet a search inside it
    /// finds them; words of other scripts and numbers are keys of their own.
    #[test]
    fn kept_back_sound_keys_are_found_and_words_of_any_script_are_keys() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        conn.execute_batch("INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-11-01T00:00:00Z')").unwrap();
        let hostile = format!("\"* NEAR( OR) ^keys: -- \u{0} 😀 '; DROP TABLE tickets; {}", "x".repeat(10_000));
        let subjects = [(1, "Принтер сломан"), (2, "Printer 404 again"), (3, "Drucker défekt: 404"), (4, hostile.as_str())];
        defer_indexing(conn).unwrap();
        for (number, subject) in subjects {
            conn.execute(
                "INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated)
                 VALUES (?1, ?2, 'open', 'general', 'medium', 'medium', 1, '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z')",
                params![number, subject],
            )
            .unwrap();
            index_subject(conn, number, subject).unwrap();
        }
        let by_sound = |words: &str| -> Vec<i64> {
            let keys = crate::store::sounds::sound_keys(words);
            search_by_sound(conn, &keys, &Filter::default(), 10).unwrap().iter().map(|hit| hit.ticket).collect()
        };
        assert_eq!(by_sound("prynter"), [2], "found inside the batch");
        index_deferred(conn).unwrap();
        assert_eq!(by_sound("принтер"), [1]);
        assert_eq!(by_sound("сломан принтер"), [1], "every word, in any order");
        assert_eq!(by_sound("404"), [3, 2]);
        assert_eq!(by_sound("drukker 404 defect"), [3]);
        assert!(by_sound("принтер 404").is_empty());
        assert!(by_sound("AND OR NOT").is_empty(), "query words are never FTS5 syntax");
        assert_eq!(by_sound("near drop table"), [4], "a subject of FTS5 syntax is words like any other");
        assert_eq!(by_sound(&hostile), [4]);
        assert!(by_sound("\"* ( ) ^ : -- 😀").is_empty(), "no words, no keys");
    }

    /// A store from before the index was contentless, with a subject, a note (still with
    /// the threading appended, as notes were once written) and a text attachment, is
    /// indexed anew, and its hits show their passage.
    #[test]
    fn upgrade_indexes_what_existed_and_snippets_come_from_where_the_text_lives() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::register_functions(&conn).unwrap();
        let before = crate::store::MIGRATIONS.iter().position(|migration| format!("{migration:?}").contains("contentless_delete")).unwrap();
        Migrations::from_slice(&crate::store::MIGRATIONS[..before]).to_latest(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-11-01T00:00:00Z');
             INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated)
             VALUES (1, 'Printer jammed', 'open', 'general', 'medium', 'medium', 1, '2026-11-02T09:00:00Z', '2026-11-02T09:00:00Z');
             INSERT INTO history (ticket, at, actor, action, detail) VALUES
               (1, '2026-11-02T10:00:00Z', 'bob@example.com', 'comment', 'Replacing the roller today (matched by plus-address)');
             INSERT INTO messages (id, direction, state, ticket, source, received, size, raw) VALUES (1, 'in', 'applied', 1, 'pipe', '2026-11-02T09:00:00Z', 1, x'00');
             INSERT INTO blobs (sha256, size, content) VALUES ('h', 20, CAST('disk quota exceeded' AS BLOB));
             INSERT INTO attachments (message, blob, filename, content_type) VALUES (1, 'h', 'log.txt', 'text/plain');",
        )
        .unwrap();
        Migrations::from_slice(crate::store::MIGRATIONS).to_latest(&mut conn).unwrap();
        let conn = crate::store::Connection::Sqlite(conn);
        assert!(reindex_due(&conn).unwrap());
        reindex(&conn).unwrap();
        assert!(!reindex_due(&conn).unwrap());
        let snippets = |query: &str| -> Vec<(&'static str, String)> {
            search(&conn, query, &Filter::default(), 10, true).unwrap().into_iter().map(|hit| (hit.found_in, hit.snippet)).collect()
        };
        assert_eq!(snippets("printer"), [("subject", "[Printer] jammed".to_string())]);
        assert_eq!(snippets("roller"), [("note", "Replacing the [roller] today".to_string())]);
        assert_eq!(snippets("quota"), [("attachment", "disk [quota] exceeded".to_string())]);
        assert!(snippets("matched").is_empty(), "how a note was matched is not its text");
        assert_eq!(count(&conn, "jammed").unwrap(), 1);
        assert_eq!(crate::store::sounds::tickets_sounding(&conn, "J530"), [1], "jammed, by sound");
        // Its content table holds the row id, ticket and message, not the subject and body.
        let stored_columns: i64 = conn.query_row("SELECT COUNT(*) FROM pragma_table_info('search_text_content')", [], |row| row.get(0)).unwrap();
        assert_eq!(stored_columns, 3, "the index keeps no copy of the text");
    }
}
