//! The per-client reply corpus: every `fixtures/mail/clients/NAME.eml` (a reply or forward
//! in the shape one mail client writes it, see the README there) goes through the real
//! binary against the letter it answers, and the stored note and what the ticket became
//! must equal `cases.toml`'s entry for NAME, exactly.

use std::collections::BTreeMap;

use reqmail::ticket::SpoolId;
use serde::Deserialize;

use crate::harness::{fixtures, letter, Desk, Mail};

const SITE: &str = r#"
[mail]
trusted_authserv_id = "mx.example.com"

[[people]]
addresses = ["bob@example.com"]
role = "agent"
"#;

/// Bob's own mail, as our MTA vouches for it.
const BOB_AUTHENTICATED: &str =
    "Authentication-Results: mx.example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n";

/// What one case must give.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// The letter the case answers: `receipt`, `question` (Bob asks two questions),
    /// `resolution`, `closure` (the last letter after Carol approved the resolution), or
    /// `nothing` (a new message).
    answers: String,
    /// The note stored for the message, exactly.
    note: String,
    status: String,
    requester: Option<String>,
    importance: Option<String>,
    host: Option<String>,
    /// The forwarding agent's words, stored as their internal note.
    internal_note: Option<String>,
}

/// Carol's ticket 1 with Bob's letter `answers` as the last mail to her; returns it.
fn desk_answering(answers: &str) -> (Desk, Option<Mail>) {
    let desk = Desk::with_config(SITE);
    if answers == "nothing" {
        return (desk, None);
    }
    desk.ingest(&letter("Carol Jones <carol@customer.example>", "help@example.com", "Printer jammed", "The printer on floor 2 jams on every page.", "c1")).ok();
    let bob_writes = |body: &str, id: &str| {
        let mut raw = BOB_AUTHENTICATED.as_bytes().to_vec();
        raw.extend(letter("Bob Agent <bob@example.com>", "help+1@example.com", "Re: [REQ #1] Printer jammed", body, id));
        desk.ingest(&raw).ok();
    };
    match answers {
        "receipt" => {}
        "question" => bob_writes("Which printer model is it? It says on the front panel.\n\nDoes the display show an error code?", "b1"),
        "resolution" => bob_writes("Status: resolved\n\nReplaced the roller.", "b1"),
        "closure" => {
            bob_writes("Status: resolved\n\nReplaced the roller.", "b1");
            let resolution = last_letter_to_carol(&desk);
            desk.ingest(&letter("Carol Jones <carol@customer.example>", &reply_address(&resolution), "Re: [REQ #1] Printer jammed", "[X] Yes, it is solved - close the request", "c2")).ok();
            assert_eq!(desk.ticket(1)["status"], "closed", "Carol's approval closes the ticket");
        }
        other => panic!("cases.toml: unknown letter {other:?} to answer"),
    }
    let to_carol = last_letter_to_carol(&desk);
    (desk, Some(to_carol))
}

fn last_letter_to_carol(desk: &Desk) -> Mail {
    desk.outbox().into_iter().rev().find(|mail| mail.to() == "carol@customer.example").expect("a letter to Carol")
}

/// The address with the reply token that `mail` asks its reader to answer.
fn reply_address(mail: &Mail) -> String {
    let reply_to = mail.header("Reply-To").expect("our letters carry a reply address");
    reply_to.rsplit('<').next().unwrap().trim_end_matches('>').to_string()
}

fn history_detail(ticket: &serde_json::Value, action: &str) -> Option<String> {
    ticket["history"].as_array()?.iter().find(|event| event["action"] == action).map(|event| event["detail"].as_str().unwrap_or("").to_string())
}

#[test]
fn every_client_shape_gives_the_expected_note_and_decision() {
    let folder = fixtures().join("mail/clients");
    let expectations: BTreeMap<String, Expected> =
        toml::from_str(&std::fs::read_to_string(folder.join("cases.toml")).unwrap()).unwrap_or_else(|error| panic!("cases.toml: {error}"));
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".eml").map(str::to_string))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the client corpus is in {}", folder.display());
    let unexpected: Vec<&String> = files.iter().filter(|name| !expectations.contains_key(*name)).collect();
    assert!(unexpected.is_empty(), "cases.toml has no entry for {unexpected:?}");

    let mut failures = Vec::new();
    for name in &files {
        let expected = &expectations[name];
        let (desk, answered) = desk_answering(&expected.answers);
        let mut text = std::fs::read_to_string(folder.join(format!("{name}.eml"))).unwrap();
        if let Some(answered) = &answered {
            text = text.replace("%REPLY_TO%", &reply_address(answered)).replace("%PARENT%", &answered.message_id());
        }
        let raw = text.replace("%TICKET%", "1").replace("%UNIQUE%", name);
        let run = desk.ingest(raw.as_bytes());
        assert_eq!(run.status, 0, "{name}: {}", run.stderr);

        let tickets = desk.tickets();
        let number = tickets.iter().map(|ticket| ticket["number"].as_i64().unwrap()).max().expect("a ticket");
        let ticket = desk.ticket(number);
        let last_inbound = desk.sql("SELECT id FROM messages WHERE direction = 'in' ORDER BY id DESC LIMIT 1");
        // The message's note is its history entry; a forward's internal note is the agent's.
        let notes = desk.sql(&format!(
            "SELECT detail FROM history WHERE message = {} AND action IN ('comment', 'automatic-comment', 'internal-note', 'held-note')
              ORDER BY action = 'internal-note', id LIMIT 1",
            last_inbound[0][0]
        ));
        let note = notes.first().and_then(|row| row[0].as_str()).unwrap_or("").to_string();
        // The note leaves out quotes, signatures and disclaimers; the message keeps them all.
        let stored = desk.with_connection(|conn| reqmail::store::messages::raw(conn, SpoolId(last_inbound[0][0].as_i64().unwrap())).unwrap());
        assert_eq!(stored.as_deref(), Some(raw.as_bytes()), "{name}: the raw message is kept as it came");
        let mut differences = Vec::new();
        let mut compare = |what: &str, actual: Option<String>, wanted: Option<&String>| {
            if let Some(wanted) = wanted.filter(|wanted| actual.as_ref() != Some(*wanted)) {
                differences.push(format!("{what}: {actual:?}, expected {wanted:?}"));
            }
        };
        compare("note", Some(note), Some(&expected.note));
        compare("status", ticket["status"].as_str().map(str::to_string), Some(&expected.status));
        compare("requester", ticket["requester"].as_str().map(str::to_string), expected.requester.as_ref());
        compare("importance", ticket["importance"].as_str().map(str::to_string), expected.importance.as_ref());
        compare("host", ticket["host"].as_str().map(str::to_string), expected.host.as_ref());
        compare("internal note", history_detail(&ticket, "internal-note"), expected.internal_note.as_ref());
        if expected.answers == "nothing" {
            compare("tickets", Some(tickets.len().to_string()), Some(&"1".to_string()));
        }
        if !differences.is_empty() {
            failures.push(format!("{name}:\n    {}", differences.join("\n    ")));
        }
    }
    eprintln!("client corpus: {}/{} exact", files.len() - failures.len(), files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
