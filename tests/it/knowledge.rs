//! The knowledge loop: a new ticket's receipt names resolved tickets and articles like it,
//! and the requester closes the ticket by marking the receipt's box; the precision of the
//! matching on a labelled set built from the bounce corpus.

use std::collections::BTreeMap;

use crate::harness::{authenticated_letter, corpus, letter, Desk, Mail};

const SITE: &str = r#"
[mail]
trusted_authserv_id = "mx.example.com"

[knowledge]
articles = "kb"

[[people]]
addresses = ["bob@example.com"]
role = "agent"
"#;

/// A reply to `receipt` (to its Reply-To, naming it in In-Reply-To) with `body` above it.
fn reply_to(receipt: &Mail, from: &str, body: &str, id: &str) -> Vec<u8> {
    let reply_address = receipt.header("Reply-To").unwrap();
    let reply_address = reply_address.trim_matches(|c| c == '<' || c == '>' || c == ' ');
    let quoted: String = receipt.body().lines().map(|line| format!("> {line}\r\n")).collect();
    format!(
        "From: {from}\r\nTo: {reply_address}\r\nSubject: Re: {}\r\nMessage-ID: <{id}@test>\r\nIn-Reply-To: <{}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\n{quoted}",
        receipt.subject(),
        receipt.message_id()
    )
    .into_bytes()
}

fn receipt_to(desk: &Desk, to: &str) -> Mail {
    desk.run(&["tick"]).ok();
    let mut receipts: Vec<Mail> = desk.outbox().into_iter().filter(|mail| mail.to() == to && mail.body().contains("opened ticket")).collect();
    receipts.pop().unwrap_or_else(|| panic!("a receipt to {to}"))
}

/// Three resolved tickets: #1 a printer jam in tray 2, fixed by a new roller; #2 a VPN
/// that drops; #3 an expired password.
fn desk() -> Desk {
    let desk = Desk::with_config(SITE);
    std::fs::create_dir_all(desk.path().join("kb")).unwrap();
    std::fs::write(
        desk.path().join("kb/paper-jam.md"),
        "# Clearing a paper jam in tray 2\n\nOpen tray 2, take the paper out and close the tray firmly.\n\nMore below.\n",
    )
    .unwrap();
    std::fs::write(desk.path().join("kb/vpn.md"), "# VPN client setup\n\nInstall the client and import the profile.\n").unwrap();
    let jam = "The printer in room 12 jams in tray 2 every morning.";
    desk.ingest(&letter("carol@example.org", "help@example.com", "Printer jams in tray 2", jam, "c1")).ok();
    desk.ingest(&letter("gina@example.org", "help@example.com", "VPN drops every hour", "The VPN client disconnects.", "g1")).ok();
    desk.ingest(&letter("hal@example.org", "help@example.com", "Password expired", "I cannot log in any more.", "h1")).ok();
    let fixes = ["Replaced the worn pickup roller in tray 2.", "New VPN profile sent.", "Password reset."];
    for (number, fix) in (1..).zip(fixes) {
        let body = format!("Status: resolved\n\n{fix}");
        desk.ingest(&authenticated_letter("bob@example.com", &format!("help+{number}@example.com"), "Re: your request", &body, &format!("b{number}"))).ok();
        assert_eq!(desk.ticket(number)["status"], "resolved");
    }
    desk.run(&["tick"]).ok();
    desk.clear_outbox();
    desk
}

