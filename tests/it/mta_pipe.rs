//! The whole loop by real mail: a customer's message goes through Postfix to `reqmail
//! ingest` by the pipe transport of deploy/postfix/ (as INSTALL.md installs it), reqmail's receipt goes
//! out by SMTP through Postfix into the customer's Dovecot mailbox, the test reads it
//! over IMAP as a mail client would and replies through Postfix again; the reply lands
//! on the same ticket. Then an agent resolves it, and the customer marks "Yes" in the
//! resolution mail and replies: the ticket closes.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use crate::harness::daemon::Daemon;
use crate::harness::dovecot::{wait_until, Dovecot, MAIL_UID};
use crate::harness::postfix::{Postfix, PostfixSetup};
use crate::harness::{Desk, Mail};

const CUSTOMER: &str = "alice@customer.test";

/// A reply to `original` as a mail client writes it: To the Reply-To (else From),
/// `Re:` subject, In-Reply-To and References, `body` above the quoted original.
pub fn reply_to(original: &Mail, message_id: &str, body: &str) -> (String, Vec<u8>) {
    let to = original.header("Reply-To").or_else(|| original.header("From")).unwrap();
    let to = to.rsplit_once('<').map(|(_, rest)| rest.trim_end_matches('>').to_string()).unwrap_or(to);
    let quoted: String = original.body().lines().map(|line| format!("> {line}\r\n")).collect();
    let raw = format!(
        "From: Alice <{CUSTOMER}>\r\nTo: {to}\r\nSubject: Re: {subject}\r\nMessage-ID: <{message_id}>\r\nIn-Reply-To: <{parent}>\r\n\
         References: <{parent}>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         {body}\r\n\r\nOn Saturday the help desk wrote:\r\n{quoted}",
        subject = original.subject(),
        parent = original.message_id(),
    );
    (to, raw.into_bytes())
}

/// The customer's mailbox, read over IMAP, once it holds `count` messages.
fn customer_mail(dovecot: &Dovecot, postfix: &Postfix, count: usize) -> Vec<Mail> {
    let arrived = wait_until(Duration::from_secs(60), || dovecot.flags("alice", "INBOX").len() >= count);
    assert!(arrived, "expected {count} messages for the customer\n--- maillog ---\n{}", postfix.log());
    dovecot.read_over_imap("alice", "alice-pw", "INBOX").into_iter().map(|raw| Mail { raw }).collect()
}

