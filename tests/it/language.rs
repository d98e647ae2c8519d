//! The mail language: fields, roles, life cycle, SLA clock, notifications (DESIGN §2–§4).

use serde_json::Value;

use crate::harness::Desk;

const SITE: &str = r#"
categories = ["E-Mail / MTA Problem", "E-Mail / Spam", "Hardware / Printer / Toner"]

[identify]
trust_from_header = true

[calendar]
timezone = "Europe/Berlin"

[queues.general]
resolution = { urgent = "4h", high = "1d", medium = "3d", low = "5d" }
watchers = ["lead@example.com"]

[queues.hardware]
resolution = { urgent = "2h", high = "8h", medium = "16h", low = "40h" }
business_hours = "Mon-Fri 09:00-17:00"
holidays = ["2026-12-24"]

[checklists]
"Hardware / Printer / Toner" = ["Replace the cartridge", "Print a test page"]

[[people]]
addresses = ["bob@example.com", "robert@example.com"]
role = "agent"
name = "Bob Agent"

[[people]]
addresses = ["lead@example.com"]
role = "agent"
name = "Lea Lead"

[[people]]
addresses = ["vendor@printers.example.net"]
role = "vendor"
name = "Printer Vendor"

[[organisations]]
name = "Example Customer Corp"
domains = ["customer.example.org"]
"#;

fn desk() -> Desk {
    let mut desk = Desk::with_config(SITE);
    desk.now = Some("2026-11-23T08:00:00Z".into()); // Monday 09:00 in Berlin
    desk
}

fn mail(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    crate::harness::letter(from, to, subject, body, &format!("{:x}", sha_of(&format!("{from}{to}{subject}{body}"))))
}

fn sha_of(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Opens ticket 1 from the customer and clears the outbox.
fn open_ticket(desk: &Desk, body: &str) -> Value {
    desk.ingest(&mail("Carol <carol@customer.example.org>", "help@example.com", "Printer jammed", body)).ok();
    desk.clear_outbox();
    desk.ticket(1)
}

fn history_actions(ticket: &Value) -> Vec<String> {
    ticket["history"].as_array().unwrap().iter().map(|event| event["action"].as_str().unwrap().to_string()).collect()
}

fn letters_to(desk: &Desk, address: &str) -> Vec<crate::harness::Mail> {
    desk.outbox().into_iter().filter(|mail| mail.to() == address).collect()
}

#[test]
fn customer_fields_on_a_new_request() {
    let desk = desk();
    let ticket = open_ticket(&desk, "importance: HIGH\nDue: friday\nSystem: prn-04\nQueue: hardware\n\nThe printer eats paper.");
    assert_eq!(ticket["importance"], "high");
    assert_eq!(ticket["priority"], "high", "priority defaults to importance");
    assert_eq!(ticket["queue"], "hardware");
    assert_eq!(ticket["host"], "prn-04");
    assert_eq!(ticket["requested_due"], "2026-11-27T16:00:00Z", "friday 17:00 in Berlin");
    // hardware, high = 8h of Mon-Fri 09-17 working time from Monday 09:00: Monday 17:00.
    assert_eq!(ticket["due"], "2026-11-23T16:00:00Z");
    let note = desk.last_note();
    assert_eq!(note, "The printer eats paper.", "field lines are not part of the note");
}

#[test]
fn subject_fields_roundup_style() {
    let desk = desk();
    desk.ingest(&mail("carol@customer.example.org", "help@example.com", "VPN down [importance=urgent; queue=general]", "Help")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["subject"], "VPN down");
    assert_eq!(ticket["importance"], "urgent");
}

#[test]
fn customer_may_not_set_priority_and_is_told_why_in_one_reply() {
    let desk = desk();
    desk.ingest(&mail("carol@customer.example.org", "help@example.com", "Printer", "Priority: urgent\nOwner: bob@example.com\nImportance: low\n\nPlease.")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["priority"], "low", "priority follows the importance the customer may set");
    assert!(ticket["owner"].is_null());
    let letters = letters_to(&desk, "carol@customer.example.org");
    assert_eq!(letters.len(), 2, "a receipt and one refusal reply");
    let refusal = letters.iter().find(|mail| mail.body().contains("were not applied")).expect("refusal letter");
    assert!(refusal.body().contains("Priority: urgent") && refusal.body().contains("customers may not set Priority"), "{}", refusal.body());
    assert!(refusal.body().contains("Owner: bob@example.com"), "{}", refusal.body());
}

#[test]
fn lines_that_look_like_fields_inside_prose_are_not_fields() {
    let desk = desk();
    let ticket = open_ticket(&desk, "Hello,\nStatus: the printer is broken.\nPriority: for me it is urgent");
    assert_eq!(ticket["priority"], "medium");
    assert!(letters_to(&desk, "carol@customer.example.org").is_empty(), "no refusal for prose");
}

#[test]
fn agent_steers_and_everyone_else_hears_of_it() {
    let desk = desk();
    open_ticket(&desk, "It jams.");
    desk.ingest(&mail(
        "Bob Agent <bob@example.com>",
        "help+1@example.com",
        "Re: [REQ #1] Printer jammed",
        "Priority: urgent\nOwner: me\nCategory: hardware/printer\nHost: prn-04\nTime: 45m\n\nOn my way.",
    ))
    .ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["priority"], "urgent");
    assert_eq!(ticket["owner"], "bob@example.com");
    assert_eq!(ticket["status"], "open", "assigning opens a new ticket");
    assert_eq!(ticket["category"], "Hardware / Printer", "the configured capitals");
    assert_eq!(ticket["time_spent_minutes"], 45);
    let actions = history_actions(&ticket);
    for action in ["priority", "owner", "status", "category", "host", "time", "comment"] {
        assert!(actions.contains(&action.to_string()), "{action} in {actions:?}");
    }
    let to_customer = letters_to(&desk, "carol@customer.example.org");
    assert_eq!(to_customer.len(), 1);
    let body = to_customer[0].body();
    let note_at = body.find("On my way.").expect("note first");
    let changes_at = body.find("priority: medium → urgent").expect("summary of changes");
    assert!(note_at < changes_at, "{body}");
    assert!(body.contains("Status:      open"), "current state follows: {body}");
    assert!(letters_to(&desk, "bob@example.com").is_empty(), "no mail about one's own action");
    assert_eq!(letters_to(&desk, "lead@example.com").len(), 1, "queue watcher");
}