#[test]
fn a_receipt_suggests_resolved_tickets_and_articles_and_its_box_closes_the_ticket() {
    let desk = desk();
    desk.ingest(&letter("dave@example.org", "help@example.com", "Paper stuck in printer tray 2", "Paper is stuck in tray 2 again.", "d1")).ok();
    let receipt = receipt_to(&desk, "dave@example.org");
    let text = receipt.body();
    assert!(text.contains("[REQ #1] Printer jams in tray 2"), "{text}");
    assert!(text.contains("Replaced the worn pickup roller in tray 2."), "the resolution: {text}");
    assert!(text.contains("Clearing a paper jam in tray 2 (paper-jam.md)"), "{text}");
    assert!(text.contains("Open tray 2, take the paper out and close the tray firmly."), "{text}");
    assert!(!text.contains("VPN"), "{text}");
    assert!(text.contains("[ ] Yes, it is solved - close the request"), "{text}");

    // Quoting the receipt unmarked changes nothing; marking its box closes the ticket.
    desk.ingest(&reply_to(&receipt, "dave@example.org", "Thanks, I will try.", "d2")).ok();
    assert_eq!(desk.ticket(4)["status"], "new");
    desk.ingest(&reply_to(&receipt, "dave@example.org", "[X] Yes, it is solved - close the request", "d3")).ok();
    let ticket = desk.ticket(4);
    assert_eq!(ticket["status"], "closed");
    let history = ticket["history"].to_string();
    assert!(history.contains("solved by a suggested answer"), "{history}");
}

/// A fetch with batches to read ahead looks up new requests' suggestions on its reader's
/// thread, on a connection of its own; the receipts say what a lone ingest's would.
#[test]
fn a_fetch_looks_up_suggestions_ahead_and_its_receipts_say_the_same() {
    let desk = desk();
    desk.write_config(&format!("{SITE}\n[inbound]\nbatch_size = 2\n"));
    let requests = [
        ("erin@example.org", "Monitor flickers", "The monitor flickers after lunch."),
        ("dave@example.org", "Paper stuck in printer tray 2", "Paper is stuck in tray 2 again."),
        ("fred@example.org", "VPN drops after an hour", "The VPN client disconnects every hour."),
        ("ivy@example.org", "New chair", "Could I have a new chair?"),
        ("jo@example.org", "Printer tray 2 jams", "Tray 2 of the printer jams with every job."),
    ];
    for (index, (from, subject, body)) in requests.iter().enumerate() {
        desk.deliver_to_inbox(&format!("{index}.eml"), &letter(from, "help@example.com", subject, body, &format!("f{index}")));
    }
    desk.run(&["fetch"]).ok();
    for to in ["dave@example.org", "jo@example.org"] {
        let text = receipt_to(&desk, to).body();
        assert!(text.contains("[REQ #1] Printer jams in tray 2") && text.contains("Replaced the worn pickup roller"), "{text}");
        assert!(!text.contains("VPN"), "{text}");
    }
    let text = receipt_to(&desk, "fred@example.org").body();
    assert!(text.contains("[REQ #2] VPN drops every hour"), "{text}");
    let text = receipt_to(&desk, "ivy@example.org").body();
    assert!(["Printer jams", "VPN drops", "Password expired"].iter().all(|resolved| !text.contains(resolved)), "nothing like a new chair: {text}");
}

/// Hostile mail in the batches whose suggestions are looked up ahead: each file is
/// applied or quarantined with its reason, and the requests among them still get theirs.
#[test]
fn suggestions_looked_up_ahead_survive_hostile_mail_in_the_batch() {
    let desk = desk();
    desk.write_config(&format!("{SITE}\n[inbound]\nbatch_size = 2\n"));
    let long_subject = "printer tray jams ".repeat(2000);
    let files: Vec<Vec<u8>> = vec![
        b"\x00\x01\xff binary garbage, not mail\r\n".to_vec(),
        b"no headers at all, only a line of text about tray 2\r\n".to_vec(),
        letter("kim@example.org", "help@example.com", "", "Tray 2 jams, and there is no subject.", "h1"),
        letter("lee@example.org", "help@example.com", &long_subject, "The printer jams in tray 2.", "h2"),
        b"From: max@example.org\r\nTo: help@example.com\r\nSubject: =?utf-8?B?////?= [REQ #99999]\r\nMessage-ID: <h3@test>\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\nPrinter \xe9\xff tray 2 jams\r\n"
            .to_vec(),
        letter("dave@example.org", "help@example.com", "Paper stuck in printer tray 2", "Paper is stuck in tray 2 again.", "h4"),
    ];
    for (index, raw) in files.iter().enumerate() {
        desk.deliver_to_inbox(&format!("{index}.eml"), raw);
    }
    let line = desk.run(&["fetch"]).ok().stdout;
    assert!(line.contains("read 6") && line.contains("opened 4") && line.contains("quarantined 2"), "{line}");
    let quarantined = desk.run(&["quarantine", "list", "--json"]).ok().json();
    let reasons = quarantined.to_string();
    assert_eq!(quarantined.as_array().map(Vec::len), Some(2), "{reasons}");
    assert!(reasons.contains("not a mail message"), "{reasons}");
    let text = receipt_to(&desk, "dave@example.org").body();
    assert!(text.contains("[REQ #1] Printer jams in tray 2"), "{text}");
    assert!(receipt_to(&desk, "kim@example.org").body().contains("(no subject)"));
}

