//! One test per attack on a mail gateway that faces the internet, named after
//! the attack. Loops and robots (RFC 3834), bounces (RFC 3464), forged senders
//! (DESIGN §4, RFC 8601), hostile content, crashes.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use reqmail::identify::sender::Trust;

use crate::harness::{corpus, request, Desk};

/// The address in a `Name <address>` header value.
fn angle_address(value: &str) -> String {
    let start = value.find('<').map_or(0, |index| index + 1);
    let end = value.rfind('>').unwrap_or(value.len());
    value[start..end].to_string()
}

fn history_actions(desk: &Desk, ticket: i64) -> Vec<(String, String)> {
    desk.ticket(ticket)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| (event["action"].as_str().unwrap().to_string(), event["detail"].as_str().unwrap().to_string()))
        .collect()
}

/// The trust reqmail gives `raw`, computed by the library on the desk's own database.
fn trust_of(desk: &Desk, raw: &[u8]) -> Trust {
    let config = reqmail::config::Config::from_file(&desk.config_path()).unwrap();
    let site = reqmail::site::Site::compile(config).unwrap();
    let store = reqmail::store::Store::open(&site.config.store).unwrap();
    let mail = reqmail::parse::parse(raw, &Default::default()).unwrap();
    reqmail::identify::sender::trust(&store.conn, &mail, &site.config.mail, &site.threading).unwrap()
}

/// A ticket from ann@example.org and the tokened reply address of her receipt.
fn ticket_with_receipt(desk: &Desk) -> (String, String) {
    desk.ingest(&request("orig@example.org", "Ann <ann@example.org>", "Printer", "It is broken.")).ok();
    let receipt = desk.outbox().pop().expect("a receipt");
    (angle_address(&receipt.header("Reply-To").unwrap()), receipt.message_id())
}

fn reply(message_id: &str, from: &str, to: &str, in_reply_to: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\n{extra_headers}Subject: Re: Printer\r\nMessage-ID: <{message_id}>\r\nIn-Reply-To: <{in_reply_to}>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

// ---- 1. Robots and loops (RFC 3834) ----

#[test]
fn rfc3834_robots_of_every_kind_get_no_answer_and_open_no_ticket() {
    let desk = Desk::new();
    let robots = [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-notified",
        "X-Autoreply: yes",
        "X-Autorespond: yes",
        "X-Auto-Response-Suppress: All",
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: list",
        "Precedence: auto_reply",
        "List-Id: <news.lists.example.org>",
        "List-Unsubscribe: <mailto:leave@lists.example.org>",
        "Return-Path: <>",
        "X-Reqmail-Ticket: 1",
        "Delivered-To: help@example.com\r\nDelivered-To: help@example.com\r\nDelivered-To: help@example.com",
    ];
    for (index, header) in robots.iter().enumerate() {
        let raw = format!(
            "From: robot{index}@example.org\r\nTo: help@example.com\r\n{header}\r\nSubject: Robot {index}\r\nMessage-ID: <robot{index}@example.org>\r\n\r\nbeep\r\n"
        );
        desk.ingest(raw.as_bytes()).ok();
    }
    for (index, from) in ["MAILER-DAEMON@example.org", "postmaster@example.org", "help@example.com", "Help <HELP+7@example.com>"].iter().enumerate() {
        desk.ingest(&request(&format!("sys{index}@example.org"), from, "System", "x")).ok();
    }
    desk.ingest(&request("reqmail.1.abcdef@example.com", "ann@example.org", "Our own id", "x")).ok();
    let hops = format!("{}From: far@example.org\r\nTo: help@example.com\r\nSubject: Far\r\nMessage-ID: <far@example.org>\r\n\r\nx\r\n", "Received: from a by b\r\n".repeat(60));
    desk.ingest(hops.as_bytes()).ok();
    assert_eq!(desk.tickets().len(), 0, "no robot opens a ticket");
    assert!(desk.outbox().is_empty(), "no robot is answered");
    let ignored = desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state = 'ignored' AND outcome <> ''");
    assert_eq!(ignored, robots.len() as i64 + 6, "each one ignored with a reason");
}

#[test]
fn sisimai_rfc3834_auto_replies_never_open_tickets() {
    let desk = Desk::new();
    let mut n_files = 0;
    for folder in ["bsd", "dos", "mac"] {
        let dir = corpus().join("sisimai-set-of-emails").join(folder);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with("rfc3834") {
                desk.ingest(&std::fs::read(&path).unwrap()).ok();
                n_files += 1;
            }
        }
    }
    assert!(n_files >= 8, "{n_files}");
    assert!(desk.outbox().is_empty(), "no answer to an auto-reply");
    // The iCloud one carries no standard mark at all; the others must not open tickets.
    assert!(desk.tickets().len() <= 1, "{:?}", desk.tickets());
}

#[test]
fn auto_reply_to_our_notification_is_a_note_not_a_ticket() {
    let desk = Desk::new();
    let (_, receipt_id) = ticket_with_receipt(&desk);
    desk.clear_outbox();
    let vacation = reply("ooo1@example.org", "ann@example.org", "help@example.com", &receipt_id, "Auto-Submitted: auto-replied\r\n", "I am on holiday.");
    desk.ingest(&vacation).ok();
    assert_eq!(desk.tickets().len(), 1, "no new ticket");
    assert!(history_actions(&desk, 1).iter().any(|(action, _)| action == "automatic-comment"));
    assert!(desk.outbox().is_empty(), "the auto-reply is not answered");
}

