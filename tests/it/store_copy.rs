//! `reqmail store copy` against a real PostgreSQL: a store made by real mail copied there
//! and back (the round trip equal table by table), a filled target refused, a wrong URL or
//! password named without the password, and the verifier catching a changed row.

use std::path::Path;

use rusqlite::types::Value;

use crate::harness::postgres::{Postgres, PASSWORD};
use crate::harness::{corpus, letter, Desk, Mail};
use crate::postgres_schema::{sqlite_only, sqlite_tables};

const SITE: &str = r#"
[identify]
trust_from_header = true

[[people]]
addresses = ["bob@example.com"]
role = "agent"
"#;

/// A store made by real mail: corpus messages, a request resolved with time worked and
/// closed by the customer's approval, the letters of all that in the outbox.
fn desk_with_mail() -> Desk {
    // Some forty corpus messages: most thread onto each other or are machines' mail.
    let mut desk = Desk::with_config(SITE);
    desk.now = Some("2026-11-23T09:00:00Z".into());
    let mut corpus_files: Vec<_> = walk(&corpus()).into_iter().filter(|path| path.extension().is_some_and(|extension| extension == "eml")).collect();
    corpus_files.sort();
    for path in corpus_files.iter().step_by(corpus_files.len() / 40) {
        let run = desk.ingest(&std::fs::read(path).unwrap());
        assert_eq!(run.status, 0, "{}: {}", path.display(), run.stderr);
    }
    desk.ingest(&letter("Carol <carol@example.org>", "help@example.com", "Printer jammed", "It jams on thick paper.", "c1")).ok();
    let number = desk.tickets().iter().find(|ticket| ticket["subject"] == "Printer jammed").unwrap()["number"].as_i64().unwrap();
    desk.ingest(&letter("bob@example.com", &format!("help+{number}@example.com"), &format!("Re: [REQ #{number}]"), "Owner: me\nTime: 25m\nStatus: resolved\n\nReplaced the roller.", "b1"))
        .ok();
    let resolution: Mail = desk.outbox().into_iter().find(|mail| mail.body().contains("[ ] Yes, it is solved")).expect("resolution letter");
    let reply_to = resolution.header("Reply-To").unwrap();
    let reply_to = reply_to.rsplit('<').next().unwrap().trim_end_matches('>');
    let reply = format!(
        "From: Carol <carol@example.org>\r\nTo: {reply_to}\r\nSubject: Re: {}\r\nMessage-ID: <c2@test>\r\nIn-Reply-To: <{}>\r\n\r\n[X] Yes, it is solved - close the request\r\n",
        resolution.subject(),
        resolution.message_id()
    );
    desk.ingest(reply.as_bytes()).ok();
    assert_eq!(desk.ticket(number)["status"], "closed");
    desk
}

fn walk(folder: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(folder)
        .unwrap()
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
}