#[test]
fn no_suggestion_no_box_and_a_mark_counts_only_from_the_requester_verified() {
    let desk = desk();
    desk.ingest(&letter("erin@example.org", "help@example.com", "Calendar invitations vanish", "Invitations from Frank vanish.", "e1")).ok();
    let receipt = receipt_to(&desk, "erin@example.org");
    assert!(!receipt.body().contains("[ ]"), "nothing like it, no box: {}", receipt.body());
    desk.ingest(&reply_to(&receipt, "erin@example.org", "[X] Yes, it is solved - close the request", "e2")).ok();
    assert_eq!(desk.ticket(4)["status"], "new", "a mark where our letter had no box is not the reader's");

    desk.ingest(&letter("frank@example.org", "help@example.com", "Printer tray 2 jams", "Tray 2 of the printer jams.", "f1")).ok();
    let receipt = receipt_to(&desk, "frank@example.org");
    assert!(receipt.body().contains("[REQ #1]"), "{}", receipt.body());
    // Not from the requester: nothing.
    desk.ingest(&reply_to(&receipt, "mallory@example.org", "[X] Yes, it is solved - close the request", "m1")).ok();
    assert_eq!(desk.ticket(5)["status"], "new");
    // From the requester's address, but without the reply token: not verified.
    let unverified = letter("frank@example.org", "help@example.com", "Re: [REQ #5] Printer tray 2 jams", "[X] Yes, it is solved - close the request", "f2");
    desk.ingest(&unverified).ok();
    assert_eq!(desk.ticket(5)["status"], "new");
    desk.ingest(&reply_to(&receipt, "frank@example.org", "[x] Yes, it is solved - close the request", "f3")).ok();
    assert_eq!(desk.ticket(5)["status"], "closed");
}

#[test]
fn suggestions_can_leave_out_tickets_and_a_missing_folder_is_named() {
    let desk = Desk::with_config("[knowledge]\ntickets = false\narticles = \"kb\"\n");
    let run = desk.run(&["tick"]);
    assert_eq!(run.status, 78, "{}", run.stderr);
    assert!(run.stderr.contains("knowledge.articles") && run.stderr.contains("kb"), "{}", run.stderr);

    std::fs::create_dir_all(desk.path().join("kb")).unwrap();
    desk.ingest(&letter("carol@example.org", "help@example.com", "Printer jams in tray 2", "It jams.", "c1")).ok();
    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    desk.ingest(&letter("dave@example.org", "help@example.com", "Printer jams in tray 2", "Also here.", "d1")).ok();
    assert!(!receipt_to(&desk, "dave@example.org").body().contains("[REQ #1]"), "knowledge.tickets = false");
}

