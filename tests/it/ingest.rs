//! A message in, a ticket stored, a receipt out.

use crate::harness::{request, Desk};

#[test]
fn new_request_gives_ticket_and_receipt() {
    let mut desk = Desk::new();
    desk.now = Some("2026-11-21T09:00:00Z".into());
    desk.ingest(&request("first@example.org", "Ann Example <Ann@Example.org>", "Printer on fire", "It is burning.")).ok();

    let ticket = desk.ticket(1);
    assert_eq!(ticket["number"], 1);
    assert_eq!(ticket["subject"], "Printer on fire");
    assert_eq!(ticket["status"], "new");
    assert_eq!(ticket["requester"], "ann@example.org");
    assert_eq!(ticket["created"], "2026-11-21T09:00:00Z", "REQMAIL_NOW is the creation time");

    let outbox = desk.outbox();
    assert_eq!(outbox.len(), 1, "one receipt");
    let receipt = &outbox[0];
    assert_eq!(receipt.to(), "ann@example.org");
    assert_eq!(receipt.subject(), "[REQ #1] Printer on fire");
    assert_eq!(receipt.header("In-Reply-To").as_deref(), Some("<first@example.org>"));
    assert_eq!(receipt.header("Auto-Submitted").as_deref(), Some("auto-replied"));
    assert!(receipt.header("Reply-To").unwrap().contains("help+1-"), "the Reply-To carries the reply token");
    assert!(receipt.body().contains("ticket #1"), "{}", receipt.body());
    assert!(receipt.body().contains("Importance: urgent | high | medium | low"), "receipt shows the field template");

    // The receipt is recorded on the ticket.
    let history = ticket["history"].as_array().unwrap();
    assert!(history.iter().any(|event| event["action"] == "mail" && event["detail"].as_str().unwrap().contains("ann@example.org")));
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND ticket = 1"), 1);
}

#[test]
fn json_has_exactly_the_contract_fields() {
    let desk = Desk::new();
    desk.ingest(&request("a@example.org", "a@example.org", "Hello", "Hi")).ok();
    let ticket = desk.ticket(1);
    let mut keys: Vec<&str> = ticket.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "category", "cc", "closed", "committed_due", "created", "due", "history", "host", "host_details", "importance", "links", "next",
            "number", "owner", "priority", "queue", "requested_due", "requester", "resolved", "status", "subject", "time_spent_minutes",
            "transfer", "updated", "vendor", "vendor_due", "vendor_ticket"
        ]
    );
    let listed = desk.tickets();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].get("history").is_none(), "list has no history");
    for event in ticket["history"].as_array().unwrap() {
        let mut keys: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["action", "actor", "at", "detail", "id"]);
    }
}

#[test]
fn duplicate_delivery_gives_one_ticket() {
    let desk = Desk::new();
    let raw = request("dup@example.org", "ann@example.org", "Twice", "Sent twice by a retrying MTA.");
    desk.ingest(&raw).ok();
    desk.ingest(&raw).ok();
    // The same Message-ID with other trace headers (a second copy via another alias).
    let mut copy = b"Received: from relay2.example.org\r\nDelivered-To: hardware@example.com\r\n".to_vec();
    copy.extend_from_slice(&raw);
    desk.ingest(&copy).ok();
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.outbox().len(), 1, "one receipt only");
}

#[test]
fn a_different_message_reusing_a_message_id_is_not_lost() {
    let desk = Desk::new();
    desk.ingest(&request("scanner@example.org", "ann@example.org", "Scan 1", "First scanned page.")).ok();
    desk.ingest(&request("scanner@example.org", "bob@example.org", "Scan 2", "Second scanned page.")).ok();
    let subjects: Vec<String> = desk.tickets().iter().map(|ticket| ticket["subject"].as_str().unwrap().to_string()).collect();
    assert_eq!(subjects, ["Scan 1", "Scan 2"]);
    assert_eq!(desk.count("SELECT count(*) FROM messages WHERE direction = 'in' AND state = 'applied'"), 2);
}

