//! `fetch` from the inbound Maildir: a pass killed at any moment loses nothing it
//! acknowledged, and the next pass finishes with exactly one effect per message.

use std::collections::HashSet;
use std::time::Duration;

use crate::harness::{letter, request, Desk};

const MESSAGES: usize = 240;

fn file_names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn fetch_killed_at_random_moments_loses_no_acknowledged_message() {
    // Small batches, so that a kill lands between batches as well as inside one.
    let mut desk = Desk::with_config("[inbound]\nbatch_size = 16\n");
    desk.now = Some("2026-11-21T09:00:00Z".into());
    let inbox = desk.path().join("mail/inbox");
    for index in 0..MESSAGES {
        let raw = request(&format!("batch-{index}@example.org"), &format!("sender{index}@example.org"), &format!("Batch {index}"), "x");
        std::fs::write(inbox.join("new").join(format!("1795000000.M{index:06}P1.test")), raw).unwrap();
    }
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..5 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = desk.command(&["fetch", "-q"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(100 + seed % 400));
        let _ = child.kill();
        let _ = child.wait();
        // Every file that left new/ was stored first.
        let acknowledged = file_names(&inbox.join("cur"));
        let stored = desk.with_connection(|conn| -> reqmail::store::Result<HashSet<String>> {
            conn.prepare("SELECT source FROM messages WHERE direction = 'in'")?.query_map((), |row| row.get(0))?.collect()
        });
        let stored = match stored {
            Ok(stored) => stored,
            // Killed (on a busy machine) before the schema was in place: nothing is stored,
            // so nothing may have been acknowledged.
            Err(error) if error.to_string().contains("no such table") => HashSet::new(),
            Err(error) => panic!("round {round}: {error}"),
        };
        for name in &acknowledged {
            let base = name.split(":2,").next().unwrap();
            assert!(stored.contains(&format!("maildir:{base}")), "round {round}: {name} was moved to cur/ but is not in the store");
        }
    }
    desk.run(&["fetch", "-q"]).ok();
    desk.now = Some("2026-11-21T09:20:00Z".into());
    desk.run(&["tick"]).ok();
    assert!(file_names(&inbox.join("new")).is_empty(), "every file was taken");
    assert_eq!(file_names(&inbox.join("cur")).len(), MESSAGES);
    assert_eq!(desk.count("SELECT COUNT(*) FROM tickets"), MESSAGES as i64, "one ticket per message");
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"), MESSAGES as i64, "each message stored once");
    assert_eq!(desk.outbox().len(), MESSAGES, "one receipt per ticket, neither lost nor doubled");
}

#[test]
fn one_batch_threads_a_reply_to_its_request_and_quarantines_poison_alone() {
    // Parsed ahead on another thread, written in order: what the reply needs (the ticket
    // its request opened) is there when its turn comes, and bad files in between change
    // nothing for the others.
    let desk = Desk::with_config("[inbound]\nmax_message_bytes = 3000\n");
    desk.deliver_to_inbox("1795000000.M000001P1.test", &request("first@example.org", "ann@example.org", "Printer jams", "It jams."));
    desk.deliver_to_inbox("1795000000.M000002P1.test", b"\x00\x01 not mail at all\r\n");
    desk.deliver_to_inbox("1795000000.M000003P1.test", &request("big@example.org", "bob@example.org", "Logs", &"x".repeat(5000)));
    let reply = String::from_utf8(letter("ann@example.org", "help@example.com", "Re: Printer jams", "Also tray 2.", "second"))
        .unwrap()
        .replacen("\r\n", "\r\nIn-Reply-To: <first@example.org>\r\n", 1);
    desk.deliver_to_inbox("1795000000.M000004P1.test", reply.as_bytes());
    desk.deliver_to_inbox("1795000000.M000005P1.test", &request("third@example.org", "cy@example.org", "VPN", "It drops."));

    let line = desk.run(&["fetch"]).ok().stdout;
    assert!(line.contains("read 5") && line.contains("opened 2, threaded 1") && line.contains("quarantined 2"), "{line}");
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let history = desk.ticket(tickets[0]["number"].as_i64().unwrap())["history"].to_string();
    assert!(history.contains("Also tray 2."), "the reply is on its request's ticket: {history}");

    let cur = file_names(&desk.path().join("mail/inbox/cur"));
    let mut flagged: Vec<&str> = cur.iter().filter(|name| name.ends_with(":2,FS")).map(String::as_str).collect();
    flagged.sort();
    assert_eq!(flagged, ["1795000000.M000002P1.test:2,FS", "1795000000.M000003P1.test:2,FS"], "{cur:?}");
    assert_eq!(cur.len(), 5);
    let reasons = desk.run(&["quarantine", "list", "--json"]).ok().json().to_string();
    assert!(reasons.contains("max_message_bytes") && reasons.contains("not a mail message"), "{reasons}");
    // The sender of the large one hears why, from the bytes the writer no longer held.
    let told: Vec<String> = desk.outbox().iter().filter(|mail| mail.body().contains("could not be processed")).map(|mail| mail.to()).collect();
    assert_eq!(told, ["bob@example.org"]);
}