#[test]
fn vendor_may_log_time_and_hold_but_not_resolve() {
    let desk = desk();
    open_ticket(&desk, "It jams.");
    desk.ingest(&mail("vendor@printers.example.net", "help+1@example.com", "Re: [REQ #1]", "Time: 1h30m\nStatus: hold\n\nWaiting for parts.")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["status"], "hold");
    assert_eq!(ticket["time_spent_minutes"], 90);
    desk.clear_outbox();
    desk.ingest(&mail("vendor@printers.example.net", "help+1@example.com", "Re: [REQ #1]", "Status: resolved\n\nFixed.")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["status"], "open", "not resolved; and the vendor's next mail ended the hold");
    let refusal = letters_to(&desk, "vendor@printers.example.net");
    assert!(refusal.iter().any(|mail| mail.body().contains("vendors may only")), "told why");
}

#[test]
fn hold_stops_the_sla_clock() {
    let mut desk = desk();
    open_ticket(&desk, "Queue: general\n\nMail is slow."); // medium: 3d round the clock, due Thursday 08:00Z
    assert_eq!(desk.ticket(1)["due"], "2026-11-26T08:00:00Z");
    desk.now = Some("2026-11-23T10:00:00Z".into());
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Status: hold\n\nWaiting for the customer.")).ok();
    desk.now = Some("2026-11-24T10:00:00Z".into());
    desk.ingest(&mail("carol@customer.example.org", "help+1@example.com", "Re: [REQ #1]", "Here is the log.")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["status"], "open", "the customer's answer ended the hold");
    assert_eq!(ticket["due"], "2026-11-27T08:00:00Z", "24 hours on hold move the due date by 24 hours");
}

#[test]
fn hold_over_a_weekend_in_business_hours_counts_only_working_time() {
    let mut desk = desk();
    // Hardware, medium = 16h of Mon-Fri 09:00-17:00 Berlin: two working days from Monday 09:00.
    open_ticket(&desk, "Queue: hardware\n\nToner empty.");
    assert_eq!(desk.ticket(1)["due"], "2026-11-24T16:00:00Z");
    // On hold from Friday 16:00 to Monday 11:00 Berlin: 1h Friday + 2h Monday of working time.
    desk.now = Some("2026-11-27T15:00:00Z".into());
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Status: hold\n\nParts ordered.")).ok();
    desk.now = Some("2026-11-30T10:00:00Z".into());
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Status: open\n\nParts here.")).ok();
    assert_eq!(desk.ticket(1)["due"], "2026-11-25T11:00:00Z", "due moved by 3 working hours");
}

