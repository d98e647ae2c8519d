//! The close-approval loop and the scheduler, driven by mail and REQMAIL_NOW.

use crate::harness::{letter as mail, Desk, Mail};

const SITE: &str = r#"
[identify]
trust_from_header = true

[approval]
survey = true

[queues.general]
resolution = { urgent = "4h", high = "8h", medium = "3d", low = "5d" }
watchers = ["lead@example.com"]
hold_timeout_days = 3
nag_after_days = 2

[queues.audited]
supervisor = "chief@example.com"
supervisor_approval = true
grace_days = 2

[[people]]
addresses = ["bob@example.com"]
role = "agent"

[[people]]
addresses = ["lead@example.com"]
role = "agent"

[[people]]
addresses = ["chief@example.com"]
role = "agent"
"#;

fn desk_at(now: &str) -> Desk {
    let mut desk = Desk::with_config(SITE);
    desk.now = Some(now.into());
    desk
}


/// Ticket 1 from Carol, owned by Bob, resolved by Bob; returns the resolution mail.
fn resolved_ticket(desk: &Desk, queue: &str) -> Mail {
    desk.ingest(&mail("Carol <carol@example.org>", "help@example.com", "Printer jammed", &format!("Queue: {queue}\n\nIt jams."), "c1")).ok();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Owner: me\nStatus: resolved\n\nReplaced the roller.", "b1")).ok();
    assert_eq!(desk.ticket(1)["status"], "resolved");
    let resolution = desk.outbox().into_iter().find(|mail| mail.body().contains("[ ] Yes, it is solved")).expect("resolution mail");
    desk.clear_outbox();
    resolution
}

/// Carol's reply to `to_mail`, with `body` written above the quote in `style`.
fn reply(to_mail: &Mail, body: &str, style: &str, id: &str) -> Vec<u8> {
    let original = to_mail.body();
    let reply_to = to_mail.header("Reply-To").unwrap();
    let reply_to = reply_to.rsplit('<').next().unwrap().trim_end_matches('>');
    let subject = format!("Re: {}", to_mail.subject());
    let text = match style {
        "gmail" => {
            let quoted: String = original.lines().map(|line| format!("> {line}\n")).collect();
            format!("{body}\n\nOn Mon, 23 Nov 2026 at 10:00, Help Desk <help@example.com> wrote:\n{quoted}")
        }
        "outlook" => format!(
            "{body}\n\n________________________________\nFrom: Help Desk <help@example.com>\nSent: Monday, November 23, 2026 10:00 AM\nTo: Carol\nSubject: {}\n\n{original}",
            to_mail.subject()
        ),
        "marked-in-quote" => original
            .lines()
            .map(|line| if line.contains("[ ] Yes") && body == "yes" { format!("> {}\n", line.replace("[ ]", "[X]")) }
                 else if line.contains("[ ] No") && body == "no" { format!("> {}\n", line.replace("[ ]", "[x]")) }
                 else { format!("> {line}\n") })
            .collect(),
        _ => unreachable!("unknown style"),
    };
    format!(
        "From: Carol <carol@example.org>\r\nTo: {reply_to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@test>\r\nIn-Reply-To: <{}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}",
        to_mail.message_id()
    )
    .into_bytes()
}

fn status(desk: &Desk) -> String {
    desk.ticket(1)["status"].as_str().unwrap().to_string()
}

#[test]
fn resolve_then_yes_closes() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    assert!(resolution.body().contains("within 5 days"), "grace period stated: {}", resolution.body());
    assert_eq!(resolution.to(), "carol@example.org");
    desk.ingest(&reply(&resolution, "yes", "marked-in-quote", "r1")).ok();
    assert_eq!(status(&desk), "closed");
}

#[test]
fn resolve_no_resolve_yes() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    desk.ingest(&reply(&resolution, "[ ] Yes\n[X] No, it still jams on thick paper.", "gmail", "r1")).ok();
    assert_eq!(status(&desk), "open");
    let to_owner: Vec<Mail> = desk.outbox().into_iter().filter(|mail| mail.to() == "bob@example.com").collect();
    assert_eq!(to_owner.len(), 1, "the owner is told");
    assert!(to_owner[0].body().contains("thick paper"), "{}", to_owner[0].body());
    desk.clear_outbox();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", "Status: resolved\n\nNew roller.", "b2")).ok();
    let second = desk.outbox().into_iter().find(|mail| mail.to() == "carol@example.org" && mail.body().contains("[ ] Yes")).expect("second resolution mail");
    desk.ingest(&reply(&second, "[X] Yes, it is solved", "outlook", "r2")).ok();
    assert_eq!(status(&desk), "closed");
}