#[test]
fn message_without_message_id_is_deduplicated_by_content() {
    let desk = Desk::new();
    let raw = b"From: ann@example.org\r\nTo: help@example.com\r\nSubject: No id\r\n\r\nBody\r\n";
    desk.ingest(raw).ok();
    desk.ingest(raw).ok();
    assert_eq!(desk.tickets().len(), 1);
}

#[test]
fn sixteen_concurrent_ingests_give_sixteen_consecutive_tickets() {
    let desk = Desk::new();
    let runs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|index| {
                let desk = &desk;
                scope.spawn(move || {
                    desk.ingest(&request(&format!("c{index}@example.org"), "ann@example.org", &format!("Parallel {index}"), "x"))
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    for run in &runs {
        assert_eq!(run.status, 0, "stderr: {}", run.stderr);
        assert!(run.stderr.is_empty(), "ingest is quiet on success: {}", run.stderr);
    }
    let mut numbers: Vec<i64> = desk.tickets().iter().map(|ticket| ticket["number"].as_i64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, (1..=16).collect::<Vec<_>>());
    assert_eq!(desk.outbox().len(), 16);
}

#[test]
fn ticket_numbers_start_where_configured() {
    let desk = Desk::with_config("[store]\nfirst_ticket_number = 5000\n");
    desk.ingest(&request("n1@example.org", "ann@example.org", "One", "x")).ok();
    desk.ingest(&request("n2@example.org", "ann@example.org", "Two", "x")).ok();
    let numbers: Vec<i64> = desk.tickets().iter().map(|ticket| ticket["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [5000, 5001]);
    assert_eq!(desk.outbox()[0].subject(), "[REQ #5000] One");
}

#[test]
fn html_only_request_becomes_readable_text() {
    let desk = Desk::new();
    let raw = b"From: ann@example.org\r\nTo: help@example.com\r\nSubject: HTML\r\nMessage-ID: <html@example.org>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>The <b>VPN</b> drops&nbsp;every hour.</p><script>alert(1)</script></body></html>\r\n";
    desk.ingest(raw).ok();
    let history = desk.ticket(1)["history"].clone();
    let note = desk.last_note();
    assert!(note.contains("VPN") && note.contains("drops"), "{note}");
    assert!(!note.contains("<b>") && !note.contains("<p>"), "{note}");
    assert!(history.is_array());
}

#[test]
fn attachments_are_kept_once_with_safe_names() {
    let desk = Desk::new();
    let message = |id: &str, name: &str| {
        format!(
            "From: ann@example.org\r\nTo: help@example.com\r\nSubject: Log {id}\r\nMessage-ID: <{id}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee log.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\nbG9nIGxpbmUgMQpsb2cgbGluZSAyCg==\r\n--b--\r\n"
        )
        .into_bytes()
    };
    desk.ingest(&message("att1", "../../etc/passwd")).ok();
    // Inside a quoted-string a backslash escapes the next character, so it is doubled.
    desk.ingest(&message("att2", "C:\\\\Windows\\\\win.ini")).ok();
    let names: Vec<String> =
        desk.sql("SELECT filename FROM attachments ORDER BY id").into_iter().map(|row| row[0].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["passwd", "win.ini"]);
    assert_eq!(desk.count("SELECT COUNT(*) FROM blobs"), 1, "same content stored once");
}

#[test]
fn garbage_is_quarantined_and_kept() {
    let desk = Desk::new();
    let garbage: Vec<u8> = (0..4000u32).map(|index| (index * 7919 % 251) as u8).collect();
    let run = desk.ingest(&garbage);
    assert_eq!(run.status, 0, "accepted into quarantine: {}", run.stderr);
    assert_eq!(desk.tickets().len(), 0);
    let listed = desk.run(&["quarantine", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0]["reason"].as_str().unwrap().contains("not a mail message"), "{listed}");
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    let raw = desk.command(&["quarantine", "show", &id, "--raw"]).output().unwrap().stdout;
    assert_eq!(raw, garbage, "kept byte for byte");
    assert!(desk.outbox().is_empty(), "no answer to unreadable mail");
}

#[test]
fn message_without_sender_is_quarantined_then_dropped() {
    let desk = Desk::new();
    desk.ingest(b"To: help@example.com\r\nSubject: Who am I\r\nMessage-ID: <nobody@x>\r\n\r\nHello\r\n").ok();
    let listed = desk.run(&["quarantine", "list", "--json"]).ok().json();
    assert!(listed[0]["reason"].as_str().unwrap().contains("From"), "{listed}");
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    let retried = desk.run(&["quarantine", "retry", &id]).ok().stdout;
    assert!(retried.starts_with(&format!("message {id}: quarantined again: ")) && !retried.contains("Quarantined {"), "words: {retried}");
    assert_eq!(desk.run(&["quarantine", "list", "--json"]).ok().json().as_array().unwrap().len(), 1, "still fails, still kept");
    desk.run(&["quarantine", "drop", &id]).ok();
    assert_eq!(desk.run(&["quarantine", "list", "--json"]).ok().json().as_array().unwrap().len(), 0);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"), 1, "a record stays");
}

#[test]
fn oversized_message_is_quarantined_not_lost() {
    let desk = Desk::with_config("[inbound]\nmax_message_bytes = 1000\n");
    let body = "x".repeat(5000);
    desk.ingest(&request("big@example.org", "ann@example.org", "Big", &body)).ok();
    let listed = desk.run(&["quarantine", "list", "--json"]).ok().json();
    assert!(listed[0]["reason"].as_str().unwrap().contains("max_message_bytes"), "{listed}");
    assert!(listed[0]["size"].as_i64().unwrap() > 5000);
    // The sender hears of it once, politely; a second big one the same day, and a robot's, get nothing.
    desk.ingest(&request("big2@example.org", "ann@example.org", "Big again", &body)).ok();
    let robot = String::from_utf8(request("big3@example.org", "bot@example.org", "Big report", &body)).unwrap().replacen("\r\n", "\r\nAuto-Submitted: auto-generated\r\n", 1);
    desk.ingest(robot.as_bytes()).ok();
    let notices = desk.outbox();
    assert_eq!(notices.len(), 1, "one notice");
    assert_eq!(notices[0].to(), "ann@example.org");
    assert!(notices[0].body().contains("could not be processed"), "{}", notices[0].body());
}

#[test]
fn robots_do_not_open_tickets_or_get_receipts() {
    let desk = Desk::new();
    let vacation = b"From: ann@example.org\r\nTo: help@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.org>\r\n\r\nI am away.\r\n";
    let list = b"From: news@lists.example.org\r\nTo: help@example.com\r\nSubject: Newsletter\r\nList-Id: <news.lists.example.org>\r\nMessage-ID: <news@example.org>\r\n\r\nNews.\r\n";
    let monitor = b"From: nagios@example.org\r\nTo: help@example.com\r\nSubject: DISK CRITICAL\r\nAuto-Submitted: auto-generated\r\nMessage-ID: <nagios1@example.org>\r\n\r\n/var is full\r\n";
    desk.ingest(vacation).ok();
    desk.ingest(list).ok();
    desk.ingest(monitor).ok();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 1, "only the monitoring alert opens a ticket");
    assert_eq!(tickets[0]["subject"], "DISK CRITICAL");
    assert!(desk.outbox().is_empty(), "no automatic answer to any machine");
    let ignored = desk.sql("SELECT outcome FROM messages WHERE state = 'ignored' ORDER BY id");
    assert_eq!(ignored.len(), 2);
    assert!(ignored[0][0].as_str().unwrap().contains("Auto-Submitted"), "{ignored:?}");
}

#[test]
fn a_lone_ingest_leaves_a_long_wal_empty_for_the_next_process() {
    if crate::harness::sqlite_only("SQLite's WAL") {
        return;
    }
    let desk = Desk::new();
    desk.ingest(&request("first@example.org", "ann@example.org", "Printer", "It jams.")).ok();
    // Some 800 pages in the WAL that nobody copied into the database file, as a batch
    // that was stopped leaves them.
    {
        let conn = rusqlite::Connection::open(desk.path().join("reqmail.db")).unwrap();
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).unwrap();
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint = 0;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             INSERT INTO settings (name, value) SELECT 'filler-' || i, hex(randomblob(3000)) FROM n;
             DELETE FROM settings WHERE name LIKE 'filler-%';",
        )
        .unwrap();
    }
    let wal_pages = || std::fs::metadata(desk.path().join("reqmail.db-wal")).unwrap().len() / (8192 + 24);
    assert!(wal_pages() > 700, "{} pages", wal_pages());
    // Machine mail is stored and ignored: one commit, no letter, a process that writes once.
    for n in 0..3 {
        let vacation = format!("From: ann@example.org\r\nTo: help@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo{n}@example.org>\r\n\r\nI am away.\r\n");
        desk.ingest(vacation.as_bytes()).ok();
        assert!(wal_pages() < 200, "after ingest {n}: a WAL of {} pages for the next process to read", wal_pages());
    }
    assert_eq!(desk.count("SELECT COUNT(*) FROM settings WHERE name LIKE 'filler-%'"), 0);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE state = 'ignored'"), 3);
}

#[test]
fn our_own_mail_coming_back_is_ignored() {
    let desk = Desk::new();
    desk.ingest(&request("loop1@example.org", "ann@example.org", "Loop", "x")).ok();
    let receipt = desk.outbox().remove(0);
    // The receipt bounced straight back into the help alias.
    desk.ingest(&receipt.raw).ok();
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.outbox().len(), 1, "nothing answers our own mail");
}

#[test]
fn unwritable_database_means_try_again() {
    if crate::harness::sqlite_only("a database file that cannot be created") {
        return;
    }
    let desk = Desk::new();
    std::fs::write(desk.path().join("not-a-folder"), b"file").unwrap();
    let config = format!("[store]\npath = \"{}\"\n", desk.path().join("not-a-folder/reqmail.db").display());
    desk.write_config(&config);
    let run = desk.ingest(&request("t@example.org", "ann@example.org", "Later", "x"));
    assert_eq!(run.status, 75, "{}", run.stderr);
}

#[test]
fn spooled_message_is_resumed_by_the_next_pass() {
    let desk = Desk::new();
    // A message stored by a process that died before processing it, under the key of
    // earlier versions (the Message-ID alone): the retry after an upgrade still matches.
    desk.run(&["ticket", "list"]).ok();
    let raw = request("crash@example.org", "ann@example.org", "Crashed", "x");
    desk.execute(
        "INSERT INTO messages (direction, state, dedupe_key, source, received, size, raw) VALUES ('in', 'spooled', ?3, 'pipe', '2026-11-21T09:00:00Z', ?1, ?2)",
        reqmail::store::params![raw.len() as i64, raw, reqmail::store::messages::stored_key("id:crash@example.org")],
    );
    // As migration 0035 marks a store that held mail then.
    desk.execute("INSERT INTO settings (name, value) VALUES ('keys_before_body_hash', 'kept')", reqmail::store::params![]);
    // The MTA retries the same message: still one ticket, one receipt.
    desk.ingest(&raw).ok();
    desk.run(&["tick"]).ok();
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.outbox().len(), 1);
}