#[test]
fn two_help_desks_answering_each_other_stop_within_a_few_letters() {
    // The other desk answers every letter from a no-reply address that its requester
    // address put on Cc, without any RFC 3834 mark, and its requester address gets our
    // updates: a classic mail loop.
    let desk = Desk::new();
    desk.ingest(&request("other0@other.example", "support@other.example", "Your order", "Hello")).ok();
    let receipt = desk.outbox().pop().expect("a receipt");
    let reply_to = angle_address(&receipt.header("Reply-To").unwrap());
    desk.ingest(&reply("cc0@other.example", "support@other.example", &reply_to, &receipt.message_id(), "", "Cc: +noreply@other.example\n\nAnswers come from there.")).ok();
    desk.clear_outbox();
    let rows_before = desk.count("SELECT COUNT(*) FROM outbox");
    for round in 1..=15 {
        let answer = reply(
            &format!("other{round}@other.example"),
            "noreply@other.example",
            "help+1@example.com",
            "other0@other.example",
            "",
            &format!("Thank you for your message ({round})."),
        );
        desk.ingest(&answer).ok();
    }
    let letters = desk.outbox().len();
    assert!(letters <= 5, "{letters} letters: the per-ticket window (5) stops the loop");
    let skipped = history_actions(&desk, 1).into_iter().filter(|(action, detail)| action == "mail-skipped" && detail.contains("auto_mail_per_ticket")).count();
    assert!(skipped >= 10, "suppressed letters are noted on the ticket: {skipped}");
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox") - rows_before, letters as i64, "no outbox row for a suppressed letter");
}

#[test]
fn our_mail_carries_rfc3834_marks_and_a_loop_header() {
    let desk = Desk::new();
    ticket_with_receipt(&desk);
    let receipt = desk.ingest(&request("o2@example.org", "bob@example.org", "Second", "x")).ok();
    drop(receipt);
    for mail in desk.outbox() {
        assert!(mail.header("Auto-Submitted").is_some_and(|value| value != "no"));
        assert_eq!(mail.header("X-Auto-Response-Suppress").as_deref(), Some("All"));
        assert_eq!(mail.header("Precedence").as_deref(), Some("bulk"));
        assert!(mail.header("X-Reqmail-Ticket").is_some());
    }
}

/// A desk whose general queue is watched by the agent lead@example.com.
const WATCHED: &str = r#"
[queues.general]
watchers = ["lead@example.com"]

[[people]]
addresses = ["lead@example.com"]
role = "agent"
"#;

#[test]
fn ticket_trick_relay_of_a_strangers_mail_to_the_requester_is_held_for_agents() {
    // Mallory opens a ticket as ann's colleague would, then registers at a service with
    // the ticket's reply address: the service's confirmation mail must not reach anyone
    // outside the desk, nor come back to the service.
    let desk = Desk::with_config(WATCHED);
    desk.ingest(&request("orig@example.org", "Ann <ann@example.org>", "Printer", "It is broken.")).ok();
    let receipt = desk.outbox().into_iter().find(|mail| mail.to().contains("ann@example.org")).expect("a receipt");
    let (ann_reply_to, receipt_id) = (angle_address(&receipt.header("Reply-To").unwrap()), receipt.message_id());
    desk.ingest(&reply("cc1@example.org", "ann@example.org", &ann_reply_to, &receipt_id, "", "Cc: +carol@example.org\n\nCarol too.")).ok();
    desk.clear_outbox();
    let confirmation = reply(
        "confirm1@service.example",
        "Service <noreply@service.example>",
        "help+1@example.com",
        "nothing@service.example",
        "",
        "Status: resolved\n\nYour confirmation code is 739164",
    );
    desk.ingest(&confirmation).ok();
    let letters = desk.outbox();
    let recipients: Vec<String> = letters.iter().map(|mail| angle_address(&mail.to())).collect();
    assert_eq!(recipients, ["lead@example.com"], "only the agent hears of it");
    let agent_letter = &letters[0];
    assert!(agent_letter.body().contains("739164"), "agents read the note");
    let publish_line = agent_letter.body().lines().find(|line| line.trim().starts_with("Publish: ")).expect("the letter says how to publish").trim().to_string();
    let history = history_actions(&desk, 1);
    assert!(history.iter().any(|(action, detail)| action == "held-note" && detail.contains("739164")), "{history:?}");
    assert_eq!(desk.ticket(1)["status"], "new", "a stranger changes nothing");

    // The agent publishes it by answering their own letter (its token makes them authentic).
    desk.clear_outbox();
    let agent_reply_to = angle_address(&agent_letter.header("Reply-To").unwrap());
    desk.ingest(&reply("pub1@example.com", "lead@example.com", &agent_reply_to, &agent_letter.message_id(), "", &format!("{publish_line}\n\nThis is for you, Ann."))).ok();
    let published: Vec<(String, String)> = desk.outbox().iter().map(|mail| (angle_address(&mail.to()), mail.body())).collect();
    for customer in ["ann@example.org", "carol@example.org"] {
        let (_, body) = published.iter().find(|(to, _)| to == customer).unwrap_or_else(|| panic!("{customer} gets the published note: {published:?}"));
        assert!(body.contains("> Your confirmation code is 739164") && body.contains("noreply@service.example (unverified sender) wrote"), "{body}");
    }
    assert!(published.iter().all(|(to, _)| to != "noreply@service.example"), "never to the stranger");
    assert_eq!(desk.count("SELECT COUNT(*) FROM history WHERE action = 'held-note' AND internal = 0"), 1, "the held note is public now");
    // Publishing twice, or a message that was never held, is refused.
    let again = reply("pub2@example.com", "lead@example.com", &agent_reply_to, &agent_letter.message_id(), "", &publish_line);
    desk.ingest(&again).ok();
    assert!(history_actions(&desk, 1).iter().any(|(action, detail)| action == "refused" && detail.contains("Publish")));
}

/// Plays a responder without RFC 3834 marks that answers every letter it gets with a
/// fresh, unthreaded mail saying `text`; returns how many letters it was sent.
fn letters_to_a_responder(desk: &Desk, text: &str) -> usize {
    desk.ingest(&request("first@example.org", "ann@example.org", "Printer", "It is broken.")).ok();
    let mut sent = 0;
    for round in 0..25 {
        let letters = desk.outbox();
        desk.clear_outbox();
        if letters.is_empty() {
            break;
        }
        sent += letters.len();
        desk.ingest(&request(&format!("away{round}@example.org"), "ann@example.org", "Re: your mail", text)).ok();
    }
    sent
}

