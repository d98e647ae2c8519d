//! The SQL behind search: the FTS5 index `search_text` (kept by the triggers of
//! migration 0006) and its vocabulary `search_terms`.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

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

/// Tickets whose subject, notes or text attachments match the FTS5 query `query`, best
/// first, at most `limit`.
pub fn search(conn: &Connection, query: &str, filter: &Filter, limit: usize) -> rusqlite::Result<Vec<Hit>> {
    // Rows are ranked first and tickets looked up after, so FTS5 can stop early; a
    // filter throws rows away, so it looks at more of them.
    let rows_looked_at = if filter.is_empty() { limit * 8 } else { limit * 200 };
    let mut values = vec![Value::Text(query.to_string()), Value::Integer(rows_looked_at as i64)];
    let filter_sql = filter.sql(&mut values);
    let sql = format!(
        "SELECT m.ticket, t.subject, t.status, t.queue, m.kind, m.snippet, m.rank FROM (
             SELECT COALESCE(s.ticket, (SELECT ticket FROM messages WHERE id = s.message)) AS ticket,
                    s.rowid % 4 AS kind, snippet(search_text, -1, '[', ']', '…', 12) AS snippet, s.rank AS rank
               FROM search_text s WHERE search_text MATCH ? ORDER BY s.rank LIMIT ?
         ) m JOIN tickets t ON t.number = m.ticket
         WHERE 1{filter_sql}
         ORDER BY m.rank"
    );
    let mut statement = conn.prepare(&sql)?;
    let mut hits: Vec<Hit> = Vec::new();
    let mut rows = statement.query(params_from_iter(values))?;
    while let Some(row) = rows.next()? {
        let ticket: i64 = row.get(0)?;
        if hits.iter().any(|hit| hit.ticket == ticket) {
            continue;
        }
        hits.push(Hit {
            ticket,
            subject: row.get(1)?,
            status: row.get(2)?,
            queue: row.get(3)?,
            found_in: match row.get::<_, i64>(4)? {
                0 => "subject",
                1 => "note",
                _ => "attachment",
            },
            snippet: row.get(5)?,
            rank: row.get(6)?,
        });
        if hits.len() == limit {
            break;
        }
    }
    Ok(hits)
}

/// Every word that occurs in a subject, once, lower case.
pub fn subject_terms(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare("SELECT term FROM subject_terms")?;
    let terms = statement.query_map([], |row| row.get(0))?;
    terms.collect()
}

/// Tickets whose subject words match the FTS5 query `query` (over `subject_words`), best
/// first; the snippet is the subject.
pub fn search_subjects(conn: &Connection, query: &str, filter: &Filter, limit: usize) -> rusqlite::Result<Vec<Hit>> {
    // Ranked in the index first, as in `search`, so FTS5 sorts only what it must.
    let rows_looked_at = if filter.is_empty() { limit } else { limit * 200 };
    let mut values = vec![Value::Text(query.to_string()), Value::Integer(rows_looked_at as i64)];
    let filter_sql = filter.sql(&mut values);
    values.push(Value::Integer(limit as i64));
    let sql = format!(
        "SELECT t.number, t.subject, t.status, t.queue, w.rank
           FROM (SELECT rowid, rank FROM subject_words WHERE subject_words MATCH ? ORDER BY rank LIMIT ?) w
           JOIN tickets t ON t.number = w.rowid
          WHERE 1{filter_sql}
          ORDER BY w.rank LIMIT ?"
    );
    let mut statement = conn.prepare(&sql)?;
    let hits = statement.query_map(params_from_iter(values), |row| {
        let subject: String = row.get(1)?;
        Ok(Hit {
            ticket: row.get(0)?,
            snippet: subject.clone(),
            subject,
            status: row.get(2)?,
            queue: row.get(3)?,
            found_in: "subject",
            rank: row.get(4)?,
        })
    })?;
    hits.collect()
}
