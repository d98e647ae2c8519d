//! Rules engine: queues by address, routing rules, rotations and assignment.

use crate::harness::{letter as mail, Desk};

const SITE: &str = r#"
categories = ["Hardware / Printer", "E-Mail"]

[identify]
trust_from_header = true

[calendar]
timezone = "Europe/Berlin"

[queues.general]

[queues.hardware]
addresses = ["hardware@example.com"]
default_priority = "high"
fallback_owner = "lead@example.com"

[queues.vip]

[[organisations]]
name = "VIP Corp"
domains = ["vip.example"]

[[people]]
addresses = ["ann@example.com"]
role = "agent"

[[people]]
addresses = ["bob@example.com"]
role = "agent"

[[people]]
addresses = ["lead@example.com"]
role = "agent"

[rotations.printers]
members = ["ann@example.com", "bob@example.com"]
per_week = 2
start = "2026-11-02"
absences = [{ who = "bob@example.com", from = "2026-12-21", to = "2026-12-31" }]

[rotations.nights]
slots = [{ members = ["bob@example.com"], from = "2026-11-23 18:00", to = "2026-11-24 08:00" }]

[[rules]]
name = "spam filter"
when = { field = "header.X-Spam-Flag", equals = "YES" }
then = { junk = true }

[[rules]]
name = "VIP customers"
when = { field = "sender.organisation", equals = "VIP Corp" }
then = { queue = "vip", priority = "urgent", cc = ["lead@example.com"], note = "VIP: answer within the hour", stop = true }

[[rules]]
name = "printers"
when = { any = [{ field = "subject", matches = "(?i)printer|toner" }, { field = "attachment.name", matches = "(?i)\\.prn$" }] }
then = { queue = "hardware", category = "Hardware / Printer", owner = "printers" }

[[rules]]
name = "after hours"
when = { not = { field = "time.hour", in = ["8", "9", "10", "11", "12", "13", "14", "15", "16", "17"] } }
then = { owner = "nights" }

[[rules]]
name = "escalated by a field"
on = "update"
when = { field = "field.host", equals = "core-router" }
then = { priority = "urgent" }
"#;

fn desk_at(now: &str) -> Desk {
    let mut desk = Desk::with_config(SITE);
    desk.now = Some(now.into());
    desk
}


// Monday 23 Nov 2026, 10:00 in Berlin.
const MONDAY_MORNING: &str = "2026-11-23T09:00:00Z";

#[test]
fn printer_rule_routes_categorises_and_assigns_least_loaded() {
    let desk = desk_at(MONDAY_MORNING);
    desk.ingest(&mail("carol@example.org", "help@example.com", "Printer on fire", "x", "p1")).ok();
    let first = desk.ticket(1);
    assert_eq!(first["queue"], "hardware");
    assert_eq!(first["priority"], "high", "the queue's default priority");
    assert_eq!(first["category"], "Hardware / Printer");
    let first_owner = first["owner"].as_str().unwrap().to_string();
    assert!(first["history"].as_array().unwrap().iter().any(|event| event["actor"] == "rule printers"), "history names the rule");
    desk.ingest(&mail("dave@example.org", "help@example.com", "Toner empty", "x", "p2")).ok();
    let second_owner = desk.ticket(2)["owner"].as_str().unwrap().to_string();
    assert_ne!(first_owner, second_owner, "the other on-duty member has fewer active tickets");
    desk.ingest(&mail("erin@example.org", "help@example.com", "Printer again", "x", "p3")).ok();
    desk.ingest(&mail("fay@example.org", "help@example.com", "Printer again", "x", "p4")).ok();
    let owners: Vec<String> = desk.tickets().iter().map(|ticket| ticket["owner"].as_str().unwrap().to_string()).collect();
    assert_eq!(owners.iter().filter(|owner| **owner == "ann@example.com").count(), 2, "{owners:?}");
    assert_eq!(owners.iter().filter(|owner| **owner == "bob@example.com").count(), 2, "{owners:?}");
}

#[test]
fn absent_member_is_skipped() {
    // 22 Dec: Bob is away, Ann takes everything.
    let desk = desk_at("2026-12-22T09:00:00Z");
    desk.ingest(&mail("carol@example.org", "help@example.com", "Printer", "x", "a1")).ok();
    desk.ingest(&mail("dave@example.org", "help@example.com", "Printer", "x", "a2")).ok();
    let owners: Vec<String> = desk.tickets().iter().map(|ticket| ticket["owner"].as_str().unwrap().to_string()).collect();
    assert_eq!(owners, ["ann@example.com", "ann@example.com"]);
}

