//! Retention: closed tickets purged after `[retention] closed_days` (by `reqmail purge`
//! and by `tick`), with mail and attachments no other ticket uses; `reqmail person
//! forget` leaves nothing in the whole database that names the person. Both recorded.

use crate::harness::{request, Desk};

/// A request with an attachment (the same bytes in every message that uses `attachment`).
fn with_attachment(message_id: &str, from: &str, subject: &str, attachment: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@example.com\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Sat, 21 Nov 2026 09:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=part\r\n\r\n--part\r\nContent-Type: text/plain\r\n\r\nSee the log.\r\n\
         --part\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=log.txt\r\n\r\n{attachment}\r\n--part--\r\n"
    )
    .into_bytes()
}

#[test]
fn closed_tickets_older_than_the_retention_go_with_their_mail_and_unshared_attachments() {
    let mut desk = Desk::with_config("[retention]\nclosed_days = 30\n");
    desk.now = Some("2026-01-01T10:00:00Z".into());
    desk.ingest(&with_attachment("old-1@customer.test", "ann@customer.test", "Old and closed", "shared log line")).ok();
    desk.ingest(&with_attachment("old-2@customer.test", "ann@customer.test", "Old but open", "shared log line")).ok();
    desk.ingest(&with_attachment("old-3@customer.test", "bob@customer.test", "Old, closed, own log", "only ticket three")).ok();
    desk.ingest(&request("old-4@customer.test", "cy@customer.test", "Merged into one", "x")).ok();
    desk.run(&["ticket", "update", "4", "merge=1"]).ok();
    for number in ["1", "3"] {
        desk.run(&["ticket", "update", number, "status=closed"]).ok();
    }
    desk.now = Some("2026-02-05T10:00:00Z".into());
    desk.ingest(&request("new-5@customer.test", "dee@customer.test", "Recent", "x")).ok();
    desk.run(&["ticket", "update", "5", "status=closed"]).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM blobs"), 2);

    // 35 days after the first three: 1 and 3 (and 4, merged into 1) are due; 2 is open, 5 recent.
    let dry = desk.run(&["purge", "--dry-run"]).ok();
    assert!(dry.stdout.contains("would purge 3 tickets") && dry.stdout.contains("#4"), "{}", dry.stdout);
    assert_eq!(desk.tickets().len(), 5, "a dry run changes nothing");
    let run = desk.run(&["purge"]).ok();
    assert!(run.stdout.contains("purged 3 tickets"), "{}", run.stdout);
    let numbers: Vec<i64> = desk.tickets().iter().map(|ticket| ticket["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [2, 5]);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE ticket IN (1, 3, 4) OR subject LIKE 'Old and%'"), 0);
    // The log line shared with ticket 2 stays; ticket 3's own is gone.
    assert_eq!(desk.count("SELECT COUNT(*) FROM blobs"), 1);
    // x'…' is "shared": a blob compared as bytes, on either store.
    assert_eq!(desk.count("SELECT COUNT(*) FROM blobs WHERE substr(content, 1, 6) = x'736861726564'"), 1);
    assert_eq!(desk.foreign_key_violations(), 0);
    let log = desk.run(&["purge", "--log"]).ok();
    assert!(log.stdout.contains("purge") && log.stdout.contains("3 tickets (#1 to #4)"), "{}", log.stdout);

    // tick purges too, once the recent one is old enough.
    desk.now = Some("2026-03-20T10:00:00Z".into());
    desk.run(&["tick"]).ok();
    let numbers: Vec<i64> = desk.tickets().iter().map(|ticket| ticket["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [2]);
    assert_eq!(desk.count("SELECT COUNT(*) FROM retention_log WHERE action = 'purge'"), 2);
}

#[test]
fn without_a_retention_nothing_is_purged() {
    let mut desk = Desk::new();
    desk.now = Some("2020-01-01T10:00:00Z".into());
    desk.ingest(&request("keep-1@customer.test", "ann@customer.test", "Keep me", "x")).ok();
    desk.run(&["ticket", "update", "1", "status=closed"]).ok();
    desk.now = Some("2026-01-01T10:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert!(desk.run(&["purge"]).ok().stdout.contains("closed_days is 0"));
    assert_eq!(desk.tickets().len(), 1);
}

/// Every text or blob cell in the database that contains `needle` (any case).
fn cells_containing(desk: &Desk, needle: &str) -> Vec<String> {
    // The catalogue is each database's own; a blob is read as text by SQLite's CAST and
    // by PostgreSQL's escape encoding (bytes outside ASCII as \ooo).
    let columns = if crate::harness::on_postgres() {
        "SELECT table_name, column_name, data_type = 'bytea' FROM information_schema.columns WHERE table_schema = 'public'"
    } else {
        "SELECT t.name, c.name, 0 FROM sqlite_schema t, pragma_table_info(t.name) c WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%'"
    };
    let mut found = Vec::new();
    for row in desk.sql(columns) {
        let (table, column) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
        let text = if row[2].as_i64() == Some(1) { format!("encode(\"{column}\", 'escape')") } else { format!("CAST(\"{column}\" AS TEXT)") };
        let hits = desk.with_connection(|conn| {
            let query = format!("SELECT COUNT(*) FROM \"{table}\" WHERE instr(lower({text}), lower(?1)) > 0");
            conn.query_row(&query, [needle], |row| row.get::<_, i64>(0)).unwrap_or_else(|error| panic!("{query}: {error}"))
        });
        if hits > 0 {
            found.push(format!("{table}.{column} ({hits})"));
        }
    }
    found
}

#[test]
fn a_forgotten_person_leaves_no_trace_but_their_tickets_stay_and_the_erasure_is_recorded() {
    let desk = Desk::new();
    let first = "From: Alice Liddell <alice@customer.test>\r\nTo: help@example.com\r\nSubject: Rabbit hole in the floor\r\nMessage-ID: <r1@mail.customer.test>\r\n\r\nMy phone is 555-0199.\r\n";
    desk.ingest(first.as_bytes()).ok();
    desk.ingest(&with_attachment("r2@mail.customer.test", "Alice Liddell <alice@customer.test>", "Photos", "alice's passport scan")).ok();
    desk.run(&["person", "set", "alice@customer.test", "--add-address", "a.liddell@wonderland.test"]).ok();
    desk.run(&["ticket", "update", "1", "cc=+a.liddell@wonderland.test", "--note", "Called Alice Liddell back"]).ok();
    desk.ingest(&request("b1@customer.test", "bob@customer.test", "Bob's own", "Nothing about anyone.")).ok();
    assert!(!cells_containing(&desk, "alice@customer.test").is_empty());

    let run = desk.run(&["person", "forget", "ALICE@customer.test"]).ok();
    assert!(run.stdout.contains("forgot person #") && run.stdout.contains("2 addresses"), "{}", run.stdout);
    for needle in ["alice@customer.test", "a.liddell@wonderland.test", "Liddell", "555-0199", "passport"] {
        assert_eq!(cells_containing(&desk, needle), Vec::<String>::new(), "{needle:?} is still stored");
    }
    // The tickets stay, requested by the anonymous person; Bob's is untouched.
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 3);
    assert!(tickets[0]["requester"].as_str().unwrap().starts_with("forgotten-"), "{}", tickets[0]);
    assert_eq!(tickets[2]["requester"], "bob@customer.test");
    assert!(desk.ticket(3)["history"].to_string().contains("Nothing about anyone."));
    let log = desk.run(&["purge", "--log"]).ok();
    assert!(log.stdout.contains("forget") && log.stdout.contains("person #"), "{}", log.stdout);
    // Not an address anybody has.
    let unknown = desk.run(&["person", "forget", "nobody@customer.test"]);
    assert_eq!(unknown.status, 64);
    assert!(unknown.stderr.contains("nobody has the address"), "{}", unknown.stderr);
    assert_eq!(desk.foreign_key_violations(), 0);
}
