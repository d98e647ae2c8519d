//! Monitors: repeated alerts thread onto the open ticket, and the monitor hears by a
//! machine-readable mail when its ticket is resolved or closed.

use crate::harness::Desk;

const MONITORS: &str = "[[monitors]]\nname = \"nagios\"\nfrom = \"nagios@*.example.com\"\nkey = 'PROBLEM: (\\S+) is'\n";

fn alert(id: &str, from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nAuto-Submitted: auto-generated\r\nDate: Sat, 21 Nov 2026 09:00:00 +0000\r\n\r\nState: CRITICAL\r\n"
    )
    .into_bytes()
}

#[test]
fn a_repeated_alert_threads_onto_the_open_ticket_and_the_monitor_hears_when_it_ends() {
    let desk = Desk::with_config(MONITORS);
    desk.ingest(&alert("a1@mon", "nagios@mon1.example.com", "** PROBLEM: web01/HTTP is CRITICAL **")).ok();
    desk.ingest(&alert("a2@mon", "nagios@mon1.example.com", "** PROBLEM: web01/HTTP is CRITICAL **")).ok();
    desk.ingest(&alert("a3@mon", "nagios@mon1.example.com", "** PROBLEM: db02/Disk is WARNING **")).ok();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let history = desk.ticket(1)["history"].to_string();
    assert!(history.contains("monitor alert key"), "{history}");
    assert!(desk.outbox().is_empty(), "alerts themselves are never answered");

    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    let to_monitor: Vec<_> = desk.outbox().into_iter().filter(|mail| mail.to() == "nagios@mon1.example.com").collect();
    assert_eq!(to_monitor.len(), 1, "one status mail, no approval boxes to a machine");
    let status = &to_monitor[0];
    assert_eq!(status.header("X-Reqmail-Status").as_deref(), Some("resolved"));
    assert_eq!(status.header("Auto-Submitted").as_deref(), Some("auto-replied"));
    let body = String::from_utf8_lossy(&status.raw).into_owned();
    for line in ["ticket: 1", "status: resolved", "monitor: nagios", "key: web01/HTTP"] {
        assert!(body.contains(line), "{line} in {body}");
    }

    // Closed: the monitor hears again; the next alert for the key opens a new ticket.
    desk.clear_outbox();
    desk.run(&["ticket", "update", "1", "status=closed"]).ok();
    let closed: Vec<_> = desk.outbox().into_iter().filter(|mail| mail.to() == "nagios@mon1.example.com").collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].header("X-Reqmail-Status").as_deref(), Some("closed"));
    desk.ingest(&alert("a4@mon", "nagios@mon1.example.com", "** PROBLEM: web01/HTTP is CRITICAL **")).ok();
    assert_eq!(desk.tickets().len(), 3);
}

#[test]
fn a_machine_that_is_not_a_configured_monitor_gets_no_threading_by_key_and_no_status_mail() {
    let desk = Desk::with_config(MONITORS);
    desk.ingest(&alert("b1@mon", "nagios@elsewhere.example.org", "** PROBLEM: web01/HTTP is CRITICAL **")).ok();
    desk.ingest(&alert("b2@mon", "nagios@elsewhere.example.org", "** PROBLEM: web01/HTTP is CRITICAL **")).ok();
    assert_eq!(desk.tickets().len(), 2, "no monitor, no key: each alert is its own ticket");
    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    assert!(desk.outbox().iter().all(|mail| mail.header("X-Reqmail-Status").is_none()), "status mail only to configured monitors");
}

#[test]
fn status_mail_to_a_monitor_is_rate_limited_like_every_automatic_letter() {
    let desk = Desk::with_config(&format!("[limits]\nauto_mail_per_address = 1\n{MONITORS}"));
    desk.ingest(&alert("c1@mon", "nagios@mon1.example.com", "** PROBLEM: web01/HTTP is CRITICAL **")).ok();
    desk.ingest(&alert("c2@mon", "nagios@mon1.example.com", "** PROBLEM: web02/HTTP is CRITICAL **")).ok();
    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    desk.run(&["ticket", "update", "2", "status=resolved"]).ok();
    let statuses = desk.outbox().iter().filter(|mail| mail.header("X-Reqmail-Status").is_some()).count();
    assert_eq!(statuses, 1);
    let history = desk.ticket(2)["history"].to_string();
    assert!(history.contains("mail-skipped") && history.contains("status mail to monitor nagios"), "{history}");
}

