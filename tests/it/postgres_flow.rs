//! What a site does every minute, on a store on a real PostgreSQL beside the same steps on
//! a SQLite file: requests, replies threaded onto them, agents' commands by mail, `tick`,
//! the listings, search, people, reports, traces and `doctor`. Both desks must end with
//! the same tickets, history, letters and answers; what differs by design (where the
//! store is, search ranks and passages) is compared apart.

use regex::Regex;
use serde_json::Value;

use crate::harness::postgres::{Postgres, PASSWORD};
use crate::harness::{letter, Desk, Mail};

const SITE: &str = r#"
[identify]
trust_from_header = true

[retention]
closed_days = 30

[[people]]
addresses = ["bob@example.com"]
role = "agent"
"#;

/// A SQLite desk and a desk on database `database` of `postgres`, same configuration.
fn desks(postgres: &Postgres, database: &str) -> (Desk, Desk) {
    let url = postgres.create_database(database);
    (Desk::with_config(SITE), Desk::with_config(&format!("[store]\nurl = \"{url}\"\n{SITE}")))
}

/// The steps of the flow, each at its own time, on `desk`.
fn run_flow(desk: &mut Desk) {
    fn at(desk: &mut Desk, now: &str, raw: Vec<u8>) {
        desk.now = Some(now.into());
        desk.ingest(&raw).ok();
    }
    at(desk, "2026-11-23T09:00:00Z", letter("Carol <carol@example.org>", "help@example.com", "Printer jammed", "It jams on thick paper in the basement.", "c1"));
    at(desk, "2026-11-23T09:05:00Z", letter("Carol <carol@example.org>", "help@example.com", "Re: [REQ #1] Printer jammed", "Also the toner is low.", "c2"));
    at(desk, "2026-11-23T09:10:00Z", letter("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Owner: me\nPriority: high\nTime: 25m\n\nLooking at the roller.", "b1"));
    at(desk, "2026-11-23T09:12:00Z", letter("Dave <dave@example.org>", "help@example.com", "VPN drops every hour", "The VPN disconnects.", "d1"));
    at(desk, "2026-11-23T10:00:00Z", letter("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Status: resolved\n\nReplaced the roller.", "b2"));
    desk.run(&["tick"]).ok();
    // A week on: the resolved request closes for want of an answer.
    desk.now = Some("2026-11-30T10:00:00Z".into());
    desk.run(&["tick"]).ok();
    // Its words now suggest it to a request like it.
    at(desk, "2026-12-01T08:00:00Z", letter("Frank <frank@example.org>", "help@example.com", "Printer jammed on floor 2", "Frank here: the printer jams with thick paper again.", "f1"));
    at(desk, "2026-12-01T08:05:00Z",
        letter("bob@example.com", "help+2@example.com", "Re: [REQ #2]", "Status: hold\nNext: call Dave back\nCategory: Network / VPN\nTime: 10m\n\nWaiting for the ISP.", "b3"),
    );
    at(desk, "2026-12-01T09:00:00Z", letter("Carol <carol@example.org>", "help+1@example.com", "Re: [REQ #1] Printer jammed", "It jams again!", "c3"));
    at(desk, "2026-12-01T09:10:00Z", letter("bob@example.com", "help+2@example.com", "Re: [REQ #2]", "Status: open\n\nThe ISP fixed it.", "b4"));
    // Dave's mail bounces, twice: the second bounce extends the first.
    let to_dave = desk.outbox().into_iter().rev().find(|mail| mail.to() == "dave@example.org").expect("a letter to Dave").message_id();
    at(desk, "2026-12-01T09:12:00Z", bounce("dsn1", "dave@example.org", &to_dave));
    at(desk, "2026-12-01T09:15:00Z", bounce("dsn2", "dave@example.org", &to_dave));
    at(desk, "2026-12-01T09:20:00Z", letter("bob@example.com", "help+3@example.com", "Re: [REQ #3]", "Status: resolved\n\nA new paper tray.", "b5"));
    desk.run(&["tick"]).ok();
    // Forgetting Frank rewrites his solved request, and with it its words.
    desk.run(&["person", "forget", "frank@example.org"]).ok();
    // An agent's questions by mail: answered by one letter, no ticket opened. (Searching
    // by words would quote each database's own passage: the CLI test compares those.)
    at(desk, "2026-12-01T09:30:00Z",
        letter("bob@example.com", "help+report@example.com", "numbers", "List: my open tickets\nReport: last month, by week\nSearch: sounds like prynter", "q1"),
    );
    desk.run(&["tick"]).ok();
    desk.run(&["person", "add", "erin@example.org", "--role", "agent", "--name", "Erin"]).ok();
    desk.run(&["person", "set", "erin@example.org", "--name", "Erin E"]).ok();
}