#[test]
fn every_client_style_is_read() {
    for (style, body, expected) in [
        ("gmail", "[X] Yes, it is solved - close the request", "closed"),
        ("outlook", "[x] No, it is not solved - reopen the request", "open"),
        ("marked-in-quote", "no", "open"),
        ("gmail", "Still broken, sorry.", "open"),
    ] {
        let desk = desk_at("2026-11-23T09:00:00Z");
        let resolution = resolved_ticket(&desk, "general");
        desk.ingest(&reply(&resolution, body, style, "r")).ok();
        assert_eq!(status(&desk), expected, "{style}: {body}");
    }
}

#[test]
fn html_only_reply_with_marked_box() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    let raw = format!(
        "From: carol@example.org\r\nTo: help+1@example.com\r\nSubject: RE: {}\r\nMessage-ID: <html@test>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><div>Thanks!</div><hr><div><b>From:</b> Help Desk<br><b>Sent:</b> Monday</div><p>&nbsp;&nbsp;[X] Yes, it is solved - close the request<br>&nbsp;&nbsp;[ ] No, it is not solved - reopen the request</p></body></html>",
        resolution.subject()
    );
    desk.ingest(raw.as_bytes()).ok();
    assert_eq!(status(&desk), "closed");
}

#[test]
fn no_box_or_both_boxes_get_a_clarification_and_change_nothing() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    desk.ingest(&reply(&resolution, "Thanks a lot!", "gmail", "r1")).ok();
    assert_eq!(status(&desk), "resolved");
    desk.ingest(&reply(&resolution, "[X] Yes\n[X] No", "gmail", "r2")).ok();
    assert_eq!(status(&desk), "resolved");
    let clarifications = desk.outbox().into_iter().filter(|mail| mail.body().contains("mark\nexactly one box") || mail.body().contains("exactly one box")).count();
    assert_eq!(clarifications, 2);
}

#[test]
fn someone_else_cannot_approve() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    let forged = String::from_utf8(reply(&resolution, "[X] Yes, it is solved", "gmail", "f1")).unwrap().replace("From: Carol <carol@example.org>", "From: mallory@example.net");
    desk.ingest(forged.as_bytes()).ok();
    assert_eq!(status(&desk), "resolved", "only the requester decides");
    let history = desk.ticket(1)["history"].clone();
    assert!(history.as_array().unwrap().iter().any(|event| event["actor"] == "mallory@example.net"), "kept as a note");
}

#[test]
fn unverified_requester_cannot_approve() {
    let mut desk = Desk::with_config(&SITE.replace("trust_from_header = true", "trust_from_header = false"));
    desk.now = Some("2026-11-23T09:00:00Z".into());
    desk.ingest(&mail("carol@example.org", "help@example.com", "Printer", "It jams.", "c1")).ok();
    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    let resolution = desk.outbox().into_iter().find(|mail| mail.body().contains("[ ] Yes")).unwrap();
    // Without a verifiable token or authentication results, a From alone proves nothing.
    let reply_to = resolution.header("Reply-To").unwrap();
    let token_address = reply_to.rsplit('<').next().unwrap().trim_end_matches('>').to_string();
    assert!(token_address.starts_with("help+1-"), "replies carry a token: {token_address}");
    let forged = String::from_utf8(reply(&resolution, "[X] Yes", "gmail", "f1")).unwrap().replace(&token_address, "help+1@example.com");
    desk.ingest(forged.as_bytes()).ok();
    assert_eq!(status(&desk), "resolved");
}

#[test]
fn replayed_approval_has_no_second_effect() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    let approval = reply(&resolution, "[X] Yes", "gmail", "once");
    desk.ingest(&approval).ok();
    desk.run(&["ticket", "update", "1", "status=open"]).ok();
    desk.ingest(&approval).ok();
    assert_eq!(status(&desk), "open", "the replay changed nothing");
}

