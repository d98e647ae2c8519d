//! Upgrades from every older schema: each `fixtures/db/vN.db` (a database as reqmail at
//! schema version N left it, see fixtures/db/README.md) is opened by today's reqmail,
//! brought to the latest version, and keeps every ticket, person, message and history
//! entry; afterwards the upgraded database takes mail like a new one.

use std::path::PathBuf;

use reqmail::config::{Config, StoreConfig};
use reqmail::pipeline::{self, Incoming, Outcome};
use reqmail::site::Site;
use reqmail::store::{self, Store};
use reqmail::ticket::{Status, TicketId};

use crate::harness::{fixtures, request};

fn versions() -> Vec<(u32, PathBuf)> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(fixtures().join("db"))
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            let version = path.file_name()?.to_str()?.strip_prefix('v')?.strip_suffix(".db")?.parse().ok()?;
            Some((version, path))
        })
        .collect();
    found.sort();
    found
}

/// The SQLite migration files (PostgreSQL's twins are in the folder `postgres` there).
fn latest_version() -> i64 {
    std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension().is_some_and(|extension| extension == "sql"))
        .count() as i64
}

#[test]
fn every_released_schema_is_upgraded_and_keeps_its_tickets() {
    if crate::harness::sqlite_only("migrating the SQLite files of released versions") {
        return;
    }
    let versions = versions();
    let numbers: Vec<u32> = versions.iter().map(|(version, _)| *version).collect();
    assert!(numbers.len() >= 5 && numbers.iter().copied().eq(1..=numbers.len() as u32), "fixtures/db holds v1.db, v2.db, …: {numbers:?}");
    for (version, fixture) in versions {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reqmail.db");
        std::fs::copy(&fixture, &path).unwrap();
        let config = Config { store: StoreConfig { path: path.clone(), ..StoreConfig::default() }, ..Config::default() };
        let mut store = Store::open(&config.store).unwrap_or_else(|error| panic!("v{version}: {error:#}"));
        let schema: i64 = store.conn.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(schema, latest_version(), "v{version} is brought to the latest schema");

        let conn = &store.conn;
        let first = store::tickets::get(conn, TicketId(1)).unwrap().unwrap_or_else(|| panic!("v{version}: ticket 1 lost"));
        assert_eq!(first.subject, "Printer on fire", "v{version}");
        assert_eq!(first.status, Status::Open, "v{version}");
        assert_eq!(first.requester, "ann@example.org", "v{version}");
        assert_eq!(first.owner.as_deref(), Some("bob@example.com"), "v{version}");
        assert_eq!(first.cc, vec!["carol@example.net".to_string()], "v{version}");
        assert_eq!(first.host.as_deref(), Some("pr-4"), "v{version}");
        assert_eq!(first.time_spent_minutes, 30, "v{version}");
        assert_eq!(store::tickets::history(conn, TicketId(1)).unwrap().len(), 2, "v{version}: history of ticket 1");
        let statuses: Vec<Status> =
            (1..=4).map(|number| store::tickets::get(conn, TicketId(number)).unwrap().unwrap_or_else(|| panic!("v{version}: ticket {number} lost")).status).collect();
        assert_eq!(statuses, [Status::Open, Status::New, Status::Closed, Status::Merged], "v{version}");
        assert_eq!(store::tickets::resolve_merged(conn, TicketId(4)).unwrap(), Some(TicketId(1)), "v{version}: the merge is kept");
        assert_eq!(
            store::people::find_by_address(conn, "ann.example@example.net").unwrap().map(|(person, _)| person.0),
            Some(1),
            "v{version}: every address of a person is kept"
        );

        // The upgraded database works on: a reply threads onto the old ticket.
        let site = Site::compile(config.clone()).unwrap();
        let reply = request("reply@example.org", "Ann Example <ann@example.org>", "Re: [REQ #1] Printer on fire", "Still burning.");
        let now = "2026-01-07T09:00:00Z".parse().unwrap();
        let spooled = pipeline::spool(&mut store, &[Incoming { raw: &reply, source: "test", recipient: None, queue: None }], now).unwrap();
        let outcomes = pipeline::process(&site, &mut store, &pipeline::waiting(&spooled), now).unwrap();
        assert_eq!(outcomes[0].1, Outcome::Applied { ticket: TicketId(1), created: false }, "v{version}");
    }
}