/// A delivery status report (RFC 3464): `recipient`'s mailbox does not exist.
fn bounce(id: &str, recipient: &str, returned_id: &str) -> Vec<u8> {
    format!(
        "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: help@example.com\r\nSubject: Undelivered Mail\r\n\
         Message-ID: <{id}@mx.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"DSN\"\r\n\r\n\
         --DSN\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n--DSN\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 mailbox unavailable\r\n\
         --DSN\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Help Desk <help@example.com>\r\nTo: {recipient}\r\nMessage-ID: <{returned_id}>\r\n--DSN--\r\n"
    )
    .into_bytes()
}

/// A letter as text that does not depend on the installation: its reply address tokens
/// and our Message-IDs (random per message) left out.
fn letter_text(mail: &Mail) -> String {
    let tokens = Regex::new(r"help\+(\d+)-[0-9a-z]+@").unwrap();
    let ids = Regex::new(r"<reqmail\.[0-9]+\.[0-9a-f]+@[^>]+>").unwrap();
    let text = format!("To: {}\nSubject: {}\n\n{}", mail.to(), mail.subject(), mail.body());
    ids.replace_all(&tokens.replace_all(&text, "help+$1-TOKEN@"), "<OURS>").into_owned()
}

fn json(desk: &Desk, args: &[&str]) -> Value {
    desk.run(args).ok().json()
}

/// Rows of `query` from both stores, as text, for tables the application keeps itself on
/// PostgreSQL.
fn both_tables(sqlite: &Desk, postgres: &Postgres, database: &str, query: &str) -> (Vec<String>, Vec<String>) {
    let from_sqlite: Vec<String> = sqlite.sql(query).into_iter().map(|row| format!("{row:?}")).collect();
    (from_sqlite, word_and_ticket_rows(postgres, database, query))
}

/// The rows of `query` (a word and a ticket) on PostgreSQL, as `Desk::sql` shows SQLite's.
fn word_and_ticket_rows(postgres: &Postgres, database: &str, query: &str) -> Vec<String> {
    postgres
        .client(database)
        .query(query, &[])
        .unwrap()
        .into_iter()
        .map(|row| {
            let word: String = row.get(0);
            let ticket: i64 = row.get(1);
            format!("{:?}", vec![Value::from(word), Value::from(ticket)])
        })
        .collect()
}