#[test]
fn silence_closes_exactly_at_the_grace_boundary_once() {
    let mut desk = desk_at("2026-11-23T09:00:00Z");
    resolved_ticket(&desk, "general");
    desk.now = Some("2026-11-28T08:59:59Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(status(&desk), "resolved");
    desk.now = Some("2026-11-28T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(status(&desk), "closed");
    let closing: Vec<Mail> = desk.outbox().into_iter().filter(|mail| mail.body().contains("is now closed")).collect();
    assert_eq!(closing.len(), 1);
    assert_eq!(closing[0].to(), "carol@example.org");
    desk.run(&["tick"]).ok();
    desk.now = Some("2026-11-29T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(desk.outbox().into_iter().filter(|mail| mail.body().contains("is now closed")).count(), 1, "once");
}

#[test]
fn grace_counts_from_the_last_resolution_after_holds() {
    let mut desk = desk_at("2026-11-23T09:00:00Z");
    desk.ingest(&mail("carol@example.org", "help@example.com", "Printer", "It jams.", "c1")).ok();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re", "Status: hold\n\nWaiting for parts.", "b1")).ok();
    desk.now = Some("2026-11-25T09:00:00Z".into());
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re", "Status: resolved\n\nParts fitted.", "b2")).ok();
    desk.now = Some("2026-11-30T08:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(status(&desk), "resolved");
    desk.now = Some("2026-11-30T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(status(&desk), "closed");
}

/// More tickets due than one of the pass's commits takes: each commit's letters are
/// delivered on another thread while the next commit's jobs run.
#[test]
fn a_long_pass_closes_each_ticket_once_and_delivers_and_records_each_letter_once() {
    let mut desk = Desk::with_config(&format!("{SITE}\n[limits]\nauto_mail_per_address = 5000\nauto_mail_global = 5000\n"));
    desk.now = Some("2026-11-23T09:00:00Z".into());
    resolved_ticket(&desk, "general");
    desk.execute(
        "INSERT INTO tickets (number, subject, status, queue, importance, priority, owner, requester, created, updated, due, resolved_at, scheduler_at)
         SELECT n.i, 'Printer ' || n.i, status, queue, importance, priority, owner, requester, created, updated, due, resolved_at, scheduler_at
         FROM (WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 450) SELECT i FROM n) AS n, tickets WHERE number = 1",
        &[],
    );
    let letters_before = desk.count("SELECT COUNT(*) FROM outbox");
    desk.now = Some("2026-11-28T09:00:00Z".into());
    let pass = desk.run(&["tick"]).ok();
    assert!(pass.stdout.contains("auto-closed 450"), "{}", pass.stdout);
    assert_eq!(desk.count("SELECT COUNT(*) FROM tickets WHERE status = 'closed'"), 450);
    let closed = |desk: &Desk| {
        let mut subjects: Vec<String> = desk.outbox().iter().filter(|mail| mail.body().contains("is now closed")).map(Mail::subject).collect();
        subjects.sort();
        subjects
    };
    let letters = closed(&desk);
    assert_eq!(letters.len(), 450, "one letter a ticket");
    letters.windows(2).for_each(|pair| assert_ne!(pair[0], pair[1], "a ticket's letter twice"));
    // Each delivered letter recorded as sent, after one attempt: none left claimed.
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND attempts = 1"), letters_before + 450);
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'"), 0);
    // The next pass sends each ticket its survey, and no closing letter again.
    desk.run(&["tick"]).ok();
    assert_eq!(closed(&desk), letters);
    assert_eq!(desk.outbox().iter().filter(|mail| mail.body().contains("How satisfied")).count(), 450);
}

#[test]
fn two_ticks_at_once_close_once() {
    let mut desk = desk_at("2026-11-23T09:00:00Z");
    resolved_ticket(&desk, "general");
    desk.now = Some("2026-12-01T09:00:00Z".into());
    std::thread::scope(|scope| {
        let first = scope.spawn(|| desk.run(&["tick"]));
        let second = scope.spawn(|| desk.run(&["tick"]));
        assert_eq!(first.join().unwrap().status, 0);
        assert_eq!(second.join().unwrap().status, 0);
    });
    assert_eq!(desk.outbox().into_iter().filter(|mail| mail.body().contains("is now closed")).count(), 1);
}

#[test]
fn supervisor_approves_first() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    desk.ingest(&mail("carol@example.org", "help@example.com", "Audit", "Queue: audited\n\nPlease.", "c1")).ok();
    desk.clear_outbox();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re", "Status: resolved\n\nDone.", "b1")).ok();
    let boxes: Vec<Mail> = desk.outbox().into_iter().filter(|mail| mail.body().contains("[ ] Yes")).collect();
    assert_eq!(boxes.len(), 1);
    assert_eq!(boxes[0].to(), "chief@example.com", "the supervisor is asked first");
    desk.clear_outbox();
    desk.ingest(&mail("chief@example.com", "help+1@example.com", "Re", "[X] Yes, it is solved", "s1")).ok();
    assert_eq!(status(&desk), "resolved");
    let boxes: Vec<Mail> = desk.outbox().into_iter().filter(|mail| mail.body().contains("[ ] Yes")).collect();
    assert_eq!(boxes.len(), 1);
    assert_eq!(boxes[0].to(), "carol@example.org", "then the customer");
    desk.ingest(&mail("carol@example.org", "help+1@example.com", "Re", "[X] Yes", "c2")).ok();
    assert_eq!(status(&desk), "closed");
}

#[test]
fn reminder_and_escalation_fire_once_each() {
    let mut desk = desk_at("2026-11-23T09:00:00Z");
    // High priority in general: 8h round the clock, due 17:00; 75% is 15:00.
    desk.ingest(&mail("carol@example.org", "help@example.com", "Urgent-ish", "Importance: high\n\nx", "c1")).ok();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re", "Owner: me\n\nLooking.", "b1")).ok();
    desk.clear_outbox();
    desk.now = Some("2026-11-23T14:59:00Z".into());
    desk.run(&["tick"]).ok();
    assert!(desk.outbox().is_empty());
    desk.now = Some("2026-11-23T15:00:00Z".into());
    desk.run(&["tick"]).ok();
    desk.run(&["tick"]).ok();
    let reminders: Vec<Mail> = desk.outbox().into_iter().filter(|mail| mail.body().starts_with("Reminder")).collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].to(), "bob@example.com");
    desk.now = Some("2026-11-23T17:00:00Z".into());
    desk.run(&["tick"]).ok();
    desk.run(&["tick"]).ok();
    let escalations = desk.outbox().into_iter().filter(|mail| mail.body().starts_with("Escalation")).count();
    assert_eq!(escalations, 1);
}

/// In a store SQLite has analyzed (`ANALYZE`, `PRAGMA optimize`: it then plans a
/// statement for the values bound to it), one pass over many tickets runs each due job
/// once, and another pass none: a reminder, then an escalation, per ticket, to its owner.
#[test]
fn many_due_jobs_in_an_analyzed_store_fire_once_each() {
    let mut desk = desk_at("2026-11-23T09:00:00Z");
    let tickets: Vec<i64> = (1..=6).collect();
    for &number in &tickets {
        let requester = format!("carol{number}@example.org");
        desk.ingest(&mail(&requester, "help@example.com", &format!("Printer {number}"), "Importance: high\n\nx", &format!("c{number}"))).ok();
        desk.ingest(&mail("bob@example.com", &format!("help+{number}@example.com"), "Re", "Owner: me\n\nLooking.", &format!("b{number}"))).ok();
    }
    desk.sql("ANALYZE");
    desk.clear_outbox();
    let about = |mails: &[Mail], start: &str| -> Vec<(i64, String)> {
        let mut found: Vec<(i64, String)> = mails
            .iter()
            .filter(|mail| mail.body().starts_with(start))
            .map(|mail| {
                let number = mail.subject().split('#').nth(1).and_then(|rest| rest.split(']').next()).and_then(|number| number.parse().ok());
                (number.expect("the subject names the ticket"), mail.to())
            })
            .collect();
        found.sort();
        found
    };
    let each_to_bob: Vec<(i64, String)> = tickets.iter().map(|&number| (number, "bob@example.com".to_string())).collect();
    desk.now = Some("2026-11-23T15:00:00Z".into());
    desk.run(&["tick"]).ok();
    desk.run(&["tick"]).ok();
    assert_eq!(about(&desk.outbox(), "Reminder"), each_to_bob);
    desk.clear_outbox();
    desk.now = Some("2026-11-23T17:00:00Z".into());
    desk.run(&["tick"]).ok();
    desk.run(&["tick"]).ok();
    let outbox = desk.outbox();
    assert_eq!(about(&outbox, "Escalation"), each_to_bob);
    assert_eq!(outbox.len(), tickets.len(), "nothing but the escalations");
    let done = desk.sql("SELECT job, COUNT(*) FROM scheduled_done GROUP BY job ORDER BY job");
    let each = |job: &str| vec![serde_json::Value::from(job), serde_json::Value::from(6)];
    assert_eq!(done, [each("escalation"), each("reminder")]);
}

#[test]
fn hold_times_out_and_untouched_tickets_nag() {
    let mut desk = desk_at("2026-11-23T09:00:00Z");
    desk.ingest(&mail("carol@example.org", "help@example.com", "Printer", "Importance: low\n\nx", "c1")).ok();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re", "Owner: me\nStatus: hold\n\nWaiting.", "b1")).ok();
    desk.clear_outbox();
    desk.now = Some("2026-11-26T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(status(&desk), "open");
    assert_eq!(desk.outbox().into_iter().filter(|mail| mail.body().contains("on hold too long")).count(), 1);
    desk.clear_outbox();
    desk.now = Some("2026-11-28T09:00:01Z".into());
    desk.run(&["tick"]).ok();
    desk.run(&["tick"]).ok();
    let nags: Vec<Mail> = desk.outbox().into_iter().filter(|mail| mail.body().contains("not been touched")).collect();
    assert_eq!(nags.len(), 1);
    assert_eq!(nags[0].to(), "bob@example.com");
}

#[test]
fn survey_after_closing_and_its_answer_is_stored() {
    let mut desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    desk.ingest(&reply(&resolution, "[X] Yes", "gmail", "r1")).ok();
    desk.now = Some("2026-11-23T10:00:00Z".into());
    desk.run(&["tick"]).ok();
    let survey = desk.outbox().into_iter().find(|mail| mail.body().contains("How satisfied")).expect("survey");
    desk.run(&["person", "add", "dan@example.org", "--role", "customer"]).ok();
    desk.sql("INSERT INTO ticket_cc (ticket, person) SELECT 1, person FROM addresses WHERE address = 'dan@example.org'");
    desk.clear_outbox();
    desk.ingest(&reply(&survey, "[ ] 1\n[ ] 2\n[ ] 3\n[X] 4\n[ ] 5", "gmail", "s1")).ok();
    assert_eq!(status(&desk), "closed", "an answer to the survey does not reopen");
    let told: Vec<String> = desk.outbox().iter().map(|mail| mail.to()).collect();
    assert!(!told.contains(&"dan@example.org".to_string()), "a survey answer is not forwarded to Cc'd customers: {told:?}");
    assert_eq!(desk.sql("SELECT rating FROM surveys WHERE ticket = 1")[0][0], 4);
    let report = desk.run(&["report", "surveys", "--json"]).ok().json();
    assert_eq!(report["answers"], 1);
    assert_eq!(report["by_rating"][3], 1);
}

#[test]
fn closed_ticket_reopens_within_the_window_later_a_follow_up_ticket() {
    let mut desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    desk.ingest(&reply(&resolution, "[X] Yes", "gmail", "r1")).ok();
    desk.now = Some("2026-11-30T09:00:00Z".into());
    desk.ingest(&mail("carol@example.org", "help+1@example.com", "Re: [REQ #1] Printer jammed", "It jams again.", "c2")).ok();
    assert_eq!(status(&desk), "open");
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re", "Status: closed\n\nClosing.", "b3")).ok();
    desk.now = Some("2027-01-30T09:00:00Z".into());
    desk.ingest(&mail("carol@example.org", "help+1@example.com", "Re: [REQ #1] Printer jammed", "Months later, again.", "c3")).ok();
    assert_eq!(status(&desk), "closed");
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2);
    let history = desk.ticket(2)["history"].clone();
    assert!(history.as_array().unwrap().iter().any(|event| event["detail"].as_str().unwrap().contains("follows up #1")), "{history}");
}

#[test]
fn escalated_ticket_asks_the_supervisor_first() {
    let site = SITE.replace("watchers = [\"lead@example.com\"]", "watchers = [\"lead@example.com\"]\nsupervisor = \"chief@example.com\"");
    let mut desk = Desk::with_config(&site);
    desk.now = Some("2026-11-23T09:00:00Z".into());
    desk.ingest(&mail("carol@example.org", "help@example.com", "Urgent", "Importance: urgent\n\nx", "c1")).ok();
    desk.now = Some("2026-11-23T14:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert!(desk.outbox().iter().any(|mail| mail.to() == "chief@example.com" && mail.body().starts_with("Escalation")));
    desk.clear_outbox();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re", "Status: resolved\n\nFixed late.", "b1")).ok();
    let boxes: Vec<Mail> = desk.outbox().into_iter().filter(|mail| mail.body().contains("[ ] Yes")).collect();
    assert_eq!(boxes.len(), 1);
    assert_eq!(boxes[0].to(), "chief@example.com");
}

/// Ticket 1 resolved by Bob with `note`; returns the resolution mail.
fn resolved_with_note(desk: &Desk, note: &str) -> Mail {
    desk.ingest(&mail("Carol <carol@example.org>", "help@example.com", "Printer jammed", "It jams.", "c1")).ok();
    desk.ingest(&mail("bob@example.com", "help+1@example.com", "Re: [REQ #1]", &format!("Status: resolved\n\n{note}"), "b1")).ok();
    let resolution = desk.outbox().into_iter().find(|mail| mail.body().contains("[ ] Yes, it is solved")).expect("resolution mail");
    desk.clear_outbox();
    resolution
}

#[test]
fn outlook_thank_you_above_a_note_that_says_does_not_work_does_not_reopen() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_with_note(&desk, "The old driver does not work with the new firmware, so I installed version 5.2.");
    assert!(resolution.body().contains("does not work"), "{}", resolution.body());
    desk.ingest(&reply(&resolution, "Thank you!", "outlook", "r1")).ok();
    assert_eq!(status(&desk), "resolved", "the quoted resolution is not the customer's answer");
    assert!(desk.outbox().iter().any(|mail| mail.body().contains("exactly one box")), "she is asked to mark a box");
}

#[test]
fn works_now_with_a_past_denial_does_not_reopen() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    let resolution = resolved_ticket(&desk, "general");
    desk.ingest(&reply(&resolution, "Works now, thanks! Before your fix it doesn't work at all.", "gmail", "r1")).ok();
    assert_eq!(status(&desk), "resolved");
    desk.ingest(&reply(&resolution, "Sorry, it still doesn't work after the restart.", "gmail", "r2")).ok();
    assert_eq!(status(&desk), "open", "a denial in the present tense still reopens");
}

