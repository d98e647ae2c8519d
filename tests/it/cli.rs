//! The command line contract: configuration errors, exit statuses, the main job.

use crate::harness::{request, Desk};

#[test]
fn unknown_configuration_key_names_key_and_file() {
    let desk = Desk::with_config("[store]\npaht = \"x.db\"\n");
    let run = desk.run(&["ticket", "list"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("paht"), "{}", run.stderr);
    assert!(run.stderr.contains("reqmail.toml"), "{}", run.stderr);
    let run = desk.ingest(b"From: a@b.c\r\n\r\nx");
    assert_eq!(run.status, 78, "ingest reports configuration errors as 78");
}

#[test]
fn bad_value_names_key() {
    let desk = Desk::with_config("[outbound]\ntransport = \"pigeon\"\n");
    let run = desk.run(&["ticket", "list"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("transport") && run.stderr.contains("pigeon"), "{}", run.stderr);
}

#[test]
fn a_store_url_that_is_not_postgresql_is_a_configuration_error_without_its_password() {
    // Not a passing failure (75, which the MTA retries for days): the file is wrong.
    let desk = Desk::new();
    desk.write_config("[store]\nurl = \"mysql://root:hunter2@db.example.com/help\"\n");
    let run = desk.ingest(b"From: ann@example.org\r\nSubject: Hello\r\n\r\nHi\r\n");
    assert_eq!(run.status, 78, "{}", run.stderr);
    assert!(run.stderr.contains("store.url") && run.stderr.contains("not a PostgreSQL URL"), "{}", run.stderr);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
}

#[test]
fn usage_error_is_64() {
    let desk = Desk::new();
    assert_eq!(desk.run(&["no-such-command"]).status, 64);
    assert_eq!(desk.run(&["ticket", "show"]).status, 64);
}

#[test]
fn bad_reqmail_now_is_a_configuration_error() {
    let mut desk = Desk::new();
    desk.now = Some("yesterday".into());
    let run = desk.run(&["ticket", "list"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("REQMAIL_NOW"), "{}", run.stderr);
}

#[test]
fn zero_configuration_fetch_runs_on_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("mail/inbox");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(inbox.join(sub)).unwrap();
    }
    std::fs::write(inbox.join("new/1.eml"), request("z1@example.org", "ann@example.org", "Defaults", "x")).unwrap();
    let output = std::process::Command::new(crate::harness::BINARY)
        .arg("fetch")
        .current_dir(dir.path())
        .env_remove("REQMAIL_CONFIG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("reqmail.db").exists());
    assert_eq!(std::fs::read_dir(dir.path().join("mail/outbox/new")).unwrap().count(), 1, "receipt in ./mail/outbox");
    assert_eq!(std::fs::read_dir(inbox.join("new")).unwrap().count(), 0, "inbox drained");
    let moved: Vec<String> =
        std::fs::read_dir(inbox.join("cur")).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(moved, ["1.eml:2,S"]);
}

#[test]
fn fetch_drains_maildir_and_ignores_tmp() {
    let desk = Desk::new();
    for index in 0..30 {
        desk.deliver_to_inbox(&format!("m{index}"), &request(&format!("f{index}@example.org"), "ann@example.org", &format!("Fetched {index}"), "x"));
    }
    // A deliverer still writing this one.
    std::fs::write(desk.path().join("mail/inbox/tmp/half"), b"From: a@b.c\r\nSubj").unwrap();
    desk.deliver_to_inbox("garbage", b"\x00\x01 not mail");
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.tickets().len(), 30);
    assert!(desk.path().join("mail/inbox/tmp/half").exists(), "tmp/ is never read");
    let cur: Vec<String> = std::fs::read_dir(desk.path().join("mail/inbox/cur"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur.len(), 31);
    assert!(cur.contains(&"garbage:2,FS".to_string()), "quarantined file is flagged: {cur:?}");
    // A second pass finds nothing new.
    desk.run(&["fetch"]).ok();
    assert_eq!(desk.tickets().len(), 30);
}

#[test]
fn failed_delivery_stays_queued_and_is_retried() {
    let desk = Desk::new();
    // The outbox Maildir cannot be created: a file stands where its folder should be.
    std::fs::create_dir_all(desk.path().join("mail")).unwrap();
    std::fs::write(desk.path().join("mail/outbox"), b"in the way").unwrap();
    desk.ingest(&request("q1@example.org", "ann@example.org", "Queued", "x")).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued'"), 1, "kept in the outbox");
    std::fs::remove_file(desk.path().join("mail/outbox")).unwrap();
    desk.run(&["tick"]).ok();
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"), 1);
    assert_eq!(desk.outbox().len(), 1);
}

#[test]
fn person_add_and_list() {
    let desk = Desk::new();
    desk.run(&["person", "add", "Agent.Smith@Example.com", "--role", "agent", "--name", "Agent Smith"]).ok();
    let people = desk.run(&["person", "list", "--json"]).ok().json();
    assert_eq!(people[0]["role"], "agent");
    assert_eq!(people[0]["addresses"][0], "agent.smith@example.com");
    assert_eq!(desk.run(&["person", "add", "x@y.z", "--role", "wizard"]).status, 64);
}

#[test]
fn every_commented_example_in_the_example_configuration_is_valid() {
    // Uncomment every example line ("# key = value", "# [table]") and check the result.
    let example = include_str!("../../deploy/reqmail.example.toml");
    let example_line = regex::Regex::new(r"^# (\[.*|[a-z_]+ = .*)$").unwrap();
    let trailing_comment = regex::Regex::new(r"\s{2,}#.*$").unwrap();
    let mut lines = Vec::new();
    for line in example.lines() {
        match example_line.captures(line) {
            // Folders, files and the database server that a real site would have are left
            // out here (the harness names the store).
            Some(found)
                if found[1].starts_with("templates_dir")
                    || found[1].starts_with("dir =")
                    || found[1].starts_with("articles")
                    || found[1].starts_with("ca_file")
                    || found[1].contains("postgresql://") => {}
            Some(found) => lines.push(trailing_comment.replace(&found[1], "").into_owned()),
            None if line == "categories = []" => {}
            None => lines.push(line.to_string()),
        }
    }
    let desk = Desk::with_config(&lines.join("\n"));
    let run = desk.run(&["rules", "check"]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("1 rules") && run.stdout.contains("1 rotations"), "{}", run.stdout);
}

#[test]
fn demo_on_the_built_in_defaults_shows_the_whole_flow() {
    // No configuration file at all: the first command a newcomer runs.
    let dir = tempfile::tempdir().unwrap();
    let demo = std::process::Command::new(crate::harness::BINARY)
        .arg("demo")
        .current_dir(dir.path())
        .env_remove("REQMAIL_CONFIG")
        .env_remove("REQMAIL_NOW")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(demo.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&demo.stderr));
    assert!(stdout.contains("fetch: read 2: opened 1, threaded 0, ignored 1, quarantined 0"), "{stdout}");
    assert_eq!(stdout.matches("threaded 1").count(), 3, "reply, agent's answer and approval join the ticket: {stdout}");
    assert!(stdout.contains("Ticket 1 is now closed."), "{stdout}");
    assert!(stdout.contains("reqmail ticket show 1"), "says what to try next: {stdout}");
    let letters = std::fs::read_dir(dir.path().join("mail/outbox/new")).unwrap().count();
    assert_eq!(stdout.matches("letter to ").count(), letters, "every letter written is shown: {stdout}");

    // Run again: the samples are new mail again, so a second ticket goes the same way.
    let again = std::process::Command::new(crate::harness::BINARY).arg("demo").current_dir(dir.path()).env_remove("REQMAIL_CONFIG").output().unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && stdout.contains("Ticket 2 is now closed."), "{stdout}");
}

