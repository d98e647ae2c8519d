//! The SQL behind search: the FTS5 index `search_text`, kept by the triggers of
//! migration 0008, and the subjects' sound keys `subject_sounds` (migration 0016).

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

/// Ranking costs time for every matching row (bm25 reads each row's length); beyond this
/// many, the most recent rows come first instead (about 20 ms at 1,000,000 tickets).
pub const MOST_RANKED: i64 = 20_000;

/// How many rows (subjects, notes, attachments) match `query`; counting is cheap.
pub fn count(conn: &Connection, query: &str) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM search_text WHERE search_text MATCH ?1", [query], |row| row.get(0))
}

/// Tickets whose subject, notes or text attachments match the FTS5 query `query`, at
/// most `limit`: best first when `ranked`, else the most recently written rows first.
pub fn search(conn: &Connection, query: &str, filter: &Filter, limit: usize, ranked: bool) -> rusqlite::Result<Vec<Hit>> {
    // Rows are ordered first and tickets looked up after, so FTS5 can stop early; a
    // filter throws rows away, so it looks at more of them.
    let rows_looked_at = if filter.is_empty() { limit * 8 } else { limit * 200 };
    let (order, outer_order) = if ranked { ("s.rank", "m.rank") } else { ("s.rowid DESC", "m.row DESC") };
    let mut values = vec![Value::Text(query.to_string()), Value::Integer(rows_looked_at as i64)];
    let filter_sql = filter.sql(&mut values);
    let sql = format!(
        "SELECT m.ticket, t.subject, t.status, t.queue, m.kind, m.snippet, m.rank FROM (
             SELECT COALESCE(s.ticket, (SELECT ticket FROM messages WHERE id = s.message)) AS ticket,
                    s.rowid AS row, s.rowid % 4 AS kind, snippet(search_text, -1, '[', ']', '…', 12) AS snippet, s.rank AS rank
               FROM search_text s WHERE search_text MATCH ? ORDER BY {order} LIMIT ?
         ) m JOIN tickets t ON t.number = m.ticket
         WHERE 1{filter_sql}
         ORDER BY {outer_order}"
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

/// Tickets whose subjects have a word of every sound key in `keys` (see
/// [`crate::store::sounds`]), the newest first (subjects are short: a rank would say
/// little); the snippet is the subject.
pub fn search_by_sound(conn: &Connection, keys: &[String], filter: &Filter, limit: usize) -> rusqlite::Result<Vec<Hit>> {
    let Some((first, others)) = keys.split_first() else { return Ok(Vec::new()) };
    // One key's tickets in index order, newest first, each checked for the other keys:
    // SQLite stops as soon as it has `limit`.
    let mut values = vec![Value::Text(first.clone())];
    let mut sql = String::from(
        "SELECT t.number, t.subject, t.status, t.queue FROM subject_sounds s JOIN tickets t ON t.number = s.ticket WHERE s.key = ?",
    );
    for key in others {
        sql.push_str(" AND EXISTS (SELECT 1 FROM subject_sounds o WHERE o.key = ? AND o.ticket = s.ticket)");
        values.push(Value::Text(key.clone()));
    }
    sql.push_str(&filter.sql(&mut values));
    sql.push_str(" ORDER BY s.ticket DESC LIMIT ?");
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
    use rusqlite::Connection;
    use rusqlite_migration::Migrations;

    use super::*;

    #[test]
    fn unranked_search_puts_the_most_recent_first() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::sounds::register(&conn).unwrap();
        crate::store::knowledge::register(&conn).unwrap();
        Migrations::from_slice(crate::store::MIGRATIONS).to_latest(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-11-01T00:00:00Z');
             INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated) VALUES
               (1, 'printer printer printer', 'open', 'general', 'medium', 'medium', 1, '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z'),
               (2, 'printer and a long subject about other things', 'open', 'general', 'medium', 'medium', 1, '2026-11-02T00:00:00Z', '2026-11-02T00:00:00Z');",
        )
        .unwrap();
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
        assert_eq!(conn.query_row("SELECT COUNT(*) FROM subject_sounds", [], |row| row.get::<_, i64>(0)).unwrap(), 1, "only scanner's key");
    }
}
