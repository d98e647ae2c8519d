//! `backup`, `export` and `restore` while mail flows: ingest processes (the real binary)
//! run two at a time, some die at the fault points or by SIGKILL at a random moment, and
//! the MTA's retry is played by running a message again until it is acknowledged.
//! Backups are taken meanwhile; each one, restored, holds every message acknowledged
//! before it began, and the last backup and the export hold them all, once.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{request, Desk};

/// A small xorshift generator: the seed is printed, so a failing run can be repeated.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

/// One `reqmail ingest` of message `index`, perhaps killed; true when it exited 0.
fn ingest_once(desk: &Desk, index: usize, dice: &mut Dice) -> bool {
    let raw = message(index);
    let mut command = desk.command(&["ingest"]);
    let fate = dice.roll(8);
    match fate {
        0 => command.env("REQMAIL_FAULT", "after-spool"),
        1 => command.env("REQMAIL_FAULT", "before-apply-commit"),
        _ => &mut command,
    };
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(&raw);
    if fate == 2 {
        std::thread::sleep(Duration::from_micros(dice.roll(15_000)));
        let _ = child.kill();
    }
    child.wait().unwrap().code() == Some(0)
}

fn message(index: usize) -> Vec<u8> {
    request(&format!("flow-{index}@customer.test"), &format!("c{index}@customer.test"), &format!("Request {index}"), "Please help.")
}

/// Each inbound message's idempotency key, as stored.
fn inbound_keys(desk: &Desk) -> BTreeSet<String> {
    desk.sql("SELECT dedupe_key FROM messages WHERE direction = 'in'").into_iter().map(|row| row[0].as_str().unwrap().to_string()).collect()
}

fn key(index: usize) -> String {
    reqmail::store::messages::stored_key(&reqmail::pipeline::dedupe_key(&message(index)))
}

#[test]
fn backup_and_restore_keep_every_acknowledged_message_while_ingest_processes_are_killed() {
    if crate::harness::sqlite_only("file backup and restore") {
        return;
    }
    let desk = Arc::new(Desk::new());
    desk.run(&["tick"]).ok();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("dice seed {seed}");
    const MESSAGES_PER_WRITER: usize = 30;
    let acknowledged: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let writing = Arc::new(AtomicBool::new(true));
    let kills = Arc::new(Mutex::new(0usize));
    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let (desk, acknowledged, kills) = (desk.clone(), acknowledged.clone(), kills.clone());
            std::thread::spawn(move || {
                let mut dice = Dice(seed.wrapping_mul(writer as u64 + 7) | 1);
                for index in (0..MESSAGES_PER_WRITER).map(|n| n * 2 + writer) {
                    // Postfix tries again until the message is acknowledged.
                    while !ingest_once(&desk, index, &mut dice) {
                        *kills.lock().unwrap() += 1;
                    }
                    acknowledged.lock().unwrap().push((index, Instant::now()));
                }
            })
        })
        .collect();

    // Backups while mail flows, each with what was acknowledged before it began.
    let mut backups = Vec::new();
    let backup_dir = tempfile::tempdir().unwrap();
    let backup_thread = {
        let (desk, acknowledged, writing) = (desk.clone(), acknowledged.clone(), writing.clone());
        let folder = backup_dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut made = Vec::new();
            while writing.load(Ordering::SeqCst) {
                let started = Instant::now();
                let before: BTreeSet<usize> = acknowledged.lock().unwrap().iter().filter(|(_, at)| *at < started).map(|(index, _)| *index).collect();
                let file = folder.join(format!("flow-{}.db", made.len()));
                let run = desk.run(&["backup", &file.display().to_string()]);
                assert_eq!(run.status, 0, "backup while mail flows failed: {}", run.stderr);
                made.push((file, before));
                std::thread::sleep(Duration::from_millis(150));
            }
            made
        })
    };
    for writer in writers {
        writer.join().unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    backups.extend(backup_thread.join().unwrap());
    let kills = *kills.lock().unwrap();
    eprintln!("{} backups during the flow; {kills} ingest runs died unacknowledged", backups.len());
    assert!(backups.len() >= 3, "too few backups during the flow: {}", backups.len());
    assert!(kills > 0, "no ingest run died: the test proved nothing");

    for (file, before) in &backups {
        let restored = Desk::new();
        restored.run(&["restore", &file.display().to_string()]).ok();
        let keys = inbound_keys(&restored);
        for index in before {
            assert!(keys.contains(&key(*index)), "{} lacks message {index}, acknowledged before the backup began", file.display());
        }
    }

    // After the flow: the last backup and the export hold every message, exactly once,
    // and what was spooled but not processed when a process died gets processed.
    let all: BTreeSet<String> = (0..MESSAGES_PER_WRITER * 2).map(key).collect();
    assert_eq!(inbound_keys(&desk), all);
    let last = backup_dir.path().join("last.db");
    desk.run(&["backup", &last.display().to_string()]).ok();
    let export = backup_dir.path().join("export");
    desk.run(&["export", &export.display().to_string()]).ok();
    for source in [&last, &export] {
        let restored = Desk::new();
        restored.run(&["restore", &source.display().to_string()]).ok();
        assert_eq!(inbound_keys(&restored), all, "restored from {}", source.display());
        restored.run(&["tick"]).ok();
        assert_eq!(restored.tickets().len(), MESSAGES_PER_WRITER * 2, "restored from {}", source.display());
        assert_eq!(restored.count("SELECT COUNT(*) FROM messages WHERE state = 'spooled'"), 0);
    }
}