#[test]
fn checklist_must_be_done_before_resolving() {
    let desk = desk();
    open_ticket(&desk, "Toner empty.");
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Category: Hardware / Printer / Toner\nCheck: 1\nStatus: resolved\n\nDone?")).ok();
    assert_eq!(desk.ticket(1)["status"], "new");
    let refusal = letters_to(&desk, "bob@example.com");
    assert!(refusal.iter().any(|mail| mail.body().contains("2. Print a test page")), "lists what is left");
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Check: 2\nStatus: resolved\n\nDone.")).ok();
    assert_eq!(desk.ticket(1)["status"], "resolved");
}

#[test]
fn unknown_category_and_queue_are_refused_with_the_known_ones() {
    let desk = desk();
    open_ticket(&desk, "x");
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Category: Plumbing\nQueue: nowhere\n\nx")).ok();
    let body = letters_to(&desk, "bob@example.com").into_iter().map(|mail| mail.body()).collect::<String>();
    assert!(body.contains("known: E-Mail / MTA Problem"), "{body}");
    assert!(body.contains("known queues: general, hardware"), "{body}");
}

#[test]
fn merge_moves_everything_and_old_number_keeps_working() {
    let desk = desk();
    open_ticket(&desk, "First.");
    desk.ingest(&mail("dave@customer.example.org", "help@example.com", "Printer jammed too", "Cc: +erin@customer.example.org\n\nSecond.")).ok();
    desk.ingest(&mail("bob@example.com", "help+2@example.com", "Re: [REQ #2]", "Merge: #1\n\nSame problem.")).ok();
    let old = desk.ticket(2);
    assert_eq!(old["status"], "merged");
    let merged = desk.ticket(1);
    assert!(merged["cc"].as_array().unwrap().iter().any(|cc| cc == "erin@customer.example.org"), "{merged}");
    assert!(merged["history"].as_array().unwrap().iter().any(|event| event["detail"].as_str().unwrap().contains("Second.")));
    desk.ingest(&mail("dave@customer.example.org", "help+2@example.com", "Re: [REQ #2] Printer jammed too", "Any news?")).ok();
    let merged = desk.ticket(1);
    assert!(merged["history"].as_array().unwrap().iter().any(|event| event["detail"].as_str().unwrap().contains("Any news?")));
    assert_eq!(desk.tickets().len(), 2);
    assert_eq!(merged["links"], serde_json::json!([2]));
    desk.assert_listing_agrees_with_show();
}

#[test]
fn internal_notes_reach_agents_only() {
    let desk = Desk::with_config(&format!("{SITE}\n"));
    let desk = {
        let mut desk = desk;
        desk.write_config(&SITE.replace("[identify]", "[mail]\naddress = \"help@example.com\"\ncomment_address = \"help-comment@example.com\"\n\n[identify]"));
        desk.now = Some("2026-11-23T08:00:00Z".into());
        desk
    };
    open_ticket(&desk, "x");
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Visibility: internal\n\nCustomer is difficult.")).ok();
    assert!(letters_to(&desk, "carol@customer.example.org").is_empty());
    let lead = letters_to(&desk, "lead@example.com");
    assert_eq!(lead.len(), 1);
    assert!(lead[0].body().contains("internal note"), "{}", lead[0].body());
    desk.clear_outbox();
    desk.ingest(&mail("bob@example.com", "help-comment@example.com", "Re: [REQ #1] Printer jammed", "Also via the comment address.")).ok();
    assert!(letters_to(&desk, "carol@customer.example.org").is_empty());
    assert_eq!(letters_to(&desk, "lead@example.com").len(), 1);
    let ticket = desk.ticket(1);
    assert_eq!(history_actions(&ticket).iter().filter(|action| *action == "internal-note").count(), 2);
}

#[test]
fn preferences_by_mail_shape_the_next_notification() {
    let desk = desk();
    open_ticket(&desk, "x");
    desk.ingest(&mail("carol@customer.example.org", "help+1@example.com", "Re: [REQ #1]", "Preferences: brief, de\n\nDanke.")).ok();
    desk.clear_outbox();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Priority: high\n\nWir kümmern uns.")).ok();
    let letter = &letters_to(&desk, "carol@customer.example.org")[0];
    let body = letter.body();
    assert!(body.contains("schrieb:") && body.contains("Änderungen:"), "German: {body}");
    assert!(!body.contains("Ticket #1: Printer jammed"), "brief: no state block: {body}");
}

#[test]
fn notify_own_actions_when_asked() {
    let desk = desk();
    open_ticket(&desk, "x");
    desk.run(&["person", "set", "carol@customer.example.org", "--notify-own-actions", "true"]).ok();
    desk.ingest(&mail("carol@customer.example.org", "help+1@example.com", "Re: [REQ #1]", "More details.")).ok();
    assert_eq!(letters_to(&desk, "carol@customer.example.org").len(), 1);
}