#[test]
fn a_message_that_fails_mid_batch_is_quarantined_alone_and_the_rest_have_one_effect_each() {
    // The batch runs without a savepoint per message; a failure undoes that pass and the
    // batch is processed again with one, so nothing before or after it happens twice.
    let desk = desk_whose_hardware_receipt_fails();
    desk.deliver_to_inbox("1795000000.M000001P1.test", &request("first@example.org", "ann@example.org", "Printer jams", "It jams."));
    desk.deliver_to_inbox("1795000000.M000002P1.test", &to_hardware("second@example.org", "bob@example.org"));
    desk.deliver_to_inbox("1795000000.M000003P1.test", &request("third@example.org", "cy@example.org", "VPN", "It drops."));

    let line = desk.run(&["fetch"]).ok().stdout;
    assert!(line.contains("read 3") && line.contains("opened 2") && line.contains("quarantined 1"), "{line}");
    let reasons = desk.run(&["quarantine", "list", "--json"]).ok().json().to_string();
    assert!(reasons.contains("cannot be applied") && reasons.contains("no_such_helper"), "{reasons}");
    let subjects: Vec<String> = desk.tickets().iter().map(|ticket| ticket["subject"].as_str().unwrap().to_string()).collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects.iter().any(|subject| subject == "Printer jams") && subjects.iter().any(|subject| subject == "VPN"), "{subjects:?}");
    let mut receipts: Vec<String> = desk.outbox().iter().map(|mail| mail.to()).collect();
    receipts.sort();
    assert_eq!(receipts, ["ann@example.org", "cy@example.org"], "one receipt each, none for the failed message");
    assert_eq!(desk.count("SELECT COUNT(*) FROM addresses WHERE address = 'bob@example.org'"), 0, "the failed message left nothing behind");
    let flagged: Vec<String> = file_names(&desk.path().join("mail/inbox/cur")).into_iter().filter(|name| name.ends_with(":2,FS")).collect();
    assert_eq!(flagged, ["1795000000.M000002P1.test:2,FS"]);
}

#[test]
fn a_large_batch_builds_its_letters_beside_and_still_isolates_bad_mail() {
    // From 16 messages a batch's letters are built on a thread of their own and stored
    // before the commit. A message that fails mid-batch (its queue's receipt template is
    // broken) makes the batch run again with a savepoint per message: the letters of the
    // pass that was undone must not be stored, and every other letter exactly once. An
    // address lettre cannot write to costs only its letter; garbage is quarantined.
    let desk = desk_whose_hardware_receipt_fails();
    let good: Vec<String> = (0..18).map(|index| format!("customer{index}@example.org")).collect();
    for (index, address) in good.iter().enumerate() {
        desk.deliver_to_inbox(&format!("1795000000.M{index:06}P1.test"), &request(&format!("large-{index}@example.org"), address, &format!("Request {index}"), "Help."));
    }
    desk.deliver_to_inbox("1795000000.M000100P1.test", &to_hardware("hw@example.org", "bob@example.org"));
    desk.deliver_to_inbox("1795000000.M000101P1.test", &request("dots@example.org", "bad..dots@example.org", "Scanner", "It scans nothing."));
    desk.deliver_to_inbox("1795000000.M000102P1.test", b"\x00\xff\xfe garbage, not mail\r\n\r\n\x01");

    let line = desk.run(&["fetch"]).ok().stdout;
    assert!(line.contains("read 21") && line.contains("opened 19") && line.contains("quarantined 2"), "{line}");
    let mut receipts: Vec<String> = desk.outbox().iter().map(|mail| mail.to()).collect();
    receipts.sort();
    let mut expected = good.clone();
    expected.sort();
    assert_eq!(receipts, expected, "one receipt per good request, none for the failed message or the unwritable address");
    for mail in desk.outbox() {
        assert!(mail.body().contains("opened ticket #"), "a whole letter, built beside the batch: {}", mail.body());
    }
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'out'"), 18);
    assert_eq!(
        desk.count("SELECT COUNT(*) FROM messages m JOIN message_raw r ON r.message = m.id WHERE m.direction = 'out' AND m.size > 0"),
        18,
        "every letter's bytes stored, its size set"
    );
    let scanner = desk.tickets().into_iter().find(|ticket| ticket["subject"] == "Scanner").expect("the unwritable sender's ticket");
    let history = desk.ticket(scanner["number"].as_i64().unwrap())["history"].to_string();
    assert!(history.contains("no mail to bad..dots@example.org"), "{history}");
    let reasons = desk.run(&["quarantine", "list", "--json"]).ok().json().to_string();
    assert!(reasons.contains("no_such_helper") && reasons.contains("not a mail message"), "{reasons}");
    assert_eq!(desk.foreign_key_violations(), 0, "processed without SQLite's checks, every row refers to a row that exists");
    assert_eq!(
        desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND decision_zstd IS NULL AND decision IS NULL"),
        0,
        "every message's decision record, compressed beside the batch, kept from the pass that stood"
    );
}

