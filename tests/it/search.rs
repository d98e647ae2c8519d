//! `reqmail search`: subjects, notes and text attachments, kept current as mail arrives.

use crate::harness::{letter, Desk};

const SITE: &str = r#"
[identify]
trust_from_header = true

[queues.hardware]

[[people]]
addresses = ["bob@example.com"]
role = "agent"
"#;

fn with_attachment(from: &str, subject: &str, body: &str, file: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}@test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n\
         --b\r\nContent-Type: text/plain; name=\"log.txt\"\r\nContent-Disposition: attachment; filename=\"log.txt\"\r\n\r\n{file}\r\n--b--\r\n"
    )
    .into_bytes()
}

fn desk() -> Desk {
    let desk = Desk::with_config(SITE);
    desk.ingest(&letter("carol@example.org", "help@example.com", "Printer jammed on floor 3", "Paper stuck in tray 2.", "c1")).ok();
    desk.ingest(&letter("dave@example.org", "help@example.com", "Mail server down", "Queue: hardware\n\nNo mail since noon.", "d1")).ok();
    desk.ingest(&with_attachment("erin@example.org", "Backup failed", "See the log.", "ERROR: quota exceeded on volume vol7", "e1")).ok();
    desk.ingest(&letter("bob@example.com", "help+2@example.com", "Re: [REQ #2]", "Restarted the postfix daemon.", "b1")).ok();
    desk.ingest(&letter("frank@example.org", "help@example.com", "Printers everywhere print blank pages", "All printers.", "f1")).ok();
    desk
}

fn numbers(desk: &Desk, args: &[&str]) -> Vec<i64> {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    desk.run(&all).ok().json().as_array().unwrap().iter().map(|hit| hit["ticket"].as_i64().unwrap()).collect()
}

#[test]
fn finds_subjects_notes_and_attachments_ranked_with_a_snippet() {
    let desk = desk();
    let hits = desk.run(&["search", "--json", "postfix"]).ok().json();
    assert_eq!(hits[0]["ticket"], 2);
    assert_eq!(hits[0]["found_in"], "note");
    assert!(hits[0]["snippet"].as_str().unwrap().contains("[postfix]"), "{hits}");
    assert_eq!(numbers(&desk, &["quota", "vol7"]), [3], "text attachments are searched");
    // Stemming: "printer" finds "Printers". The index keeps no positions or counts
    // (detail=none), so rarity and length rank, not repetition.
    let sorted = |mut found: Vec<i64>| {
        found.sort();
        found
    };
    assert_eq!(sorted(numbers(&desk, &["printer"])), [1, 4]);
    assert_eq!(numbers(&desk, &["printer", "jammed"]), [1], "all words must match");
    assert_eq!(sorted(numbers(&desk, &["prin*"])), [1, 4]);
    assert_eq!(numbers(&desk, &["--queue", "hardware", "mail"]), [2]);
    assert!(numbers(&desk, &["NEAR(", "\"AND"]).is_empty(), "query syntax in the words is just words");
    let text = desk.run(&["search", "daemon"]).ok().stdout;
    assert!(text.starts_with("#2  new  hardware  Mail server down\n    note: Restarted the postfix [daemon].\n"), "{text}");
}

#[test]
fn sounds_like_finds_misspelt_subject_words() {
    let desk = desk();
    assert!(numbers(&desk, &["jamd"]).is_empty());
    assert_eq!(numbers(&desk, &["--sounds-like", "prynter", "jamd"]), [1]);
    assert_eq!(numbers(&desk, &["--sounds-like", "servr"]), [2]);
    assert!(numbers(&desk, &["--sounds-like", "xylophone"]).is_empty());
}

#[test]
fn nothing_to_search_for_is_a_usage_error() {
    let desk = desk();
    let run = desk.run(&["search", "!!", "?"]);
    assert_eq!(run.status, 64);
    assert!(run.stderr.contains("nothing to search for"), "{}", run.stderr);
}

#[test]
fn words_with_combining_marks_are_one_word_for_the_index_too() {
    // The index keeps no positions, so a search word the index split in two could not be
    // looked up: marks belong to the word, as they do for the search's own splitting.
    let desk = desk();
    desk.ingest(&letter("gita@example.org", "help@example.com", "हिंदी keyboard missing", "Cafe\u{301} wifi is down.", "g1")).ok();
    assert_eq!(numbers(&desk, &["हिंदी"]), [5]);
    assert_eq!(numbers(&desk, &["cafe\u{301}", "wifi"]), [5]);
}