#[test]
fn export_is_readable_and_restore_refuses_to_overwrite_a_store_with_data() {
    if crate::harness::sqlite_only("file export and restore") {
        return;
    }
    let desk = Desk::new();
    desk.ingest(&request("printer-1@customer.test", "ann@customer.test", "Printer on fire", "It smokes, 'badly'.")).ok();
    let folder = tempfile::tempdir().unwrap();
    let export = folder.path().join("export");
    let run = desk.run(&["export", &export.display().to_string()]).ok();
    assert!(run.stdout.contains("1 tickets, 2 messages"), "{}", run.stdout);
    let text = std::fs::read_to_string(export.join("tickets/000001/ticket.txt")).unwrap();
    assert!(text.contains("Ticket #1: Printer on fire") && text.contains("It smokes, 'badly'."), "{text}");
    let raw = std::fs::read(export.join("tickets/000001/messages/00000001-in.eml")).unwrap();
    assert_eq!(raw, request("printer-1@customer.test", "ann@customer.test", "Printer on fire", "It smokes, 'badly'."));
    // A second export into the same folder is refused rather than mixed in.
    assert_eq!(desk.run(&["export", &export.display().to_string()]).status, 1);

    let other = Desk::new();
    other.ingest(&request("other-1@customer.test", "bob@customer.test", "Other", "x")).ok();
    let refused = other.run(&["restore", &export.display().to_string()]);
    assert_eq!(refused.status, 1);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(other.tickets()[0]["subject"], "Other", "a refused restore changes nothing");
    let forced = other.run(&["restore", "--force", &export.display().to_string()]).ok();
    assert!(forced.stdout.contains("kept as"), "{}", forced.stdout);
    assert_eq!(other.tickets()[0]["subject"], "Printer on fire");
    // The export holds no search index (it keeps no text of its own): the restore builds it.
    let found = other.run(&["search", "smokes"]).ok();
    assert!(found.stdout.contains("#1") && found.stdout.contains("[smokes]"), "{}", found.stdout);
    let kept: Vec<_> = std::fs::read_dir(other.path()).unwrap().flatten().filter(|entry| entry.file_name().to_string_lossy().contains(".replaced-")).collect();
    assert_eq!(kept.len(), 1, "the replaced store is kept");
    // No store to copy: nothing is created.
    let empty = Desk::new();
    let run = empty.run(&["backup", &folder.path().join("none.db").display().to_string()]);
    assert!(run.status == 1 && run.stderr.contains("there is no store"), "{}", run.stderr);
    assert!(!empty.path().join("reqmail.db").exists());
    // Not a backup at all.
    let junk = folder.path().join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    let run = Desk::new().run(&["restore", &junk.display().to_string()]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("neither a reqmail backup"), "{}", run.stderr);
}
