//! Reports, lists and searches by mail: an authenticated agent's request to the request
//! address (or a subject command) is answered by mail and opens no ticket; anyone else
//! gets one refusal a day, machines nothing.

use mail_parser::MimeHeaders as _;

use crate::harness::{authenticated_letter, letter, Desk, Mail};

const SITE: &str = r#"
categories = ["Hardware / Printer", "E-Mail / MTA Problem"]

[mail]
trusted_authserv_id = "mx.example.com"

[queues.general]

[queues.hardware]
resolution = { urgent = "2h", high = "8h", medium = "16h", low = "40h" }

[[people]]
addresses = ["bob@example.com"]
role = "agent"

[[people]]
addresses = ["ann@example.com"]
role = "agent"
"#;

const REQUESTS: &str = "help+report@example.com";

/// Three tickets: #1 and #2 in hardware (bob owns #1, #2 is late), #3 in general.
fn desk() -> Desk {
    let mut desk = Desk::with_config(SITE);
    desk.now = Some("2026-11-23T08:00:00Z".into());
    desk.ingest(&letter("carol@example.org", "help@example.com", "Printer jammed on floor 3", "Queue: hardware\n\nPaper stuck.", "c1")).ok();
    desk.ingest(&letter("dave@example.org", "help@example.com", "Mail server down", "Queue: hardware\n\nNo mail.", "d1")).ok();
    desk.ingest(&letter("erin@example.org", "help@example.com", "Need a new account", "Please.", "e1")).ok();
    desk.now = Some("2026-11-23T09:00:00Z".into());
    let owner = "Owner: me\nCategory: Hardware / Printer\n\nLooking at it.";
    desk.ingest(&authenticated_letter("bob@example.com", "help+1@example.com", "Re: [REQ #1]", owner, "b1")).ok();
    assert_eq!(desk.ticket(1)["owner"], "bob@example.com");
    desk.now = Some("2026-12-02T10:00:00Z".into());
    desk.run(&["tick"]).ok();
    desk.clear_outbox();
    desk
}

/// Delivers the outbox and returns what went to `to`.
fn letters_to(desk: &Desk, to: &str) -> Vec<Mail> {
    desk.run(&["tick"]).ok();
    desk.outbox().into_iter().filter(|mail| mail.to() == to).collect()
}

fn outcome(desk: &Desk, id: &str) -> (String, String) {
    let row = &desk.sql(&format!("SELECT state, outcome FROM messages WHERE message_id = '{id}@test'"))[0];
    (row[0].as_str().unwrap_or("").to_string(), row[1].as_str().unwrap_or("").to_string())
}

#[test]
fn an_agent_gets_lists_a_report_and_searches_by_mail_and_no_ticket_opens() {
    let desk = desk();
    let body = "List: my open tickets\nList: queue hardware, late\nReport: last month, queue hardware, by week\n\
                Search: printer jam\nSearch: sounds like prynter\nList: queue plumbing, frobnicate\n\n> Report: quoted, not asked";
    desk.ingest(&authenticated_letter("bob@example.com", REQUESTS, "numbers please", body, "ask1")).ok();
    assert_eq!(desk.tickets().len(), 3, "no ticket for a request");
    let (state, why) = outcome(&desk, "ask1");
    assert_eq!(state, "ignored");
    assert!(why.contains("request by mail from agent bob@example.com") && why.contains("List: my open tickets") && why.contains("answered"), "{why}");
    assert!(!why.contains("quoted"), "{why}");
    let trace = desk.run(&["trace", "<ask1@test>"]).ok().stdout;
    assert!(trace.contains("request-answer") && trace.contains("bob@example.com"), "trace shows the answer: {trace}");

    let answers = letters_to(&desk, "bob@example.com");
    assert_eq!(answers.len(), 1, "one letter answers every line");
    let answer = &answers[0];
    assert_eq!(answer.subject(), "Your 6 requests");
    assert_eq!(answer.header("In-Reply-To").as_deref(), Some("<ask1@test>"));
    assert_eq!(answer.header("Auto-Submitted").as_deref(), Some("auto-replied"));
    assert_eq!(answer.header("Reply-To").as_deref(), Some("help+report@example.com"), "a reply asks again");
    let text = answer.body();
    let section = |title: &str| -> String {
        let start = text.find(title).unwrap_or_else(|| panic!("{title} in {text}"));
        let rest = &text[start + title.len()..];
        rest[..["\nList:", "\nReport:", "\nSearch:"].iter().filter_map(|next| rest.find(next)).min().unwrap_or(rest.len())].to_string()
    };
    let mine = section("List: my open tickets");
    assert!(mine.lines().any(|line| line.starts_with("1 ") && line.contains("Printer jammed")), "{mine}");
    assert!(!mine.contains("Mail server down"), "only bob's: {mine}");
    let late = section("List: queue hardware, late");
    assert!(late.lines().any(|line| line.starts_with("2 ") && line.contains("Mail server down")), "{late}");
    assert!(!late.contains("Need a new account"), "only hardware: {late}");
    let report = section("Report: last month, queue hardware, by week");
    assert!(report.contains("Tickets 2026-11-01 to 2026-11-30, queue hardware"), "{report}");
    assert!(report.lines().any(|line| line.starts_with("opened:") && line.ends_with(" 2")), "{report}");
    assert!(report.contains("week of"), "{report}");
    assert!(section("Search: printer jam").contains("#1  open  hardware  Printer jammed on floor 3"), "{text}");
    assert!(section("Search: sounds like prynter").contains("#1 "), "{text}");
    let unknown = section("List: queue plumbing, frobnicate");
    assert!(unknown.contains("there is no queue \"plumbing\"; the queues are general, hardware"), "{unknown}");
    assert!(unknown.contains("\"frobnicate\" not understood"), "{unknown}");

    let message = mail_parser::MessageParser::default().parse(&answer.raw).unwrap();
    let pngs = message.parts.iter().filter(|part| part.is_content_type("image", "png")).count();
    assert_eq!(pngs, 6, "the report's three charts inline and attached");
    assert!(String::from_utf8_lossy(&answer.raw).contains("filename=\"trend.png\""));
}

