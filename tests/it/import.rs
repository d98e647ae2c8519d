//! `reqmail import`: the archives in fixtures/import/ become tickets with their threads
//! and original dates, MH tickets keep their numbers and admin lines, nothing is mailed
//! (not at import, not by the scheduler afterwards), and a second run changes nothing.

use std::path::PathBuf;

use crate::harness::{request, Desk};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/import").join(name).display().to_string()
}

/// Nothing waits to be sent and nothing was delivered.
fn assert_silent(desk: &Desk) {
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox"), 0);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'out'"), 0);
    assert!(desk.outbox().is_empty());
}

fn actions(ticket: &serde_json::Value) -> Vec<(String, String)> {
    ticket["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| (event["at"].as_str().unwrap().to_string(), event["action"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn an_mbox_becomes_threaded_tickets_at_their_original_dates_without_mail_and_only_once() {
    let mut desk = Desk::new();
    let run = desk.run(&["import", "mbox", &fixture("archive.mbox")]).ok();
    assert!(run.stdout.starts_with("5 messages: 2 new tickets, 2 threaded onto tickets, 1 skipped"), "{}", run.stdout);
    assert!(run.stdout.contains("machine mail (Auto-Submitted: auto-replied)") && run.stdout.contains("archive.mbox:5"), "{}", run.stdout);
    assert!(run.stderr.is_empty(), "no progress bar without a terminal: {}", run.stderr);
    assert_silent(&desk);

    let carol = desk.ticket(1);
    assert_eq!(carol["subject"], "Mail server down");
    assert_eq!(carol["created"], "2019-03-01T09:00:00Z");
    assert_eq!(carol["updated"], "2019-03-02T08:00:00Z");
    let history = carol["history"].to_string();
    assert!(history.contains("We restarted the MTA") && history.contains("Works again"), "{history}");
    assert!(actions(&carol).iter().all(|(_, action)| action != "mail"), "no mail recorded: {:?}", actions(&carol));
    let dave = desk.ticket(2);
    assert!(dave["history"].to_string().contains("From the logs: no space left"), "mboxrd >From unquoted: {}", dave["history"]);

    let again = desk.run(&["import", "mbox", &fixture("archive.mbox")]).ok();
    assert!(again.stdout.starts_with("5 messages: 0 new tickets, 0 threaded onto tickets, 5 skipped"), "{}", again.stdout);
    assert_eq!(desk.tickets().len(), 2);

    // Years later the scheduler finds long-passed deadlines, and mails nobody about them.
    desk.now = Some("2026-12-01T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert_silent(&desk);
    // New mail on an imported ticket is answered as usual.
    let reply = b"From: Carol Client <carol@customer.example>\r\nTo: help@example.com\r\nSubject: Re: Mail server down\r\nMessage-ID: <c3@customer.example>\r\n\
                  In-Reply-To: <c2@customer.example>\r\n\r\nDown again.\r\n";
    desk.ingest(reply).ok();
    assert_eq!(desk.tickets().len(), 2, "threaded onto the imported ticket");
    assert!(desk.ticket(1)["history"].to_string().contains("Down again."));
    desk.ingest(&request("live-1@customer.test", "carol@customer.example", "Printer", "x")).ok();
    assert_eq!(desk.outbox().len(), 1, "live mail gets its receipt");
}

#[test]
fn mh_tickets_keep_their_numbers_owner_and_status_from_the_appended_admin_lines() {
    let desk = Desk::new();
    let run = desk.run(&["import", "mh", &fixture("mh")]).ok();
    assert!(run.stdout.starts_with("3 messages: 3 new tickets, 0 threaded onto tickets, 0 skipped"), "{}", run.stdout);
    assert_silent(&desk);
    let numbers: Vec<i64> = desk.tickets().iter().map(|ticket| ticket["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [7, 12, 15]);

    let printer = desk.ticket(12);
    assert_eq!(printer["status"], "closed");
    assert_eq!(printer["owner"], "ann@example.com");
    assert_eq!(printer["created"], "2019-02-12T11:00:00Z");
    let history = printer["history"].to_string();
    assert!(history.contains("ASSIGNED TO: ann@example.com") && history.contains("STATUS: closed"), "{history}");
    assert!(!history.contains("jams on every second page.\\n\\nASSIGNED"), "admin lines are not part of the request: {history}");
    assert_eq!(desk.ticket(15)["status"], "hold", "STATUS: pending");
    assert_eq!(desk.ticket(7)["status"], "new");

    // The next ticket continues after the highest imported number; a rerun adds nothing.
    desk.ingest(&request("new-1@customer.test", "zoe@customer.test", "After the import", "x")).ok();
    assert_eq!(desk.tickets().last().unwrap()["number"], 16);
    let again = desk.run(&["import", "mh", &fixture("mh")]).ok();
    assert!(again.stdout.contains("0 new tickets") && again.stdout.contains("3 skipped"), "{}", again.stdout);
    assert_eq!(desk.tickets().len(), 4);
}

#[test]
fn mh_numbers_already_taken_are_reported_with_the_new_number() {
    let desk = Desk::new();
    for index in 0..13 {
        desk.ingest(&request(&format!("live-{index}@customer.test"), "zoe@customer.test", &format!("Live {index}"), "x")).ok();
    }
    let run = desk.run(&["import", "mh", &fixture("mh")]).ok();
    assert!(run.stdout.contains("ticket 7 is #14 here") && run.stdout.contains("ticket 12 is #15 here"), "{}", run.stdout);
    assert!(run.stdout.contains("ticket 15 is #16 here"), "{}", run.stdout);
}

#[test]
fn a_maildir_is_imported_in_date_order_and_left_as_it_was() {
    let desk = Desk::new();
    let before: Vec<_> = walk(&fixture("maildir"));
    let run = desk.run(&["import", "maildir", &fixture("maildir")]).ok();
    assert!(run.stdout.starts_with("2 messages: 1 new tickets, 1 threaded onto tickets, 0 skipped"), "{}", run.stdout);
    assert_eq!(walk(&fixture("maildir")), before, "the archive is not touched");
    assert!(desk.ticket(1)["history"].to_string().contains("now stops and starts"));
    assert_silent(&desk);
    let missing = desk.run(&["import", "maildir", &fixture("mh")]);
    assert_eq!(missing.status, 64);
    assert!(missing.stderr.contains("is not a Maildir"), "{}", missing.stderr);
}

fn walk(dir: &str) -> Vec<String> {
    let mut files = Vec::new();
    for sub in ["cur", "new", "tmp"] {
        for entry in std::fs::read_dir(PathBuf::from(dir).join(sub)).unwrap().flatten() {
            files.push(format!("{sub}/{}", entry.file_name().to_string_lossy()));
        }
    }
    files.sort();
    files
}

#[test]
fn hostile_archives_are_imported_or_skipped_with_a_reason_and_never_panic() {
    let desk = Desk::new();
    let dir = tempfile::tempdir().unwrap();
    // An mbox of binary garbage, a header-only message, a broken "From " line and a
    // message with NULs in it.
    let mut mbox = b"From \x00\xff garbage\n\x00\x01\x02\xff\xfe\n\nFrom nobody Thu Jan  1 00:00:00 1970\nSubject: only a header\n\nFrom carol@example.org Mon Mar  4 09:00:00 2019\nFrom: carol@example.org\nSubject: Printer\x00 jams\nDate: Mon, 4 Mar 2019 09:00:00 +0000\n\nIt jams.\x00\n".to_vec();
    mbox.extend(std::iter::repeat_n(0xffu8, 4096));
    let mbox_path = dir.path().join("hostile.mbox");
    std::fs::write(&mbox_path, &mbox).unwrap();
    // A Maildir with an empty file and binary garbage; an MH folder with both.
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.path().join("maildir").join(sub)).unwrap();
    }
    std::fs::write(dir.path().join("maildir/cur/1.empty"), b"").unwrap();
    std::fs::write(dir.path().join("maildir/new/2.garbage"), b"\x00\x01\xff\xfe not mail").unwrap();
    std::fs::create_dir_all(dir.path().join("mh")).unwrap();
    std::fs::write(dir.path().join("mh/1"), b"").unwrap();
    std::fs::write(dir.path().join("mh/2"), b"\xff\xfe\x00ASSIGNED TO: \xff\n").unwrap();
    std::fs::write(dir.path().join("mh/not-a-number"), b"From: x@example.org\n\nx\n").unwrap();
    for (format, path) in [("mbox", mbox_path.clone()), ("maildir", dir.path().join("maildir")), ("mh", dir.path().join("mh"))] {
        let run = desk.run(&["import", format, &path.display().to_string()]);
        assert!(!run.stderr.contains("panicked"), "{format}: {}", run.stderr);
        assert_eq!(run.status, 0, "{format}: bad messages are skipped, not fatal: {}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("messages:"), "{format}: a summary: {}", run.stdout);
    }
    assert_silent(&desk);
    let nowhere = desk.run(&["import", "mbox", &dir.path().join("no-such.mbox").display().to_string()]);
    assert_eq!(nowhere.status, 64, "{}", nowhere.stderr);
    assert!(nowhere.stderr.contains("no-such.mbox"), "names the file: {}", nowhere.stderr);
}