#[test]
fn after_hours_rule_uses_the_night_slot_across_the_date_line_in_local_time() {
    // Monday 23 Nov, 21:00 in Berlin (20:00 UTC): Bob's night slot.
    let desk = desk_at("2026-11-23T20:00:00Z");
    desk.ingest(&mail("carol@example.org", "help@example.com", "VPN down", "x", "n1")).ok();
    assert_eq!(desk.ticket(1)["owner"], "bob@example.com");
    // Tuesday 08:30 Berlin: the slot is over; 8 o'clock counts as working hours.
    let mut desk = desk;
    desk.now = Some("2026-11-24T07:30:00Z".into());
    desk.ingest(&mail("dave@example.org", "help@example.com", "VPN down again", "x", "n2")).ok();
    assert!(desk.ticket(2)["owner"].is_null());
}

#[test]
fn nobody_on_duty_falls_back_to_the_queue_owner() {
    // Wednesday 25 Nov, 23:00 in Berlin: after hours, outside the night slot.
    let desk = desk_at("2026-11-25T22:00:00Z");
    desk.ingest(&mail("carol@example.org", "hardware@example.com", "Monitor dark", "x", "f1")).ok();
    assert_eq!(desk.ticket(1)["owner"], "lead@example.com");
}

#[test]
fn first_matching_rule_with_stop_wins() {
    let desk = desk_at(MONDAY_MORNING);
    desk.ingest(&mail("boss@vip.example", "help@example.com", "Printer broken", "x", "v1")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["queue"], "vip", "VIP rule stops before the printer rule");
    assert_eq!(ticket["priority"], "urgent");
    assert!(ticket["owner"].is_null());
    assert_eq!(ticket["cc"][0], "lead@example.com");
    let history = ticket["history"].as_array().unwrap();
    assert!(history.iter().any(|event| event["action"] == "internal-note" && event["detail"] == "VIP: answer within the hour"));
    let to_customer: Vec<_> = desk.outbox().into_iter().filter(|mail| mail.to() == "boss@vip.example").collect();
    assert!(to_customer.iter().all(|mail| !mail.body().contains("answer within the hour")), "internal notes stay internal");
}

#[test]
fn junk_rule_drops_with_a_logged_reason() {
    let desk = desk_at(MONDAY_MORNING);
    desk.ingest(b"From: spammer@example.net\r\nTo: help@example.com\r\nSubject: Cheap\r\nX-Spam-Flag: YES\r\nMessage-ID: <s1@test>\r\n\r\nBuy\r\n").ok();
    assert!(desk.tickets().is_empty());
    let outcome = desk.sql("SELECT outcome FROM messages WHERE direction = 'in'");
    assert!(outcome[0][0].as_str().unwrap().contains("spam filter"), "{outcome:?}");
    assert!(desk.outbox().is_empty());
}

#[test]
fn queue_addresses_and_plus_queue_addresses() {
    let desk = desk_at(MONDAY_MORNING);
    desk.ingest(&mail("carol@example.org", "hardware@example.com", "My monitor flickers", "x", "q1")).ok();
    desk.ingest(&mail("carol@example.org", "help+vip@example.com", "Another one", "x", "q2")).ok();
    let tickets = desk.tickets();
    assert_eq!(tickets[0]["queue"], "hardware");
    assert_eq!(tickets[1]["queue"], "vip");
}

#[test]
fn sender_fields_override_rules() {
    let desk = desk_at(MONDAY_MORNING);
    desk.ingest(&mail("carol@example.org", "help@example.com", "Printer", "Queue: general\n\nx", "o1")).ok();
    assert_eq!(desk.ticket(1)["queue"], "general");
}

#[test]
fn update_rules_run_on_replies_only() {
    let desk = desk_at(MONDAY_MORNING);
    desk.ingest(&mail("carol@example.org", "help@example.com", "Network", "Host: core-router\n\nDown", "u1")).ok();
    assert_eq!(desk.ticket(1)["priority"], "medium", "an update rule does not run on a new ticket");
    desk.ingest(&mail("carol@example.org", "help+1@example.com", "Re: [REQ #1] Network", "Host: core-router\n\nStill down", "u2")).ok();
    assert_eq!(desk.ticket(1)["priority"], "urgent");
}