/// Dovecot for the customer, Postfix piping the help alias to `reqmail ingest` and
/// relaying reqmail's SMTP, and a reqmail installation owned by the pipe's user.
fn install() -> (Dovecot, Desk, Postfix) {
    let dovecot = Dovecot::start(&[("alice", "alice-pw")]);
    let desk = Desk::new();
    // Postfix's pipe runs reqmail as nobody: the installation must belong to that user.
    let setup = PostfixSetup {
        reqmail_config: Some(&desk.config_path()),
        mailboxes: Some((dovecot.home(), vec!["alice".into()])),
        ..PostfixSetup::default()
    };
    let postfix = Postfix::start(&setup);
    desk.write_config(&format!(
        "[mail]\naddress = \"help@example.com\"\n[outbound]\ntransport = \"smtp\"\n[outbound.smtp]\nhost = \"127.0.0.1\"\nport = {}\n",
        postfix.port
    ));
    desk.run(&["ticket", "list"]).ok();
    std::fs::set_permissions(desk.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let chowned = std::process::Command::new("chown").arg("-R").arg(format!("{MAIL_UID}:{MAIL_UID}")).arg(desk.path()).status().unwrap();
    assert!(chowned.success());

    (dovecot, desk, postfix)
}

#[test]
fn customer_mail_through_postfix_pipe_receipt_by_smtp_and_reply_on_the_same_ticket() {
    let (dovecot, desk, postfix) = install();
    // 1. The customer writes to the help alias.
    let request = format!(
        "From: Alice <{CUSTOMER}>\r\nTo: help@example.com\r\nSubject: VPN drops every hour\r\nMessage-ID: <vpn-1@customer.test>\r\n\
         Date: Sat, 21 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSince Monday the VPN drops every hour.\r\n"
    );
    postfix.submit(CUSTOMER, "help@example.com", request.as_bytes());

    // 2. Postfix pipes it to reqmail, which answers through Postfix into Dovecot.
    let mailbox = customer_mail(&dovecot, &postfix, 1);
    let receipt = &mailbox[0];
    assert!(receipt.subject().contains("[REQ #1]"), "{}", receipt.subject());
    assert!(postfix.log().contains("relay=reqmail") && postfix.log().contains("status=sent"), "{}", postfix.log());

    // 3. The customer replies to the receipt, as a mail client would.
    let (to, reply) = reply_to(receipt, "vpn-2@customer.test", "It dropped again at 10:00, log attached below.");
    assert!(to.starts_with("help+1"), "replies go to the ticket's address: {to}");
    postfix.submit(CUSTOMER, &to, &reply);

    // 4. The reply lands on the same ticket (and the customer gets no second ticket's receipt).
    let on_ticket = wait_until(Duration::from_secs(60), || {
        let history = desk.ticket(1)["history"].to_string();
        history.contains("dropped again")
    });
    assert!(on_ticket, "reply not on ticket 1: {}\n--- maillog ---\n{}", desk.ticket(1), postfix.log());
    assert_eq!(desk.tickets().len(), 1);
    let history: Vec<String> =
        desk.ticket(1)["history"].as_array().unwrap().iter().map(|event| event["action"].as_str().unwrap().to_string()).collect();
    assert!(history.contains(&"create".to_string()) && history.contains(&"comment".to_string()), "{history:?}");

    // 5. An agent resolves the ticket; the resolution mail with its two boxes reaches the customer.
    desk.run(&["ticket", "update", "1", "status=resolved", "--note", "The VPN concentrator got new firmware."]).ok();
    let chowned = std::process::Command::new("chown").arg("-R").arg(format!("{MAIL_UID}:{MAIL_UID}")).arg(desk.path()).status().unwrap();
    assert!(chowned.success());
    let mailbox = customer_mail(&dovecot, &postfix, 2);
    let resolution = mailbox.iter().find(|mail| mail.body().contains("[ ] Yes, it is solved")).expect("the resolution mail");

    // 6. The customer marks "Yes" and replies, through Postfix once more.
    let (to, approval) = reply_to(resolution, "vpn-3@customer.test", "[X] Yes, it is solved - close the request");
    postfix.submit(CUSTOMER, &to, &approval);

    // 7. The ticket closes: the whole loop ran by real mail.
    let closed = wait_until(Duration::from_secs(60), || desk.ticket(1)["status"] == "closed");
    assert!(closed, "not closed: {}\n--- maillog ---\n{}", desk.ticket(1), postfix.log());
}

#[test]
fn postfix_pipe_hands_mail_to_serve_running_as_the_pipe_user() {
    let (dovecot, desk, postfix) = install();
    // Serve runs as the account Postfix's pipe runs ingest as, so ingest may use its socket.
    let daemon = Daemon::start_as(&desk, MAIL_UID);

    let request = "From: Alice <alice@customer.test>\r\nTo: help@example.com\r\nSubject: Badge reader dead\r\nMessage-ID: <badge-1@customer.test>\r\n\
                   Date: Sat, 21 Nov 2026 09:00:00 +0000\r\n\r\nThe badge reader at the back door is dead.\r\n";
    postfix.submit(CUSTOMER, "help@example.com", request.as_bytes());

    let mailbox = customer_mail(&dovecot, &postfix, 1);
    assert!(mailbox[0].subject().contains("[REQ #1]"), "{}", mailbox[0].subject());
    let source = desk.sql("SELECT source FROM messages WHERE direction = 'in' AND message_id = 'badge-1@customer.test'");
    assert_eq!(source[0][0], "socket", "Postfix -> ingest -> serve\n--- serve log ---\n{}", daemon.log());
    assert!(postfix.log().contains("relay=reqmail") && postfix.log().contains("status=sent"), "{}", postfix.log());
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn a_broken_installation_keeps_mail_queued_in_postfix_until_it_is_fixed() {
    let (_dovecot, desk, postfix) = install();
    let working = std::fs::read_to_string(desk.config_path()).unwrap();
    // A typo in the configuration: ingest answers 78, which Postfix would bounce.
    desk.write_config(&format!("{working}\n[mail_typo]\nx = 1\n"));
    let request = "From: Alice <alice@customer.test>\r\nTo: help@example.com\r\nSubject: Printer jam\r\nMessage-ID: <jam-1@customer.test>\r\n\
                   Date: Sat, 21 Nov 2026 09:00:00 +0000\r\n\r\nThe printer on floor 2 jams.\r\n";
    postfix.submit(CUSTOMER, "help@example.com", request.as_bytes());

    let deferred = wait_until(Duration::from_secs(60), || postfix.log().contains("relay=reqmail") && postfix.log().contains("status=SOFTBOUNCE"));
    // soft_bounce: Postfix logs the would-be bounce as SOFTBOUNCE and keeps the message.
    assert!(deferred, "expected a deferral\n--- maillog ---\n{}", postfix.log());
    assert!(!postfix.log().contains("status=bounced"), "{}", postfix.log());

    // The admin fixes the file; Postfix's next attempt delivers the same message.
    // Written whole and renamed, so that a retry in between never reads half a file.
    let fixed = desk.config_path().with_extension("fixed");
    std::fs::write(&fixed, working).unwrap();
    std::fs::rename(&fixed, desk.config_path()).unwrap();
    postfix.flush();
    let delivered = wait_until(Duration::from_secs(60), || postfix.log().contains("status=sent"));
    assert!(delivered, "not delivered after the fix\n--- maillog ---\n{}", postfix.log());
    // Taken into the intake; the drain opens the ticket a moment later.
    assert!(wait_until(Duration::from_secs(10), || desk.tickets().len() == 1), "{:?}", desk.tickets());
    assert_eq!(desk.tickets()[0]["subject"], "Printer jam");
}