#[test]
fn vacation_responder_without_robot_headers_is_stopped_within_ten_letters() {
    for text in [
        "I am out of the office until 3 December and will read your mail on my return.",
        "Vielen Dank für Ihre Nachricht. Ich bin bis zum 3. Dezember nicht im Büro.",
        "Je suis absente jusqu'au 3 décembre.",
        // No known wording: the same text twice gives it away.
        "Thank you for your mail. We will get back to you within two working days.",
    ] {
        let desk = Desk::new();
        let sent = letters_to_a_responder(&desk, text);
        assert!(sent <= 3, "{sent} letters to a responder writing {text:?}");
        assert!(desk.count("SELECT COUNT(*) FROM history WHERE action = 'mail-skipped' AND detail LIKE '%responder loop%'") >= 1, "{text}");
    }
}

#[test]
fn vacation_responder_check_spares_a_person_opening_several_real_tickets() {
    let desk = Desk::new();
    for (index, problem) in ["The printer is broken.", "My password expired.", "The VPN drops every hour.", "Please order a new mouse.", "The printer is broken again."].iter().enumerate() {
        desk.ingest(&request(&format!("real{index}@example.org"), "ann@example.org", &format!("Problem {index}"), problem)).ok();
    }
    let receipts = desk.outbox().iter().filter(|mail| mail.to().contains("ann@example.org")).count();
    assert_eq!(receipts, 5, "each real ticket gets its receipt");
}

/// A message of about 30 MB: a short note and a 22 MB attachment in base64.
fn thirty_megabyte_message() -> Vec<u8> {
    use base64::Engine as _;
    let mut state: u64 = 0x2545f4914f6cdd1d;
    let attachment: Vec<u8> = (0..22 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&attachment);
    let mut raw = b"From: ann@example.org\r\nTo: help@example.com\r\nSubject: The log files\r\nMessage-ID: <big@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nThe logs are attached.\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=logs.bin\r\n\r\n".to_vec();
    for line in encoded.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--XX--\r\n");
    raw
}

#[test]
fn memory_exhaustion_by_one_30_mb_message_keeps_the_peak_bounded() {
    let desk = Desk::new();
    let raw = thirty_megabyte_message();
    // The peak is the child's ru_maxrss, taken by GNU time: Linux counts into a child's
    // ru_maxrss the peak of the process it was spawned from, which for a child of this
    // test process is that of all the tests running in it; time itself is small.
    let report = desk.path().join("peak-rss-kb");
    let ingest = desk.command(&["ingest"]);
    let mut measured = std::process::Command::new("/usr/bin/time");
    measured.args(["-f", "%M", "-o"]).arg(&report).arg(ingest.get_program()).args(ingest.get_args()).current_dir(desk.path());
    for (name, value) in ingest.get_envs() {
        match value {
            Some(value) => measured.env(name, value),
            None => measured.env_remove(name),
        };
    }
    desk.pipe_into(measured, &raw).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM attachments a JOIN blobs b ON b.sha256 = a.blob WHERE b.size = 22 << 20"), 1, "the attachment is kept whole");
    let peak_kb: usize = std::fs::read_to_string(&report).unwrap().trim().parse().expect("time reports the peak in KB");
    let peak = peak_kb * 1024;
    // Issue 14's bound: the binary and its caches in 64 MB, and the message once. On
    // PostgreSQL the client library also holds a parameter's bytes in its send buffer and
    // a row's in its receive buffer: the message, compressed and as its attachment, four
    // times in all (measured: 174 MB).
    let copies = if crate::harness::on_postgres() { 4 } else { 1 };
    let bound = (64 << 20) + copies * raw.len();
    assert!(peak < bound, "peak RSS {} MB for a {} MB message (bound {} MB)", peak >> 20, raw.len() >> 20, bound >> 20);
    // Recording the outcome rewrote the row that held the bytes, leaving their old pages
    // free. (A file's free pages are SQLite's; PostgreSQL's old row versions are vacuum's.)
    if !crate::harness::on_postgres() {
        let free_pages = desk.count("SELECT freelist_count FROM pragma_freelist_count");
        assert!(free_pages < 256, "{free_pages} free pages after storing one message: its bytes were written twice");
    }
}

#[test]
fn expunge_without_uidplus_never_destroys_another_clients_deleted_mail() {
    use crate::harness::dovecot::Dovecot;
    // A server with neither MOVE nor UIDPLUS: a plain EXPUNGE after our COPY would also
    // remove what a person marked \\Deleted in their own client and still means to undo.
    let dovecot = Dovecot::start_with_settings(&[("help", "pw")], "protocol imap {\n  imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+\n}\n");
    dovecot.create_mailbox("help", "Processed");
    let desk = Desk::with_config(&dovecot.imap_config("help", "pw", "mailboxes = [{ name = \"INBOX\" }]\nmove_to = \"Processed\""));
    let kept = request("kept@example.org", "ann@example.org", "A draft", "Deleted by mistake, to be undone.");
    dovecot.deliver_flagged("help", "INBOX", &kept, Some("ST"));
    desk.run(&["fetch"]).ok();
    dovecot.deliver("help", "INBOX", &request("new@example.org", "bob@example.org", "Printer", "Broken."));
    let fetched = desk.run(&["fetch"]).ok();
    assert!(fetched.stderr.contains("neither MOVE nor UIDPLUS"), "the log says what was left: {}", fetched.stderr);
    let inbox = dovecot.flags("help", "INBOX");
    assert_eq!(inbox.len(), 2, "nothing was expunged: {inbox:?}");
    assert!(inbox.iter().all(|flags| flags.contains('T')), "ours are flagged \\Deleted, the other client's stays so: {inbox:?}");
    assert_eq!(dovecot.flags("help", "Processed").len(), 2, "both were copied");
    let doctor = desk.run(&["doctor"]);
    assert!(doctor.stdout.contains("neither MOVE nor UIDPLUS"), "doctor says so: {}", doctor.stdout);
}

// ---- 2. Bounces (RFC 3464) ----

fn dsn(message_id: &str, action: &str, status: &str, returned_id: &str) -> Vec<u8> {
    format!(
        "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: help@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"DSN\"\r\n\r\n--DSN\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--DSN\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; ann@example.org\r\nAction: {action}\r\nStatus: {status}\r\nDiagnostic-Code: smtp; 550 {status} mailbox unavailable\r\n--DSN\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Help Desk <help@example.com>\r\nTo: ann@example.org\r\nMessage-ID: <{returned_id}>\r\nSubject: [REQ #1] Printer\r\n--DSN--\r\n"
    )
    .into_bytes()
}

