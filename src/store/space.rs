//! Where the store's bytes are, and giving back what it does not use.
//!
//! `usage` reads SQLite's `dbstat` table (every page, so it takes as long as reading
//! the file): per table and index, the pages, the bytes of rows and the bytes left
//! empty in them. `compact` rewrites the whole file with [`super::PAGE_SIZE`] pages and
//! without free pages; a store made before that page size was the default needs it to
//! shrink.

use crate::store::Connection;

/// The pages of one table or index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableUsage {
    pub name: String,
    pub pages: i64,
    /// The pages' whole size.
    pub bytes: i64,
    /// What the rows hold, including the parts spilt onto overflow pages.
    pub payload: i64,
    /// Bytes of its pages that hold nothing.
    pub unused: i64,
}

/// The file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileUsage {
    pub page_size: i64,
    pub pages: i64,
    /// Pages no table uses (left by deleted rows); the next writes take them first.
    pub free_pages: i64,
}

impl FileUsage {
    pub fn bytes(&self) -> i64 {
        self.page_size * self.pages
    }
}

pub fn file_usage(conn: &Connection) -> crate::store::Result<FileUsage> {
    let conn = conn.sqlite("the store's pages")?;
    let pragma = |name: &str| -> crate::store::Result<i64> { Ok(conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?) };
    Ok(FileUsage { page_size: pragma("page_size")?, pages: pragma("page_count")?, free_pages: pragma("freelist_count")? })
}

/// Every table and index with its pages, largest first.
pub fn usage(conn: &Connection) -> crate::store::Result<Vec<TableUsage>> {
    // The aggregate form of dbstat: one row per table or index. Sorted here: dbstat
    // reports an ORDER BY as done by itself and returns its rows in name order.
    let mut tables = conn
        .sqlite("reqmail store usage")?
        .prepare("SELECT name, pageno, pgsize, payload, unused FROM dbstat('main', 1)")?
        .query_map([], |row| {
            Ok(TableUsage { name: row.get(0)?, pages: row.get(1)?, bytes: row.get(2)?, payload: row.get(3)?, unused: row.get(4)? })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tables.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    Ok(tables)
}

/// The bytes of raw inbound mail the store holds, as it came.
pub fn inbound_bytes(conn: &Connection) -> crate::store::Result<i64> {
    conn.query_row("SELECT COALESCE(SUM(size), 0) FROM messages WHERE direction = 'in'", [], |row| row.get(0))
}

/// Why `compact` could not start.
#[derive(Debug)]
pub struct InUse;

impl std::fmt::Display for InUse {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("another process has the store open (stop `reqmail serve` and any running command, then try again)")
    }
}

impl std::error::Error for InUse {}

/// What `compact` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    pub before: FileUsage,
    pub after: FileUsage,
    /// Decision records from before they were compressed, compressed now.
    pub decisions: usize,
    /// Notes in history from before they were compressed, compressed now.
    pub notes: usize,
}

/// Compresses what an older reqmail kept as text (decision records, notes), then rewrites the store with
/// [`super::PAGE_SIZE`] pages and no free pages. Needs the store to itself: SQLite changes the page size
/// only outside WAL mode, which no other connection may be using. While it runs, the
/// store's folder (for the rollback journal) and the temporary folder (for SQLite's
/// copy, kept in a file rather than in memory) each need about the store's size free.
pub fn compact(store_conn: &Connection) -> anyhow::Result<Compacted> {
    let conn = store_conn;
    let before = file_usage(conn)?;
    // Before the lock check below: this waits for other writers like any transaction.
    let (decisions, notes) = {
        let tx = conn.unchecked_write()?;
        let decisions = super::messages::compress_old_decisions(&tx)?;
        let notes = super::tickets::compress_old_notes(&tx)?;
        tx.commit()?;
        (decisions, notes)
    };
    let conn = conn.sqlite("reqmail store compact")?;
    let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0)).map_err(|error| match is_locked(&error) {
        true => anyhow::Error::new(InUse),
        false => error.into(),
    })?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(InUse.into());
    }
    let rewritten = (|| {
        conn.pragma_update(None, "page_size", super::PAGE_SIZE)?;
        conn.execute_batch("PRAGMA temp_store = FILE; VACUUM; PRAGMA temp_store = MEMORY;")
    })();
    // Back to WAL whatever happened, as every other command expects.
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    rewritten?;
    Ok(Compacted { before, after: file_usage(store_conn)?, decisions, notes })
}