#[test]
fn a_subject_command_from_an_agent_is_answered_and_from_a_customer_is_a_ticket() {
    let desk = desk();
    desk.ingest(&authenticated_letter("ann@example.com", "help@example.com", "Search: account", "", "ask2")).ok();
    assert_eq!(desk.tickets().len(), 3);
    let answers = letters_to(&desk, "ann@example.com");
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].subject(), "Search: account");
    assert!(answers[0].body().contains("#3  new  general  Need a new account"), "{}", answers[0].body());
    assert_eq!(String::from_utf8_lossy(&answers[0].raw).matches("image/png").count(), 0, "no charts without a report");

    desk.ingest(&authenticated_letter("carol@example.org", "help@example.com", "List: my tickets are gone", "Where are they?", "c2")).ok();
    assert_eq!(desk.tickets().len(), 4, "a customer's subject is just a subject");
    // Unverified, an agent's subject command is an ordinary message too (a forged From).
    desk.ingest(&letter("ann@example.com", "help@example.com", "Report: last year", "", "forged1")).ok();
    assert_eq!(desk.tickets().len(), 5);
    assert!(letters_to(&desk, "ann@example.com").iter().all(|mail| !mail.subject().starts_with("Report:")));
}

#[test]
fn others_get_one_refusal_a_day_and_machines_nothing() {
    let mut desk = desk();
    // A forged agent From: not verified.
    desk.ingest(&letter("bob@example.com", REQUESTS, "x", "List: all tickets", "forged1")).ok();
    desk.ingest(&letter("bob@example.com", REQUESTS, "x", "List: all tickets", "forged2")).ok();
    // A verified customer.
    desk.ingest(&authenticated_letter("carol@example.org", REQUESTS, "x", "Report: last month", "carol1")).ok();
    assert_eq!(desk.tickets().len(), 3, "no ticket for any of them");
    let (state, why) = outcome(&desk, "forged1");
    assert_eq!(state, "ignored");
    assert!(why.contains("refused") && why.contains("unverified"), "{why}");

    let to_bob = letters_to(&desk, "bob@example.com");
    assert_eq!(to_bob.len(), 1, "one refusal a day: {:?}", to_bob.iter().map(Mail::subject).collect::<Vec<_>>());
    assert_eq!(to_bob[0].subject(), "Your request to the help desk");
    assert!(to_bob[0].body().contains("could not be verified"), "{}", to_bob[0].body());
    assert!(!to_bob[0].body().contains("Tickets"), "no figures in a refusal");
    let to_carol = letters_to(&desk, "carol@example.org");
    assert_eq!(to_carol.len(), 1);
    assert!(to_carol[0].body().contains("for the help desk's agents"), "{}", to_carol[0].body());

    desk.now = Some("2026-12-03T10:00:00Z".into());
    desk.clear_outbox();
    desk.ingest(&letter("bob@example.com", REQUESTS, "x", "List: all tickets", "forged3")).ok();
    assert_eq!(letters_to(&desk, "bob@example.com").len(), 1, "the next day, one more");

    desk.clear_outbox();
    let robot = authenticated_letter("ann@example.com", REQUESTS, "Out of office", "Report: I am away", "ooo1");
    let robot = [b"Auto-Submitted: auto-replied\r\n".as_slice(), &robot].concat();
    desk.ingest(&robot).ok();
    assert!(letters_to(&desk, "ann@example.com").is_empty(), "machines are never answered");
    assert_eq!(outcome(&desk, "ooo1").0, "ignored");
}

#[test]
fn an_empty_request_gets_the_list_of_what_can_be_asked() {
    let desk = desk();
    desk.ingest(&authenticated_letter("bob@example.com", REQUESTS, "help", "What can I ask?", "ask3")).ok();
    let answers = letters_to(&desk, "bob@example.com");
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].subject(), "What you can ask for by mail");
    assert!(answers[0].body().contains("List: my open tickets"), "{}", answers[0].body());
}

#[test]
fn the_request_address_is_configurable_and_checked() {
    let desk = Desk::with_config(&format!("{SITE}\n[reports]\nrequest_address = \"numbers@example.com\"\n"));
    desk.ingest(&authenticated_letter("bob@example.com", "numbers@example.com", "x", "List: all", "ask4")).ok();
    assert_eq!(letters_to(&desk, "bob@example.com").len(), 1);
    desk.ingest(&authenticated_letter("bob@example.com", REQUESTS, "x", "List: all", "ask5")).ok();
    assert_eq!(desk.tickets().len(), 1, "the default address is an ordinary one now");

    let desk = Desk::with_config("[reports]\nrequest_address = \"numbers\"\n");
    let run = desk.run(&["tick"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("reports.request_address"), "{}", run.stderr);
}
