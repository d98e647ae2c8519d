//! Replies find their ticket: by plus-address, subject tag or references, from every
//! common client, whatever prefix the client puts in front of the subject.

use crate::harness::{fixture, request, Desk};

/// Opens ticket 1 and returns the desk and the receipt's Message-ID.
fn desk_with_ticket() -> (Desk, String) {
    let desk = Desk::new();
    desk.ingest(&request("orig@example.org", "Ann Example <ann@example.org>", "Printer on fire", "It is burning.")).ok();
    let receipt_id = desk.outbox()[0].message_id();
    desk.clear_outbox();
    (desk, receipt_id)
}

fn check_reply(fixture_name: &str, new_text: &str) {
    check_reply_with(fixture_name, new_text, false)
}

/// `context_kept`: the sender answered between quoted lines, so those stay as context.
fn check_reply_with(fixture_name: &str, new_text: &str, context_kept: bool) {
    let (desk, receipt_id) = desk_with_ticket();
    let raw = fixture(fixture_name, &[("TICKET", "1"), ("PARENT", &receipt_id), ("UNIQUE", fixture_name)]);
    desk.ingest(&raw).ok();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 1, "{fixture_name}: the reply must not open a new ticket");
    let note = desk.last_note();
    assert!(note.contains(new_text), "{fixture_name}: note {note:?} lacks the new text");
    if !context_kept {
        assert!(!note.contains("we have received your request"), "{fixture_name}: quoted receipt kept in note {note:?}");
    }
    assert!(!note.contains("Printer on fire\n-- "), "{fixture_name}: signature kept in note {note:?}");
    let history = desk.ticket(1)["history"].clone();
    assert!(
        history.as_array().unwrap().iter().any(|event| event["action"] == "comment"),
        "{fixture_name}: comment recorded: {history}"
    );
}

#[test]
fn gmail_reply() {
    check_reply("reply-gmail.eml", "toner cartridge is melting");
}

#[test]
fn outlook_desktop_german_reply_by_subject_tag_only() {
    check_reply("reply-outlook-desktop-de.eml", "Drucker steht jetzt im Flur");
}

#[test]
fn outlook_web_html_reply_by_references_only() {
    check_reply("reply-outlook-web.eml", "total loss");
}

#[test]
fn outlook_ios_reply() {
    check_reply("reply-outlook-ios.eml", "photo later");
}

#[test]
fn apple_mail_reply() {
    check_reply("reply-apple-mail.eml", "smoke alarm");
}

#[test]
fn thunderbird_reply() {
    check_reply("reply-thunderbird.eml", "LaserJet 4000");
}

#[test]
fn mutt_interleaved_reply() {
    check_reply_with("reply-mutt.eml", "fuser unit", true);
}

#[test]
fn chinese_client_reply_with_full_width_prefix() {
    check_reply("reply-chinese-client.eml", "打印机已经修好了");
}

#[test]
fn plus_address_alone_threads() {
    let (desk, _) = desk_with_ticket();
    let raw = b"From: ann@example.org\r\nTo: help+1@example.com\r\nSubject: totally new words\r\nMessage-ID: <p1@example.org>\r\n\r\nMore.\r\n";
    desk.ingest(raw).ok();
    assert_eq!(desk.tickets().len(), 1);
}

#[test]
fn envelope_recipient_alone_threads() {
    let (desk, _) = desk_with_ticket();
    let raw = b"From: ann@example.org\r\nTo: undisclosed-recipients:;\r\nSubject: another\r\nMessage-ID: <p2@example.org>\r\n\r\nMore.\r\n";
    desk.ingest_with(&["--recipient", "help+1@example.com"], raw).ok();
    assert_eq!(desk.tickets().len(), 1);
}

#[test]
fn reply_to_the_requester_message_id_threads() {
    let (desk, _) = desk_with_ticket();
    // A colleague answers the customer's original mail, keeping help@ in Cc.
    let raw = b"From: bob@example.org\r\nTo: ann@example.org\r\nCc: help@example.com\r\nSubject: Re: printer\r\nMessage-ID: <p3@example.org>\r\nIn-Reply-To: <orig@example.org>\r\n\r\nI saw it too.\r\n";
    desk.ingest(raw).ok();
    assert_eq!(desk.tickets().len(), 1);
    // Bob is not on the ticket and not verified: his words are held back for agents.
    assert!(desk.outbox().is_empty(), "the requester does not hear of a stranger");
    assert_eq!(desk.count("SELECT COUNT(*) FROM history WHERE action = 'held-note' AND detail LIKE 'I saw it too.%'"), 1);
}

