//! The desk: the queue view, one ticket's details, and why a message did what it did.

use serde_json::Value;

use crate::harness::{letter, Desk};

const SITE: &str = r#"
categories = ["Hardware / Printer / Toner", "Hardware / Screen", "E-Mail / Spam"]

[identify]
trust_from_header = true

[queues.general]
resolution = { urgent = "4h", high = "1d", medium = "3d", low = "5d" }

[queues.hardware]
resolution = { urgent = "2h", high = "8h", medium = "2d", low = "5d" }

[[people]]
addresses = ["bob@example.com"]
role = "agent"
name = "Bob Agent"
"#;

fn desk_at(now: &str) -> Desk {
    let mut desk = Desk::with_config(SITE);
    desk.now = Some(now.into());
    desk
}

fn request(desk: &Desk, from: &str, subject: &str, body: &str) {
    desk.ingest(&letter(from, "help@example.com", subject, body, &subject.replace(' ', "-"))).ok();
}

fn numbers(list: &Value) -> Vec<i64> {
    list.as_array().unwrap().iter().map(|ticket| ticket["number"].as_i64().unwrap()).collect()
}

/// Four tickets at different times: #1 low (due in 5d), #2 urgent on hardware (due 2h,
/// late by the time we look), #3 medium with a category and host, #4 resolved.
fn busy_desk() -> Desk {
    let mut desk = desk_at("2026-11-23T08:00:00Z");
    request(&desk, "carol@customer.example.org", "Mouse squeaks", "Importance: low\n\nIt squeaks.");
    request(&desk, "dave@customer.example.org", "Printer on fire", "Importance: urgent\nQueue: hardware\nHost: prn-04\n\nSmoke.");
    desk.now = Some("2026-11-23T09:00:00Z".into());
    request(&desk, "erin@customer.example.org", "Toner empty", "Queue: hardware\nHost: prn-07\n\nNo toner.");
    request(&desk, "frank@customer.example.org", "Password", "Please reset it.");
    desk.run(&["ticket", "update", "4", "status=resolved"]).ok();
    desk.run(&["ticket", "update", "3", "owner=bob@example.com", "category=Hardware/Printer/Toner"]).ok();
    desk.now = Some("2026-11-23T12:00:00Z".into());
    desk
}

#[test]
fn queue_lists_work_by_time_left_latest_first() {
    let desk = busy_desk();
    let list = desk.run(&["ticket", "list", "--json"]).ok().json();
    assert_eq!(numbers(&list), vec![2, 3, 1], "late #2 first, resolved #4 not in the queue");
    let text = desk.run(&["ticket", "list"]).ok().stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("STATUS") && lines[0].contains("DUE") && lines[0].contains("SUBJECT"), "{text}");
    assert!(lines[1].contains("over 2h 00m") && lines[1].ends_with("Printer on fire"), "{text}");
    assert!(lines[2].contains("bob@example.com") && lines[2].contains("1d 21h"), "{text}");
    let subject_column = lines[0].find("SUBJECT").unwrap();
    assert!(lines.iter().skip(1).all(|line| !line[subject_column..].starts_with(' ')), "aligned:\n{text}");
}

#[test]
fn queue_filters_and_orders() {
    let desk = busy_desk();
    let list = |args: &[&str]| {
        let mut full = vec!["ticket", "list", "--json"];
        full.extend_from_slice(args);
        numbers(&desk.run(&full).ok().json())
    };
    assert_eq!(list(&["--late"]), vec![2]);
    assert_eq!(list(&["--host", "prn-07"]), vec![3]);
    assert_eq!(list(&["--category", "Hardware"]), vec![3], "a category takes its subtree");
    assert_eq!(list(&["--category", "hardware / printer"]), vec![3]);
    assert!(list(&["--category", "Hardware / Screen"]).is_empty());
    assert_eq!(list(&["--owner", "bob@example.com"]), vec![3]);
    assert_eq!(list(&["--queue", "hardware"]), vec![2, 3]);
    assert_eq!(list(&["--status", "resolved"]), vec![4]);
    assert_eq!(list(&["--all", "--sort", "number"]), vec![1, 2, 3, 4]);
    assert_eq!(list(&["--limit", "1"]), vec![2], "the limit keeps the most urgent");
    assert_eq!(list(&["--sort", "priority"]), vec![2, 3, 1]);
    assert_eq!(list(&["--sort", "created"]), vec![3, 2, 1]);
    assert_eq!(list(&["--sort", "updated", "--limit", "1"]), vec![3]);
    let unknown = desk.run(&["ticket", "list", "--category", "Plumbing"]);
    assert_eq!(unknown.status, 64);
    assert!(unknown.stderr.contains("Plumbing") && unknown.stderr.contains("categories"), "{}", unknown.stderr);
}

