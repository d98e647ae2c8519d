//! Webhooks: signed JSON events after commit, retried like mail, never in mail's way.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::harness::http::{Answer, HttpServer};
use crate::harness::{request, Desk};

const SECRET: &str = "a-secret-of-enough-length";

fn desk_with(webhooks: &str) -> Desk {
    let config = format!("[outbound]\nretry_initial_seconds = 60\nmax_attempts = 3\n{webhooks}");
    let mut desk = Desk::with_config(&config);
    desk.now = Some("2026-11-21T10:00:00Z".into());
    desk
}

fn webhook(name: &str, url: &str, extra: &str) -> String {
    format!("[[webhooks]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n{extra}\n")
}

fn events(desk: &Desk) -> Vec<Vec<serde_json::Value>> {
    desk.sql("SELECT webhook, event, status, attempts, last_error FROM webhook_events ORDER BY id")
}

#[test]
fn events_arrive_signed_after_commit_for_the_queues_and_kinds_asked_for() {
    let server = HttpServer::start(Answer::Status(204));
    let config = webhook("chat", &server.url("/hook"), "events = [\"created\", \"resolved\"]")
        + &webhook("billing-only", &server.url("/billing"), "queues = [\"billing\"]");
    let desk = desk_with(&config);
    desk.ingest(&request("w1@example.org", "ann@example.org", "Printer jam", "Tray 2 jams.")).ok();
    assert!(server.requests().is_empty(), "ingest leaves webhooks to tick and serve");
    let tick = desk.run(&["tick"]).ok();
    assert!(tick.stdout.contains("webhook events sent 1, to retry 0, given up 0"), "{}", tick.stdout);

    // A note (updated) is not asked for; resolving is, and goes out at once.
    desk.run(&["ticket", "update", "1", "priority=high"]).ok();
    desk.run(&["ticket", "update", "1", "status=resolved"]).ok();
    let requests = server.requests();
    assert_eq!(requests.iter().map(|request| request.path.as_str()).collect::<Vec<_>>(), ["/hook", "/hook"]);
    for request in &requests {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(&request.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(request.header("X-Reqmail-Signature"), Some(expected.as_str()));
        assert_eq!(request.header("Content-Type"), Some("application/json"));
    }
    let created: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(created["event"], "created");
    assert_eq!(created["ticket"]["number"], 1);
    assert_eq!(created["ticket"]["subject"], "Printer jam");
    assert_eq!(created["ticket"]["requester"], "ann@example.org");
    assert_eq!(created["note"], "Tray 2 jams.");
    let resolved: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!((resolved["event"].as_str(), resolved["ticket"]["status"].as_str()), (Some("resolved"), Some("resolved")));
    assert!(resolved["changes"][0].as_str().unwrap().contains("status: "), "{resolved}");
    assert_eq!(requests[1].header("X-Reqmail-Event"), Some("resolved"));
    assert_ne!(requests[0].header("X-Reqmail-Delivery"), requests[1].header("X-Reqmail-Delivery"));
    // The ticket says who was told.
    let history = desk.ticket(1)["history"].to_string();
    assert!(history.contains("created to chat") && history.contains("resolved to chat"), "{history}");
}

#[test]
fn an_endpoint_that_is_down_gets_the_event_later_and_mail_still_flows() {
    let port = HttpServer::closed_port();
    let mut desk = desk_with(&webhook("chat", &format!("http://127.0.0.1:{port}/hook"), ""));
    desk.ingest(&request("w2@example.org", "bob@example.org", "Disk full", "Again.")).ok();
    desk.run(&["tick"]).ok();
    assert_eq!(desk.outbox().len(), 1, "the receipt went out");
    let rows = events(&desk);
    assert_eq!((rows[0][2].as_str(), rows[0][3].as_i64()), (Some("queued"), Some(1)), "{rows:?}");
    assert!(!rows[0][4].as_str().unwrap_or("").is_empty(), "{rows:?}");

    // Before the backoff ends nothing is tried; after it, the event arrives.
    let server = HttpServer::start_on(port, Answer::Status(200));
    desk.run(&["tick"]).ok();
    assert!(server.requests().is_empty(), "retried before its backoff");
    desk.now = Some("2026-11-21T10:02:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(server.requests().len(), 1);
    assert_eq!(events(&desk)[0][2], "sent");
}

#[test]
fn a_slow_endpoint_times_out_once_per_pass_and_is_retried() {
    let server = HttpServer::start(Answer::After(Duration::from_secs(4)));
    let desk = desk_with(&webhook("slow", &server.url("/hook"), "timeout_seconds = 1"));
    desk.ingest(&request("w3@example.org", "cy@example.org", "First", "x")).ok();
    desk.ingest(&request("w4@example.org", "cy@example.org", "Second", "y")).ok();
    let started = Instant::now();
    desk.run(&["tick"]).ok();
    assert!(started.elapsed() < Duration::from_secs(4), "one timeout, not one per event: {:?}", started.elapsed());
    assert_eq!(server.requests().len(), 1, "the second event waits without a request");
    let rows = events(&desk);
    assert!(rows.iter().all(|row| row[2] == "queued" && row[3] == 1), "{rows:?}");
    assert!(rows[1][4].as_str().unwrap().starts_with("not tried: "), "{rows:?}");
    assert_eq!(desk.outbox().len(), 2, "both receipts went out");
}

#[test]
fn an_endpoint_answering_500_is_retried_then_given_up_on_the_ticket() {
    let server = HttpServer::start(Answer::Status(500));
    let mut desk = desk_with(&webhook("broken", &server.url("/hook"), ""));
    desk.ingest(&request("w5@example.org", "dee@example.org", "Broken", "x")).ok();
    for now in ["2026-11-21T10:00:00Z", "2026-11-21T10:01:30Z", "2026-11-21T10:04:00Z"] {
        desk.now = Some(now.into());
        desk.run(&["tick"]).ok();
    }
    assert_eq!(server.requests().len(), 3, "max_attempts = 3");
    let rows = events(&desk);
    assert_eq!((rows[0][2].as_str(), rows[0][3].as_i64()), (Some("failed"), Some(3)), "{rows:?}");
    assert!(rows[0][4].as_str().unwrap().contains("500"), "{rows:?}");
    let history = desk.ticket(1)["history"].to_string();
    assert!(history.contains("webhook-failed") && history.contains("webhook broken not told of created"), "{history}");
    desk.now = Some("2026-11-21T12:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_eq!(server.requests().len(), 3, "given up means no more attempts");
}

#[test]
fn rules_check_refuses_a_url_that_is_not_http() {
    let desk = Desk::with_config(&webhook("files", "ftp://example.com/drop", ""));
    let run = desk.run(&["rules", "check"]);
    assert_eq!(run.status, 78, "{}", run.stderr);
    assert!(run.stderr.contains("webhooks[0] (\"files\")") && run.stderr.contains("not an http:// or https:// URL"), "{}", run.stderr);
    let desk = Desk::with_config("[[webhooks]]\nurl = \"https://chat.example.com/x\"\nsecret = \"short\"\nevents = [\"opened\"]\n");
    let run = desk.run(&["rules", "check"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("opened"), "an unknown event is named: {}", run.stderr);
}

#[test]
fn serve_posts_events_from_its_own_task() {
    let server = HttpServer::start(Answer::Status(200));
    let desk = Desk::with_config(&webhook("chat", &server.url("/hook"), ""));
    let daemon = crate::harness::daemon::Daemon::start(&desk);
    desk.deliver_to_inbox("1.serve", &request("w6@example.org", "eve@example.org", "Via serve", "x"));
    let arrived = crate::harness::dovecot::wait_until(Duration::from_secs(30), || !server.requests().is_empty());
    assert!(arrived, "{}", daemon.log());
    let event: serde_json::Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
    assert_eq!((event["event"].as_str(), event["ticket"]["subject"].as_str()), (Some("created"), Some("Via serve")));
    assert_eq!(daemon.terminate(), 0);
}
