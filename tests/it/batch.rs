//! `fetch` from the inbound Maildir: a pass killed at any moment loses nothing it
//! acknowledged, and the next pass finishes with exactly one effect per message.

use std::collections::HashSet;
use std::time::Duration;

use crate::harness::{request, Desk};

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
        let conn = rusqlite::Connection::open(desk.path().join("reqmail.db")).unwrap();
        let stored: HashSet<String> = conn
            .prepare("SELECT source FROM messages WHERE direction = 'in'")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
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