#[test]
fn unknown_ticket_number_opens_a_new_ticket() {
    let (desk, _) = desk_with_ticket();
    let raw = b"From: ann@example.org\r\nTo: help+99@example.com\r\nSubject: Re: [REQ #98] something\r\nMessage-ID: <p4@example.org>\r\n\r\nHello\r\n";
    desk.ingest(raw).ok();
    assert_eq!(desk.tickets().len(), 2);
}

#[test]
fn new_subject_without_tag_or_reference_is_a_new_ticket() {
    let (desk, _) = desk_with_ticket();
    desk.ingest(&request("other@example.org", "ann@example.org", "Re: Printer on fire", "A new matter")).ok();
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[1]["subject"], "Printer on fire", "reply prefixes are not part of a ticket's subject");
}

#[test]
fn requester_reply_is_not_echoed_back() {
    let (desk, receipt_id) = desk_with_ticket();
    let raw = fixture("reply-gmail.eml", &[("TICKET", "1"), ("PARENT", &receipt_id), ("UNIQUE", "echo")]);
    desk.ingest(&raw).ok();
    assert!(desk.outbox().is_empty(), "nobody else is on the ticket; the requester gets no copy of their own words");
}

#[test]
fn replies_carry_references_into_the_thread() {
    let desk = Desk::with_config("[[people]]\naddresses = [\"bob@example.org\"]\nrole = \"agent\"\n");
    desk.ingest(&request("orig@example.org", "Ann Example <ann@example.org>", "Printer on fire", "It is burning.")).ok();
    desk.clear_outbox();
    let raw = b"From: bob@example.org\r\nTo: help+1@example.com\r\nSubject: Re: [REQ #1] Printer on fire\r\nMessage-ID: <bob1@example.org>\r\n\r\nOn my way.\r\n";
    desk.ingest(raw).ok();
    let update = desk.outbox().remove(0);
    assert_eq!(update.header("In-Reply-To").as_deref(), Some("<bob1@example.org>"));
    let references = update.header("References").unwrap();
    assert!(references.contains("<orig@example.org>") && references.contains("<bob1@example.org>"), "{references}");
    assert_eq!(update.subject(), "[REQ #1] Printer on fire");
}

