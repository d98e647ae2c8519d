//! The tutorial queue: a new user writes to the practice queue and the robot works the
//! ticket step by step as time passes (`tick` with `REQMAIL_NOW`): takes it and raises
//! the priority, puts it on hold, resolves it with the approval boxes; the user's
//! reply takes it off hold, their [X] closes it; left alone, the robot closes it.

use crate::harness::Desk;

const CONFIG: &str = "[tutorial]\nqueue = \"autotest\"\nstep_minutes = 10\n[queues.autotest]\n";

fn practice(desk: &Desk, message_id: &str) {
    let raw = format!(
        "From: Nina Newcomer <nina@customer.test>\r\nTo: help@example.com\r\nSubject: Practice run\r\nMessage-ID: <{message_id}>\r\n\r\n\
         Queue: autotest\r\n\r\nI want to learn how this works.\r\n"
    );
    desk.ingest(raw.as_bytes()).ok();
}

fn at(desk: &mut Desk, time: &str) {
    desk.now = Some(time.into());
    desk.run(&["tick"]).ok();
}

#[test]
fn the_robot_takes_holds_resolves_and_the_users_x_closes_the_ticket() {
    let mut desk = Desk::with_config(CONFIG);
    desk.now = Some("2026-12-01T09:00:00Z".into());
    practice(&desk, "p1@customer.test");
    assert_eq!(desk.ticket(1)["queue"], "autotest");
    desk.clear_outbox();

    at(&mut desk, "2026-12-01T09:05:00Z");
    assert_eq!(desk.ticket(1)["status"], "new", "quiet for less than a step: nothing yet");

    at(&mut desk, "2026-12-01T09:11:00Z");
    let ticket = desk.ticket(1);
    assert_eq!((ticket["status"].as_str(), ticket["priority"].as_str()), (Some("open"), Some("high")));
    assert_eq!(ticket["owner"], "tutorial-robot@example.com");
    let mail = desk.outbox();
    assert!(mail.iter().any(|mail| mail.body().contains("tutorial robot") && mail.header("To").unwrap().contains("nina@customer.test")), "the user hears from the robot");
    desk.clear_outbox();

    at(&mut desk, "2026-12-01T09:22:00Z");
    assert_eq!(desk.ticket(1)["status"], "hold");
    at(&mut desk, "2026-12-01T09:33:00Z");
    assert_eq!(desk.ticket(1)["status"], "resolved");
    let resolution = desk.outbox().into_iter().find(|mail| mail.body().contains("[ ] Yes, it is solved")).expect("the approval boxes");

    // The user approves by mail, as the tutorial teaches.
    let (to, reply) = crate::mta_pipe::reply_to(&resolution, "p1-yes@customer.test", "[X] Yes, it is solved - close the request");
    assert!(to.starts_with("help+1"), "{to}");
    // reply_to writes as Alice; here Nina answers her own mail.
    let reply = String::from_utf8(reply).unwrap().replace("Alice <alice@customer.test>", "Nina Newcomer <nina@customer.test>");
    desk.ingest(reply.as_bytes()).ok();
    assert_eq!(desk.ticket(1)["status"], "closed", "{}", desk.ticket(1)["history"]);
}

#[test]
fn left_alone_the_robot_closes_and_other_queues_are_untouched() {
    let mut desk = Desk::with_config(CONFIG);
    desk.now = Some("2026-12-01T09:00:00Z".into());
    practice(&desk, "p2@customer.test");
    desk.ingest(&crate::harness::request("real-1@customer.test", "rob@customer.test", "Real problem", "Printer")).ok();
    for minute in ["09:11", "09:22", "09:33", "09:44", "09:55"] {
        at(&mut desk, &format!("2026-12-01T{minute}:00Z"));
    }
    assert_eq!(desk.ticket(1)["status"], "closed");
    assert!(desk.ticket(1)["history"].to_string().contains("The tutorial is over"));
    let real = desk.ticket(2);
    assert_eq!((real["status"].as_str(), real["owner"].is_null()), (Some("new"), true), "{real}");
}