#[test]
fn mail_spooled_under_the_digest_of_its_key_is_not_taken_twice_after_the_upgrade() {
    let desk = Desk::new();
    desk.run(&["ticket", "list"]).ok();
    let raw = request("digest@example.org", "ann@example.org", "Crashed before 0036", "x");
    // Stored by a process that died before processing it, as keys were kept before
    // migration 0036; the migration marks a store that held mail then.
    let key = reqmail::store::messages::digest_key(&reqmail::pipeline::dedupe_key(&raw));
    desk.execute(
        "INSERT INTO messages (direction, state, dedupe_key, source, received, size, raw) VALUES ('in', 'spooled', ?3, 'pipe', '2026-11-21T09:00:00Z', ?1, ?2)",
        reqmail::store::params![raw.len() as i64, raw, key],
    );
    desk.execute("INSERT INTO settings (name, value) VALUES ('keys_before_message_id_prefix', 'kept')", reqmail::store::params![]);
    desk.ingest(&raw).ok();
    desk.run(&["tick"]).ok();
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.outbox().len(), 1);
    // And the ticket is found by the message's Message-ID, kept under its old key.
    let trace = desk.run(&["trace", "<digest@example.org>", "--json"]).ok().json();
    assert_eq!(trace["message"]["id"], 1, "{trace}");
    assert_eq!(trace["message"]["ticket"], 1, "{trace}");
}