/// Every row of `table`, in the order of all its columns.
fn rows(conn: &rusqlite::Connection, table: &str, columns: usize) -> Vec<Vec<Value>> {
    let order: Vec<String> = (1..=columns).map(|index| index.to_string()).collect();
    conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY {}", order.join(", ")))
        .unwrap()
        .query_map([], |row| (0..columns).map(|index| row.get::<_, Value>(index)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_store_made_by_mail_goes_to_postgresql_and_back_unchanged() {
    if crate::harness::sqlite_only("`store copy` of a SQLite file") {
        return;
    }
    let postgres = Postgres::start();
    let desk = desk_with_mail();
    let url = postgres.create_database("desk");

    let there = desk.run(&["store", "copy", "--to", &url]).ok();
    assert!(there.stdout.contains("verified"), "{}", there.stdout);
    assert!(there.stdout.lines().any(|line| line.starts_with("history ") && line.ends_with("same")), "{}", there.stdout);
    assert!(!there.stdout.contains(PASSWORD) && !there.stderr.contains(PASSWORD));
    let mut client = postgres.client("desk");
    let closed: i64 = client.query_one("SELECT COUNT(*) FROM tickets WHERE status = 'closed'", &[]).unwrap().get(0);
    assert_eq!(closed, 1);
    let found: i64 = client.query_one("SELECT COUNT(*) FROM search_text WHERE words @@ to_tsquery('english', 'roller')", &[]).unwrap().get(0);
    assert_eq!(found, 1, "the search index is rebuilt there");

    let back = desk.path().join("back.sqlite");
    let returned = desk.run(&["store", "copy", "--from", &url, "--to", back.to_str().unwrap()]).ok();
    assert!(returned.stdout.contains("verified"), "{}", returned.stdout);

    let original = rusqlite::Connection::open(desk.path().join("reqmail.db")).unwrap();
    let copy = rusqlite::Connection::open(&back).unwrap();
    let version = |conn: &rusqlite::Connection| conn.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0)).unwrap();
    assert_eq!(version(&copy), version(&original));
    let tables = sqlite_tables(&original);
    assert_eq!(sqlite_tables(&copy), tables);
    let mut rows_compared = 0;
    for (table, columns) in tables.iter().filter(|(table, _)| !sqlite_only(table)) {
        let expected = rows(&original, table, columns.len());
        assert_eq!(rows(&copy, table, columns.len()), expected, "table {table} after the round trip");
        rows_compared += expected.len();
    }
    // The subjects' sound keys are rebuilt in the copy.
    let by_sound = |conn: &rusqlite::Connection| -> Vec<i64> {
        let subject: String = conn.query_row("SELECT subject FROM tickets WHERE number = 1", [], |row| row.get(0)).unwrap();
        let every_key = reqmail::store::sounds::every_key(&reqmail::store::sounds::sound_keys(&subject));
        let mut query = conn.prepare("SELECT rowid FROM ticket_sounds WHERE ticket_sounds MATCH ?1 ORDER BY rowid").unwrap();
        query.query_map([every_key], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert!(by_sound(&original).contains(&1));
    assert_eq!(by_sound(&copy), by_sound(&original), "the tickets whose subjects sound like the first's");
    for (table, least) in [("tickets", 5), ("history", 10), ("message_raw", 30), ("outbox", 3), ("status_changes", 8), ("knowledge_words", 1)] {
        let count: i64 = original.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get(0)).unwrap();
        assert!(count >= least, "the store holds {count} rows of {table}");
    }
    assert!(rows_compared > 200, "{rows_compared} rows");

    // The copy is a working store: its search index was rebuilt, its triggers are back.
    let copy_desk = Desk::with_config(&format!("{SITE}\n[store]\npath = \"{}\"\n", back.display()));
    let search = copy_desk.run(&["search", "roller"]).ok();
    assert!(search.stdout.contains("Printer jammed"), "{}", search.stdout);
    let triggers = |conn: &rusqlite::Connection| conn.query_row("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'trigger'", [], |row| row.get::<_, i64>(0)).unwrap();
    assert_eq!(triggers(&copy), triggers(&original));

    // New rows in PostgreSQL take the numbers after the copied ones.
    let next: i64 = client.query_one("INSERT INTO people (role, created) VALUES ('customer', '2026-11-24T00:00:00Z') RETURNING id", &[]).unwrap().get(0);
    let highest: i64 = original.query_row("SELECT MAX(id) FROM people", [], |row| row.get(0)).unwrap();
    assert_eq!(next, highest + 1);
}

#[test]
fn a_target_that_holds_a_store_is_refused_unless_replaced() {
    if crate::harness::sqlite_only("`store copy` of a SQLite file") {
        return;
    }
    let postgres = Postgres::start();
    let desk = desk_with_mail();
    let url = postgres.create_database("filled");
    desk.run(&["store", "copy", "--to", &url]).ok();
    let again = desk.run(&["store", "copy", "--to", &url]);
    assert_eq!(again.status, 64, "{}", again.stderr);
    assert!(again.stderr.contains("is not empty") && again.stderr.contains("--replace"), "{}", again.stderr);
    let replaced = desk.run(&["store", "copy", "--to", &url, "--replace"]).ok();
    assert!(replaced.stdout.contains("verified"), "{}", replaced.stdout);

    std::fs::write(desk.path().join("taken.sqlite"), b"").unwrap();
    let taken = desk.run(&["store", "copy", "--from", &url, "--to", "taken.sqlite"]);
    assert_ne!(taken.status, 0);
    assert!(taken.stderr.contains("taken.sqlite exists"), "{}", taken.stderr);
}

#[test]
fn a_wrong_url_or_password_is_named_without_the_password() {
    if crate::harness::sqlite_only("`store copy` of a SQLite file") {
        return;
    }
    let postgres = Postgres::start();
    let desk = Desk::new();
    let wrong_password = format!("postgresql://reqmail:not-the-password@127.0.0.1:{}/postgres?sslmode=disable", postgres.port);
    let run = desk.run(&["store", "copy", "--to", &wrong_password]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("cannot connect to postgresql://reqmail@127.0.0.1:{}/postgres?sslmode=disable", postgres.port)), "{}", run.stderr);
    assert!(run.stderr.contains("password authentication failed"), "{}", run.stderr);
    assert!(!run.stderr.contains("not-the-password"), "{}", run.stderr);

    let nobody_there = desk.run(&["store", "copy", "--to", "postgresql://reqmail:secret@127.0.0.1:1/desk"]);
    assert_eq!(nobody_there.status, 1);
    assert!(nobody_there.stderr.contains("cannot connect to postgresql://reqmail@127.0.0.1:1/desk"), "{}", nobody_there.stderr);
    assert!(!nobody_there.stderr.contains("secret"), "{}", nobody_there.stderr);

    let not_a_url = desk.run(&["store", "copy", "--to", "other.db"]);
    assert_eq!(not_a_url.status, 64, "{}", not_a_url.stderr);
    let no_store_there = desk.run(&["store", "copy", "--from", &postgres.url("postgres"), "--to", "new.sqlite"]);
    assert_eq!(no_store_there.status, 1);
    assert!(no_store_there.stderr.contains("holds no reqmail store"), "{}", no_store_there.stderr);
}

#[test]
fn the_verifier_finds_a_row_changed_or_lost_after_the_copy() {
    if crate::harness::sqlite_only("`store copy` of a SQLite file") {
        return;
    }
    let postgres = Postgres::start();
    let desk = desk_with_mail();
    let url = postgres.create_database("tampered");
    desk.run(&["store", "copy", "--to", &url]).ok();
    desk.run(&["store", "copy", "--to", &url, "--verify-only"]).ok();

    let mut client = postgres.client("tampered");
    client.execute("UPDATE history SET detail = detail || '!' WHERE id = (SELECT MAX(id) FROM history)", &[]).unwrap();
    let changed = desk.run(&["store", "copy", "--to", &url, "--verify-only"]);
    assert_eq!(changed.status, 1, "{}", changed.stdout);
    assert!(changed.stderr.contains("table history") && changed.stderr.contains("different contents"), "{}", changed.stderr);
    assert!(changed.stdout.lines().any(|line| line.starts_with("history ") && line.ends_with("DIFFERENT")), "{}", changed.stdout);
    assert!(!changed.stdout.contains("verified"));

    client.execute("DELETE FROM outbox WHERE id = (SELECT MIN(id) FROM outbox)", &[]).unwrap();
    let report = reqmail::store::postgres::copy::verify(
        &rusqlite::Connection::open(desk.path().join("reqmail.db")).unwrap(),
        &reqmail::store::postgres::Url::parse(&url).unwrap(),
    )
    .unwrap();
    let differing: Vec<&str> = report.tables.iter().filter(|check| !check.matches()).map(|check| check.table.as_str()).collect();
    assert_eq!(differing, ["history", "outbox"]);
    let outbox = report.tables.iter().find(|check| check.table == "outbox").unwrap();
    assert_eq!(outbox.target.rows + 1, outbox.source.rows);
}
