//! The PostgreSQL schema (`src/store/migrations/postgres/`) on a real PostgreSQL: every
//! table and column SQLite has, with the same types, and reports, the scheduler and
//! search kept as on SQLite (by its triggers and the store's statements).

use crate::harness::postgres::Postgres;

/// SQLite's tables that PostgreSQL keeps in a form of its own: the FTS5 indexes of
/// search (0008) and of the subjects' sound keys (0037), and the tables SQLite keeps for
/// them.
pub fn sqlite_only(table: &str) -> bool {
    ["search_text", "ticket_sounds"].iter().any(|index| table == *index || table.starts_with(&format!("{index}_")))
}

/// Per table of a SQLite file: its columns, with their declared types.
pub fn sqlite_tables(conn: &rusqlite::Connection) -> Vec<(String, Vec<(String, String)>)> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names
        .into_iter()
        .map(|name| {
            let columns = conn
                .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
                .unwrap()
                .query_map([&name], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (name, columns)
        })
        .collect()
}

#[test]
fn the_postgresql_schema_has_every_sqlite_table_with_the_same_columns() {
    let postgres = Postgres::start();
    let url = postgres.create_database("schema");
    let mut client = reqmail::store::postgres::Url::parse(&url).unwrap().connect().unwrap();
    reqmail::store::postgres::migrate(&mut client).unwrap();
    // A second start finds the schema current and changes nothing.
    reqmail::store::postgres::migrate(&mut client).unwrap();
    let version: i64 = client.query_one("SELECT MAX(version) FROM reqmail_schema", &[]).unwrap().get(0);
    assert_eq!(version, reqmail::store::schema_version());

    let sqlite = reqmail::store::Store::open_in_memory(&Default::default()).unwrap();
    let tables = sqlite_tables(sqlite.conn.as_sqlite().unwrap());
    assert!(tables.len() > 30, "{} tables", tables.len());
    let mut compared = 0;
    for (table, columns) in tables.iter().filter(|(table, _)| !sqlite_only(table)) {
        let found: Vec<(String, String)> = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                &[table],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let expected: Vec<(String, String)> = columns
            .iter()
            .map(|(name, declared)| {
                let postgres_type = match declared.as_str() {
                    "INTEGER" => "bigint",
                    "TEXT" => "text",
                    "BLOB" => "bytea",
                    other => panic!("{table}.{name}: SQLite type {other} has no PostgreSQL twin"),
                };
                (name.clone(), postgres_type.to_string())
            })
            .collect();
        assert_eq!(found, expected, "table {table}: PostgreSQL's columns (left) against SQLite's");
        compared += 1;
    }
    assert!(compared > 30);
    // The search index has its PostgreSQL form.
    let search_columns: i64 = client
        .query_one("SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'search_text' AND data_type = 'tsvector'", &[])
        .unwrap()
        .get(0);
    assert_eq!(search_columns, 1);
}