/// Carol's HTML-only reply to `resolution` with `html` as the body.
fn html_reply(resolution: &Mail, id: &str, html: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.org>\r\nTo: help+1@example.com\r\nSubject: RE: {}\r\nMessage-ID: <{id}@test>\r\nIn-Reply-To: <{}>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}",
        resolution.subject(),
        resolution.message_id()
    )
    .into_bytes()
}

#[test]
fn html_only_marks_from_outlook_owa_and_apple_mail() {
    let outlook_desktop = r#"<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta name=Generator content="Microsoft Word 15 (filtered medium)"></head><body lang=EN-US><div class=WordSection1><p class=MsoNormal>Done, see below.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in'><p class=MsoNormal><b>From:</b> Help Desk &lt;help@example.com&gt; <br><b>Sent:</b> Monday, November 23, 2026 10:00 AM<br><b>To:</b> Carol<br><b>Subject:</b> [REQ #1] Printer jammed<o:p></o:p></p></div><p class=MsoNormal>Is your problem solved? Mark one box with an X and reply to this message:<o:p></o:p></p><p class=MsoNormal>&nbsp; [<span style='color:red'>X</span>] Yes, it is solved - close the request<o:p></o:p></p><p class=MsoNormal>&nbsp; [ ] No, it is not solved - reopen the request<o:p></o:p></p></div></body></html>"#;
    let owa = r##"<html><head><style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style></head><body dir="ltr"><div style="font-family: Calibri, Arial, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);">See my mark.</div><hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000"><b>From:</b> Help Desk &lt;help@example.com&gt;<br><b>Sent:</b> Monday, November 23, 2026 10:00<br><b>To:</b> Carol<br><b>Subject:</b> [REQ #1] Printer jammed</font><div>&nbsp;</div></div><div><div>Is your problem solved?<br><br>&nbsp; ☒ Yes, it is solved - close the request<br>&nbsp; [ ] No, it is not solved - reopen the request<br></div></div></body></html>"##;
    let apple_mail = r#"<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body style="word-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;"><div><br></div><div><br><blockquote type="cite"><div>On 23 Nov 2026, at 10:00, Help Desk &lt;help@example.com&gt; wrote:</div><br><div><div>Is your problem solved? Mark one box with an X and reply to this message:<br><br>&nbsp; [✔︎] Yes, it is solved - close the request<br>&nbsp; [ ] No, it is not solved - reopen the request<br></div></div></blockquote></div><br></body></html>"#;
    for (client, html, expected) in [("outlook desktop", outlook_desktop, "closed"), ("owa", owa, "closed"), ("apple mail", apple_mail, "closed")] {
        let desk = desk_at("2026-11-23T09:00:00Z");
        let resolution = resolved_ticket(&desk, "general");
        desk.ingest(&html_reply(&resolution, "h1", html)).ok();
        assert_eq!(status(&desk), expected, "{client}");
    }
}