#[test]
fn rfc3464_permanent_failure_marks_the_address_undeliverable() {
    let mut desk = Desk::with_config("[[people]]\naddresses = [\"bob@example.com\"]\nrole = \"agent\"\n");
    desk.now = Some("2026-11-21T09:00:00Z".into());
    let (_, receipt_id) = ticket_with_receipt(&desk);
    desk.clear_outbox();
    desk.ingest(&dsn("dsn1@mx.example.org", "failed", "5.1.1", &receipt_id)).ok();
    assert_eq!(desk.tickets().len(), 1, "a bounce never opens a ticket");
    let history = history_actions(&desk, 1);
    let (_, detail) = history.iter().find(|(action, _)| action == "bounce").expect("bounce on the ticket");
    assert!(detail.contains("ann@example.org") && detail.contains("5.1.1"), "{detail}");
    let people = desk.run(&["person", "list", "--json"]).ok().json();
    let ann = people.as_array().unwrap().iter().find(|person| person["addresses"][0] == "ann@example.org").unwrap();
    assert!(ann["undeliverable"][0].as_str().unwrap().contains("until 2026-11-28"), "{ann}");
    // An agent's note now would mail Ann: skipped, and said so on the ticket.
    desk.ingest(&reply("agent1@example.com", "bob@example.com", "help+1@example.com", "orig@example.org", "", "We are on it.")).ok();
    assert!(desk.outbox().is_empty(), "no mail to an undeliverable address");
    assert!(history_actions(&desk, 1).iter().any(|(action, detail)| action == "mail-skipped" && detail.contains("bounced permanently")));
    // After the configured time, mail flows again.
    desk.now = Some("2026-11-29T09:00:00Z".into());
    desk.ingest(&reply("agent2@example.com", "bob@example.com", "help+1@example.com", "orig@example.org", "", "Fixed?")).ok();
    assert_eq!(desk.outbox().len(), 1);
}

#[test]
fn rfc3464_delay_is_only_noted() {
    let desk = Desk::new();
    let (_, receipt_id) = ticket_with_receipt(&desk);
    desk.ingest(&dsn("dsn2@mx.example.org", "delayed", "4.4.7", &receipt_id)).ok();
    assert!(history_actions(&desk, 1).iter().any(|(action, _)| action == "bounce-delay"));
    assert_eq!(desk.count("SELECT COUNT(*) FROM undeliverable"), 0);
}

#[test]
fn qmail_style_bounce_is_matched_by_the_pasted_message_id() {
    let desk = Desk::new();
    let (_, receipt_id) = ticket_with_receipt(&desk);
    let bounce = format!(
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.org\r\nTo: help@example.com\r\nSubject: failure notice\r\nMessage-ID: <q1@mx.example.org>\r\n\r\nHi. This is the qmail-send program at mx.example.org.\r\nI'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n<ann@example.org>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n--- Below this line is a copy of the message.\r\n\r\nFrom: help@example.com\r\nMessage-ID: <{receipt_id}>\r\nSubject: [REQ #1] Printer\r\n\r\nThank you.\r\n"
    );
    desk.ingest(bounce.as_bytes()).ok();
    assert!(history_actions(&desk, 1).iter().any(|(action, _)| action == "bounce"));
    assert_eq!(desk.count("SELECT COUNT(*) FROM undeliverable WHERE address = 'ann@example.org'"), 1);
}

#[test]
fn backscatter_bounce_for_mail_we_never_sent_is_ignored_with_a_reason() {
    let desk = Desk::new();
    ticket_with_receipt(&desk);
    desk.ingest(&dsn("dsn3@mx.example.org", "failed", "5.1.1", "spam-with-forged-sender@example.net")).ok();
    let outcome = desk.sql("SELECT state, outcome FROM messages WHERE message_id = 'dsn3@mx.example.org'");
    assert_eq!(outcome[0][0], "ignored");
    assert!(outcome[0][1].as_str().unwrap().contains("never sent"), "{outcome:?}");
    assert_eq!(desk.count("SELECT COUNT(*) FROM undeliverable"), 0);
    assert_eq!(desk.tickets().len(), 1);
}