#[test]
fn the_postgresql_schema_keeps_the_reports_and_the_scheduler_as_sqlites_does() {
    let postgres = Postgres::start();
    let config = reqmail::config::StoreConfig { url: Some(postgres.create_database("facts")), ..Default::default() };
    let store = reqmail::store::Store::open(&config).unwrap();
    store
        .conn
        .execute_batch(
            "INSERT INTO people (role, created) VALUES ('customer', '2026-11-23T09:00:00Z'), ('vendor', '2026-11-23T09:00:00Z');
             INSERT INTO addresses (address, person, is_primary) VALUES ('carol@example.org', 1, 1), ('ven@example.net', 2, 1);
             INSERT INTO tickets (subject, status, queue, importance, priority, requester, created, updated, scheduler_at)
             VALUES ('Printer jammed', 'new', 'general', 'medium', 'medium', 1, '2026-11-23T09:00:00Z', '2026-11-24T10:00:00Z', '2026-11-30T09:00:00Z');",
        )
        .unwrap();
    // The ticket is created, its time entered and its status moved as reqmail writes them;
    // the rest is the schema's triggers.
    let ticket = reqmail::ticket::TicketId(1);
    reqmail::store::tickets::created(&store.conn, ticket, "Printer jammed", "2026-11-23T09:00:00Z").unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().to_utc();
    reqmail::store::tickets::add_history(&store.conn, ticket, at, "ven@example.net", "time", "time: 10m → 25m (+15m)", None).unwrap();
    reqmail::store::tickets::add_history(&store.conn, ticket, at, "VEN@example.net", "time", "time: 25m → 25m (+0m)", None).unwrap();
    reqmail::store::tickets::set_text(&store.conn, ticket, reqmail::store::tickets::TextColumn::Status, Some("resolved")).unwrap();
    drop(store);
    let mut client = postgres.client("facts");
    let changes: Vec<(Option<String>, String, i64)> =
        client.query("SELECT from_status, to_status, backlog FROM status_changes ORDER BY at", &[]).unwrap().iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    assert_eq!(changes, [(None, "new".to_string(), 1), (Some("new".to_string()), "resolved".to_string(), -1)]);
    let days: i64 = client.query_one("SELECT SUM(changes)::bigint FROM status_days", &[]).unwrap().get(0);
    assert_eq!(days, 2);
    let scheduler_at: String = client.query_one("SELECT scheduler_at FROM tickets", &[]).unwrap().get(0);
    assert_eq!(scheduler_at, "", "a status change asks the scheduler to look again");
    let time: Vec<(i64, i64)> = client.query("SELECT minutes, vendor FROM time_entries ORDER BY minutes DESC", &[]).unwrap().iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(time, [(15, 1), (0, 1)], "the vendor's minutes, their address in any case");
    let found: i64 = client.query_one("SELECT COUNT(*) FROM search_text WHERE words @@ to_tsquery('english', 'printers')", &[]).unwrap().get(0);
    assert_eq!(found, 1, "the subject is indexed, stemmed");
}


/// A store indexed before 0027 holds a decomposed subject and note as written; the
/// migration indexes those rows anew in NFC, so that the query (in NFC too) finds them.
#[test]
fn migration_0027_indexes_the_rows_of_before_in_nfc() {
    let postgres = Postgres::start();
    let url = postgres.create_database("before_nfc");
    let mut client = reqmail::store::postgres::Url::parse(&url).unwrap().connect().unwrap();
    let before = reqmail::store::postgres::MIGRATIONS.iter().position(|(name, _)| *name == "0027_search_nfc").unwrap();
    client.batch_execute("CREATE TABLE reqmail_schema (version BIGINT PRIMARY KEY, name TEXT NOT NULL)").unwrap();
    for (index, (name, sql)) in reqmail::store::postgres::MIGRATIONS[..before].iter().enumerate() {
        client.batch_execute(sql).unwrap();
        client.execute("INSERT INTO reqmail_schema (version, name) VALUES ($1, $2)", &[&(index as i64 + 1), name]).unwrap();
    }
    client
        .batch_execute(
            "INSERT INTO people (role, created) VALUES ('customer', '2026-11-23T09:00:00Z');
             INSERT INTO tickets (subject, status, queue, importance, priority, requester, created, updated)
             VALUES (E'Cafe\\u0301 wifi down', 'new', 'general', 'medium', 'medium', 1, '2026-11-23T09:00:00Z', '2026-11-23T09:00:00Z'),
                    ('Printer jammed', 'new', 'general', 'medium', 'medium', 1, '2026-11-23T09:00:00Z', '2026-11-23T09:00:00Z');
             INSERT INTO history (ticket, at, actor, action, detail)
             VALUES (2, '2026-11-23T09:00:00Z', 'carol@example.org', 'comment', E'The cre\\u0300me paper jams');
             INSERT INTO messages (id, direction, state, ticket, source, received, size, raw)
             VALUES (1, 'in', 'applied', 2, 'pipe', '2026-11-23T09:00:00Z', 1, '\\x00');
             INSERT INTO blobs (sha256, size, content) VALUES ('h', 20, convert_to(E'Nai\\u0308ve log', 'UTF8')), ('b', 3, '\\xff00fe');
             INSERT INTO attachments (message, blob, filename, content_type)
             VALUES (1, 'h', 'log.txt', 'text/plain'), (1, 'b', 'x.bin', 'text/plain');",
        )
        .unwrap();
    let found = |client: &mut postgres::Client, word: &str| -> Vec<i64> {
        let sql = "SELECT id FROM search_text WHERE words @@ to_tsquery('english', normalize($1, NFC)) ORDER BY id";
        client.query(sql, &[&word]).unwrap().iter().map(|row| row.get(0)).collect()
    };
    assert!(found(&mut client, "caf\u{e9}").is_empty(), "before 0027 the index holds the decomposed word");
    assert!(found(&mut client, "na\u{ef}ve").is_empty(), "in the attachment too");
    reqmail::store::postgres::migrate(&mut client).unwrap();
    assert_eq!(found(&mut client, "caf\u{e9}"), [4], "the subject, indexed anew");
    assert_eq!(found(&mut client, "cafe\u{301}"), [4]);
    let note_row: i64 = client.query_one("SELECT id * 4 + 1 FROM history", &[]).unwrap().get(0);
    assert_eq!(found(&mut client, "cr\u{e8}me"), [note_row], "the note, indexed anew");
    let attachment_row: i64 = client.query_one("SELECT id * 4 + 2 FROM attachments WHERE blob = 'h'", &[]).unwrap().get(0);
    assert_eq!(found(&mut client, "na\u{ef}ve"), [attachment_row], "the text attachment, indexed anew");
    assert_eq!(found(&mut client, "printer"), [8], "a row already in NFC keeps its words");
    // New text goes through the triggers of 0027.
    client.batch_execute("UPDATE tickets SET subject = E'Re\\u0301sume\\u0301 printer' WHERE number = 2").unwrap();
    assert_eq!(found(&mut client, "r\u{e9}sum\u{e9}"), [8]);
}