#[test]
fn rules_check_names_a_monitor_without_a_key_or_with_a_bad_one() {
    let desk = Desk::with_config("[[monitors]]\nname = \"zabbix\"\nfrom = \"zabbix@example.com\"\n");
    let run = desk.run(&["rules", "check"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("monitors[0] (\"zabbix\")") && run.stderr.contains("key_fields"), "{}", run.stderr);
    let desk = Desk::with_config("[[monitors]]\nname = \"zabbix\"\nfrom = \"zabbix@example.com\"\nkey = \"(unclosed\"\n");
    let run = desk.run(&["rules", "check"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("not a regular expression"), "{}", run.stderr);
}

/// A site where people hear of everything: a watcher on the queue, surveys after closing.
const WATCHED: &str = "[approval]\nsurvey = true\n\n[mail]\ndefault_queue = \"ops\"\n\n[queues.ops]\nwatchers = [\"lead@example.com\"]\n\n[[people]]\naddresses = [\"lead@example.com\"]\nrole = \"agent\"\n";

/// Letters to `address` in the outbox, with their bodies.
fn letters_to(desk: &Desk, address: &str) -> Vec<String> {
    desk.outbox().into_iter().filter(|mail| mail.to() == address).map(|mail| String::from_utf8_lossy(&mail.raw).into_owned()).collect()
}

#[test]
fn a_monitor_whose_alert_looks_like_a_person_gets_no_receipt_and_no_approval_boxes_only_its_status() {
    let mut desk = Desk::with_config(&format!("{WATCHED}\n{MONITORS}"));
    desk.now = Some("2026-11-23T09:00:00Z".into());
    // Plain mail, as many monitoring tools send it: no Auto-Submitted, no Precedence.
    let plain = "From: nagios@mon1.example.com\r\nTo: help@example.com\r\nSubject: ** PROBLEM: web01/HTTP is CRITICAL **\r\nMessage-ID: <p1@mon>\r\n\r\nState: CRITICAL\r\n";
    desk.ingest(plain.as_bytes()).ok();
    assert_eq!(desk.tickets().len(), 1);
    assert!(letters_to(&desk, "nagios@mon1.example.com").is_empty(), "no receipt, no template for a machine");
    let trace = desk.run(&["trace", "<p1@mon>"]).ok().stdout;
    assert!(trace.contains("from monitor \"nagios\""), "{trace}");

    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    let to_monitor = letters_to(&desk, "nagios@mon1.example.com");
    assert_eq!(to_monitor.len(), 1, "{to_monitor:?}");
    assert!(to_monitor[0].contains("X-Reqmail-Status: resolved") && !to_monitor[0].contains("[ ]"), "status, no boxes: {}", to_monitor[0]);
    assert!(letters_to(&desk, "lead@example.com").iter().any(|letter| letter.contains("resolved")), "people still hear of it");

    // Nobody will tick a box: the grace period closes it, and the monitor hears that only.
    desk.clear_outbox();
    desk.now = Some("2026-12-01T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(desk.ticket(1)["status"], "closed");
    let to_monitor = letters_to(&desk, "nagios@mon1.example.com");
    assert_eq!(to_monitor.len(), 1, "no auto-close letter, no survey: {to_monitor:?}");
    assert!(to_monitor[0].contains("X-Reqmail-Status: closed"));
}

#[test]
fn a_ticket_an_automatic_sender_opened_sends_its_requester_no_letters_at_all() {
    let mut desk = Desk::with_config(WATCHED);
    desk.now = Some("2026-11-23T09:00:00Z".into());
    desk.ingest(&alert("m1@cron", "root@backup1.example.com", "Cron <root@backup1> backup failed")).ok();
    assert_eq!(desk.tickets().len(), 1, "automatic mail may open a ticket");
    desk.ingest(&crate::harness::letter("lead@example.com", "help@example.com", "Re: [REQ #1] Cron <root@backup1> backup failed", "Looking at the disk.", "m2")).ok();
    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    desk.now = Some("2026-12-01T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(desk.ticket(1)["status"], "closed");
    assert!(letters_to(&desk, "root@backup1.example.com").is_empty(), "no update, resolution with boxes, auto-close or survey to a machine");
    assert!(!letters_to(&desk, "lead@example.com").is_empty());
}