#[test]
fn read_receipts_and_abuse_dmarc_tls_reports_never_become_tickets() {
    let desk = Desk::new();
    let root = corpus();
    let mut files = vec![
        root.join("mailgun-flanker/messages/disposition-notification.eml"),
        root.join("zbateson-mail-mime-parser/m4006.txt"),
        root.join("mimekit/messages/feedback-report.txt"),
    ];
    for folder in ["stalwart-mail-auth/arf", "stalwart-mail-auth/dmarc-feedback", "stalwart-mail-auth/tlsrpt", "mailgun-flanker/messages/complaints"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    for entry in std::fs::read_dir(root.join("mimekit/messages")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("disposition-notification") {
            files.push(path);
        }
    }
    for path in &files {
        if path.exists() && !path.file_name().unwrap().to_string_lossy().to_lowercase().starts_with("licen") {
            desk.ingest(&std::fs::read(path).unwrap()).ok();
        }
    }
    assert!(files.len() >= 15, "{}", files.len());
    assert_eq!(desk.tickets().len(), 0, "{:?}", desk.sql("SELECT source, subject FROM messages WHERE state = 'applied'"));
    assert!(desk.outbox().is_empty());
}

// ---- 3. Authentic senders (DESIGN §4, RFC 8601) ----

#[test]
fn reply_token_makes_its_own_recipient_authentic() {
    let desk = Desk::new();
    let (reply_to, receipt_id) = ticket_with_receipt(&desk);
    assert!(reply_to.starts_with("help+1-") && reply_to.len() == "help+1-".len() + 10 + "@example.com".len(), "{reply_to}");
    let answer = reply("r1@example.org", "Ann <ann@example.org>", &reply_to, &receipt_id, "", "Thanks");
    assert!(matches!(trust_of(&desk, &answer), Trust::Authentic { by } if by.contains("reply token")));
    // The token also counts when it only arrives as the envelope recipient (Delivered-To).
    let via_envelope = reply("r2@example.org", "ann@example.org", "help@example.com", &receipt_id, &format!("Delivered-To: {reply_to}\r\n"), "x");
    assert!(trust_of(&desk, &via_envelope).is_authentic());
}

#[test]
fn forwarded_token_does_not_work_for_a_third_person() {
    let desk = Desk::new();
    let (reply_to, receipt_id) = ticket_with_receipt(&desk);
    let mallory = reply("m1@example.net", "Mallory <mallory@example.net>", &reply_to, &receipt_id, "", "Close it");
    assert!(matches!(trust_of(&desk, &mallory), Trust::Unverified { reason } if reason.contains("another address")));
    // And the token does not carry over to another ticket.
    let other_ticket = reply_to.replace("help+1-", "help+2-");
    desk.ingest(&request("second@example.org", "ann@example.org", "Other", "x")).ok();
    assert!(!trust_of(&desk, &reply("m2@example.org", "ann@example.org", &other_ticket, &receipt_id, "", "x")).is_authentic());
}

#[test]
fn forged_closure_through_a_quoted_mark_does_not_close() {
    let desk = Desk::new();
    let (reply_to, receipt_id) = ticket_with_receipt(&desk);
    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    // A stranger writes the mark into a note of their own.
    let forged = reply("m1@evil.test", "Mallory <mallory@evil.test>", &reply_to, &receipt_id, "", "[X] Yes, it is solved - close the request\n\nPlease confirm.");
    desk.ingest(&forged).ok();
    assert_eq!(desk.ticket(1)["status"], "resolved", "the stranger decides nothing");
    // Ann answers the latest letter she got, quoting it whole, as Gmail does.
    let latest = desk.outbox().into_iter().rfind(|mail| mail.to() == "ann@example.org").expect("a letter to Ann");
    let quoted: String = latest.body().lines().map(|line| format!("> {line}\n")).collect();
    let answer = reply(
        "a1@example.org",
        "Ann <ann@example.org>",
        &angle_address(&latest.header("Reply-To").unwrap()),
        &latest.message_id(),
        "",
        &format!("Who are you?\n\nOn Sat, 21 Nov 2026, Help Desk <help@example.com> wrote:\n{quoted}"),
    );
    desk.ingest(&answer).ok();
    assert_eq!(desk.ticket(1)["status"], "resolved", "a quoted mark is not Ann's");
    // Her own mark in the letter that asked her still closes.
    let resolution = desk.outbox().into_iter().find(|mail| mail.to() == "ann@example.org" && mail.body().contains("[ ] Yes")).unwrap();
    let marked: String = resolution.body().lines().map(|line| format!("> {}\n", line.replace("[ ] Yes", "[X] Yes"))).collect();
    desk.ingest(&reply("a2@example.org", "Ann <ann@example.org>", &reply_to, &resolution.message_id(), "", &marked)).ok();
    assert_eq!(desk.ticket(1)["status"], "closed");
}

#[test]
fn forged_from_cannot_borrow_authenticity_via_display_name() {
    let desk = Desk::new();
    let (reply_to, receipt_id) = ticket_with_receipt(&desk);
    let forged = reply("f1@evil.test", "\"ann@example.org\" <eve@evil.test>", &reply_to, &receipt_id, "", "Approve");
    assert!(!trust_of(&desk, &forged).is_authentic());
    desk.ingest(&forged).ok();
    let from = desk.sql("SELECT from_address FROM messages WHERE message_id = 'f1@evil.test'");
    assert_eq!(from[0][0], "eve@evil.test", "the identity is the addr-spec");
}

#[test]
fn two_from_headers_or_mailboxes_are_never_authentic() {
    let desk = Desk::new();
    let (reply_to, receipt_id) = ticket_with_receipt(&desk);
    let two_fields = reply("d1@example.org", "ann@example.org\r\nFrom: eve@evil.test", &reply_to, &receipt_id, "", "x");
    assert!(!trust_of(&desk, &two_fields).is_authentic());
    let two_mailboxes = reply("d2@example.org", "ann@example.org, eve@evil.test", &reply_to, &receipt_id, "", "x");
    assert!(!trust_of(&desk, &two_mailboxes).is_authentic());
}

#[test]
fn encoded_word_inside_the_from_address_is_rejected() {
    let desk = Desk::new();
    let (reply_to, receipt_id) = ticket_with_receipt(&desk);
    let disguised = reply("e1@example.org", "=?utf-8?q?ann=40example=2Eorg?= <=?utf-8?q?ann=40example.org?=>", &reply_to, &receipt_id, "", "x");
    assert!(!trust_of(&desk, &disguised).is_authentic());
}

#[test]
fn authentication_results_forged_by_the_sender_are_not_believed() {
    let desk = Desk::with_config("[mail]\ntrusted_authserv_id = \"mx.example.com\"\n");
    let pass = "Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\n";
    let genuine = reply("a1@example.org", "ann@example.org", "help@example.com", "x@y", pass, "x");
    assert!(matches!(trust_of(&desk, &genuine), Trust::Authentic { by } if by.contains("DMARC")));
    // Our MTA's verdict on top says fail; the sender's forged pass below does not count.
    let forged_below = reply("a2@example.org", "ann@example.org", "help@example.com", "x@y", &format!("Authentication-Results: mx.example.com; dmarc=fail header.from=example.org\r\n{pass}"), "x");
    assert!(!trust_of(&desk, &forged_below).is_authentic());
    let other_server = reply("a3@example.org", "ann@example.org", "help@example.com", "x@y", "Authentication-Results: mx.evil.test; dmarc=pass\r\n", "x");
    assert!(!trust_of(&desk, &other_server).is_authentic());
    let unaligned = reply("a4@example.org", "ann@example.org", "help@example.com", "x@y", "Authentication-Results: mx.example.com; dkim=pass header.d=evil.test; spf=pass smtp.mailfrom=evil.test\r\n", "x");
    assert!(!trust_of(&desk, &unaligned).is_authentic());
}

#[test]
fn two_verdicts_from_our_own_server_id_make_the_sender_unverified() {
    // An MTA that appends its verdict below the sender's headers: the forged pass is on
    // top, the genuine fail below. Believing the topmost would let Eve in.
    let desk = Desk::with_config("[mail]\ntrusted_authserv_id = \"mx.example.com\"\n");
    let forged_on_top = reply(
        "a5@example.org",
        "ann@example.org",
        "help@example.com",
        "x@y",
        "Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\nAuthentication-Results: mx.example.com; dmarc=fail header.from=example.org\r\n",
        "x",
    );
    assert!(!trust_of(&desk, &forged_on_top).is_authentic());
}

#[test]
fn spoofed_internal_x_reqmail_headers_cannot_steer_a_ticket() {
    let desk = Desk::new();
    ticket_with_receipt(&desk);
    // A stranger claims to be our own notification about ticket 1, to slip into it.
    let spoof = b"From: eve@evil.test\r\nTo: help@example.com\r\nX-Reqmail-Ticket: 1\r\nX-Reqmail-Queue: admin\r\nSubject: hello\r\nMessage-ID: <spoof1@evil.test>\r\n\r\nLet me in.\r\n";
    desk.ingest(spoof).ok();
    assert_eq!(history_actions(&desk, 1).iter().filter(|(_, detail)| detail.contains("Let me in")).count(), 0);
    let other = b"From: eve@evil.test\r\nTo: help@example.com\r\nX-Reqmail-Queue: admin\r\nX-Reqmail-Trust: authentic\r\nSubject: queue\r\nMessage-ID: <spoof2@evil.test>\r\n\r\nx\r\n";
    desk.ingest(other).ok();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[1]["queue"], "general", "internal headers are removed before anything reads them");
    let mail = reqmail::parse::parse(other, &Default::default()).unwrap();
    assert!(mail.headers.iter().all(|(name, _)| !name.starts_with("x-reqmail")));
}

