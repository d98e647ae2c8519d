//! The PostgreSQL schema (`src/store/migrations/postgres/`) on a real PostgreSQL: every
//! table and column SQLite has, with the same types, and the triggers keeping reports,
//! the scheduler and search as SQLite's do.

use crate::harness::postgres::Postgres;

/// SQLite's tables that PostgreSQL keeps in a form of its own (0008): the FTS5 index
/// and the tables SQLite keeps for it.
pub fn sqlite_only(table: &str) -> bool {
    table == "search_text" || table.starts_with("search_text_")
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
fn the_postgresql_triggers_keep_the_reports_and_the_scheduler_as_sqlites_do() {
    let postgres = Postgres::start();
    let mut client = postgres.client("postgres");
    reqmail::store::postgres::migrate(&mut client).unwrap();
    client
        .batch_execute(
            "INSERT INTO people (role, created) VALUES ('customer', '2026-11-23T09:00:00Z'), ('vendor', '2026-11-23T09:00:00Z');
             INSERT INTO addresses (address, person, is_primary) VALUES ('carol@example.org', 1, 1), ('ven@example.net', 2, 1);
             INSERT INTO tickets (subject, status, queue, importance, priority, requester, created, updated, scheduler_at)
             VALUES ('Printer jammed', 'new', 'general', 'medium', 'medium', 1, '2026-11-23T09:00:00Z', '2026-11-23T09:00:00Z', '2026-11-30T09:00:00Z');
             UPDATE tickets SET status = 'resolved', updated = '2026-11-24T10:00:00Z' WHERE number = 1;
             INSERT INTO history (ticket, at, actor, action, detail) VALUES (1, '2026-11-24T10:00:00Z', 'ven@example.net', 'time', 'time: 10m → 25m (+15m)');",
        )
        .unwrap();
    let changes: Vec<(Option<String>, String, i64)> =
        client.query("SELECT from_status, to_status, backlog FROM status_changes ORDER BY at", &[]).unwrap().iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    assert_eq!(changes, [(None, "new".to_string(), 1), (Some("new".to_string()), "resolved".to_string(), -1)]);
    let days: i64 = client.query_one("SELECT SUM(changes)::bigint FROM status_days", &[]).unwrap().get(0);
    assert_eq!(days, 2);
    let scheduler_at: String = client.query_one("SELECT scheduler_at FROM tickets", &[]).unwrap().get(0);
    assert_eq!(scheduler_at, "", "a status change asks the scheduler to look again");
    let time: (i64, i64) = client.query_one("SELECT minutes, vendor FROM time_entries", &[]).map(|row| (row.get(0), row.get(1))).unwrap();
    assert_eq!(time, (15, 1));
    let found: i64 = client.query_one("SELECT COUNT(*) FROM search_text WHERE words @@ to_tsquery('english', 'printers')", &[]).unwrap().get(0);
    assert_eq!(found, 1, "the subject is indexed, stemmed");
}

