//! `reqmail serve` as a process: IMAP IDLE against a real Dovecot, the Maildir watch,
//! reconnection after a server restart, SIGHUP reload and a clean SIGTERM.

use std::time::Duration;

use crate::harness::daemon::Daemon;
use crate::harness::dovecot::{wait_until, Dovecot};
use crate::harness::{request, Desk};

fn tickets_reach(desk: &Desk, daemon: &Daemon, count: usize) {
    let reached = wait_until(Duration::from_secs(30), || desk.count("SELECT COUNT(*) FROM tickets") as usize >= count);
    assert!(reached, "expected {count} tickets; serve log:\n{}", daemon.log());
}

#[test]
fn serve_idles_logs_each_message_and_stops_cleanly_on_sigterm() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    // Polling every hour: only IDLE can bring the second message in time.
    let desk = Desk::with_config(&dovecot.imap_config("help", "pw", "poll_seconds = 3600"));
    dovecot.deliver("help", "INBOX", &request("one@customer.test", "ann@customer.test", "First", "Help"));
    let daemon = Daemon::start(&desk);
    tickets_reach(&desk, &daemon, 1);
    assert!(wait_until(Duration::from_secs(10), || daemon.log().contains("idle=true")), "{}", daemon.log());
    dovecot.deliver("help", "INBOX", &request("two@customer.test", "bob@customer.test", "Second", "Help"));
    tickets_reach(&desk, &daemon, 2);
    // Receipts are delivered by the scheduler, woken by the source.
    assert!(wait_until(Duration::from_secs(10), || desk.outbox().len() == 2), "{}", daemon.log());
    desk.deliver_to_inbox("local-1", &request("three@customer.test", "cy@customer.test", "Third", "Help"));
    tickets_reach(&desk, &daemon, 3);
    // The line is written once the batch has committed: the ticket can be seen first.
    assert!(wait_until(Duration::from_secs(10), || daemon.log().contains("source=\"maildir:local-1\"")), "{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("source=\"imap:INBOX/2\"") && log.contains("ticket=2") && log.contains("action=\"created\""), "{log}");
    assert_eq!(daemon.terminate(), 0);
    assert_eq!(dovecot.flags("help", "INBOX"), ["S", "S"]);
}

