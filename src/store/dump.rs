//! Copies of the whole store: SQLite's online backup into another file, and a plain-text
//! SQL dump (what `sqlite3 .dump` writes) that any SQLite can load. Both read one
//! consistent snapshot while other processes keep writing (WAL readers block no one).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::store::messages::{RAW_COLUMNS, RAW_JOIN};

/// What a copy holds, for the one-line summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contents {
    pub tickets: i64,
    pub messages: i64,
    pub schema_version: i64,
}

pub fn contents(conn: &Connection) -> rusqlite::Result<Contents> {
    Ok(Contents {
        tickets: conn.query_row("SELECT COUNT(*) FROM tickets", [], |row| row.get(0))?,
        messages: conn.query_row("SELECT COUNT(*) FROM messages", [], |row| row.get(0))?,
        schema_version: conn.query_row("PRAGMA user_version", [], |row| row.get(0))?,
    })
}

/// Whether a database holds anything worth keeping (tickets or messages).
pub fn holds_data(conn: &Connection) -> bool {
    let count = |table: &str| conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get::<_, i64>(0)).unwrap_or(0);
    count("tickets") > 0 || count("messages") > 0
}

/// Copies `source` page by page into a new file `target` with SQLite's backup API. All
/// pages go in one step, which reads one snapshot: in WAL mode writers carry on, and the
/// copy never has to start over because someone wrote meanwhile.
pub fn backup_to(source: &Connection, target: &Path) -> anyhow::Result<()> {
    let mut copy = Connection::open(target).with_context(|| format!("cannot create {}", target.display()))?;
    {
        let backup = Backup::new(source, &mut copy)?;
        let mut attempts = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                // Another connection holds a lock SQLite's backup cannot wait for itself.
                StepResult::Busy | StepResult::Locked if attempts < 500 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                StepResult::Busy | StepResult::Locked => anyhow::bail!("the database stayed locked for 10 seconds"),
                StepResult::More => {}
                _ => {}
            }
        }
    }
    // One self-contained file: the copy keeps no write-ahead log beside it.
    copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    check(&copy).with_context(|| format!("the copy {} is damaged", target.display()))?;
    Ok(())
}

/// SQLite's own consistency checks: pages and indexes, then foreign keys.
pub fn check(conn: &Connection) -> anyhow::Result<()> {
    let verdict: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    anyhow::ensure!(verdict == "ok", "quick_check: {verdict}");
    let dangling: i64 = conn.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| row.get(0))?;
    anyhow::ensure!(dangling == 0, "{dangling} rows refer to rows that do not exist");
    Ok(())
}

/// Opens a copy to read, never to change.
pub fn open_read_only(path: &Path) -> anyhow::Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Writes the whole database as SQL text: the schema, one INSERT per row, the indexes,
/// and the schema version, in one transaction so that loading is all or nothing.
pub fn write_sql(conn: &Connection, out: &mut impl Write) -> anyhow::Result<()> {
    // One read transaction: every table comes from the same snapshot.
    let snapshot = conn.unchecked_transaction()?;
    let version: i64 = snapshot.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    writeln!(out, "-- reqmail store, schema version {version}. Load with `reqmail restore DIR` (or `sqlite3 FILE < store.sql`).")?;
    writeln!(out, "PRAGMA foreign_keys = OFF;\nBEGIN;")?;
    // Shadow tables (full-text indexes) are rebuilt by their virtual table.
    let tables: Vec<(String, String)> = snapshot
        .prepare("SELECT l.name, m.sql FROM pragma_table_list l JOIN sqlite_schema m ON m.name = l.name WHERE l.schema = 'main' AND l.type IN ('table', 'virtual') AND l.name NOT LIKE 'sqlite_%' ORDER BY m.rowid")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, sql) in &tables {
        writeln!(out, "{sql};")?;
        // A vocabulary table is a read-only view of its full-text index, and a
        // contentless index has no text to write out: `load_sql` rebuilds it.
        let lowercase = sql.to_ascii_lowercase().replace(' ', "");
        if lowercase.contains("usingfts5vocab") || lowercase.contains("content=''") {
            continue;
        }
        let mut rows = snapshot.prepare(&format!("SELECT * FROM \"{}\"", name.replace('"', "\"\"")))?;
        let columns = rows.column_count();
        let mut rows = rows.query([])?;
        while let Some(row) = rows.next()? {
            write!(out, "INSERT INTO \"{}\" VALUES(", name.replace('"', "\"\""))?;
            for index in 0..columns {
                if index > 0 {
                    out.write_all(b",")?;
                }
                write_value(out, row.get_ref(index)?)?;
            }
            out.write_all(b");\n")?;
        }
    }
    let others: Vec<String> = snapshot
        .prepare("SELECT sql FROM sqlite_schema WHERE type IN ('index', 'trigger', 'view') AND sql IS NOT NULL ORDER BY rowid")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for sql in others {
        writeln!(out, "{sql};")?;
    }
    writeln!(out, "PRAGMA user_version = {version};\nCOMMIT;")?;
    Ok(())
}

fn write_value(out: &mut impl Write, value: ValueRef<'_>) -> std::io::Result<()> {
    match value {
        ValueRef::Null => out.write_all(b"NULL"),
        ValueRef::Integer(number) => write!(out, "{number}"),
        ValueRef::Real(number) => write!(out, "{number:?}"),
        ValueRef::Text(text) if !text.contains(&0) && std::str::from_utf8(text).is_ok() => {
            out.write_all(b"'")?;
            for chunk in text.split(|byte| *byte == b'\'') .enumerate() {
                if chunk.0 > 0 {
                    out.write_all(b"''")?;
                }
                out.write_all(chunk.1)?;
            }
            out.write_all(b"'")
        }
        // Text a literal cannot hold (NUL, invalid UTF-8) goes as bytes.
        ValueRef::Text(bytes) => write!(out, "CAST(X'{}' AS TEXT)", hex::encode(bytes)),
        ValueRef::Blob(bytes) => write!(out, "X'{}'", hex::encode(bytes)),
    }
}

/// Loads SQL text written by [`write_sql`] into an empty database, then checks it; open
/// it with `Store::open` before use.
pub fn load_sql(conn: &Connection, sql: &str) -> anyhow::Result<()> {
    conn.execute_batch(sql)?;
    // Filled by the first `Store::open`, once the schema is this reqmail's.
    conn.execute(crate::store::search::ASK_FOR_REINDEX, [])?;
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    check(conn)
}

/// One stored message for an export: `(id, direction, ticket, raw)` in id order.
pub fn each_message(conn: &crate::store::Connection, mut visit: impl FnMut(i64, &str, Option<i64>, &[u8]) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut statement = conn.prepare(&format!("SELECT m.id, m.direction, m.ticket, {RAW_COLUMNS} FROM messages m {RAW_JOIN} ORDER BY m.id"))?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let direction: String = row.get(1)?;
        let raw = crate::store::messages::stored_raw(conn, &row, 3)?;
        visit(row.get(0)?, &direction, row.get(2)?, &raw)?;
    }
    Ok(())
}