#[test]
fn a_person_is_all_of_their_addresses() {
    let mut desk = Desk::with_config(&SITE.replace("trust_from_header = true", "trust_from_header = false"));
    desk.now = Some("2026-11-23T09:00:00Z".into());
    desk.ingest(&mail("Carol <carol@example.org>", "help@example.com", "Printer jammed", "It jams.", "c1")).ok();
    desk.run(&["person", "set", "carol@example.org", "--add-address", "carol@home.example"]).ok();
    let receipt = desk.outbox().into_iter().find(|mail| mail.to() == "carol@example.org").expect("receipt");
    desk.clear_outbox();
    // From her second address, answering the letter sent to the first, she is Carol: her
    // token holds and her own words are not mailed back to her first address.
    let from_home = String::from_utf8(reply(&receipt, "It also jams on A5 paper.", "gmail", "h1")).unwrap().replace("carol@example.org", "carol@home.example");
    desk.ingest(from_home.as_bytes()).ok();
    let note = desk.ticket(1)["history"].as_array().unwrap().iter().find(|event| event["detail"].as_str().unwrap_or("").contains("A5 paper")).cloned().expect("the note");
    assert_eq!(note["actor"], "carol@home.example", "verified, not flagged: {note}");
    assert!(desk.outbox().iter().any(|mail| mail.to() == "lead@example.com" && mail.body().contains("A5 paper")), "the watcher is told");
    assert!(desk.outbox().iter().all(|mail| mail.to() != "carol@example.org"), "no copy of her own words to her first address");
    // Her approval from the second address counts.
    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    let resolution = desk.outbox().into_iter().find(|mail| mail.body().contains("[ ] Yes")).expect("resolution");
    assert_eq!(resolution.to(), "carol@example.org");
    let approval = String::from_utf8(reply(&resolution, "yes", "marked-in-quote", "h2")).unwrap().replace("carol@example.org", "carol@home.example");
    desk.ingest(approval.as_bytes()).ok();
    assert_eq!(status(&desk), "closed");
}

#[test]
fn an_agent_writing_from_a_second_address_keeps_their_authority() {
    let desk = desk_at("2026-11-23T09:00:00Z");
    desk.ingest(&mail("Carol <carol@example.org>", "help@example.com", "Printer jammed", "It jams.", "c1")).ok();
    desk.run(&["person", "set", "bob@example.com", "--add-address", "bob@laptop.example"]).ok();
    desk.clear_outbox();
    desk.ingest(&mail("Bob <bob@laptop.example>", "help+1@example.com", "Re: [REQ #1]", "Owner: me\nStatus: resolved\n\nNew roller.", "b1")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["status"], "resolved", "{ticket}");
    assert_eq!(ticket["owner"], "bob@example.com", "the person, by their primary address");
    assert!(desk.outbox().iter().all(|mail| mail.to() != "bob@example.com"), "no copy of his own words");
}