#[test]
fn serve_reconnects_after_the_server_restarts() {
    let mut dovecot = Dovecot::start(&[("help", "pw")]);
    let desk = Desk::with_config(&format!("[serve]\nreconnect_initial_seconds = 1\nreconnect_max_seconds = 2\n{}", dovecot.imap_config("help", "pw", "")));
    let daemon = Daemon::start(&desk);
    assert!(wait_until(Duration::from_secs(20), || daemon.log().contains("IMAP connected")), "{}", daemon.log());
    dovecot.stop();
    assert!(wait_until(Duration::from_secs(20), || daemon.log().contains("reconnecting")), "{}", daemon.log());
    dovecot.restart();
    dovecot.deliver("help", "INBOX", &request("after@customer.test", "ann@customer.test", "After restart", "Help"));
    tickets_reach(&desk, &daemon, 1);
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn sighup_reloads_the_configuration_and_a_broken_file_is_refused() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    let desk = Desk::new();
    let daemon = Daemon::start(&desk);
    assert!(wait_until(Duration::from_secs(20), || daemon.log().contains("serving")), "{}", daemon.log());
    // A broken file is refused; the daemon keeps running on the old configuration.
    desk.write_config("[mail]\naddress = \"nobody\"\n");
    daemon.signal("HUP");
    assert!(wait_until(Duration::from_secs(20), || daemon.log().contains("not reloaded")), "{}", daemon.log());
    desk.write_config(&format!("[mail]\naddress = \"help@example.com\"\n{}", dovecot.imap_config("help", "pw", "")));
    daemon.signal("HUP");
    assert!(wait_until(Duration::from_secs(20), || daemon.log().contains("configuration reloaded")), "{}", daemon.log());
    dovecot.deliver("help", "INBOX", &request("hup@customer.test", "ann@customer.test", "After reload", "Help"));
    tickets_reach(&desk, &daemon, 1);
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn serve_polls_when_idle_is_off() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    let desk = Desk::with_config(&dovecot.imap_config("help", "pw", "idle = false\npoll_seconds = 1"));
    let daemon = Daemon::start(&desk);
    assert!(wait_until(Duration::from_secs(20), || daemon.log().contains("idle=false")), "{}", daemon.log());
    dovecot.deliver("help", "INBOX", &request("poll@customer.test", "ann@customer.test", "Polled", "Help"));
    tickets_reach(&desk, &daemon, 1);
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn sigterm_in_the_middle_of_a_big_mailbox_loses_and_duplicates_nothing() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    for index in 0..600 {
        let raw = request(&format!("term-{index}@customer.test"), &format!("c{index}@customer.test"), &format!("Request {index}"), "Help");
        dovecot.deliver("help", "INBOX", &raw);
    }
    let desk = Desk::with_config(&dovecot.imap_config("help", "pw", "batch_size = 20"));
    let daemon = Daemon::start(&desk);
    // Stop it while it is working through the mailbox.
    assert!(wait_until(Duration::from_secs(60), || desk.count("SELECT COUNT(*) FROM tickets") > 0), "{}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
    let done_by_serve = desk.count("SELECT COUNT(*) FROM tickets");
    eprintln!("serve stopped after {done_by_serve} of 600 tickets");
    // Whatever serve had not finished, the next pass takes; nothing twice.
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM tickets"), 600, "serve had done {done_by_serve}");
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state = 'spooled'"), 0);
    desk.run(&["tick"]).ok();
    assert_eq!(desk.outbox().len(), 600, "one receipt per ticket");
    assert!(dovecot.flags("help", "INBOX").iter().all(|flags| flags == "S"));
}

/// `source` of the inbound message with this Message-ID: `socket` when serve stored it,
/// `pipe` when ingest did. Serve moves what it acknowledged into the spool right after
/// answering and processes it then, so this waits a little for the row.
fn stored_by(desk: &Desk, message_id: &str) -> String {
    let source = || {
        let rows = desk.sql(&format!("SELECT source FROM messages WHERE direction = 'in' AND message_id = '{message_id}'"));
        rows.first().and_then(|row| row[0].as_str()).map(str::to_string)
    };
    wait_until(Duration::from_secs(10), || source().is_some());
    source().unwrap_or_else(|| "not stored".to_string())
}

#[test]
fn ingest_hands_mail_to_a_running_serve_and_does_it_itself_when_none_runs() {
    let desk = Desk::new();
    let daemon = Daemon::start(&desk);
    let socket = desk.path().join("reqmail.db.sock");
    assert!(socket.exists(), "{}", daemon.log());
    desk.ingest(&request("via-serve@customer.test", "ann@customer.test", "Printer on fire", "Help")).ok();
    // On the disk when ingest returns; spooled and processed right after.
    assert_eq!(stored_by(&desk, "via-serve@customer.test"), "socket");
    assert!(wait_until(Duration::from_secs(10), || desk.tickets().len() == 1), "{}", daemon.log());
    assert!(daemon.log().contains("source=\"socket\""), "{}", daemon.log());
    assert!(wait_until(Duration::from_secs(10), || desk.outbox().len() == 1), "the receipt goes out: {}", daemon.log());
    // A reply right behind its request joins the ticket; a duplicate is dropped.
    let reply = request("reply@customer.test", "ann@customer.test", "Re: [REQ #1] Printer on fire", "Still burning");
    desk.ingest(&reply).ok();
    desk.ingest(&request("via-serve@customer.test", "ann@customer.test", "Printer on fire", "Help")).ok();
    assert!(wait_until(Duration::from_secs(10), || desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND ticket = 1") == 2));
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(daemon.terminate(), 0);
    assert!(!socket.exists(), "serve removes its socket when it stops");
    desk.ingest(&request("alone@customer.test", "bob@customer.test", "Scanner jammed", "Help")).ok();
    assert_eq!(stored_by(&desk, "alone@customer.test"), "pipe");
    assert_eq!(desk.tickets().len(), 2);
    assert_eq!(desk.outbox().len(), 2);
}

#[test]
fn mail_handed_to_serve_wakes_its_scheduler_when_letters_are_not_sent_at_once() {
    // The scheduler's own pass is an hour away: only the wake-up sends the receipt in time.
    let desk = Desk::with_config("[outbound]\ndeliver_immediately = false\n\n[serve]\ntick_seconds = 3600\n");
    let daemon = Daemon::start(&desk);
    assert!(wait_until(Duration::from_secs(10), || desk.path().join("reqmail.db.sock").exists()), "{}", daemon.log());
    desk.ingest(&request("woken@customer.test", "ann@customer.test", "Printer on fire", "Help")).ok();
    assert_eq!(stored_by(&desk, "woken@customer.test"), "socket");
    assert!(wait_until(Duration::from_secs(10), || desk.outbox().len() == 1), "the receipt goes out: {}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn the_hand_off_program_gives_mail_to_serve_and_else_takes_it_in_for_a_drain() {
    let desk = Desk::new();
    let daemon = Daemon::start(&desk);
    let first = request("small@customer.test", "ann@customer.test", "Printer on fire", "Help");
    assert_eq!(desk.hand_off(&["--recipient", "Help@Example.com"], &first).status, 0);
    assert_eq!(stored_by(&desk, "small@customer.test"), "socket", "{}", daemon.log());
    assert_eq!(desk.sql("SELECT recipient FROM messages WHERE direction = 'in'")[0][0], "help@example.com");
    assert_eq!(daemon.terminate(), 0);
    // Without serve, the hand-off takes the message into the intake and a drain process
    // moves it through the pipeline, as serve would.
    let second = request("alone@customer.test", "bob@customer.test", "Scanner jammed", "Help");
    assert_eq!(desk.hand_off(&[], &second).status, 0);
    assert_eq!(stored_by(&desk, "alone@customer.test"), "pipe");
    assert!(wait_until(Duration::from_secs(10), || desk.tickets().len() == 2));
    // A usage or configuration error is `reqmail ingest`'s to report, with its status.
    let usage = desk.hand_off(&["--bogus"], &second);
    assert_eq!(usage.status, 64, "{}", usage.stderr);
    let missing = desk.path().join("missing.toml");
    let mut command = std::process::Command::new(crate::harness::HAND_OFF);
    command.arg("--config").arg(&missing).env_remove("REQMAIL_CONFIG");
    let config = desk.pipe_into(command, &second);
    assert_eq!(config.status, 78, "{}", config.stderr);
}

#[test]
fn the_hand_off_without_serve_quarantines_what_is_not_mail() {
    // No serve: the hand-off takes these into the intake, and the drain reads them; the
    // last, larger than the intake takes, goes to `reqmail ingest` on the same bytes.
    let desk = Desk::new();
    let garbage: Vec<u8> = (0..4000u32).map(|index| (index * 7919 % 251) as u8).collect();
    let large_garbage: Vec<u8> = (0..1_500_000u64).map(|index| (index * 7919 % 251) as u8).collect();
    for raw in [&garbage[..], b"", b"\x00\xff\r\n\r\n\xc3\x28", &large_garbage[..]] {
        let run = desk.hand_off(&["--recipient", "help@example.com"], raw);
        assert_eq!(run.status, 0, "accepted into quarantine: {}", run.stderr);
    }
    let quarantined = || desk.run(&["quarantine", "list", "--json"]).ok().json().as_array().map_or(0, Vec::len);
    assert!(wait_until(Duration::from_secs(10), || quarantined() == 4), "quarantined: {}", quarantined());
    let listed = desk.run(&["quarantine", "list", "--json"]).ok().json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4, "{listed:?}");
    let reasons: Vec<&str> = listed.iter().map(|entry| entry["reason"].as_str().unwrap()).collect();
    assert!(reasons[..3].iter().all(|reason| reason.contains("not a mail message")), "{listed:?}");
    assert!(reasons[3].contains("too large to process"), "{listed:?}");
    let kept: Vec<Vec<u8>> = listed
        .iter()
        .map(|entry| desk.command(&["quarantine", "show", &entry["id"].as_i64().unwrap().to_string(), "--raw"]).output().unwrap().stdout)
        .collect();
    assert!(kept.contains(&garbage) && kept.contains(&large_garbage), "kept byte for byte");
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND source = 'pipe'"), 4);
    assert!(desk.tickets().is_empty());
    assert!(desk.outbox().is_empty(), "no answer to unreadable mail");
}

#[test]
fn ingest_keeps_what_serve_does_not_take() {
    let desk = Desk::with_config("[inbound]\nmax_message_bytes = 2000\n");
    let daemon = Daemon::start(&desk);
    // Too large for serve: ingest stores it itself, and quarantines it as it would alone.
    let big = request("big@customer.test", "ann@customer.test", "Big", &"x".repeat(4000));
    desk.ingest(&big).ok();
    // Quarantined unread: the only inbound row, without its Message-ID.
    assert_eq!(desk.sql("SELECT source FROM messages WHERE direction = 'in'"), [[serde_json::json!("pipe")]]);
    assert_eq!(desk.count("SELECT COUNT(*) FROM quarantine"), 1);
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn ingest_stores_mail_itself_when_the_socket_answers_wrong_or_not_at_all() {
    use std::io::{BufRead as _, Write as _};
    let desk = Desk::new();
    let socket = desk.path().join("reqmail.db.sock");
    // Something on the socket that reads the request, then hangs up or says "busy".
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let impostor = std::thread::spawn(move || {
        for answer in ["", "75 busy\n"] {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            std::io::BufReader::new(&stream).read_line(&mut line).unwrap();
            assert!(line.starts_with("INGEST "), "{line:?}");
            (&stream).write_all(answer.as_bytes()).unwrap();
        }
    });
    desk.ingest(&request("hung-up@customer.test", "ann@customer.test", "One", "Help")).ok();
    desk.ingest(&request("busy@customer.test", "bob@customer.test", "Two", "Help")).ok();
    impostor.join().unwrap();
    assert_eq!(stored_by(&desk, "hung-up@customer.test"), "pipe");
    assert_eq!(stored_by(&desk, "busy@customer.test"), "pipe");
    assert_eq!(desk.tickets().len(), 2);
}

#[test]
fn serve_replaces_a_socket_left_by_a_serve_that_died() {
    let desk = Desk::new();
    let socket = desk.path().join("reqmail.db.sock");
    // Bound and dropped: the file stays, nobody listens (as after kill -9).
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    desk.ingest(&request("before@customer.test", "ann@customer.test", "Before", "Help")).ok();
    assert_eq!(stored_by(&desk, "before@customer.test"), "pipe");
    let daemon = Daemon::start(&desk);
    desk.ingest(&request("after@customer.test", "ann@customer.test", "After", "Help")).ok();
    assert_eq!(stored_by(&desk, "after@customer.test"), "socket", "{}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn serve_answers_garbage_on_its_socket_and_goes_on() {
    if crate::harness::sqlite_only("serve's intake file") {
        return;
    }
    use std::io::{Read as _, Write as _};
    let desk = Desk::new();
    let daemon = Daemon::start(&desk);
    let socket = desk.path().join("reqmail.db.sock");
    let exchange = |bytes: &[u8]| -> String {
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(bytes).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let mut garbage = b"\x00\xff\xfe binary\n".to_vec();
    garbage.extend(std::iter::repeat_n(b'x', 5000));
    for (request, expected) in [
        (garbage, "64 "),
        (b"INGEST 99999999999999999999 - -\n".to_vec(), "64 bad length"),
        (b"INGEST 1 - someday\nx".to_vec(), "64 bad time"),
        (format!("INGEST {} - -\n", 1u64 << 40).into_bytes(), "64 a message of"),
        // Fewer bytes than announced, then the end.
        (b"INGEST 500 - -\nFrom: a@b.c\r\n".to_vec(), "64 the message was cut short"),
    ] {
        let answer = exchange(&request);
        assert!(answer.starts_with(expected), "{:?} -> {answer:?}", String::from_utf8_lossy(&request[..request.len().min(40)]));
    }
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages"), 0, "nothing was stored");
    // A well-framed request whose message is garbage is taken into the intake, answered,
    // and then quarantined by the drain: kept, not lost, and serve goes on.
    let mut binary = b"\x00\x01\xff\xfe\x00".repeat(400);
    binary.extend_from_slice(b"\r\n\r\n\x00");
    let mut framed = format!("INGEST {} - -\n", binary.len()).into_bytes();
    framed.extend_from_slice(&binary);
    assert!(exchange(&framed).starts_with("0 "), "garbage in a well-formed request is taken");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (desk.count("SELECT COUNT(*) FROM quarantine") == 0 || in_intake(&desk) != 0) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(desk.count("SELECT COUNT(*) FROM quarantine"), 1, "{}", daemon.log());
    assert_eq!(in_intake(&desk), 0, "the intake keeps nothing once the message is in the store");
    // Still listening, and a well-formed request is taken.
    desk.ingest(&request("after-garbage@customer.test", "ann@customer.test", "Still there?", "Help")).ok();
    assert_eq!(stored_by(&desk, "after-garbage@customer.test"), "socket", "{}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn serve_takes_maildir_deliveries_at_once_without_polling() {
    // Looking only every hour: only the inotify watch can bring these in time.
    let desk = Desk::with_config("[serve]\nmaildir_poll_seconds = 3600\n");
    let daemon = Daemon::start(&desk);
    for (index, name) in ["first", "second", "third"].iter().enumerate() {
        desk.deliver_to_inbox(name, &request(&format!("{name}@customer.test"), "ann@customer.test", name, "Help"));
        tickets_reach(&desk, &daemon, index + 1);
    }
    assert!(!daemon.log().contains("cannot watch"), "{}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
}

/// Hands `messages` to a serve that cannot store them (someone holds the database's
/// write lock), so that they are acknowledged and wait in its intake; then kills it with
/// SIGKILL.
fn acknowledged_then_killed(desk: &Desk, messages: &[&[u8]]) {
    let daemon = Daemon::start(desk);
    desk.with_connection(|conn| {
        let lock = conn.unchecked_write().unwrap();
        let waiting_before = in_intake(desk);
        for raw in messages {
            let run = desk.hand_off(&[], raw);
            assert_eq!(run.status, 0, "{}", run.stderr);
        }
        // Acknowledged means on the disk, though the database was locked: the intake is a
        // file of its own.
        assert_eq!(in_intake(desk), waiting_before + messages.len() as i64, "{}", daemon.log());
        daemon.kill();
        lock.rollback().unwrap();
    });
}

/// The messages waiting in the intake.
fn in_intake(desk: &Desk) -> i64 {
    let conn = rusqlite::Connection::open(desk.path().join("reqmail.db.intake")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM intake", [], |row| row.get(0)).unwrap()
}

#[test]
fn serve_killed_after_acknowledging_processes_each_message_once_after_restart() {
    if crate::harness::sqlite_only("serve's intake file") {
        return;
    }
    let desk = Desk::new();
    let first = request("killed-1@customer.test", "ann@customer.test", "Printer on fire", "Help");
    let reply = request("killed-2@customer.test", "ann@customer.test", "Re: [REQ #1] Printer on fire", "Still burning");
    let other = request("killed-3@customer.test", "bob@customer.test", "Scanner jammed", "Help");
    acknowledged_then_killed(&desk, &[&first, &reply, &other]);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages"), 0, "nothing reached the spool before the kill");

    let daemon = Daemon::start(&desk);
    let moved = wait_until(Duration::from_secs(20), || desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state != 'spooled'") == 3);
    assert!(moved, "{}", daemon.log());
    // In the order acknowledged: the reply joined the ticket its request opened.
    assert_eq!(desk.tickets().len(), 2);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND ticket = 1"), 2);
    assert_eq!(stored_by(&desk, "killed-3@customer.test"), "socket");
    assert_eq!(daemon.terminate(), 0);
    assert!(!desk.path().join("reqmail.db.intake").exists(), "an empty intake is removed when serve stops");
}

#[test]
fn serve_killed_between_spool_and_intake_has_one_effect_per_message() {
    if crate::harness::sqlite_only("serve's intake file") {
        return;
    }
    let desk = Desk::new();
    // Dies right after the spool commit, before the intake forgets the row.
    let daemon = Daemon::start_with_env(&desk, "REQMAIL_FAULT", "after-spool");
    let raw = request("twice@customer.test", "ann@customer.test", "Printer on fire", "Help");
    // Whether or not the answer got out before the crash, the MTA hears "accepted".
    let run = desk.hand_off(&[], &raw);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(!daemon.wait_for_exit().success());
    let daemon = Daemon::start(&desk);
    assert!(wait_until(Duration::from_secs(20), || !desk.path().join("reqmail.db.intake").exists() || in_intake(&desk) == 0), "{}", daemon.log());
    assert!(wait_until(Duration::from_secs(10), || desk.outbox().len() == 1), "{}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"), 1);
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.outbox().len(), 1, "one receipt");
}

/// Hands `pairs` requests over, each with its requester's reply right behind it, faster
/// than they are processed; the Message-IDs in the order sent.
fn hand_off_a_burst(desk: &Desk, prefix: &str, pairs: usize) -> Vec<String> {
    let mut sent = Vec::new();
    for number in 1..=pairs {
        let subject = format!("Burst {number}");
        let asked = format!("{prefix}-{number}@customer.test");
        let replied = format!("{prefix}-{number}-re@customer.test");
        let messages = [request(&asked, "ann@customer.test", &subject, "Help"), request(&replied, "ann@customer.test", &format!("Re: [REQ #{number}] {subject}"), "More")];
        for raw in messages {
            let run = desk.hand_off(&[], &raw);
            assert_eq!(run.status, 0, "{}", run.stderr);
        }
        sent.extend([asked, replied]);
    }
    sent
}

/// Checks that a burst of [`hand_off_a_burst`] came in once each, in the order sent, with
/// each reply on its request's ticket, taken in from `source`.
fn assert_burst_processed_in_order(desk: &Desk, sent: &[String], source: &str) {
    let tickets = desk.sql("SELECT ticket, COUNT(*), MAX(message_id), MIN(source), MAX(source) FROM messages WHERE direction = 'in' GROUP BY ticket ORDER BY ticket");
    assert_eq!(tickets.len() * 2, sent.len(), "{tickets:?}");
    for (index, row) in tickets.iter().enumerate() {
        assert_eq!(row[1], 2, "ticket {} has its request and its reply: {tickets:?}", index + 1);
        assert_eq!(row[2], sent[2 * index], "{tickets:?}");
        assert!(row[3] == source && row[4] == source, "{tickets:?}");
    }
    let order: Vec<String> =
        desk.sql("SELECT message_id FROM messages WHERE direction = 'in' ORDER BY id").iter().map(|row| row[0].as_str().unwrap().to_string()).collect();
    assert_eq!(order, sent, "spooled in the order sent");
}

fn all_processed(desk: &Desk, count: usize) -> bool {
    wait_until(Duration::from_secs(30), || desk.try_count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state != 'spooled'") == Some(count as i64))
}

#[test]
fn a_burst_through_serve_is_processed_in_the_order_acknowledged() {
    let desk = Desk::new();
    let daemon = Daemon::start(&desk);
    // A backlog forms behind serve's answers.
    let sent = hand_off_a_burst(&desk, "burst", 15);
    assert!(all_processed(&desk, sent.len()), "{}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
    assert_burst_processed_in_order(&desk, &sent, "socket");
}

#[test]
fn without_serve_a_burst_of_hand_offs_is_processed_once_in_the_order_taken_in() {
    const PAIRS: usize = 10;
    let desk = Desk::new();
    // A backlog forms in the intake behind the drain.
    let sent = hand_off_a_burst(&desk, "alone", PAIRS);
    assert!(all_processed(&desk, sent.len()), "processed: {:?}", desk.sql("SELECT message_id, state FROM messages WHERE direction = 'in'"));
    assert_burst_processed_in_order(&desk, &sent, "pipe");
    // Each request got its receipt; the drain ends once nothing comes in, and leaves the
    // intake empty.
    assert!(wait_until(Duration::from_secs(10), || desk.outbox().len() == PAIRS), "{} letters", desk.outbox().len());
    let lock = std::fs::File::open(desk.path().join("reqmail.db.drain-lock")).unwrap();
    assert!(wait_until(Duration::from_secs(10), || lock.try_lock().is_ok()), "the drain ended");
    assert_eq!(in_intake(&desk), 0);
}

#[test]
fn without_serve_an_intake_that_cannot_be_written_leaves_the_message_to_the_full_ingest() {
    let desk = Desk::new();
    // Something else holds the intake's name.
    std::fs::create_dir(desk.path().join("reqmail.db.intake")).unwrap();
    let raw = request("blocked@customer.test", "ann@customer.test", "Printer offline", "Help");
    let run = desk.hand_off(&[], &raw);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stderr.contains("the intake failed") && run.stderr.contains("reqmail.db.intake"), "{}", run.stderr);
    // Stored and processed before the hand-off exited, as `reqmail ingest` does.
    assert_eq!(desk.sql("SELECT source FROM messages WHERE direction = 'in'"), [[serde_json::json!("pipe")]]);
    assert_eq!(desk.tickets().len(), 1);
}

#[test]
fn without_serve_the_pipe_answers_while_the_database_is_locked_and_the_mail_follows() {
    if crate::harness::sqlite_only("the intake beside the SQLite file") {
        return;
    }
    let desk = Desk::with_config("[store]\nbusy_timeout_ms = 200\n");
    desk.run(&["ticket", "list"]).ok();
    let first = request("locked-1@customer.test", "ann@customer.test", "Printer offline", "Help");
    desk.with_connection(|conn| {
        let lock = conn.unchecked_write().unwrap();
        let run = desk.hand_off(&[], &first);
        assert_eq!(run.status, 0, "on the disk in the intake, though the database is locked: {}", run.stderr);
        assert_eq!(in_intake(&desk), 1);
        // The drain gives up on the locked database; the message stays in the intake.
        let lock_file = std::fs::File::open(desk.path().join("reqmail.db.drain-lock")).unwrap();
        assert!(wait_until(Duration::from_secs(10), || lock_file.try_lock().is_ok()), "the drain ended");
        lock_file.unlock().unwrap();
        assert_eq!(in_intake(&desk), 1);
        lock.rollback().unwrap();
    });
    // The next message's drain moves both, the waiting one first.
    let second = request("locked-2@customer.test", "bob@customer.test", "Scanner jammed", "Help");
    assert_eq!(desk.hand_off(&[], &second).status, 0);
    assert!(wait_until(Duration::from_secs(10), || desk.tickets().len() == 2), "{:?}", desk.tickets());
    let order = desk.sql("SELECT message_id FROM messages WHERE direction = 'in' ORDER BY id");
    assert_eq!(order, vec![vec![serde_json::json!("locked-1@customer.test")], vec![serde_json::json!("locked-2@customer.test")]]);
    assert_eq!(in_intake(&desk), 0);
}

#[test]
fn concurrent_hand_offs_are_each_stored_once() {
    let desk = Desk::new();
    let daemon = Daemon::start(&desk);
    std::thread::scope(|scope| {
        for sender in 0..6 {
            let desk = &desk;
            scope.spawn(move || {
                for number in 0..5 {
                    let raw = request(&format!("c{sender}-{number}@customer.test"), &format!("c{sender}@customer.test"), &format!("Case {sender}/{number}"), "Help");
                    let run = desk.hand_off(&[], &raw);
                    assert_eq!(run.status, 0, "{}", run.stderr);
                }
            });
        }
    });
    assert!(wait_until(Duration::from_secs(30), || desk.count("SELECT COUNT(*) FROM tickets") == 30), "{}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND source = 'socket'"), 30);
}

#[test]
fn without_serve_ingest_and_tick_first_move_what_a_killed_serve_acknowledged() {
    if crate::harness::sqlite_only("serve's intake file") {
        return;
    }
    let desk = Desk::new();
    acknowledged_then_killed(&desk, &[&request("left-1@customer.test", "ann@customer.test", "Printer on fire", "Help")]);
    // No serve now: the reply's own ingest moves the request first, so the reply joins it.
    let reply = request("left-2@customer.test", "ann@customer.test", "Re: [REQ #1] Printer on fire", "Still burning");
    desk.ingest(&reply).ok();
    assert_eq!(stored_by(&desk, "left-1@customer.test"), "socket");
    assert_eq!(desk.tickets().len(), 1);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND ticket = 1"), 2);
    assert_eq!(in_intake(&desk), 0);

    // `tick` does the same for a serve that never comes back.
    acknowledged_then_killed(&desk, &[&request("left-3@customer.test", "bob@customer.test", "Scanner jammed", "Help")]);
    let doctor = desk.run(&["doctor"]);
    assert!(doctor.stdout.contains("1 messages acknowledged wait to be stored"), "{}", doctor.stdout);
    assert!(doctor.stdout.contains("run reqmail tick"), "{}", doctor.stdout);
    let tick = desk.run(&["tick"]).ok();
    assert!(tick.stdout.contains("moved from the intake 1"), "{}", tick.stdout);
    assert_eq!(desk.tickets().len(), 2);
    assert_eq!(in_intake(&desk), 0);
    assert!(desk.run(&["doctor"]).stdout.contains("reqmail.db.intake: empty"));
}
