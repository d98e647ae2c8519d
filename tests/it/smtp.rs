//! SMTP out through lettre to a real Postfix: plain, STARTTLS, implicit TLS with AUTH;
//! a permanently rejected recipient is recorded on the ticket and not retried, a
//! temporarily refused one is rescheduled; a relay that never answers is tried once per
//! pass.

use std::time::Duration;

use crate::harness::dovecot::{wait_until, Dovecot};
use crate::harness::postfix::{Postfix, PostfixSetup};
use crate::harness::{request, Desk};

fn smtp_desk(postfix_port: u16, extra: &str) -> Desk {
    Desk::with_config(&format!(
        "[outbound]\ntransport = \"smtp\"\nretry_initial_seconds = 60\n[outbound.smtp]\nhost = \"127.0.0.1\"\nport = {postfix_port}\ntimeout_seconds = 10\n{extra}\n"
    ))
}

fn customer_setup(dovecot: &Dovecot) -> PostfixSetup<'static> {
    PostfixSetup {
        mailboxes: Some((dovecot.home(), vec!["alice".into()])),
        rejected: vec!["gone@customer.test"],
        deferred: vec!["busy@customer.test"],
        sasl_socket: Some(dovecot.auth_socket()),
        ..PostfixSetup::default()
    }
}

fn receipts_in_mailbox(dovecot: &Dovecot, count: usize, postfix: &Postfix) {
    let arrived = wait_until(Duration::from_secs(30), || dovecot.flags("alice", "INBOX").len() >= count);
    assert!(arrived, "expected {count} messages in alice's mailbox\n{}", postfix.log());
}

#[test]
fn receipts_reach_the_customer_over_plain_starttls_and_tls_with_auth() {
    let dovecot = Dovecot::start(&[("alice", "alice-pw"), ("help", "pw")]);
    let postfix = Postfix::start(&customer_setup(&dovecot));
    let ca = dovecot.ca_file().display().to_string();

    let plain = smtp_desk(postfix.port, "security = \"none\"");
    plain.ingest(&request("p1@customer.test", "alice@customer.test", "Plain", "x")).ok();
    receipts_in_mailbox(&dovecot, 1, &postfix);

    let starttls = smtp_desk(postfix.port, &format!("security = \"starttls\"\nca_file = \"{ca}\""));
    starttls.ingest(&request("p2@customer.test", "alice@customer.test", "Starttls", "x")).ok();
    receipts_in_mailbox(&dovecot, 2, &postfix);

    let tls = smtp_desk(postfix.tls_port, &format!("security = \"tls\"\nca_file = \"{ca}\"\nusername = \"help\"\npassword = \"pw\""));
    tls.ingest(&request("p3@customer.test", "alice@customer.test", "Implicit TLS", "x")).ok();
    receipts_in_mailbox(&dovecot, 3, &postfix);
    assert!(wait_until(Duration::from_secs(10), || postfix.log().contains("sasl_username=help")), "{}", postfix.log());
    for desk in [&plain, &starttls, &tls] {
        assert_eq!(desk.sql("SELECT status FROM outbox"), [[serde_json::json!("sent")]]);
    }
    let subjects: Vec<String> =
        dovecot.read_over_imap("alice", "alice-pw", "INBOX").iter().map(|raw| crate::harness::Mail { raw: raw.clone() }.subject()).collect();
    assert!(subjects.iter().any(|subject| subject.contains("Implicit TLS")), "{subjects:?}");
}

#[test]
fn permanent_rejection_is_recorded_and_not_retried_temporary_one_is_rescheduled() {
    let dovecot = Dovecot::start(&[("alice", "alice-pw")]);
    let postfix = Postfix::start(&customer_setup(&dovecot));
    let desk = smtp_desk(postfix.port, "");
    desk.ingest(&request("r1@customer.test", "gone@customer.test", "Rejected", "x")).ok();
    desk.ingest(&request("r2@customer.test", "busy@customer.test", "Deferred", "x")).ok();
    let rows = desk.sql("SELECT recipient, status, attempts, last_error FROM outbox ORDER BY id");
    assert_eq!(rows[0][1], "failed", "{rows:?}");
    assert!(rows[0][3].as_str().unwrap().contains("554"), "{rows:?}");
    assert_eq!(rows[1][1], "queued", "{rows:?}");
    assert!(rows[1][3].as_str().unwrap().contains("450"), "{rows:?}");
    let history = desk.ticket(1)["history"].to_string();
    assert!(history.contains("delivery-failed") && history.contains("gone@customer.test"), "{history}");
    // Another pass neither retries the rejected one nor the deferred one before its time.
    desk.run(&["tick"]).ok();
    let again = desk.sql("SELECT attempts FROM outbox ORDER BY id");
    assert_eq!(again, [[serde_json::json!(1)], [serde_json::json!(1)]]);
}

/// A relay that accepts connections and never answers (a firewall that swallows them, a
/// hung server): each letter would wait for the whole timeout. One try per pass, then
/// the rest of the batch is deferred without connecting again.
#[test]
fn a_relay_that_never_answers_costs_one_timeout_per_pass_not_one_per_letter() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let desk = Desk::with_config(&format!(
        "[outbound]\ntransport = \"smtp\"\ndeliver_immediately = false\n[outbound.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntimeout_seconds = 1\n"
    ));
    for n in 1..=3 {
        desk.ingest(&request(&format!("q{n}@customer.test"), "alice@customer.test", &format!("Queued {n}"), "x")).ok();
    }
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND attempts = 0"), 3);
    desk.run(&["tick"]).ok();
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection for the whole pass");
    let rows = desk.sql("SELECT status, attempts, last_error FROM outbox ORDER BY id");
    assert!(rows.iter().all(|row| row[0] == "queued" && row[1] == 1), "all deferred, none lost: {rows:?}");
    assert!(rows[1][2].as_str().unwrap().starts_with("not tried: "), "{rows:?}");
}
