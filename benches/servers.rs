//! Throughput against real servers on loopback, with the release binary:
//! - IMAP: one `reqmail fetch` over a Dovecot mailbox of 5,000 messages (download,
//!   spool, flag, process into 5,000 tickets), in messages per second;
//! - SMTP: one `reqmail tick` delivering 2,000 queued receipts through the outbox, to
//!   Postfix's `smtp-sink` (reqmail's side alone) and to a real Postfix (accepts into
//!   its queue), in deliveries per second.
//!
//! Run: `cargo bench --bench servers` (needs dovecot, postfix and openssl, as the tests).

#[allow(unused_imports)]
#[path = "../tests/it/harness/mod.rs"]
mod harness;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::dovecot::{free_port, wait_until, Dovecot};
use harness::postfix::{Postfix, PostfixSetup};
use harness::{request, Desk};

const IMAP_MESSAGES: usize = 5_000;
const SMTP_MESSAGES: usize = 2_000;

fn main() {
    imap();
    smtp_to_sink();
    smtp_to_postfix();
}

fn imap() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    for index in 0..IMAP_MESSAGES {
        let raw = request(&format!("bench-{index}@customer.test"), &format!("c{index}@customer.test"), &format!("Request {index}"), "Please help.");
        dovecot.deliver("help", "INBOX", &raw);
    }
    let desk = Desk::with_config(&format!("[outbound]\ndeliver_immediately = false\n{}", dovecot.imap_config("help", "pw", "")));
    // Dovecot indexes the 5,000 new files on the first SELECT; that is counted too.
    let started = Instant::now();
    desk.run(&["fetch"]).ok();
    let elapsed = started.elapsed();
    assert_eq!(desk.count("SELECT COUNT(*) FROM tickets"), IMAP_MESSAGES as i64);
    println!(
        "IMAP fetch: {IMAP_MESSAGES} messages from Dovecot (STARTTLS, batches of 200) in {:.2} s = {:.0} messages/s",
        elapsed.as_secs_f64(),
        IMAP_MESSAGES as f64 / elapsed.as_secs_f64()
    );
}

/// A desk with `SMTP_MESSAGES` receipts queued for `port`.
fn queued_desk(port: u16) -> Desk {
    let desk = Desk::with_config(&format!(
        "[outbound]\ntransport = \"smtp\"\ndeliver_immediately = false\n[outbound.smtp]\nhost = \"127.0.0.1\"\nport = {port}\n"
    ));
    for index in 0..SMTP_MESSAGES {
        let raw = request(&format!("out-{index}@customer.test"), &format!("c{index}@customer.test"), &format!("Request {index}"), "Please help.");
        desk.deliver_to_inbox(&format!("m{index}"), &raw);
    }
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued'"), SMTP_MESSAGES as i64);
    desk
}

fn deliver_all(desk: &Desk, against: &str) {
    let started = Instant::now();
    desk.run(&["tick"]).ok();
    let elapsed = started.elapsed();
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"), SMTP_MESSAGES as i64);
    println!(
        "SMTP out to {against}: {SMTP_MESSAGES} deliveries in {:.2} s = {:.0} deliveries/s (one reused connection)",
        elapsed.as_secs_f64(),
        SMTP_MESSAGES as f64 / elapsed.as_secs_f64()
    );
}

fn smtp_to_sink() {
    let port = free_port();
    let mut sink = Command::new("smtp-sink")
        .args(["-u", "nobody", &format!("127.0.0.1:{port}"), "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp-sink (from the postfix package)");
    assert!(wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()));
    let desk = queued_desk(port);
    deliver_all(&desk, "smtp-sink");
    let _ = sink.kill();
    let _ = sink.wait();
}

fn smtp_to_postfix() {
    let postfix = Postfix::start(&PostfixSetup::default());
    let desk = queued_desk(postfix.port);
    deliver_all(&desk, "Postfix");
}
