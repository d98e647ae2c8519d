//! IMAP in against a real Dovecot started by the test: TLS modes, auth, mailboxes and
//! queues, flag and move, UIDVALIDITY, cut connections, concurrency, size limits, and
//! a mailbox of 5,000 messages.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::dovecot::Dovecot;
use crate::harness::{request, Desk};

fn desk_for(dovecot: &Dovecot, extra: &str) -> Desk {
    Desk::with_config(&dovecot.imap_config("help", "pw", extra))
}

fn deliver_requests(dovecot: &Dovecot, mailbox: &str, count: usize, tag: &str) {
    for index in 0..count {
        let raw = request(&format!("{tag}-{index}@customer.test"), &format!("c{index}@customer.test"), &format!("{tag} {index}"), "Please help.");
        dovecot.deliver("help", mailbox, &raw);
    }
}

#[test]
fn fetch_over_starttls_stores_then_flags_and_starts_where_it_stopped() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    let desk = desk_for(&dovecot, "");
    deliver_requests(&dovecot, "INBOX", 3, "first");
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.tickets().len(), 3);
    assert_eq!(dovecot.flags("help", "INBOX"), ["S", "S", "S"]);
    assert_eq!(desk.outbox().len(), 3, "one receipt each");
    let cursor = desk.sql("SELECT mailbox, last_uid FROM imap_mailboxes");
    assert_eq!(cursor, [[serde_json::json!("INBOX"), serde_json::json!(3)]]);

    deliver_requests(&dovecot, "INBOX", 1, "second");
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.tickets().len(), 4);
    // Only the new message was downloaded: the spool holds four rows, not seven.
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"), 4);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE source = 'imap:INBOX/4'"), 1);
}

#[test]
fn implicit_tls_plain_auth_mailboxes_map_to_queues_and_move() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    dovecot.create_mailbox("help", "Billing");
    dovecot.create_mailbox("help", "Processed");
    let config = format!(
        "[[inbound.imap]]\nhost = \"localhost\"\nport = {}\nsecurity = \"tls\"\nauth = \"plain\"\nca_file = \"{}\"\nusername = \"help\"\npassword = \"pw\"\n\
         mailboxes = [{{ name = \"INBOX\" }}, {{ name = \"Billing\", queue = \"billing\" }}]\nmove_to = \"Processed\"\n",
        dovecot.imaps_port,
        dovecot.ca_file().display()
    );
    let desk = Desk::with_config(&config);
    deliver_requests(&dovecot, "INBOX", 2, "general");
    deliver_requests(&dovecot, "Billing", 1, "invoice");
    desk.run(&["fetch"]).ok();
    let mut queues: Vec<String> = desk.tickets().iter().map(|ticket| ticket["queue"].as_str().unwrap().to_string()).collect();
    queues.sort();
    assert_eq!(queues, ["billing", "general", "general"]);
    assert!(dovecot.flags("help", "INBOX").is_empty() && dovecot.flags("help", "Billing").is_empty());
    assert_eq!(dovecot.flags("help", "Processed").len(), 3);
}

#[test]
fn wrong_password_and_untrusted_certificate_fail_with_the_server_named() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    let desk = Desk::with_config(&dovecot.imap_config("help", "wrong", ""));
    let run = desk.run(&["fetch"]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("refused the login") && run.stderr.contains(&dovecot.imap_port.to_string()), "{}", run.stderr);
    let untrusted = format!("[[inbound.imap]]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"help\"\npassword = \"pw\"\nca_file = \"/etc/ssl/certs/ca-certificates.crt\"\n", dovecot.imaps_port);
    let desk = Desk::with_config(&untrusted);
    let run = desk.run(&["fetch"]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("TLS handshake"), "{}", run.stderr);
}

#[test]
fn uidvalidity_change_rescans_without_duplicates() {
    let mut dovecot = Dovecot::start(&[("help", "pw")]);
    let desk = desk_for(&dovecot, "");
    deliver_requests(&dovecot, "INBOX", 2, "before");
    desk.run(&["fetch"]).ok();
    let before = desk.sql("SELECT uidvalidity FROM imap_mailboxes")[0][0].clone();
    dovecot.stop();
    dovecot.reset_uids("help", "INBOX");
    // UIDVALIDITY is derived from the time; make sure it differs.
    std::thread::sleep(Duration::from_millis(1100));
    dovecot.restart();
    deliver_requests(&dovecot, "INBOX", 1, "after");
    desk.run(&["fetch"]).ok();
    assert_ne!(desk.sql("SELECT uidvalidity FROM imap_mailboxes")[0][0], before);
    assert_eq!(desk.tickets().len(), 3, "the rescan must not duplicate");
    assert_eq!(desk.outbox().len(), 3);
}