#[test]
fn fetch_delivers_each_batchs_letters_while_the_next_is_processed_and_keeps_failed_ones() {
    // The writer claims a batch's letters in the batch's own commit and records their
    // delivery in a later one; a thread beside it writes them out meanwhile.
    const REQUESTS: usize = 128;
    let desk = Desk::with_config("[inbound]\nbatch_size = 16\n");
    for index in 0..REQUESTS {
        let raw = request(&format!("courier-{index}@example.org"), &format!("sender{index}@example.org"), &format!("Courier {index}"), "x");
        desk.deliver_to_inbox(&format!("1795000000.M{index:06}P1.test"), &raw);
    }
    let line = desk.run(&["fetch"]).ok().stdout;
    assert!(line.contains(&format!("letters written {REQUESTS}")), "{line}");
    let mut receipts: Vec<String> = desk.outbox().iter().map(|mail| mail.to()).collect();
    receipts.sort();
    receipts.dedup();
    assert_eq!(receipts.len(), REQUESTS, "one receipt per request");
    assert_eq!(desk.outbox().len(), REQUESTS, "none twice");
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND attempts = 1"), REQUESTS as i64, "each recorded once");
    // The first letter was written before the last request left new/.
    use std::os::unix::fs::MetadataExt as _;
    let changed = |path: &std::path::Path| {
        let meta = std::fs::metadata(path).unwrap();
        (meta.ctime(), meta.ctime_nsec())
    };
    let first_letter = std::fs::read_dir(desk.path().join("mail/outbox/new")).unwrap().map(|entry| changed(&entry.unwrap().path())).min().unwrap();
    let last_acknowledged = std::fs::read_dir(desk.path().join("mail/inbox/cur")).unwrap().map(|entry| changed(&entry.unwrap().path())).max().unwrap();
    assert!(first_letter < last_acknowledged, "letters leave while mail is processed: {first_letter:?} {last_acknowledged:?}");

    // Letters that cannot be written (the outbox cannot be opened) stay queued and
    // unclaimed, and leave with the next pass.
    std::fs::remove_dir_all(desk.path().join("mail/outbox")).unwrap();
    std::fs::write(desk.path().join("mail/outbox"), b"in the way").unwrap();
    for index in 0..40 {
        let raw = request(&format!("blocked-{index}@example.org"), &format!("later{index}@example.org"), &format!("Later {index}"), "x");
        desk.deliver_to_inbox(&format!("1795000001.M{index:06}P1.test"), &raw);
    }
    desk.run(&["fetch", "-q"]).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND claims = 0"), 40);
    std::fs::remove_file(desk.path().join("mail/outbox")).unwrap();
    desk.run(&["tick"]).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"), (REQUESTS + 40) as i64);
    assert_eq!(desk.outbox().len(), 40, "the 40 held back, each once");
}

/// A desk whose hardware queue has a receipt template that cannot render: a request to
/// `hardware@` fails while it is processed.
fn desk_whose_hardware_receipt_fails() -> Desk {
    let desk = Desk::with_config(
        "[queues.general]\n\n[queues.hardware]\naddresses = [\"hardware@example.com\"]\ntemplates_dir = \"queue-templates\"\n",
    );
    let broken = desk.path().join("queue-templates/en/receipt.hbs");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::fs::write(&broken, "{{no_such_helper ticket.number}}\n").unwrap();
    desk
}

/// A request about a flickering monitor from `from`, written to the hardware queue.
fn to_hardware(message_id: &str, from: &str) -> Vec<u8> {
    String::from_utf8(request(message_id, from, "Monitor", "It flickers.")).unwrap().replace("To: help@", "To: hardware@").into_bytes()
}