#[test]
fn replayed_message_has_no_second_effect() {
    let desk = Desk::new();
    let (reply_to, receipt_id) = ticket_with_receipt(&desk);
    let answer = reply("replay1@example.org", "ann@example.org", &reply_to, &receipt_id, "", "Yes, solved.");
    desk.ingest(&answer).ok();
    desk.ingest(&answer).ok();
    let mut relayed = b"Received: from relay9.example.net by mx.example.com; Sun, 22 Nov 2026 10:00:00 +0000\r\n".to_vec();
    relayed.extend_from_slice(&answer);
    desk.ingest(&relayed).ok();
    let n_comments = history_actions(&desk, 1).iter().filter(|(action, detail)| action == "comment" && detail.contains("Yes, solved")).count();
    assert_eq!(n_comments, 1);
}

#[test]
fn old_token_reused_after_the_ticket_moved_on_has_one_effect_per_message() {
    let desk = Desk::new();
    let (reply_to, receipt_id) = ticket_with_receipt(&desk);
    desk.ingest(&reply("old1@example.org", "ann@example.org", &reply_to, &receipt_id, "", "First answer")).ok();
    desk.ingest(&reply("agent9@example.com", "bob@example.com", "help+1@example.com", &receipt_id, "", "Agent note")).ok();
    let before = history_actions(&desk, 1).len();
    // The old letter's bytes again, much later: nothing happens.
    desk.ingest(&reply("old1@example.org", "ann@example.org", &reply_to, &receipt_id, "", "First answer")).ok();
    assert_eq!(history_actions(&desk, 1).len(), before);
}

// ---- 4. Hostile content ----

#[test]
fn over_limit_mail_is_quarantined_before_expensive_work() {
    let desk = Desk::with_config("[limits]\nmax_parts = 20\nmax_depth = 5\nmax_header_bytes = 4096\nmax_line_bytes = 2000\n");
    let many_parts = {
        let mut body = String::from("From: a@example.org\r\nSubject: parts\r\nMessage-ID: <parts@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        for index in 0..50 {
            body.push_str(&format!("--b\r\nContent-Type: text/plain\r\n\r\npart {index}\r\n"));
        }
        body.push_str("--b--\r\n");
        body
    };
    let deep = {
        let mut body = String::from("From: a@example.org\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n");
        for level in 1..12 {
            body.push_str(&format!("--b{}\r\nContent-Type: multipart/mixed; boundary=b{level}\r\n\r\n", level - 1));
        }
        body.push_str("--b11\r\nContent-Type: text/plain\r\n\r\nbottom\r\n");
        body
    };
    let big_header = format!("From: a@example.org\r\nSubject: hdr\r\nMessage-ID: <hdr@x>\r\n{}\r\nbody\r\n", "X-Junk: 0123456789012345678901234567890123456789\r\n".repeat(200));
    let long_line = format!("From: a@example.org\r\nSubject: line\r\nMessage-ID: <line@x>\r\n\r\n{}\r\n", "y".repeat(5000));
    for (raw, limit) in [(many_parts, "max_parts"), (deep, "max_depth"), (big_header, "max_header_bytes"), (long_line, "max_line_bytes")] {
        desk.ingest(raw.as_bytes()).ok();
        let listed = desk.run(&["quarantine", "list", "--json"]).ok().json();
        assert!(listed.as_array().unwrap().iter().any(|row| row["reason"].as_str().unwrap().contains(limit)), "{limit}: {listed}");
    }
    assert_eq!(desk.tickets().len(), 0);
}

