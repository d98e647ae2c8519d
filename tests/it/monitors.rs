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