/// normalize() needs a UTF-8 database: in another, 0027 leaves the text as written rather
/// than failing, and search works as before.
#[test]
fn migration_0027_passes_in_a_database_that_is_not_utf8() {
    let postgres = Postgres::start();
    postgres.client("postgres").batch_execute("CREATE DATABASE ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0").unwrap();
    let mut client = postgres.client("ascii");
    reqmail::store::postgres::migrate(&mut client).unwrap();
    let version: i64 = client.query_one("SELECT MAX(version) FROM reqmail_schema", &[]).unwrap().get(0);
    assert_eq!(version, reqmail::store::schema_version());
    client
        .batch_execute(
            "INSERT INTO people (role, created) VALUES ('customer', '2026-11-23T09:00:00Z');
             INSERT INTO tickets (subject, status, queue, importance, priority, requester, created, updated)
             VALUES ('Printer jammed', 'new', 'general', 'medium', 'medium', 1, '2026-11-23T09:00:00Z', '2026-11-23T09:00:00Z');",
        )
        .unwrap();
    let found: i64 =
        client.query_one("SELECT COUNT(*) FROM search_text WHERE words @@ to_tsquery('english', reqmail_search_nfc('printers'))", &[]).unwrap().get(0);
    assert_eq!(found, 1);
}

#[test]
fn a_store_session_runs_without_jit_and_with_the_busy_timeout() {
    let postgres = Postgres::start();
    let config = reqmail::config::StoreConfig { url: Some(postgres.create_database("settings")), busy_timeout_ms: 1234, ..Default::default() };
    let store = reqmail::store::Store::open(&config).unwrap();
    let setting = |name: &str| -> String { store.conn.query_row(&format!("SHOW {name}"), [], |row| row.get(0)).unwrap() };
    // A long listing is estimated costly enough that PostgreSQL would compile it first.
    assert_eq!(setting("jit"), "off");
    assert_eq!(setting("lock_timeout"), "1234ms");
}