#[test]
fn web_form_relay_mail_is_the_customers_in_reply_to() {
    let desk = Desk::with_config("[identify]\nform_relays = [\"forms@webform.example\"]\n");
    let relayed = b"From: Website contact form <forms@webform.example>\r\nReply-To: Dana Field <dana@customer.example>\r\nTo: help@example.com\r\nSubject: Contact form: printer offline\r\nMessage-ID: <form-1@webform.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nName: Dana Field\r\nEmail: dana@customer.example\r\nMessage: The printer is offline since Monday.\r\n";
    desk.ingest(relayed).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["requester"], "dana@customer.example", "{ticket}");
    let receipt = desk.outbox().into_iter().next().expect("a receipt");
    assert_eq!(receipt.to(), "dana@customer.example", "the customer hears, not the form mailer");
    let trace = desk.run(&["trace", "<form-1@webform.example>", "--json"]).ok().json();
    assert_eq!(trace["decision"]["sender"]["trust"], "unverified", "nothing proves a Reply-To: {trace}");
    // Mail from an address not on the list stays its sender's.
    let other = String::from_utf8_lossy(relayed).replace("forms@webform.example", "news@other.example").replace("form-1@", "form-2@");
    desk.ingest(other.as_bytes()).ok();
    assert_eq!(desk.ticket(2)["requester"], "news@other.example");
    // The same form mail with a command in it changes nothing a customer may not change.
    let commanding = String::from_utf8_lossy(relayed).replace("form-1@", "form-3@").replace("Name: Dana Field\r\n", "Status: closed\r\n\r\n");
    desk.ingest(commanding.as_bytes()).ok();
    assert!(desk.tickets().iter().all(|ticket| ticket["status"] != "closed"), "{:?}", desk.tickets());
}

