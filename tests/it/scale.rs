//! Costs that must not grow with the size of the store: memory of long listings.

use std::process::Command;

use crate::harness::{letter, Desk};

/// Copies ticket #1 until the store holds `count` tickets, then has the statistics
/// brought up to date, as they would be in a store that grew by itself (PostgreSQL's
/// autovacuum, SQLite's `PRAGMA optimize` after a command).
fn fill_store(desk: &Desk, count: i64) {
    let conn = desk.open_store().conn;
    // A thousand at a time: one statement for all would have PostgreSQL's report
    // triggers update the same day's row tens of thousands of times in one
    // transaction, each update a longer walk past the earlier versions.
    let most = |conn: &reqmail::store::Connection| conn.query_row("SELECT MAX(number) FROM tickets", [], |row| row.get::<_, i64>(0)).unwrap();
    while most(&conn) < count {
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT (SELECT MAX(number) FROM tickets) + 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated)
             SELECT i, 'Copy ' || i, 'open', queue, importance, priority, requester, created, updated
             FROM n, (SELECT * FROM tickets WHERE number = 1) AS first",
            [count.min(most(&conn) + 1_000)],
        )
        .unwrap();
    }
    conn.execute_batch("ANALYZE").unwrap();
}

/// Peak resident memory of `reqmail ticket list --json ARGS`, in KiB, and its output.
/// GNU time measures it: the rusage this process could read of its own child starts
/// from the peak of the (multi-threaded, busy) test process that spawned it.
fn listing_peak_kib(desk: &Desk, args: &[&str]) -> (i64, serde_json::Value) {
    let output = desk.path().join("list.json");
    let listing = desk.command(&[&["ticket", "list", "--json"], args].concat());
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("--format=%M").arg(listing.get_program()).args(listing.get_args()).current_dir(desk.path());
    for (name, value) in listing.get_envs() {
        match value {
            Some(value) => timed.env(name, value),
            None => timed.env_remove(name),
        };
    }
    let run = timed.stdout(std::fs::File::create(&output).unwrap()).output().expect("GNU time (Debian package time) runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "ticket list {args:?} failed: {stderr}");
    let peak_kib = stderr.lines().last().and_then(|line| line.trim().parse().ok()).unwrap_or_else(|| panic!("no peak from time: {stderr}"));
    let listed = serde_json::from_slice(&std::fs::read(&output).unwrap()).expect("the listing is one JSON array");
    (peak_kib, listed)
}

#[test]
fn ticket_list_json_memory_stays_flat_as_the_store_grows() {
    let desk = Desk::new();
    desk.ingest(&letter("ann@example.org", "help@example.com", "Printer", "It jams.", "scale-1")).ok();
    fill_store(&desk, 2_000);
    let listings: [&[&str]; 2] = [&["--all", "--sort", "number"], &[]];
    let small: Vec<i64> = listings
        .iter()
        .map(|args| {
            let (peak_kib, listed) = listing_peak_kib(&desk, args);
            assert_eq!(listed.as_array().map(Vec::len), Some(2_000), "{args:?}");
            peak_kib
        })
        .collect();
    fill_store(&desk, 30_000);
    for (args, small_kib) in listings.iter().zip(small) {
        let (large_kib, large) = listing_peak_kib(&desk, args);
        let tickets = large.as_array().unwrap();
        assert_eq!(tickets.len(), 30_000, "{args:?}");
        // The queue's order: #1 has a due date, the copies none (last, by number).
        assert_eq!((tickets[0]["number"].as_i64(), tickets[29_999]["subject"].as_str()), (Some(1), Some("Copy 30000")), "{args:?}");
        // Held in memory, 28,000 more tickets took some 100 MB; streamed, what grows is
        // at most SQLite's small page cache.
        let grown_kib = large_kib - small_kib;
        assert!(
            grown_kib < 8 * 1024,
            "{args:?}: peak memory grew by {grown_kib} KiB ({small_kib} -> {large_kib} KiB) from 2,000 to 30,000 tickets"
        );
    }
}