#[test]
fn batch_commands_print_one_summary_line_unless_quiet() {
    let desk = Desk::new();
    desk.deliver_to_inbox("1", &request("s1@x", "carol@example.org", "Disk full", "The disk is full."));
    desk.deliver_to_inbox("2", b"From: MAILER-DAEMON@example.net\r\nTo: help@example.com\r\nSubject: Undelivered\r\nAuto-Submitted: auto-replied\r\n\r\nx\r\n");
    desk.deliver_to_inbox("3", b"\x00\x01 not mail at all");
    let run = desk.run(&["fetch"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert!(lines[0].starts_with("fetch: read 3: opened 1, threaded 0, ignored 1, quarantined 1"), "{}", lines[0]);
    assert!(lines[0].contains("letters written 1 into ") && lines[0].ends_with("mail/outbox"), "{}", lines[0]);

    let tick = desk.run(&["tick"]).ok();
    assert!(tick.stdout.starts_with("tick: resumed 0, auto-closed 0"), "{}", tick.stdout);
    assert_eq!(tick.stdout.lines().count(), 1);

    desk.deliver_to_inbox("4", &request("s2@x", "carol@example.org", "Printer", "It jams."));
    for args in [&["-q", "fetch"][..], &["tick", "--quiet"]] {
        let run = desk.run(args).ok();
        assert_eq!(run.stdout, "", "{args:?} is silent");
    }
    assert_eq!(desk.tickets().len(), 2, "quiet fetch still did its work");
}

#[test]
fn person_add_with_a_wrong_address_is_a_usage_error() {
    let desk = Desk::new();
    let run = desk.run(&["person", "add", "notanaddress", "--role", "agent"]);
    assert_eq!(run.status, 64, "{}", run.stderr);
    assert!(run.stderr.contains("notanaddress") && run.stderr.contains("ann@example.com"), "names the value and shows a good one: {}", run.stderr);
}