#[test]
fn the_cc_list_grows_from_replies_and_an_out_of_office_never_shrinks_it() {
    let desk = Desk::new();
    desk.ingest(&request("cc-1@example.org", "Carol Jones <carol@customer.example>", "Printer jammed", "It jams.")).ok();
    let receipt = desk.outbox().into_iter().next().expect("a receipt");
    let reply_to = receipt.header("Reply-To").unwrap();
    let reply_to = reply_to.rsplit('<').next().unwrap().trim_end_matches('>').to_string();
    let reply = |id: &str, from: &str, to: &str, more_headers: &str, body: &str| {
        format!(
            "From: {from}\r\nTo: {to}\r\n{more_headers}Subject: Re: [REQ #1] Printer jammed\r\nMessage-ID: <{id}@customer.example>\r\nIn-Reply-To: <{}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
            receipt.message_id()
        )
        .into_bytes()
    };
    let cc = |desk: &Desk| -> Vec<String> { desk.ticket(1)["cc"].as_array().unwrap().iter().map(|cc| cc.as_str().unwrap().to_string()).collect() };
    let carol = "Carol Jones <carol@customer.example>";

    // Carol copies her manager (and our own address, which is never a Cc).
    desk.ingest(&reply("r1", carol, &reply_to, "Cc: Dora Boss <dora@customer.example>, help@example.com\r\n", "My manager needs to know.")).ok();
    assert_eq!(cc(&desk), ["dora@customer.example"]);
    desk.assert_listing_agrees_with_show();
    let history = desk.ticket(1)["history"].clone();
    assert!(
        history.as_array().unwrap().iter().any(|event| event["actor"] == "carol@customer.example" && event["detail"].as_str().unwrap().contains("dora@customer.example")),
        "who added the Cc is recorded: {history}"
    );

    // Out-of-office replies without Cc, with and without robot headers, change nothing.
    desk.ingest(&reply("r2", carol, &reply_to, "Auto-Submitted: auto-replied\r\n", "I am out of the office until Monday.")).ok();
    desk.ingest(&reply("r3", carol, &reply_to, "", "I am out of the office until Monday.")).ok();
    assert_eq!(cc(&desk), ["dora@customer.example"]);

    // Someone unverified who copies a third person adds nobody.
    desk.ingest(&reply("r4", "Eve <eve@elsewhere.example>", "help+1@example.com", "Cc: mallory@elsewhere.example\r\n", "Add me.")).ok();
    assert_eq!(cc(&desk), ["dora@customer.example"]);

    // Only a field takes someone off.
    desk.ingest(&reply("r5", carol, &reply_to, "", "Cc: -dora@customer.example\n\nDora knows now.")).ok();
    assert!(cc(&desk).is_empty(), "{:?}", cc(&desk));
}