#[test]
fn requests_replies_and_agents_commands_leave_the_same_tickets_history_and_letters_on_postgresql() {
    let postgres = Postgres::start();
    let (mut sqlite, mut on_postgres) = desks(&postgres, "flow");
    run_flow(&mut sqlite);
    run_flow(&mut on_postgres);

    let tickets = json(&on_postgres, &["ticket", "list", "--all", "--sort", "number", "--json"]);
    assert_eq!(tickets, json(&sqlite, &["ticket", "list", "--all", "--sort", "number", "--json"]));
    let numbers: Vec<i64> = tickets.as_array().unwrap().iter().map(|ticket| ticket["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3], "consecutive numbers, one ticket per request");
    for number in &numbers {
        let number = number.to_string();
        assert_eq!(json(&on_postgres, &["ticket", "show", &number, "--json"]), json(&sqlite, &["ticket", "show", &number, "--json"]), "ticket {number}");
    }
    let first = json(&on_postgres, &["ticket", "show", "1", "--json"]);
    let actions: Vec<&str> = first["history"].as_array().unwrap().iter().map(|entry| entry["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"owner") && actions.contains(&"time"), "Owner: and Time: applied by mail: {actions:?}");
    assert_eq!(first["owner"], "bob@example.com");
    assert_eq!(first["status"], "open", "closed by tick, reopened by the customer's reply");
    assert_eq!(json(&on_postgres, &["ticket", "show", "3", "--json"])["status"], "resolved");
    let second = json(&on_postgres, &["ticket", "show", "2", "--json"]);
    assert_eq!((second["status"].as_str(), second["time_spent_minutes"].as_i64()), (Some("open"), Some(10)), "Status: and Time: by mail");

    let letters: Vec<String> = on_postgres.outbox().iter().map(letter_text).collect();
    assert_eq!(letters, sqlite.outbox().iter().map(letter_text).collect::<Vec<_>>());
    assert!(letters.len() >= 6, "receipts, replies, the resolution and the closing: {letters:#?}");
    let answer = letters.iter().find(|text| text.contains("List: my open tickets")).expect("the answer to the questions by mail");
    assert!(answer.contains("Search: sounds like prynter") && answer.contains("Printer jammed on floor 2"), "{answer}");
    let receipt = letters.iter().find(|text| text.contains("Subject: [REQ #3]")).expect("the third request's receipt");
    assert!(receipt.contains("[REQ #1] Printer jammed") && receipt.contains("Replaced the roller."), "the solved ticket suggested: {receipt}");

    // What SQLite's triggers keep with Rust functions, the store keeps itself on PostgreSQL.
    for query in ["SELECT word, tickets FROM knowledge_counts ORDER BY word", "SELECT word, ticket FROM knowledge_words ORDER BY ticket, word"] {
        let (from_sqlite, from_postgres) = both_tables(&sqlite, &postgres, "flow", query);
        assert_eq!(from_postgres, from_sqlite, "{query}");
    }
    // SQLite keeps the subjects' sound keys in FTS5, PostgreSQL a row per ticket and key.
    let mut keys_of_subjects: Vec<String> = sqlite
        .sql("SELECT number, subject FROM tickets")
        .into_iter()
        .flat_map(|row| {
            let ticket = row[0].as_i64().unwrap();
            reqmail::store::sounds::sound_keys(row[1].as_str().unwrap()).into_iter().map(move |key| (ticket, key))
        })
        .map(|(ticket, key)| format!("{:?}", vec![Value::from(key), Value::from(ticket)]))
        .collect();
    keys_of_subjects.sort();
    let mut sounds = word_and_ticket_rows(&postgres, "flow", "SELECT key, ticket FROM subject_sounds");
    sounds.sort();
    assert_eq!(sounds, keys_of_subjects, "each subject's keys on PostgreSQL");
    assert!(sounds.contains(&format!("{:?}", vec![Value::from("P653"), Value::from(3)])), "printer, by sound: {sounds:?}");
    let (_, words) = both_tables(&sqlite, &postgres, "flow", "SELECT word, ticket FROM knowledge_words ORDER BY ticket, word");
    let frank = |word: &str| format!("{:?}", vec![Value::from(word), Value::from(3)]);
    assert!(words.contains(&frank("forgotten")) && !words.contains(&frank("frank")) && !words.contains(&frank("thick")), "the solved request's words, of its text as forgotten: {words:?}");
}

#[test]
fn search_people_reports_traces_and_doctor_answer_on_postgresql_as_on_sqlite() {
    let postgres = Postgres::start();
    let (mut sqlite, mut on_postgres) = desks(&postgres, "answers");
    run_flow(&mut sqlite);
    run_flow(&mut on_postgres);

    // Ranks and passages are each database's own; what is found, and where, is the same.
    let found = |desk: &Desk, args: &[&str]| -> Vec<(i64, String)> {
        json(desk, args).as_array().unwrap().iter().map(|hit| (hit["ticket"].as_i64().unwrap(), hit["found_in"].as_str().unwrap().to_string())).collect()
    };
    for words in [&["search", "roller", "--json"][..], &["search", "jam", "--json"], &["search", "print*", "--json"], &["search", "--sounds-like", "prynter", "--json"]] {
        let hits = found(&on_postgres, words);
        assert!(!hits.is_empty(), "{words:?}");
        let mut sorted = hits.clone();
        sorted.sort();
        let mut expected = found(&sqlite, words);
        expected.sort();
        assert_eq!(sorted, expected, "{words:?}");
    }
    let roller = json(&on_postgres, &["search", "roller", "--json"]);
    assert_eq!(roller[0]["snippet"], "Looking at the [roller].", "a short note whole, the match marked");
    assert!(on_postgres.run(&["search", "toaster", "--json"]).ok().json().as_array().unwrap().is_empty());

    let people = json(&on_postgres, &["person", "list", "--json"]);
    let dave = people.as_array().unwrap().iter().find(|person| person["addresses"][0] == "dave@example.org").unwrap();
    assert!(dave["undeliverable"][0].as_str().unwrap().contains("until 2026-12-08"), "bounced, until a week after the second: {dave}");
    for args in [&["person", "list"][..], &["person", "list", "--json"], &["report", "--from", "2026-11-01", "--to", "2026-12-01"], &["report", "--by", "week"], &["trace", "<b1@test>", "--json"], &["trace", "#2", "--json"]] {
        let on = on_postgres.run(args).ok();
        assert_eq!(on.stdout, sqlite.run(args).ok().stdout, "{args:?}");
    }
    assert!(on_postgres.run(&["person", "list"]).ok().stdout.contains("Erin E"));

    // A comment split off, a ticket closed by hand, and a year on the closed one purged.
    let first_comment = json(&on_postgres, &["ticket", "show", "1", "--json"])["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["action"] == "comment")
        .map(|entry| entry["id"].to_string())
        .unwrap();
    for desk in [&mut sqlite, &mut on_postgres] {
        desk.run(&["ticket", "split", "1", &first_comment]).ok();
        desk.run(&["ticket", "update", "2", "status=closed"]).ok();
        desk.now = Some("2027-12-01T00:00:00Z".into());
        assert!(desk.run(&["purge"]).ok().stdout.starts_with("purged 1 tickets"));
    }
    for args in [&["ticket", "list", "--all", "--sort", "number", "--json"][..], &["ticket", "show", "4", "--json"], &["search", "--sounds-like", "vpn", "--json"]] {
        assert_eq!(json(&on_postgres, args), json(&sqlite, args), "{args:?}");
    }
    assert!(on_postgres.run(&["ticket", "show", "2"]).status != 0, "the closed ticket is gone");

    let doctor = on_postgres.run(&["doctor"]);
    let store_line = doctor.stdout.lines().find(|line| line.contains("store postgresql://")).unwrap_or_else(|| panic!("{}", doctor.stdout));
    assert!(store_line.starts_with("ok") && store_line.contains("writable, schema") && store_line.ends_with("is current"), "{store_line}");
    assert!(!store_line.contains(PASSWORD), "the password is never shown: {store_line}");

    // A wrong password is a problem named without it.
    let wrong = Desk::with_config(&format!(
        "[store]\nurl = \"postgresql://reqmail:not-{PASSWORD}@127.0.0.1:{}/answers?sslmode=disable\"\n",
        postgres.port
    ));
    let doctor = wrong.run(&["doctor"]);
    assert_eq!(doctor.status, 1, "{}", doctor.stdout);
    assert!(doctor.stdout.contains("store postgresql://reqmail@127.0.0.1") && !doctor.stdout.contains(PASSWORD), "{}", doctor.stdout);
}