#[test]
fn the_threading_decision_is_its_own_history_entry() {
    let (desk, receipt_id) = desk_with_ticket();
    let raw = fixture("reply-gmail.eml", &[("TICKET", "1"), ("PARENT", &receipt_id), ("UNIQUE", "decision")]);
    desk.ingest(&raw).ok();
    let history = desk.ticket(1)["history"].as_array().unwrap().clone();
    let of = |action: &str| -> Vec<String> {
        history.iter().filter(|event| event["action"] == action).map(|event| event["detail"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(of("threading"), vec!["new ticket: no reply address, subject tag or reference of a known ticket", "matched by plus-address"]);
    let comments = of("comment");
    assert!(comments.iter().all(|comment| !comment.contains("matched by")), "the note is the sender's words alone: {comments:?}");
    assert_eq!(comments.last().cloned().unwrap_or_default(), desk.last_note());
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE note IS NOT NULL"), 0, "the note is kept once, in its history entry");
    let shown = desk.run(&["ticket", "show", "1"]).ok().stdout;
    assert!(shown.contains("matched by plus-address"), "{shown}");
}

#[test]
fn damaged_subject_tags_still_thread() {
    let (desk, _) = desk_with_ticket();
    for (index, subject) in ["RE: (REQ #1) Printer on fire", "AW: REQ #1 Printer on fire", "Re: [REQ-1] Printer on fire", "回复: [REQ＃1] Printer on fire", "Re: [ReQ 1] Printer on fire"]
        .into_iter()
        .enumerate()
    {
        desk.ingest(&request(&format!("damaged{index}@example.org"), "ann@example.org", subject, "Still burning.")).ok();
        assert_eq!(desk.tickets().len(), 1, "{subject} opened a new ticket");
    }
    let threading: Vec<String> = desk.ticket(1)["history"].as_array().unwrap().iter().filter(|event| event["action"] == "threading").map(|event| event["detail"].as_str().unwrap().to_string()).collect();
    assert_eq!(threading.iter().filter(|detail| *detail == "matched by subject tag").count(), 5, "{threading:?}");
}

#[test]
fn outlook_reply_with_only_a_thread_index_threads() {
    let desk = Desk::new();
    desk.ingest(&request("orig@example.org", "Ann Example <ann@example.org>", "Printer on fire", "It is burning.")).ok();
    let ours = desk.outbox().into_iter().find(|mail| mail.to() == "ann@example.org").expect("the receipt");
    let thread_index = ours.header("Thread-Index").expect("our letters carry a Thread-Index");
    // Outlook appends a 5-byte child block; the subject lost its tag, no References.
    let reply_index = {
        use base64::Engine as _;
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(thread_index.trim()).unwrap();
        bytes.extend_from_slice(&[0x01, 0x9c, 0x3f, 0x21, 0x7a]);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let raw = format!(
        "From: Ann Example <ann@example.org>\r\nTo: Help Desk <help@example.com>\r\nSubject: RE: Printer on fire\r\nThread-Topic: Printer on fire\r\nThread-Index: {reply_index}\r\nMessage-ID: <outlook-ti@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe smoke is gone.\r\n"
    );
    desk.ingest(raw.as_bytes()).ok();
    assert_eq!(desk.tickets().len(), 1, "threaded by Thread-Index");
    let history = desk.ticket(1)["history"].clone();
    assert!(history.as_array().unwrap().iter().any(|event| event["detail"] == "matched by Outlook Thread-Index"), "{history}");
    // A plain new "Re:" mail with Outlook's own Thread-Index is a new ticket.
    let own = "From: ann@example.org\r\nTo: help@example.com\r\nSubject: RE: Printer on fire\r\nThread-Index: AdnEhK8Yp3Hq2VxLS0m7y0QJkZ3b5w==\r\nMessage-ID: <outlook-own@example.org>\r\n\r\nAnother printer.\r\n";
    desk.ingest(own.as_bytes()).ok();
    assert_eq!(desk.tickets().len(), 2);
}

#[test]
fn an_agents_forward_is_the_request_of_whoever_wrote_the_forwarded_mail() {
    let site = "[mail]\ntrusted_authserv_id = \"mx.example.com\"\n\n[[people]]\naddresses = [\"bob@example.com\"]\nrole = \"agent\"\n";
    let desk = Desk::with_config(site);
    desk.ingest(&fixture("clients/forward-gmail.eml", &[("UNIQUE", "forward")])).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["requester"], "dana@customer.example", "{ticket}");
    assert_eq!(ticket["subject"], "VPN drops every hour");
    let history = ticket["history"].as_array().unwrap();
    let forwarded = history.iter().find(|event| event["action"] == "forwarded").expect("a forwarded entry");
    assert_eq!(forwarded["actor"], "bob@example.com");
    assert_eq!(forwarded["detail"], "forwarded the mail of dana@customer.example");
    let receipts: Vec<String> = desk.outbox().iter().map(|mail| mail.to()).collect();
    assert_eq!(receipts, ["dana@customer.example"], "the customer gets the receipt, the agent's words stay internal");
    assert!(!desk.outbox()[0].body().contains("Dana called"), "the agent's note is not in the customer's receipt");
    let trace = desk.run(&["trace", "<CAF=forward+fw1@mail.gmail.com>", "--json"]).ok().json();
    assert_eq!(trace["decision"]["sender"]["forwarded_by"], "bob@example.com", "{trace}");
    assert_eq!(trace["decision"]["sender"]["trust"], "unverified", "nothing proves the forwarded From line: {trace}");

    // Without the MTA's word for Bob, anyone could claim to be him: the forward stays his.
    let unverified = String::from_utf8(fixture("clients/forward-gmail.eml", &[("UNIQUE", "unverified")])).unwrap();
    let unverified: String = unverified.lines().filter(|line| !line.starts_with("Authentication-Results:")).map(|line| format!("{line}\n")).collect();
    desk.ingest(unverified.as_bytes()).ok();
    assert_eq!(desk.ticket(2)["requester"], "bob@example.com");
}