/// `reqmail ingest` with `REQMAIL_FAULT=fault`.
fn ingest_with_fault(desk: &Desk, fault: &str, raw: &[u8]) -> crate::harness::Run {
    let mut command = desk.command(&["ingest"]);
    command.env("REQMAIL_FAULT", fault);
    desk.pipe_into(command, raw)
}

#[test]
fn a_piped_message_is_stored_and_processed_by_one_commit_or_not_at_all() {
    for fault in ["after-spool", "before-apply-commit"] {
        let desk = Desk::new();
        desk.run(&["ticket", "list"]).ok();
        let raw = request("one-commit@example.org", "ann@example.org", "One commit", "x");
        let killed = ingest_with_fault(&desk, fault, &raw);
        assert_ne!(killed.status, 0, "{fault}: the process died, the MTA keeps the message");
        assert_eq!(desk.count("SELECT COUNT(*) FROM messages"), 0, "{fault}: nothing of an unacknowledged message stays");
        desk.ingest(&raw).ok();
        assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state = 'applied'"), 1, "{fault}");
        assert_eq!(desk.tickets().len(), 1, "{fault}");
        assert_eq!(desk.outbox().len(), 1, "{fault}: one receipt");
    }
}

#[test]
fn a_panic_while_processing_keeps_the_acknowledged_message_for_the_next_pass() {
    let mut desk = Desk::new();
    desk.now = Some("2026-11-21T09:00:00Z".into());
    let raw = request("panics@example.org", "ann@example.org", "Processing fails", "x");
    let failed = ingest_with_fault(&desk, "processing-panics", &raw);
    assert_eq!(failed.status, 0, "the message is stored, so the MTA hears accepted: {}", failed.stderr);
    assert!(failed.stderr.contains("processing postponed"), "{}", failed.stderr);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state = 'spooled'"), 1, "the message is stored");
    assert_eq!(desk.count("SELECT COUNT(*) FROM tickets"), 0, "what processing did is rolled back");
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox"), 0);
    assert!(desk.outbox().is_empty());
    // The next pass processes it; a second delivery of the same message changes nothing.
    desk.run(&["tick"]).ok();
    desk.ingest(&raw).ok();
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.ticket(1)["subject"], "Processing fails");
    assert_eq!(desk.outbox().len(), 1, "one receipt");
}