/// A TCP relay to Dovecot that cuts the connection after `limit` bytes from the server.
fn cutting_proxy(target: u16, limit: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut server = TcpStream::connect(("127.0.0.1", target)).unwrap();
            let (mut client_reader, mut server_writer) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_reader, &mut server_writer);
            });
            let mut sent = 0;
            let mut buffer = [0u8; 4096];
            while let Ok(read) = server.read(&mut buffer) {
                if read == 0 || sent + read > limit {
                    break;
                }
                if client.write_all(&buffer[..read]).is_err() {
                    break;
                }
                sent += read;
            }
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = server.shutdown(std::net::Shutdown::Both);
        }
    });
    port
}

#[test]
fn connection_cut_mid_fetch_loses_and_duplicates_nothing() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    deliver_requests(&dovecot, "INBOX", 40, "cut");
    let proxy = cutting_proxy(dovecot.imap_port, 12_000);
    let through_proxy = format!("[[inbound.imap]]\nhost = \"127.0.0.1\"\nport = {proxy}\nsecurity = \"none\"\nusername = \"help\"\npassword = \"pw\"\nbatch_size = 5\ntimeout_seconds = 5\n");
    let desk = Desk::with_config(&through_proxy);
    let cut = desk.run(&["fetch"]);
    assert_eq!(cut.status, 1, "the cut must be reported: {}", cut.stderr);
    let stored_before = desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'");
    assert!(stored_before > 0 && stored_before < 40, "cut mid-way, stored {stored_before}");
    // Reconnect directly and finish.
    desk.write_config(&format!("[mail]\naddress = \"help@example.com\"\n{}", dovecot.imap_config("help", "pw", "batch_size = 5")));
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.tickets().len(), 40);
    assert_eq!(desk.outbox().len(), 40, "exactly one receipt per message");
    assert!(dovecot.flags("help", "INBOX").iter().all(|flags| flags == "S"));
}

#[test]
fn concurrent_fetchers_never_duplicate_or_skip() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    deliver_requests(&dovecot, "INBOX", 60, "race");
    let desk = desk_for(&dovecot, "batch_size = 10");
    let children: Vec<_> = (0..3)
        .map(|_| desk.command(&["fetch"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(desk.tickets().len(), 60);
    assert_eq!(desk.outbox().len(), 60);
    assert_eq!(desk.sql("SELECT last_uid FROM imap_mailboxes")[0][0], 60);
}

#[test]
fn message_over_the_size_limit_is_not_downloaded_and_quarantined() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    let desk = desk_for(&dovecot, "");
    desk.write_config(&format!("[mail]\naddress = \"help@example.com\"\n[inbound]\nmax_message_bytes = 4000\n{}", dovecot.imap_config("help", "pw", "")));
    let big = request("big@customer.test", "big@customer.test", "Huge attachment", &"x".repeat(50_000));
    dovecot.deliver("help", "INBOX", &big);
    deliver_requests(&dovecot, "INBOX", 1, "small");
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.tickets().len(), 1);
    let rows = desk.sql("SELECT m.size, q.reason FROM quarantine q JOIN messages m ON m.id = q.message");
    assert_eq!(rows.len(), 1);
    assert!(rows[0][0].as_i64().unwrap() < 4000, "only the header was downloaded: {rows:?}");
    assert!(rows[0][1].as_str().unwrap().contains("UID 1"), "{rows:?}");
    let flags = dovecot.flags("help", "INBOX");
    assert_eq!(flags, ["FS", "S"]);
}

#[test]
fn mailbox_of_5000_messages_in_bounded_batches() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    deliver_requests(&dovecot, "INBOX", 5000, "bulk");
    let desk = desk_for(&dovecot, "");
    desk.write_config(&format!("[mail]\naddress = \"help@example.com\"\n[outbound]\ndeliver_immediately = false\n{}", dovecot.imap_config("help", "pw", "")));
    let started = Instant::now();
    desk.run(&["fetch"]).ok();
    eprintln!("5000 messages fetched in {:?}", started.elapsed());
    assert_eq!(desk.count("SELECT COUNT(*) FROM tickets"), 5000);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"), 5000);
    assert!(dovecot.flags("help", "INBOX").iter().all(|flags| flags == "S"));
}