#[test]
fn show_gives_due_category_host_time_links_and_history_ids() {
    let desk = busy_desk();
    desk.run(&["ticket", "update", "3", "time=1h30m"]).ok();
    let text = desk.run(&["ticket", "show", "3"]).ok().stdout;
    for expected in ["Category    Hardware / Printer / Toner", "Host        prn-07", "Due (SLA)", "(1d 21h)", "Time spent  1h 30m", "Links       -"] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let ticket = desk.ticket(4);
    assert_eq!(ticket["resolved"], "2026-11-23T09:00:00Z");
    assert!(ticket["closed"].is_null() && ticket["vendor"].is_null() && ticket["vendor_ticket"].is_null());
    assert_eq!(ticket["links"], serde_json::json!([]));
    let ids: Vec<i64> = ticket["history"].as_array().unwrap().iter().map(|event| event["id"].as_i64().unwrap()).collect();
    assert!(!ids.is_empty() && ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    assert!(text.contains(&format!("[{}]", desk.ticket(3)["history"][0]["id"])), "history ids in the text:\n{text}");
}

#[test]
fn closed_stdout_ends_list_quietly() {
    let desk = busy_desk();
    let mut child = desk.command(&["ticket", "list"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn trace_tells_why_by_spool_id_message_id_or_ticket() {
    let desk = desk_at("2026-11-23T08:00:00Z");
    request(&desk, "carol@customer.example.org", "Printer jammed", "Priority: urgent\nHost: prn-04\n\nPaper everywhere.");
    let spool_id = desk.sql("SELECT id FROM messages WHERE direction = 'in'")[0][0].as_i64().unwrap().to_string();
    let text = desk.run(&["trace", &spool_id]).ok().stdout;
    for expected in [
        "from         carol@customer.example.org",
        "outcome      applied",
        "class        person",
        "sender       carol@customer.example.org (customer), authentic: identify.trust_from_header",
        "ticket       #1 opened",
        "Priority: urgent (customers may not set Priority",
        "to carol@customer.example.org (customer)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let by_message_id = desk.run(&["trace", "<Printer-jammed@test>", "--json"]).ok().json();
    assert_eq!(by_message_id["message"]["id"].to_string(), spool_id);
    assert_eq!(by_message_id["decision"]["sender"]["trust"], "authentic");
    assert_eq!(by_message_id["decision"]["refused"][0]["field"], "Priority");
    assert!(by_message_id["decision"]["applied"].as_array().unwrap().iter().any(|line| line.as_str().unwrap().contains("prn-04")), "{by_message_id}");
    let by_ticket = desk.run(&["trace", "#1", "--json"]).ok().json();
    assert_eq!(by_ticket, by_message_id);

    desk.sql("UPDATE messages SET decision = NULL, decision_zstd = NULL");
    let old = desk.run(&["trace", "#1"]).ok().stdout;
    assert!(old.contains("no record") && old.contains("before"), "{old}");
    assert!(desk.run(&["trace", "#1", "--json"]).ok().json()["decision"].is_null());
    let missing = desk.run(&["trace", "99"]);
    assert_eq!(missing.status, 1);
    assert!(missing.stderr.contains("no inbound message 99"), "{}", missing.stderr);
    assert_eq!(desk.run(&["trace", "what?"]).status, 64);
}

#[test]
fn a_change_that_changes_nothing_is_explained_to_the_sender_only() {
    let desk = desk_at("2026-11-23T08:00:00Z");
    request(&desk, "carol@customer.example.org", "Printer jammed", "Importance: high\n\nPaper everywhere.");
    desk.clear_outbox();
    let before = desk.ticket(1)["history"].as_array().unwrap().len();
    let reply = letter("bob@example.com", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Priority: high\nQueue: general\n", "noop-1");
    desk.ingest(&reply).ok();
    let ticket = desk.ticket(1);
    let history = ticket["history"].as_array().unwrap();
    let added: Vec<&str> = history[before..].iter().map(|event| event["action"].as_str().unwrap()).collect();
    assert!(!added.contains(&"priority") && !added.contains(&"queue") && !added.contains(&"comment"), "{added:?}");
    let letters = desk.outbox();
    assert_eq!(letters.len(), 1, "{:?}", letters.iter().map(|mail| mail.to()).collect::<Vec<_>>());
    assert_eq!(letters[0].to(), "bob@example.com");
    assert!(letters[0].body().contains("already"), "{}", letters[0].body());

    desk.clear_outbox();
    let run = desk.run(&["ticket", "update", "1", "priority=high"]);
    assert_eq!(run.status, 1, "nothing applied");
    assert!(run.stderr.contains("already high"), "{}", run.stderr);
    assert!(desk.outbox().iter().all(|mail| mail.to() != "help@example.com"), "never a letter to the help alias");
}

#[test]
fn overdue_unowned_ticket_escalates_to_the_admins_and_again_for_a_new_due_date() {
    let site = format!("{SITE}\n[[people]]\naddresses = [\"root@example.com\"]\nrole = \"admin\"\n");
    let mut desk = Desk::with_config(&site);
    desk.now = Some("2026-11-23T08:00:00Z".into());
    request(&desk, "carol@customer.example.org", "Server down", "Importance: urgent\n\nDown.");
    desk.clear_outbox();
    desk.now = Some("2026-11-23T12:30:00Z".into());
    desk.run(&["tick"]).ok();
    let escalations: Vec<String> = desk.outbox().iter().map(|mail| mail.to()).collect();
    assert_eq!(escalations, vec!["root@example.com".to_string()], "nobody watches the queue, so the admins hear");
    desk.clear_outbox();
    desk.run(&["tick"]).ok();
    assert!(desk.outbox().is_empty(), "once per due date");

    desk.run(&["ticket", "update", "1", "status=hold"]).ok();
    desk.now = Some("2026-11-23T14:30:00Z".into());
    desk.run(&["ticket", "update", "1", "status=open"]).ok();
    let due = desk.ticket(1)["due"].as_str().unwrap().to_string();
    assert_eq!(due, "2026-11-23T14:00:00Z", "two hours on hold moved the due date by two hours");
    desk.clear_outbox();
    desk.now = Some("2026-11-23T20:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert!(desk.outbox().iter().any(|mail| mail.to() == "root@example.com"), "the new due date escalates again");
}

#[test]
fn the_agent_letter_carries_the_request_and_time_left_and_the_receipt_echoes_fields() {
    let desk = desk_at("2026-11-23T08:00:00Z");
    request(&desk, "carol@customer.example.org", "Printer jammed", "Importance: high\nHost: prn-04\nDue: friday 12:00\n\nPaper everywhere.");
    let receipt = desk.outbox().into_iter().find(|mail| mail.to() == "carol@customer.example.org").unwrap().body();
    assert!(receipt.contains("prn-04") && receipt.contains("2026-11-27 12:00 UTC"), "applied fields echoed:\n{receipt}");
    assert!(receipt.contains("Due: 2026-11-26 17:00") && !receipt.contains("2026-12-01 17:00"), "an example from today:\n{receipt}");
    desk.clear_outbox();
    desk.run(&["ticket", "update", "1", "owner=bob@example.com", "--note", "Taking a look after lunch."]).ok();
    let to_agent = desk.outbox().into_iter().find(|mail| mail.to() == "bob@example.com").expect("the new owner hears").body().replace("\r\n", "\n");
    for expected in ["The request:\nPaper everywhere.", "Time left: 1d 0h", "Taking a look after lunch."] {
        assert!(to_agent.contains(expected), "{expected:?} in\n{to_agent}");
    }
    let to_customer = desk.outbox().into_iter().find(|mail| mail.to() == "carol@customer.example.org").map(|mail| mail.body()).unwrap_or_default();
    assert!(!to_customer.contains("Time left"), "{to_customer}");
}

#[test]
fn a_phone_call_becomes_a_ticket_with_a_receipt() {
    use std::io::Write as _;
    let desk = desk_at("2026-11-23T08:00:00Z");
    let mut child = desk
        .command(&["ticket", "create", "--requester", "Gina <gina@customer.example.org>", "--subject", "VPN drops", "--as", "bob@example.com", "priority=urgent", "host=vpn-1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"Called at 9: the VPN drops every ten minutes.\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ticket #1 opened for gina@customer.example.org");
    let ticket = desk.ticket(1);
    assert_eq!(ticket["requester"], "gina@customer.example.org");
    assert_eq!(ticket["priority"], "urgent", "the agent at the desk may set the priority");
    assert_eq!(ticket["host"], "vpn-1");
    let history = ticket["history"].as_array().unwrap();
    assert!(history.iter().any(|event| event["detail"].as_str().unwrap().contains("every ten minutes")), "{history:?}");
    assert!(history.iter().any(|event| event["actor"] == "bob@example.com" && event["action"] == "taken"), "{history:?}");
    let receipt = desk.outbox().into_iter().find(|mail| mail.to() == "gina@customer.example.org").expect("a receipt").body();
    assert!(receipt.contains("opened ticket #1") && receipt.contains("vpn-1"), "{receipt}");
    let people = desk.run(&["person", "list", "--json"]).ok().json();
    let gina = people.as_array().unwrap().iter().find(|person| person.to_string().contains("gina@")).unwrap().to_string();
    assert!(gina.contains("customer"), "the caller is a customer: {gina}");
    assert_eq!(desk.run(&["ticket", "create", "--requester", "not an address", "--subject", "x"]).status, 64);
}

/// The history entry id of Dave's comment on ticket 1, as `ticket show` lists it.
fn dave_comment(desk: &Desk) -> String {
    let history = desk.ticket(1)["history"].clone();
    let comment = history.as_array().unwrap().iter().find(|event| event["actor"].as_str().unwrap().starts_with("dave@") && event["action"] == "comment");
    comment.expect("dave's comment")["id"].to_string()
}

#[test]
fn split_turns_one_comment_into_a_ticket_of_its_own_linked_both_ways() {
    let desk = desk_at("2026-11-23T08:00:00Z");
    request(&desk, "carol@customer.example.org", "Printer jammed", "Paper everywhere.");
    let reply = letter("dave@customer.example.org", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Also my screen flickers.", "split-1");
    desk.ingest(&reply).ok();
    desk.clear_outbox();
    let entry = dave_comment(&desk);
    let run = desk.run(&["ticket", "split", "1", &entry]).ok();
    assert_eq!(run.stdout.trim(), "ticket #2 opened for dave@customer.example.org, split from #1");
    let split = desk.ticket(2);
    assert_eq!(split["requester"], "dave@customer.example.org");
    assert_eq!(split["links"], serde_json::json!([1]));
    assert_eq!(desk.ticket(1)["links"], serde_json::json!([2]));
    desk.assert_listing_agrees_with_show();
    assert!(split["history"].as_array().unwrap().iter().any(|event| event["detail"].as_str().unwrap().starts_with("Also my screen flickers.")));
    let receipt = desk.outbox().into_iter().find(|mail| mail.to() == "dave@customer.example.org").expect("dave hears his number").body();
    assert!(receipt.contains("#2"), "{receipt}");
    let wrong = desk.run(&["ticket", "split", "2", &entry]);
    assert_eq!(wrong.status, 64);
    assert!(wrong.stderr.contains("not a comment of ticket 2"), "{}", wrong.stderr);
}

#[test]
fn an_agents_split_field_opens_a_ticket_for_the_comments_author() {
    let desk = desk_at("2026-11-23T08:00:00Z");
    request(&desk, "carol@customer.example.org", "Printer jammed", "Paper everywhere.");
    desk.ingest(&letter("dave@customer.example.org", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Also my screen flickers.", "split-2"))
        .ok();
    let entry = dave_comment(&desk);
    desk.clear_outbox();
    let split = format!("Split: {entry}\n\nThe screen is a separate problem; Dave has his own ticket now.");
    desk.ingest(&letter("bob@example.com", "help+1@example.com", "Re: [REQ #1] Printer jammed", &split, "split-3")).ok();
    let opened = desk.ticket(2);
    assert_eq!(opened["requester"], "dave@customer.example.org");
    assert_eq!(opened["links"], serde_json::json!([1]));
    assert_eq!(desk.ticket(1)["links"], serde_json::json!([2]));
    assert!(opened["history"].as_array().unwrap().iter().any(|event| event["detail"].as_str().unwrap().starts_with("Also my screen flickers.")));
    let letters = desk.outbox();
    let to_dave: Vec<String> = letters.iter().filter(|mail| mail.to() == "dave@customer.example.org").map(|mail| mail.body()).collect();
    assert!(to_dave.iter().any(|body| body.contains("opened ticket #2")), "dave hears his new number: {to_dave:?}");
    let to_carol = letters.iter().find(|mail| mail.to() == "carol@customer.example.org").expect("carol hears of the split").body();
    assert!(to_carol.contains("#2 split from #1"), "{to_carol}");

    desk.clear_outbox();
    let again = letter("bob@example.com", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Split: 99999\n", "split-4");
    desk.ingest(&again).ok();
    let refusal = desk.outbox().into_iter().find(|mail| mail.to() == "bob@example.com").expect("bob hears why not").body();
    assert!(refusal.contains("not a comment of ticket 1"), "{refusal}");
    assert!(desk.sql("SELECT number FROM tickets WHERE number = 3").is_empty(), "nothing opened");
}

const REPLIES: &str = r#"
[replies.password-reset]
en = "Hello {{#if requester_name}}{{requester_name}}{{else}}there{{/if}}, your password for {{ticket.host}} is reset; ticket #{{ticket.number}}."
de = "Hallo, Ihr Passwort für {{ticket.host}} ist zurückgesetzt (Ticket #{{ticket.number}})."
"#;

#[test]
fn next_action_is_kept_and_shown_to_the_desk_not_to_customers() {
    let mut desk = Desk::with_config(&format!("{SITE}\n[[people]]\naddresses = [\"vera@vendor.example.net\"]\nrole = \"vendor\"\n"));
    desk.now = Some("2026-11-23T08:00:00Z".into());
    request(&desk, "carol@customer.example.org", "Printer jammed", "Paper everywhere.");
    desk.run(&["ticket", "update", "1", "owner=bob@example.com", "next=order a new fuser unit"]).ok();
    assert_eq!(desk.ticket(1)["next"], "order a new fuser unit");
    let list = desk.run(&["ticket", "list"]).ok().stdout;
    assert!(list.lines().next().unwrap().contains("NEXT") && list.contains("order a new fuser unit"), "{list}");
    assert!(desk.run(&["ticket", "show", "1"]).ok().stdout.contains("Next        order a new fuser unit"));

    desk.clear_outbox();
    let from_vendor = letter("vera@vendor.example.net", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Next: fit the fuser on Monday\n\nShipped today.", "next-1");
    desk.ingest(&from_vendor).ok();
    assert_eq!(desk.ticket(1)["next"], "fit the fuser on Monday", "vendors set the next action too");
    let letters = desk.outbox();
    let to_bob = letters.iter().find(|mail| mail.to() == "bob@example.com").expect("the owner hears").body();
    assert!(to_bob.contains("Next action: fit the fuser on Monday"), "{to_bob}");
    let to_carol = letters.iter().find(|mail| mail.to() == "carol@customer.example.org").expect("the requester hears").body();
    assert!(!to_carol.contains("Next action"), "{to_carol}");

    let customer = letter("carol@customer.example.org", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Next: hurry up\n\nWhen?", "next-2");
    desk.ingest(&customer).ok();
    assert_eq!(desk.ticket(1)["next"], "fit the fuser on Monday", "customers do not set it");
    desk.run(&["ticket", "update", "1", "next=done"]).ok();
    assert!(desk.ticket(1)["next"].is_null());
}

#[test]
fn a_canned_reply_is_the_public_answer_in_the_requesters_language() {
    let desk = Desk::with_config(&format!("{SITE}{REPLIES}"));
    request(&desk, "carol@customer.example.org", "Password", "Host: mail01\n\nI forgot it.");
    desk.clear_outbox();
    let reply = letter("bob@example.com", "help+1@example.com", "Re: [REQ #1] Password", "Reply: password-reset\nStatus: resolved\n", "canned-1");
    desk.ingest(&reply).ok();
    let to_carol = desk.outbox().into_iter().find(|mail| mail.to() == "carol@customer.example.org").expect("carol gets the answer").body();
    assert!(to_carol.contains("your password for mail01 is reset; ticket #1."), "{to_carol}");
    let comment = desk.ticket(1)["history"].as_array().unwrap().iter().rev().find(|event| event["action"] == "comment").unwrap().clone();
    assert!(comment["detail"].as_str().unwrap().starts_with("Hello there, your password"), "{comment}");

    desk.run(&["ticket", "update", "1", "status=open"]).ok();
    desk.ingest(&letter("carol@customer.example.org", "help+1@example.com", "Re: [REQ #1] Password", "Preferences: de\n\nDanke.", "canned-2")).ok();
    desk.clear_outbox();
    desk.run(&["ticket", "update", "1", "reply=Password-Reset"]).ok();
    let in_german = desk.outbox().into_iter().find(|mail| mail.to() == "carol@customer.example.org").expect("carol hears").body();
    assert!(in_german.contains("Ihr Passwort für mail01 ist zurückgesetzt"), "{in_german}");

    let unknown = desk.run(&["ticket", "update", "1", "reply=printer"]);
    assert_eq!(unknown.status, 1);
    assert!(unknown.stderr.contains("no such canned reply") && unknown.stderr.contains("password-reset"), "{}", unknown.stderr);
}

#[test]
fn canned_replies_are_checked_when_loading() {
    for (replies, expected) in [
        ("[replies.x]\nde = \"Hallo\"\n", "English text"),
        ("[replies.x]\nen = \"Hi\"\nfr = \"Salut\"\n", "replies.x.fr"),
        ("[replies.x]\nen = \"Hi {{#if}\"\n", "replies.x.en does not compile"),
    ] {
        let desk = Desk::with_config(&format!("{SITE}{replies}"));
        let run = desk.run(&["ticket", "list"]);
        assert_eq!(run.status, 78, "{replies}");
        assert!(run.stderr.contains(expected), "{expected:?} in {}", run.stderr);
    }
}

const VENDOR: &str = r#"
[[vendors]]
name = "Acme"
address = "support@acme.example"
tag = 'CASE-\d+'
response = "4h"
"#;

fn vendor_letters(desk: &Desk) -> Vec<crate::harness::Mail> {
    desk.outbox().into_iter().filter(|mail| mail.to() == "support@acme.example").collect()
}

#[test]
fn a_vendor_works_under_their_own_number_and_their_own_clock() {
    let mut desk = Desk::with_config(&format!("{SITE}{VENDOR}"));
    desk.now = Some("2026-11-23T08:00:00Z".into());
    request(&desk, "carol@customer.example.org", "Printer jammed", "Host: prn-04\n\nPaper everywhere.");
    desk.run(&["ticket", "update", "1", "owner=bob@example.com"]).ok();
    let customer_due = desk.ticket(1)["due"].clone();
    desk.clear_outbox();

    let unknown = letter("bob@example.com", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Vendor: Initech\n", "vendor-0");
    desk.ingest(&unknown).ok();
    let refusal = desk.outbox().into_iter().find(|mail| mail.to() == "bob@example.com").expect("bob hears why not").body();
    assert!(refusal.contains("no such vendor") && refusal.contains("Acme"), "{refusal}");
    desk.clear_outbox();

    let assign = letter("bob@example.com", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Vendor: acme\n\nPlease replace the fuser of prn-04.", "vendor-1");
    desk.ingest(&assign).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["vendor"], "Acme");
    assert_eq!(ticket["vendor_due"], "2026-11-23T12:00:00Z", "four hours from our letter");
    let to_vendor = vendor_letters(&desk);
    assert_eq!(to_vendor.len(), 1, "the vendor is asked");
    assert!(to_vendor[0].body().contains("Please replace the fuser"), "{}", to_vendor[0].body());

    // Their system acknowledges with its number beside ours: the number is kept, the clock runs on.
    let mut acknowledgement = b"Auto-Submitted: auto-replied\r\n".to_vec();
    acknowledgement.extend(letter("support@acme.example", "help+1@example.com", "Re: [REQ #1] Printer jammed [CASE-4711]", "Case opened.", "vendor-ack"));
    desk.ingest(&acknowledgement).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["vendor_ticket"], "CASE-4711", "their number read from the subject");
    assert_eq!(ticket["vendor_due"], "2026-11-23T12:00:00Z", "a machine's receipt is no answer");
    desk.now = Some("2026-11-23T09:00:00Z".into());
    let answer = letter("support@acme.example", "help+1@example.com", "Re: [REQ #1] Printer jammed [CASE-4711]", "We sent a technician.", "vendor-2");
    desk.ingest(&answer).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["vendor_ticket"], "CASE-4711");
    assert!(ticket["vendor_due"].is_null(), "a person answered: their clock stops");
    assert!(desk.run(&["ticket", "show", "1"]).ok().stdout.contains("Vendor      Acme (CASE-4711)"));

    desk.clear_outbox();
    desk.ingest(&letter("bob@example.com", "help+1@example.com", "Re: [REQ #1] Printer jammed", "When will he come?", "vendor-3")).ok();
    let subject = vendor_letters(&desk)[0].subject();
    assert!(subject.contains("[REQ #1]") && subject.contains("[CASE-4711]"), "both tags: {subject}");
    assert!(desk.outbox().iter().filter(|mail| mail.to() != "support@acme.example").all(|mail| !mail.subject().contains("CASE-4711")));
    assert_eq!(desk.ticket(1)["vendor_due"], "2026-11-23T13:00:00Z", "our question starts their clock again");

    // A reply that kept only their own tag still finds the ticket.
    desk.now = Some("2026-11-23T10:00:00Z".into());
    let theirs = letter("support@acme.example", "help@example.com", "CASE-4711: technician booked", "Tomorrow at 9.", "vendor-4");
    desk.ingest(&theirs).ok();
    assert_eq!(desk.tickets().len(), 1, "no new ticket");
    let history = desk.ticket(1)["history"].to_string();
    assert!(history.contains("Tomorrow at 9.") && history.contains("the vendor's ticket number"), "{history}");

    // Late: first they are reminded, then the owner hears; the customer's due date stays.
    desk.ingest(&letter("bob@example.com", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Please confirm the time.", "vendor-5")).ok();
    assert_eq!(desk.ticket(1)["vendor_due"], "2026-11-23T14:00:00Z");
    desk.clear_outbox();
    desk.now = Some("2026-11-23T14:30:00Z".into());
    desk.run(&["tick"]).ok();
    let reminder = vendor_letters(&desk);
    assert_eq!(reminder.len(), 1, "the vendor is reminded once");
    assert!(reminder[0].body().contains("waiting for your answer") && reminder[0].subject().contains("[CASE-4711]"), "{}", reminder[0].body());
    assert!(desk.outbox().iter().all(|mail| mail.to() != "bob@example.com"), "not yet the owner");
    desk.clear_outbox();
    desk.now = Some("2026-11-23T18:30:00Z".into());
    desk.run(&["tick"]).ok();
    desk.run(&["tick"]).ok();
    let letters = desk.outbox();
    let escalation: Vec<_> = letters.iter().filter(|mail| mail.to() == "bob@example.com").collect();
    assert_eq!(escalation.len(), 1, "the owner hears once: {:?}", letters.iter().map(|mail| mail.to()).collect::<Vec<_>>());
    assert!(escalation[0].body().contains("The vendor is late"), "{}", escalation[0].body());
    assert!(vendor_letters(&desk).is_empty(), "no second reminder for the same due date");
    assert_eq!(desk.ticket(1)["due"], customer_due, "the customer's SLA is apart from the vendor's clock");

    desk.run(&["ticket", "update", "1", "vendor=none"]).ok();
    let ticket = desk.ticket(1);
    assert!(ticket["vendor"].is_null() && ticket["vendor_ticket"].is_null() && ticket["vendor_due"].is_null());
}

const KEY: &str = "the key Amsterdam and Berlin share";

fn site(address: &str, first_number: i64, peer_name: &str, peer_address: &str, key: &str) -> Desk {
    let mut desk = Desk::with_config(&format!(
        r#"
[mail]
address = "{address}"
[store]
first_ticket_number = {first_number}
[identify]
trust_from_header = true
[[people]]
addresses = ["bob@{domain}"]
role = "agent"
[[sites]]
name = "{peer_name}"
address = "{peer_address}"
key = "{key}"
"#,
        domain = address.split('@').nth(1).unwrap()
    ));
    desk.now = Some("2026-11-23T08:00:00Z".into());
    desk
}

/// Carries the letters `from` wrote to `to_address` into `to`'s inbound Maildir and reads them.
fn carry(from: &Desk, to: &Desk, to_address: &str) -> usize {
    let letters: Vec<_> = from.outbox().into_iter().filter(|mail| mail.to() == to_address).collect();
    for (index, letter) in letters.iter().enumerate() {
        to.deliver_to_inbox(&format!("carried-{}-{index}", letter.message_id()), &letter.raw);
    }
    from.clear_outbox();
    to.run(&["fetch"]).ok();
    letters.len()
}

#[test]
fn a_ticket_transferred_to_another_site_lives_on_there() {
    let amsterdam = site("help@a.example", 1, "Berlin", "help@b.example", KEY);
    let berlin = site("help@b.example", 500, "Amsterdam", "help@a.example", KEY);
    amsterdam.ingest(&letter("carol@customer.example.org", "help@a.example", "Printer jammed", "Importance: high\nHost: prn-04\n\nPaper everywhere.", "t-1")).ok();
    amsterdam.clear_outbox();
    let transfer = letter("bob@a.example", "help+1@a.example", "Re: [REQ #1] Printer jammed", "Transfer: berlin\n\nThe printer is in Berlin.", "t-2");
    amsterdam.ingest(&transfer).ok();
    assert!(amsterdam.outbox().iter().all(|mail| mail.to() != "carol@customer.example.org"), "the requester hears it from Berlin, once");
    let handed = amsterdam.ticket(1);
    assert_eq!(handed["status"], "closed");
    assert_eq!(handed["transfer"]["site"], "Berlin");

    assert_eq!(carry(&amsterdam, &berlin, "help@b.example"), 1, "one signed transfer");
    let taken = berlin.ticket(500);
    assert_eq!(taken["requester"], "carol@customer.example.org");
    assert_eq!((taken["importance"].as_str(), taken["priority"].as_str(), taken["host"].as_str()), (Some("high"), Some("high"), Some("prn-04")));
    assert_eq!(taken["transfer"], serde_json::json!({"site": "Amsterdam", "ticket": 1, "theirs": false}));
    assert!(taken["history"].to_string().contains("Paper everywhere.") && taken["history"].to_string().contains("The printer is in Berlin."), "{taken}");
    let to_carol: Vec<_> = berlin.outbox().into_iter().filter(|mail| mail.to() == "carol@customer.example.org").collect();
    assert_eq!(to_carol.len(), 1, "told once");
    let told = to_carol[0].body();
    assert!(told.contains("your request #1 at Amsterdam has been handed to us") && told.contains("ticket #500"), "{told}");

    assert_eq!(carry(&berlin, &amsterdam, "help@a.example"), 1, "Berlin answers with its number");
    assert_eq!(amsterdam.ticket(1)["transfer"], serde_json::json!({"site": "Berlin", "ticket": 500, "theirs": true}));
    assert!(amsterdam.run(&["ticket", "show", "1"]).ok().stdout.contains("transferred to Berlin (#500), which owns it"));

    // Carol answers an old letter from Amsterdam: it goes on to Berlin, which owns the ticket.
    amsterdam.ingest(&letter("carol@customer.example.org", "help+1@a.example", "Re: [REQ #1] Printer jammed", "It jams again.", "t-3")).ok();
    assert_eq!(amsterdam.ticket(1)["status"], "closed", "not reopened where it no longer lives");
    assert!(amsterdam.outbox().iter().all(|mail| mail.to() != "carol@customer.example.org"));
    assert_eq!(carry(&amsterdam, &berlin, "help@b.example"), 1);
    let history = berlin.ticket(500)["history"].clone();
    let comment = history.as_array().unwrap().iter().find(|event| event["detail"] == "It jams again.").expect("the comment reached Berlin");
    assert_eq!(comment["actor"], "carol@customer.example.org");
    assert_eq!(berlin.tickets().len(), 1);

    // Berlin hands it back: Amsterdam's ticket #1 is open again, and Carol hears that once.
    berlin.clear_outbox();
    berlin.ingest(&letter("bob@b.example", "help+500@b.example", "Re: [REQ #500] Printer jammed", "Transfer: Amsterdam\n\nNot ours after all.", "t-4")).ok();
    assert!(berlin.outbox().iter().all(|mail| mail.to() != "carol@customer.example.org"));
    assert_eq!(carry(&berlin, &amsterdam, "help@a.example"), 1);
    let back = amsterdam.ticket(1);
    assert_eq!(back["status"], "open");
    assert_eq!(back["transfer"], serde_json::json!({"site": "Berlin", "ticket": 500, "theirs": false}));
    assert!(back["history"].to_string().contains("Not ours after all."), "{back}");
    let told: Vec<_> = amsterdam.outbox().into_iter().filter(|mail| mail.to() == "carol@customer.example.org").collect();
    assert_eq!(told.len(), 1, "told once");
    assert!(told[0].subject().contains("[REQ #1]"), "{}", told[0].subject());
    assert_eq!(carry(&amsterdam, &berlin, "help@b.example"), 1, "Amsterdam answers with its number");
    assert_eq!(berlin.ticket(500)["transfer"], serde_json::json!({"site": "Amsterdam", "ticket": 1, "theirs": true}));
    assert_eq!(amsterdam.tickets().len(), 1, "no second ticket");
    for desk in [&amsterdam, &berlin] {
        assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state <> 'applied'"), 0, "every transfer ends applied");
    }
}

#[test]
fn a_forged_or_unsigned_transfer_is_quarantined() {
    let amsterdam = site("help@a.example", 1, "Berlin", "help@b.example", "not the key Berlin has at all");
    let berlin = site("help@b.example", 500, "Amsterdam", "help@a.example", KEY);
    amsterdam.ingest(&letter("carol@customer.example.org", "help@a.example", "Printer jammed", "Paper everywhere.", "f-1")).ok();
    amsterdam.ingest(&letter("bob@a.example", "help+1@a.example", "Re: [REQ #1] Printer jammed", "Transfer: Berlin\n", "f-2")).ok();
    let forged = amsterdam.outbox().into_iter().find(|mail| mail.to() == "help@b.example").expect("a transfer letter").raw;
    berlin.deliver_to_inbox("forged", &forged);
    let unsigned: Vec<u8> = String::from_utf8(forged.clone()).unwrap().lines().filter(|line| !line.starts_with("Signature:")).collect::<Vec<_>>().join("\r\n").into_bytes();
    berlin.deliver_to_inbox("unsigned", &unsigned);
    let stranger = String::from_utf8(forged).unwrap().replace("help@a.example", "help@elsewhere.example").replace("Message-ID: <", "Message-ID: <x");
    berlin.deliver_to_inbox("stranger", stranger.as_bytes());
    berlin.run(&["fetch"]).ok();
    assert!(berlin.tickets().is_empty(), "nothing opened");
    let reasons = berlin.sql("SELECT reason FROM quarantine ORDER BY message");
    let reasons: Vec<String> = reasons.iter().map(|row| row[0].as_str().unwrap().to_string()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons.iter().any(|reason| reason.contains("does not match the key")), "{reasons:?}");
    assert!(reasons.iter().any(|reason| reason.contains("not signed")), "{reasons:?}");
    assert!(reasons.iter().any(|reason| reason.contains("not one of the configured [[sites]]")), "{reasons:?}");
    assert!(berlin.outbox().is_empty(), "a refused transfer is answered by nobody");
    let traced = berlin.run(&["trace", "1"]).ok().stdout;
    assert!(traced.contains("site transfer") && traced.contains("quarantined"), "{traced}");
}

#[test]
fn letters_show_dates_in_the_sites_zone() {
    let mut desk = Desk::with_config(&format!("{SITE}\n[calendar]\ntimezone = \"Europe/Berlin\"\n"));
    desk.now = Some("2026-11-23T08:00:00Z".into());
    request(&desk, "carol@customer.example.org", "Printer jammed", "Due: friday 12:00\n\nPaper everywhere.");
    let receipt = desk.outbox().into_iter().find(|mail| mail.to() == "carol@customer.example.org").unwrap().body();
    assert!(receipt.contains("Due:         2026-11-27 12:00 CET"), "noon where the site is:\n{receipt}");
    assert!(!receipt.contains("T11:00:00Z"), "{receipt}");
    assert_eq!(desk.ticket(1)["requested_due"], "2026-11-27T11:00:00Z", "stored in UTC");
    desk.clear_outbox();
    desk.run(&["ticket", "update", "1", "owner=bob@example.com", "due=2026-12-07 17:00"]).ok();
    let to_carol = desk.outbox().into_iter().find(|mail| mail.to() == "carol@customer.example.org").expect("carol hears").body();
    assert!(to_carol.contains("Committed:   2026-12-07 17:00 CET") && to_carol.contains("committed due: - → 2026-12-07 17:00 CET"), "{to_carol}");
    assert!(!to_carol.contains(":00Z"), "no UTC stamps in a letter:\n{to_carol}");
}