#[test]
fn agent_can_assign_to_a_rotation_by_name() {
    let desk = desk_at(MONDAY_MORNING);
    desk.ingest(&mail("carol@example.org", "help@example.com", "Mail is slow", "x", "r1")).ok();
    desk.ingest(&mail("lead@example.com", "help+1@example.com", "Re: [REQ #1]", "Owner: printers\n\nPrinter team, please.", "r2")).ok();
    let owner = desk.ticket(1)["owner"].as_str().unwrap().to_string();
    assert!(owner == "ann@example.com" || owner == "bob@example.com", "{owner}");
}

#[test]
fn rotation_show_tells_who_is_on_duty() {
    let desk = desk_at(MONDAY_MORNING);
    let shown = desk.run(&["rotation", "show", "printers", "--at", "2026-12-22T09:00:00Z"]).ok();
    assert!(shown.stdout.starts_with("printers: ann@example.com\n"), "{}", shown.stdout);
    let nights = desk.run(&["rotation", "show", "nights", "--at", "2026-11-23T20:00:00Z"]).ok();
    assert!(nights.stdout.starts_with("nights: bob@example.com"), "{}", nights.stdout);
}

#[test]
fn rules_check_names_the_rule_and_line() {
    let desk = desk_at(MONDAY_MORNING);
    let ok = desk.run(&["rules", "check"]).ok();
    assert!(ok.stdout.contains("5 rules"), "{}", ok.stdout);
    let broken = SITE.replace(r#"matches = "(?i)printer|toner""#, r#"matches = "(?i)printer(""#);
    desk.write_config(&broken);
    let run = desk.run(&["rules", "check"]);
    assert_eq!(run.status, 78);
    let line = broken.lines().position(|line| line.contains("name = \"printers\"")).unwrap() + 1;
    assert!(run.stderr.contains("printers") && run.stderr.contains("regex"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("line {line}")), "{}", run.stderr);
    desk.write_config(&SITE.replace(r#"queue = "hardware", category"#, r#"queue = "nowhere", category"#));
    let run = desk.run(&["rules", "check"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("nowhere") && run.stderr.contains("printers"), "{}", run.stderr);
}

#[test]
fn rules_test_shows_matches_and_changes_nothing() {
    let desk = desk_at(MONDAY_MORNING);
    let mut child = desk
        .command(&["rules", "test"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(&mail("carol@example.org", "help@example.com", "Printer jam", "x", "t1")).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("rule \"printers\": matches"), "{stdout}");
    assert!(stdout.contains("rule \"VIP customers\": no match"), "{stdout}");
    assert!(stdout.contains("queue hardware") && stdout.contains("on duty: ann@example.com, bob@example.com"), "{stdout}");
    assert!(desk.tickets().is_empty(), "nothing was changed");
}

#[test]
fn queue_templates_and_rule_templates() {
    let desk = desk_at(MONDAY_MORNING);
    for (path, text) in [
        ("queue-templates/en/receipt.hbs", "Hardware desk here: ticket #{{ticket.number}} received.\n"),
        ("templates/en/vip-welcome.hbs", "Welcome, valued customer ({{ticket.subject}}).\n"),
    ] {
        let path = desk.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let site = SITE
        .replace("fallback_owner = \"lead@example.com\"", "fallback_owner = \"lead@example.com\"\ntemplates_dir = \"queue-templates\"")
        .replace("note = \"VIP: answer within the hour\",", "note = \"VIP: answer within the hour\", template = \"vip-welcome\",")
        + "\n[templates]\ndir = \"templates\"\n";
    desk.write_config(&site);
    desk.ingest(&mail("carol@example.org", "hardware@example.com", "Monitor", "x", "t1")).ok();
    desk.ingest(&mail("boss@vip.example", "help@example.com", "Hello", "x", "t2")).ok();
    let outbox = desk.outbox();
    assert!(outbox.iter().any(|mail| mail.to() == "carol@example.org" && mail.body().starts_with("Hardware desk here: ticket #1")));
    assert!(outbox.iter().any(|mail| mail.to() == "boss@vip.example" && mail.body().contains("Welcome, valued customer (Hello)")));
    assert!(outbox.iter().any(|mail| mail.to() == "boss@vip.example" && mail.body().contains("we have received your request")), "global receipt elsewhere");
}

#[test]
fn rules_test_on_garbage_says_why_without_panic() {
    let desk = desk_at(MONDAY_MORNING);
    let mut child = desk
        .command(&["rules", "test"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"\x00\xff\xfe not a message").unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a mail message") && !stderr.contains("panicked"), "{stderr}");
}