/// The labelled set: the bounces of the Sisimai corpus (`sisimai-set-of-emails/bsd`)
/// whose diagnostic text (as reqmail's bounce reader finds it) says why the mail failed,
/// labelled by hand with that reason in `fixtures/knowledge/bounce-reasons.tsv` (sisimai's
/// reason names: user unknown, mailbox full, host unknown, blocked, spam, policy, …; 212
/// bounces, 15 reasons). Each is taken as a ticket a customer opens by pasting the
/// bounce: the bounce's subject and diagnostic. Within each reason, every other one (by
/// file name) is a resolved ticket and the rest are new requests; a suggested ticket is
/// right when its reason is the request's. Status codes are digits, which the matching
/// ignores, so it goes by the words.
#[test]
fn precision_on_the_labelled_bounce_set() {
    use reqmail::config::Config;

    let config = Config::default();
    let labels_text = std::fs::read_to_string(crate::harness::fixtures().join("knowledge/bounce-reasons.tsv")).unwrap();
    let mut labelled: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in labels_text.lines().filter(|line| !line.starts_with('#')) {
        let (file, reason) = line.split_once('\t').unwrap();
        let raw = std::fs::read(corpus().join("sisimai-set-of-emails/bsd").join(file)).unwrap();
        let mail = reqmail::parse::parse(&raw, &config.limits).unwrap();
        let diagnostic = reqmail::classify::bounce::read(&mail, "example.com").diagnostic.unwrap_or_else(|| panic!("{file} has a diagnostic"));
        labelled.entry(reason.to_string()).or_default().push((mail.subject.clone(), diagnostic));
    }

    let store = reqmail::store::Store::open_in_memory(&config.store).unwrap();
    let conn = &store.conn;
    conn.execute("INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-01-01T00:00:00Z')", []).unwrap();
    let mut number = 0i64;
    let mut label_of: BTreeMap<i64, String> = BTreeMap::new();
    let mut requests: Vec<(String, String, String)> = Vec::new();
    for (label, members) in &labelled {
        for (index, (subject, text)) in members.iter().enumerate() {
            if index % 2 == 1 {
                requests.push((label.clone(), subject.clone(), text.clone()));
                continue;
            }
            number += 1;
            conn.execute(
                "INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated)
                 VALUES (?1, ?2, 'open', 'general', 'medium', 'medium', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                rusqlite::params![number, subject],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO history (ticket, at, actor, action, detail) VALUES (?1, '2026-01-01T00:00:00Z', 'x@example.org', 'comment', ?2)",
                rusqlite::params![number, text],
            )
            .unwrap();
            conn.execute("UPDATE tickets SET updated = '2026-01-02T00:00:00Z' WHERE number = ?1", [number]).unwrap();
            let status = reqmail::store::tickets::TextColumn::Status;
            reqmail::store::tickets::set_text(conn, reqmail::ticket::TicketId(number), status, Some("resolved")).unwrap();
            label_of.insert(number, label.clone());
        }
    }
    let knowledge = reqmail::knowledge::Knowledge::load(&config.knowledge).unwrap();
    let (mut suggested, mut right, mut answered) = (0usize, 0usize, 0usize);
    let started = std::time::Instant::now();
    for (label, subject, text) in &requests {
        let found = knowledge.suggest(conn, subject, text).unwrap();
        suggested += found.tickets.len();
        right += found.tickets.iter().filter(|resolved| label_of[&resolved.ticket] == *label).count();
        answered += usize::from(!found.tickets.is_empty());
    }
    let precision = right as f64 / suggested.max(1) as f64;
    // What suggesting resolved tickets at random would score.
    let chance = requests.iter().map(|(label, _, _)| label_of.values().filter(|other| *other == label).count() as f64 / label_of.len() as f64).sum::<f64>()
        / requests.len() as f64;
    println!(
        "labelled set: {} reasons, {} resolved tickets, {} requests; {suggested} suggestions, {right} right: precision {precision:.2} \
         (at random {chance:.2}); {answered} requests ({:.0}%) got a suggestion; {:.2} ms per look-up",
        labelled.len(),
        label_of.len(),
        requests.len(),
        100.0 * answered as f64 / requests.len() as f64,
        started.elapsed().as_secs_f64() * 1000.0 / requests.len() as f64
    );
    assert!(requests.len() >= 90 && labelled.len() >= 10, "the set is big enough: {} requests, {} reasons", requests.len(), labelled.len());
    assert!(precision >= 0.7, "precision {precision:.2}");
    assert!(answered * 2 >= requests.len(), "half the requests get a suggestion: {answered} of {}", requests.len());
}