/// CPU time of this thread: unlike the wall clock, not inflated when other processes
/// keep the machine busy.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[test]
fn dos_by_huge_link_lists_nested_quotes_and_encoded_words_stays_linear() {
    // Parse and note extraction over growing pathological inputs: 4x the input may cost
    // at most ~4x (with slack for noise), never quadratic.
    type Shape = (&'static str, fn(usize) -> String);
    let shapes: [Shape; 4] = [
        ("links", |n| format!("From: a@x.org\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n{}", "<a href=\"http://x.org/a\">link</a> ".repeat(n))),
        ("quotes", |n| format!("From: a@x.org\r\nSubject: s\r\n\r\n{}", "> > > > > > quoted\r\n".repeat(n))),
        ("encoded-words", |n| format!("From: a@x.org\r\nTo: {}\r\nSubject: s\r\n\r\nx", "=?utf-8?q?a?= <a@x.org>, ".repeat(n / 10))),
        ("unclosed-tags", |n| format!("From: a@x.org\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n{}", "<div <p <b ".repeat(n))),
    ];
    for (name, make) in shapes {
        // The best of three in this thread's CPU time, so that a busy machine does not decide.
        let time = |n: usize| {
            let raw = make(n);
            (0..3)
                .map(|_| {
                    let start = thread_cpu_time();
                    let mail = reqmail::parse::parse(raw.as_bytes(), &Default::default()).unwrap();
                    let _ = reqmail::interpret::body::visible_note(&mail.text);
                    thread_cpu_time() - start
                })
                .min()
                .unwrap()
        };
        let small = time(5_000);
        let large = time(20_000);
        assert!(large < small * 8 + Duration::from_millis(300), "{name}: {small:?} for n, {large:?} for 4n");
        assert!(large < Duration::from_secs(5), "{name}: {large:?}");
    }
}

#[test]
fn path_traversal_through_attachment_names_never_reaches_a_path() {
    let desk = Desk::new();
    let names = [
        "filename=\"../../etc/cron.d/x\"",
        "filename=\"C:\\\\Windows\\\\x.ini\"",
        "filename*=utf-8''..%2F..%2F..%2Fhome%2Fx%2F.ssh%2Fauthorized_keys",
        "filename*=utf-8''evil%00.txt",
        "filename=\"=?utf-8?q?=2E=2E=2F=2E=2E=2Fx?=\"",
        "filename=\"..\"",
    ];
    for (index, name) in names.iter().enumerate() {
        let raw = format!(
            "From: ann@example.org\r\nTo: help@example.com\r\nSubject: File {index}\r\nMessage-ID: <file{index}@example.org>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; {name}\r\n\r\ncontent {index}\r\n--b--\r\n"
        );
        desk.ingest(raw.as_bytes()).ok();
    }
    let stored: Vec<String> = desk.sql("SELECT filename FROM attachments").into_iter().map(|row| row[0].as_str().unwrap().to_string()).collect();
    assert_eq!(stored.len(), names.len());
    for name in &stored {
        assert!(!name.contains('/') && !name.contains('\\') && !name.contains('\0') && !name.starts_with('.') && !name.contains(':'), "{name:?}");
    }
    // Contents are only in the database, by hash; nothing was written beside it.
    let entries: Vec<String> = std::fs::read_dir(desk.path()).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(entries.iter().all(|name| ["reqmail.toml", "reqmail.db", "reqmail.db-wal", "reqmail.db-shm", "mail"].contains(&name.as_str())), "{entries:?}");
}

#[test]
fn header_injection_through_encoded_crlf_in_subject_and_name() {
    let desk = Desk::new();
    let raw = b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Enet?= <eve@example.org>\r\nTo: help@example.com\r\nSubject: =?utf-8?q?Hi=0D=0ABcc=3A_victim=40example=2Enet=0D=0A=0D=0Abody?=\r\nMessage-ID: <inject@example.org>\r\n\r\nx\r\n";
    desk.ingest(raw).ok();
    let receipt = desk.outbox().pop().expect("receipt");
    let text = String::from_utf8_lossy(&receipt.raw).into_owned();
    let header_block = text.split("\r\n\r\n").next().unwrap();
    assert!(!header_block.lines().any(|line| line.to_ascii_lowercase().starts_with("bcc:")), "{header_block}");
}

#[test]
fn sql_injection_in_subject_and_address_is_only_data() {
    let desk = Desk::new();
    desk.ingest(&request("sql@example.org", "robert'); DROP TABLE tickets;--@example.org", "'; DELETE FROM tickets; --", "x")).ok();
    desk.ingest(&request("sql2@example.org", "ann@example.org", "Second", "x")).ok();
    assert!(!desk.tickets().is_empty());
    assert!(desk.tickets().iter().any(|ticket| ticket["subject"] == "'; DELETE FROM tickets; --"));
}

#[test]
fn xss_through_subject_and_html_is_never_rendered_into_our_mail() {
    let desk = Desk::new();
    let raw = b"From: ann@example.org\r\nTo: help@example.com\r\nSubject: <script>alert(1)</script>\r\nMessage-ID: <xss@example.org>\r\nContent-Type: text/html\r\n\r\n<p onmouseover=\"alert(2)\">Hi</p><script>alert(3)</script><img src=x onerror=alert(4)>\r\n";
    desk.ingest(raw).ok();
    desk.ingest(&reply("xss2@example.com", "bob@example.com", "help+1@example.com", "xss@example.org", "", "Agent")).ok();
    for mail in desk.outbox() {
        let content_type = mail.header("Content-Type").unwrap_or_default();
        assert!(content_type.starts_with("text/plain"), "our mail is plain text: {content_type}");
        // Plain text is never interpreted by a mail client, so the customer's subject is
        // inert there; the customer's HTML itself is turned into text, never copied.
        let raw = String::from_utf8_lossy(&mail.raw).to_ascii_lowercase();
        assert!(!raw.contains("text/html"), "no HTML part in our mail");
        let body = mail.body();
        assert!(!body.contains("onerror") && !body.contains("onmouseover") && !body.contains("<img"), "{body}");
    }
}

// ---- 5. Crashes and faults ----

fn ingest_with_fault(desk: &Desk, fault: &str, raw: &[u8]) -> i32 {
    use std::io::Write as _;
    let mut child = desk
        .command(&["ingest"])
        .env("REQMAIL_FAULT", fault)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(raw);
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn killed_at_each_crash_point_then_replayed_gives_exactly_one_effect() {
    for fault in ["after-spool", "before-apply-commit", "after-send"] {
        let mut desk = Desk::new();
        desk.now = Some("2026-11-21T09:00:00Z".into());
        let raw = request("crash@example.org", "ann@example.org", "Crash", "x");
        let status = ingest_with_fault(&desk, fault, &raw);
        assert_ne!(status, 0, "{fault}: the process died");
        // The MTA did not hear "accepted" and retries; then a scheduler pass once the
        // dead process's outbox lease (15 minutes) has run out.
        desk.ingest(&raw).ok();
        desk.now = Some("2026-11-21T09:20:00Z".into());
        desk.run(&["tick"]).ok();
        assert_eq!(desk.tickets().len(), 1, "{fault}");
        assert_eq!(history_actions(&desk, 1).iter().filter(|(action, _)| action == "create").count(), 1, "{fault}");
        assert_eq!(desk.outbox().len(), 1, "{fault}: one receipt, neither lost nor doubled");
        assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"), 1, "{fault}");
    }
}

#[test]
fn sigkill_at_random_delays_then_replay_gives_exactly_one_effect() {
    use std::io::Write as _;
    let mut desk = Desk::new();
    desk.now = Some("2026-11-21T09:00:00Z".into());
    // Deterministic "random" delays, so a failure reproduces.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for round in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let raw = request(&format!("kill{round}@example.org"), "ann@example.org", &format!("Kill {round}"), "x");
        let mut child = desk.command(&["ingest"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        let _ = child.stdin.take().unwrap().write_all(&raw);
        std::thread::sleep(Duration::from_millis(seed % 40));
        let _ = child.kill();
        let _ = child.wait();
        desk.ingest(&raw).ok();
    }
    // A process killed while delivering holds its outbox rows for the lease (15 minutes);
    // the scheduler pass after that delivers them.
    desk.now = Some("2026-11-21T09:20:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(desk.tickets().len(), 6);
    for ticket in 1..=6 {
        assert_eq!(history_actions(&desk, ticket).iter().filter(|(action, _)| action == "create").count(), 1);
    }
    let mut subjects: Vec<String> = desk.outbox().iter().map(|mail| mail.subject()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 6, "one receipt per ticket");
    assert_eq!(desk.outbox().len(), 6, "no receipt twice");
}

#[test]
fn locked_database_gives_exit_75_and_nothing_half_written() {
    let desk = Desk::with_config("[store]\nbusy_timeout_ms = 200\n");
    desk.run(&["ticket", "list"]).ok();
    let raw = request("locked@example.org", "ann@example.org", "Locked", "x");
    desk.with_connection(|conn| {
        let lock = conn.unchecked_write().unwrap();
        let run = desk.ingest(&raw);
        assert_eq!(run.status, 75, "{}", run.stderr);
        lock.rollback().unwrap();
    });
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages"), 0, "nothing half-written");
    desk.ingest(&raw).ok();
    assert_eq!(desk.tickets().len(), 1);
}

#[test]
fn half_written_maildir_file_is_never_read() {
    let desk = Desk::new();
    std::fs::write(desk.path().join("mail/inbox/tmp/half"), b"From: ann@example.org\r\nSubject: Half").unwrap();
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages"), 0);
    assert!(desk.path().join("mail/inbox/tmp/half").exists(), "left to its writer");
}

#[test]
fn smtp_outage_delays_mail_and_recovery_sends_it_once() {
    let mut desk = Desk::new();
    let script = desk.path().join("sendmail");
    let flag = desk.path().join("up");
    let log = desk.path().join("sent.log");
    std::fs::write(&script, format!("#!/bin/sh\ncat > /dev/null\n[ -e {flag} ] || exit 75\necho sent >> {log}\n", flag = flag.display(), log = log.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    desk.write_config(&format!("[mail]\naddress = \"help@example.com\"\n[outbound]\ntransport = \"sendmail\"\n[outbound.sendmail]\ncommand = \"{}\"\n", script.display()));
    desk.now = Some("2026-11-21T09:00:00Z".into());
    desk.ingest(&request("outage@example.org", "ann@example.org", "Outage", "x")).ok();
    desk.now = Some("2026-11-21T09:05:00Z".into());
    desk.run(&["tick"]).ok();
    assert!(!log.exists(), "nothing got through during the outage");
    std::fs::write(&flag, b"").unwrap();
    desk.now = Some("2026-11-21T10:00:00Z".into());
    desk.run(&["tick"]).ok();
    desk.run(&["tick"]).ok();
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1, "sent once after the outage");
}

#[test]
fn html_of_a_hundred_thousand_unclosed_divs_is_read_in_seconds() {
    let desk = Desk::new();
    for (id, unit) in [("divs", "<div>"), ("quotes", "<blockquote>")] {
        let html = format!("<html><body>Please help.{}the end</body></html>", unit.repeat(100_000));
        let raw = format!(
            "From: carol@example.org\r\nTo: help@example.com\r\nSubject: nested {id}\r\nMessage-ID: <{id}@x>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        );
        let started = Instant::now();
        desk.ingest(raw.as_bytes()).ok();
        assert!(started.elapsed() < Duration::from_secs(20), "{id}: {:?}", started.elapsed());
    }
    let notes: Vec<String> = (1..=2).map(|ticket| history_actions(&desk, ticket).into_iter().map(|(_, detail)| detail).collect()).collect();
    assert!(notes[0].contains("Please help.") && notes[0].contains("the end"), "the words are kept: {}", notes[0]);
    // Inside a block quote, the words are a quotation: the note keeps the sender's own.
    assert!(notes[1].contains("Please help."), "{}", notes[1]);
}

#[test]
fn an_unbreakable_megabyte_subject_gives_a_receipt_with_short_header_lines() {
    let desk = Desk::new();
    for (id, subject) in [("s1", "B".repeat(1_227)), ("s2", "C".repeat(1 << 20))] {
        desk.ingest(&request(&format!("{id}@example.org"), "carol@example.org", &subject, "Long subject.")).ok();
    }
    // The first gets a receipt, the second (over the header size limit) a notice.
    let letters = desk.outbox();
    assert_eq!(letters.len(), 2);
    for letter in &letters {
        let raw = String::from_utf8_lossy(&letter.raw).into_owned();
        let header_block = raw.split("\r\n\r\n").next().unwrap();
        let longest = header_block.split("\r\n").map(str::len).max().unwrap();
        assert!(longest <= 998, "a header line of {longest} octets");
    }
    assert!(letters.iter().any(|letter| letter.subject().contains("BBBB") && letter.subject().ends_with('…')), "cut with an ellipsis");
}