#[test]
fn unverified_sender_cannot_command_and_is_told_once() {
    let mut desk = Desk::with_config(&SITE.replace("trust_from_header = true", "trust_from_header = false"));
    desk.now = Some("2026-11-23T08:00:00Z".into());
    open_ticket(&desk, "x");
    // Anyone can put an agent's address in From.
    desk.ingest(&mail("Bob Agent <bob@example.com>", "help+1@example.com", "Re: [REQ #1]", "Status: closed\nOwner: bob@example.com\n\nClosing this.")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["status"], "new");
    assert!(ticket["owner"].is_null());
    assert!(ticket["history"].as_array().unwrap().iter().any(|event| event["actor"] == "bob@example.com (unverified)"));
    let told = letters_to(&desk, "bob@example.com");
    assert_eq!(told.len(), 1);
    assert!(told[0].body().contains("could not verify"), "{}", told[0].body());
    desk.ingest(&mail("Bob Agent <bob@example.com>", "help+1@example.com", "Re: [REQ #1]", "Status: closed\n\nAgain.")).ok();
    assert_eq!(letters_to(&desk, "bob@example.com").len(), 1, "told once");
}

#[test]
fn ticket_update_from_the_command_line() {
    let desk = desk();
    open_ticket(&desk, "x");
    desk.run(&["ticket", "update", "1", "priority=high", "owner=Bob Agent", "--note", "Escalated by monitoring"]).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["owner"], "bob@example.com");
    assert!(letters_to(&desk, "carol@customer.example.org")[0].body().contains("Escalated by monitoring"));
    let refused = desk.run(&["ticket", "update", "1", "category=Hardware/Printer/Toner", "status=resolved"]);
    assert_eq!(refused.status, 1);
    assert!(refused.stderr.contains("checklist"), "{}", refused.stderr);
    assert_eq!(desk.ticket(1)["category"], "Hardware / Printer / Toner", "the rest was applied");
    let as_customer = desk.run(&["ticket", "update", "1", "status=closed", "--as", "carol@customer.example.org"]);
    assert_eq!(as_customer.status, 1);
    assert_eq!(desk.run(&["ticket", "update", "1", "colour=red"]).status, 64);
}

#[test]
fn people_keep_their_identity_when_addresses_change() {
    let desk = desk();
    open_ticket(&desk, "x");
    desk.run(&["person", "set", "carol@customer.example.org", "--add-address", "carol@new.example.org", "--primary", "carol@new.example.org"]).ok();
    assert_eq!(desk.ticket(1)["requester"], "carol@new.example.org");
    desk.run(&["person", "remove", "carol@customer.example.org"]).ok();
    // Mail from the new address continues as the same person.
    desk.ingest(&mail("carol@new.example.org", "help+1@example.com", "Re: [REQ #1]", "New address, same me.")).ok();
    assert_eq!(desk.ticket(1)["requester"], "carol@new.example.org");
    let refused = desk.run(&["person", "remove", "carol@new.example.org"]);
    assert_eq!(refused.status, 1, "last address of a person with tickets: {}", refused.stderr);
    let people = desk.run(&["person", "list", "--json"]).ok().json();
    let carol = people.as_array().unwrap().iter().find(|person| person["addresses"][0] == "carol@new.example.org").unwrap();
    assert_eq!(carol["addresses"].as_array().unwrap().len(), 1);
}

#[test]
fn unknown_senders_can_be_rejected() {
    let desk = Desk::with_config("[identify]\nunknown_senders = \"reject\"\n[[people]]\naddresses = [\"known@example.org\"]\nrole = \"customer\"\n");
    desk.ingest(&mail("stranger@example.net", "help@example.com", "Hi", "Let me in")).ok();
    desk.ingest(&mail("known@example.org", "help@example.com", "Hi", "I am known")).ok();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["requester"], "known@example.org");
    let outcome = desk.sql("SELECT outcome FROM messages WHERE from_address = 'stranger@example.net'");
    assert!(outcome[0][0].as_str().unwrap().contains("rejected"), "{outcome:?}");
    desk.ingest(&mail("stranger@example.net", "help@example.com", "Hi again", "Please")).ok();
    let polite: Vec<_> = letters_to(&desk, "stranger@example.net");
    assert_eq!(polite.len(), 1, "one polite reply, once");
    assert!(polite[0].body().contains("no ticket was opened"), "{}", polite[0].body());
    assert_eq!(desk.tickets().len(), 1);
}