fn is_locked(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(failure, _)
        if matches!(failure.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::store::tickets::add_history;
    use crate::store::Store;
    use crate::ticket::{SpoolId, TicketId};
    use crate::store::compression::add_dictionary;

    fn store_in(dir: &std::path::Path) -> StoreConfig {
        StoreConfig { path: dir.join("reqmail.db"), busy_timeout_ms: 50, ..Default::default() }
    }

    #[test]
    fn a_new_store_has_the_large_pages_and_usage_names_its_tables() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&store_in(dir.path())).unwrap();
        let file = file_usage(&store.conn).unwrap();
        assert_eq!(file.page_size, i64::from(crate::store::PAGE_SIZE));
        let tables = usage(&store.conn).unwrap();
        assert!(tables.iter().any(|table| table.name == "message_raw"), "{tables:?}");
        assert_eq!(tables.iter().map(|table| table.pages).sum::<i64>() + file.free_pages, file.pages, "every page is counted once");
        assert!(tables.windows(2).all(|pair| pair[0].bytes >= pair[1].bytes), "largest first: {tables:?}");
        assert_eq!(tables[0].name, "sqlite_schema", "the schema is the one table of a new store with more than a page");
    }

    #[test]
    fn compact_moves_an_old_store_to_the_large_pages_and_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let config = store_in(dir.path());
        {
            // A store from before: 4 KiB pages, in WAL mode.
            let conn = Connection::open(&config.path).unwrap();
            conn.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;").unwrap();
        }
        let store = Store::open(&config).unwrap();
        assert_eq!(file_usage(&store.conn).unwrap().page_size, 4096, "an existing store keeps its pages until compacted");
        let received = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let bodies: Vec<Vec<u8>> = (0..300).map(|index| format!("Subject: {index}\r\n\r\n{}", "words and more words ".repeat(index)).into_bytes()).collect();
        for (index, raw) in bodies.iter().enumerate() {
            let key = format!("k{index}");
            let arrival = crate::store::messages::Arrival { raw, dedupe_key: &key, source: "pipe", recipient: None, queue: None, received };
            crate::store::messages::spool(&store.conn, &arrival).unwrap();
        }
        {
            // Another process with the store open: refused, and nothing changes.
            let other = Store::open(&config).unwrap();
            let error = compact(&store.conn).unwrap_err();
            assert!(error.downcast_ref::<InUse>().is_some(), "{error:#}");
            assert_eq!(file_usage(&other.conn).unwrap().page_size, 4096);
        }
        // A decision record as an older reqmail kept it, as text.
        store.conn.execute("UPDATE messages SET decision = '{\"outcome\":\"applied\"}' WHERE id = 3", []).unwrap();
        let compacted = compact(&store.conn).unwrap();
        assert_eq!((compacted.before.page_size, compacted.after.page_size), (4096, i64::from(crate::store::PAGE_SIZE)));
        assert_eq!(compacted.after.free_pages, 0);
        assert_eq!(compacted.decisions, 1);
        let trace = crate::store::messages::traced(&store.conn, &crate::store::messages::TraceTarget::Spool(crate::ticket::SpoolId(3))).unwrap();
        assert_eq!(trace.unwrap().decision_json.as_deref(), Some("{\"outcome\":\"applied\"}"));
        let text_left: i64 = store.conn.query_row("SELECT COUNT(*) FROM messages WHERE decision IS NOT NULL", [], |row| row.get(0)).unwrap();
        assert_eq!(text_left, 0);
        let mode: String = store.conn.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        let reopened = Store::open(&config).unwrap();
        for (index, raw) in bodies.iter().enumerate() {
            assert_eq!(&crate::store::messages::raw(&reopened.conn, crate::ticket::SpoolId(index as i64 + 1)).unwrap().unwrap(), raw);
        }
    }

    fn note(index: usize) -> String {
        format!("Hello, the printer on floor {index} jams again since this morning. Could someone have a look? Thanks, Ann")
    }

    /// A note compressed with the note dictionary reads as text wherever notes are read:
    /// the history, the message's note, the search index and its snippet, a resolved
    /// ticket's words, and a person forgotten.
    #[test]
    fn a_compressed_note_reads_as_text_everywhere() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        conn.execute_batch(
            "INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-11-01T00:00:00Z');
             INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated)
             VALUES (1, 'Printer', 'open', 'general', 'medium', 'medium', 1, '2026-11-02T09:00:00Z', '2026-11-02T09:00:00Z');
             INSERT INTO messages (id, direction, state, ticket, source, received, size, raw) VALUES (1, 'in', 'applied', 1, 'pipe', '2026-11-02T09:00:00Z', 1, x'00');",
        )
        .unwrap();
        let at = crate::clock::parse_time("2026-11-02T10:00:00Z").unwrap();
        let text = note(7);
        add_history(conn, TicketId(1), at, "ann@example.org", "comment", &text, Some(SpoolId(1))).unwrap();
        let stored = |id: i64| -> (String, Option<Vec<u8>>) {
            conn.query_row("SELECT detail, detail_zstd FROM history WHERE id = ?1", [id], |row| Ok((row.get(0)?, row.get(1)?))).unwrap()
        };
        assert_eq!(stored(1), (text.clone(), None), "no dictionary yet: text");

        let samples: Vec<Vec<u8>> = (0..300).map(|index| note(index).into_bytes()).collect();
        let dict_id = add_dictionary(conn, "note", &zstd::dict::from_samples(&samples, 4096).unwrap());
        add_history(conn, TicketId(1), at, "bob@example.com", "comment", &note(8), None).unwrap();
        add_history(conn, TicketId(1), at, "bob@example.com", "status", "status: open → resolved, a line long enough to be compressed", None).unwrap();
        let (detail, compressed) = stored(2);
        assert_eq!(detail, "");
        let compressed = compressed.expect("a note is compressed once its dictionary exists");
        assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&compressed).map(|id| id.get()), Some(dict_id));
        assert!(compressed.len() < note(8).len() / 2, "{} of {}", compressed.len(), note(8).len());
        assert_eq!(stored(3).1, None, "only notes are compressed");

        let history = crate::store::tickets::history(conn, TicketId(1)).unwrap();
        assert_eq!(history.iter().map(|event| event.detail.as_str()).collect::<Vec<_>>(), [text.as_str(), &note(8), "status: open → resolved, a line long enough to be compressed"]);
        assert_eq!(crate::store::tickets::history_entry(conn, 2).unwrap().unwrap().1.detail, note(8));
        assert_eq!(crate::store::tickets::latest_comments(conn, TicketId(1), 1).unwrap()[0].detail, note(8));

        // The message's note, when its history entry is the compressed one.
        conn.execute("UPDATE history SET message = 1 WHERE id = 2; ", []).unwrap();
        conn.execute("UPDATE history SET message = NULL WHERE id = 1", []).unwrap();
        assert_eq!(crate::store::messages::note(conn, SpoolId(1)).unwrap(), Some(note(8)));

        let hits = crate::store::search::search(conn, "floor", &Default::default(), 10, true).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].found_in, "note");
        assert!(hits[0].snippet.contains("[floor]"), "{}", hits[0].snippet);
        crate::store::search::reindex(conn).unwrap();
        assert_eq!(crate::store::search::count(conn, "morning").unwrap(), 2, "both notes indexed anew");

        let resolved_at = crate::store::tickets::StatusColumns { resolved_at: Some(Some("2026-11-02T11:00:00Z")), ..Default::default() };
        crate::store::tickets::set_status(conn, crate::ticket::TicketId(1), "resolved", &resolved_at).unwrap();
        assert_eq!(crate::store::knowledge::tickets_holding(conn, "floor").unwrap(), 1, "the request's words");
        let resolved = crate::store::knowledge::resolved(conn, 1).unwrap().unwrap();
        assert_eq!(resolved.resolution, Some(note(8)), "the answer, compressed");
    }

    /// Notes written as text before are compressed by `store compact` without changing
    /// the search index; a forgotten person's address leaves a compressed note too.
    #[test]
    fn old_notes_are_compressed_later_and_a_forgotten_address_leaves_them() {
        let mut store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-11-01T00:00:00Z'), (2, 'agent', '2026-11-01T00:00:00Z');
                 INSERT INTO addresses (address, person, is_primary) VALUES ('ann@example.org', 1, 1), ('bob@example.com', 2, 1);
                 INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated)
                 VALUES (1, 'Printer', 'open', 'general', 'medium', 'medium', 1, '2026-11-02T09:00:00Z', '2026-11-02T09:00:00Z');",
            )
            .unwrap();
        let at = crate::clock::parse_time("2026-11-02T10:00:00Z").unwrap();
        // As notes were once written: the threading appended, which the index leaves out.
        let threaded = format!("{} (matched by plus-address)", note(1));
        let mention = format!("{} Ann wrote from ann@example.org.", note(3));
        for detail in [threaded.as_str(), "Short.", mention.as_str()] {
            add_history(&store.conn, TicketId(1), at, "bob@example.com", "comment", detail, None).unwrap();
        }
        let indexed = |conn: &Connection| (crate::store::search::count(conn, "floor").unwrap(), crate::store::search::count(conn, "plus").unwrap());
        assert_eq!(indexed(&store.conn), (2, 0));

        assert_eq!(crate::store::tickets::compress_old_notes(&store.conn).unwrap(), 0, "no dictionary: nothing to do");
        let samples: Vec<Vec<u8>> = (0..300).map(|index| note(index).into_bytes()).collect();
        add_dictionary(&store.conn, "note", &zstd::dict::from_samples(&samples, 4096).unwrap());
        assert_eq!(crate::store::tickets::compress_old_notes(&store.conn).unwrap(), 2, "the short one stays text");
        let compressed: i64 = store.conn.query_row("SELECT COUNT(*) FROM history WHERE detail_zstd IS NOT NULL AND detail = ''", [], |row| row.get(0)).unwrap();
        assert_eq!(compressed, 2);
        assert_eq!(indexed(&store.conn), (2, 0), "indexed once, as before");
        let details = |conn: &Connection| -> Vec<String> {
            crate::store::tickets::history(conn, TicketId(1)).unwrap().into_iter().map(|event| event.detail).collect()
        };
        assert_eq!(details(&store.conn), [threaded, "Short.".to_string(), mention.clone()]);

        let tx = store.write().unwrap();
        let forgotten = crate::store::retention::forget(&tx, "ann@example.org", at).unwrap().unwrap();
        tx.commit().unwrap();
        assert!(forgotten.history >= 1, "{forgotten:?}");
        let after = details(&store.conn);
        assert_eq!(after[2], mention.replace("ann@example.org", "forgotten-1@invalid"));
        assert_eq!(crate::store::search::count(&store.conn, "invalid").unwrap(), 1, "the note indexed as it now reads: {after:?}");
    }
}
