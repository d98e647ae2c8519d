//! A forwarded message inside a body: who wrote it, its subject and its text, and what the
//! forwarder wrote above it.
//!
//! Mail clients put a header block between the forwarder's words and the forwarded message:
//! Gmail's "---------- Forwarded message ---------" with From/Date/Subject/To, Outlook's rule
//! or "-----Original Message-----" with From/Sent/To/Subject, Apple Mail's "Begin forwarded
//! message:" (quoted with `>` in its plain text), Thunderbird's "-------- Forwarded Message
//! --------" with tab-separated values, each also translated. HTML-only mail reaches here as
//! text, with the same lines. The labels and markers are the ones [`super::body`] knows.

use std::sync::LazyLock;

use regex::Regex;

use super::body::{header_family_of_line, is_original_message_marker, is_rule_character, HeaderFamily};
use crate::parse::Mailbox;

/// The forwarded message found in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// Its author, from the From line of the header block, when it names an address.
    pub from: Option<Mailbox>,
    /// Its subject, when the block names one.
    pub subject: Option<String>,
    /// Its text: everything below the header block, quote marks of a quoted forward removed.
    pub text: String,
    /// What the forwarder wrote above the block, as written.
    pub forwarder_text: String,
    /// The block was introduced by a marker that says "forwarded" (not "original message"),
    /// so the body alone shows this is a forward whatever the subject says.
    pub says_forwarded: bool,
}

/// Blank lines allowed between a marker and the first header line, and between headers
/// (HTML-to-text conversions put blank lines between Outlook's header paragraphs).
const MAX_BLANK_LINES_IN_BLOCK: usize = 2;

/// Words in a marker line that name a forward, lower case.
const FORWARD_WORDS: &[&str] = &[
    "forward",
    "weitergeleitet",
    "transféré",
    "réexpédié",
    "reenviado",
    "inoltrato",
    "doorgestuurd",
    "vidarebefordrat",
    "videresendt",
    "encaminhad",
    "reencaminhad",
    "välitetty",
    "przekazana",
    "пересланное",
    "转发",
    "転送",
];

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
        .expect("valid pattern")
});

/// The first forwarded message in `text`: below the first marker or header block, when
/// that has a From line. Only the first one counts: a block further down is history
/// inside the forwarded message.
#[must_use]
pub fn read(text: &str) -> Option<Forwarded> {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let (start, quoted) = lines.iter().enumerate().find_map(|(index, line)| {
        let (content, quoted) = unquoted(line);
        let lowered = content.trim().to_lowercase();
        (is_original_message_marker(&lowered) || header_family_of_line(&lowered) == Some(HeaderFamily::From))
            .then_some((index, quoted))
    })?;
    let content_of = |index: usize| if quoted { unquoted(lines[index]).0 } else { lines[index] };
    let marker = content_of(start).trim().to_lowercase();
    let says_forwarded = is_original_message_marker(&marker) && FORWARD_WORDS.iter().any(|word| marker.contains(word));
    let first_header = if header_family_of_line(&marker).is_some() { start } else { start + 1 };

    let mut from = None;
    let mut has_from = false;
    let mut subject = None;
    let mut families = 0;
    let mut blank_run = 0;
    let mut last_family = None;
    let mut block_end = first_header;
    let mut index = first_header;
    while index < lines.len() {
        let line = content_of(index);
        let lowered = line.trim().to_lowercase();
        if lowered.is_empty() {
            blank_run += 1;
            if blank_run > MAX_BLANK_LINES_IN_BLOCK {
                break;
            }
            index += 1;
            continue;
        }
        match header_family_of_line(&lowered) {
            Some(family) => {
                let value = header_value(line);
                match family {
                    HeaderFamily::From if !has_from => {
                        has_from = true;
                        from = mailbox_in(value);
                    }
                    HeaderFamily::Subject if subject.is_none() => subject = Some(value.to_string()),
                    _ => {}
                }
                families += 1;
                last_family = Some(family);
            }
            // A long recipient list wraps onto lines of its own.
            None if blank_run == 0 && matches!(last_family, Some(HeaderFamily::To | HeaderFamily::Copy)) => {}
            None => break,
        }
        blank_run = 0;
        index += 1;
        block_end = index;
    }
    // Two headers make a block; a marker that says "forwarded" needs only the From line.
    if !has_from || (families < 2 && !says_forwarded) {
        return None;
    }
    let forwarded_text = (block_end..lines.len()).map(content_of).collect::<Vec<_>>().join("\n");
    Some(Forwarded {
        from,
        subject: subject.filter(|subject| !subject.is_empty()),
        text: forwarded_text.trim().to_string(),
        forwarder_text: lines[..start].join("\n").trim_end_matches(is_rule_character).trim().to_string(),
        says_forwarded,
    })
}

/// A line without one level of `>` quoting, and whether it had one.
fn unquoted(line: &str) -> (&str, bool) {
    match line.trim_start().strip_prefix('>') {
        Some(rest) => (rest.strip_prefix(' ').unwrap_or(rest), true),
        None => (line, false),
    }
}

/// What follows the label: `From: x`, `*From:* x`, `De : x`, `From:\tx`.
fn header_value(line: &str) -> &str {
    let colon = line.find([':', '：']).unwrap_or(0);
    let after = &line[colon..];
    let after = after.strip_prefix(':').or_else(|| after.strip_prefix('：')).unwrap_or(after);
    after.trim_matches(|c: char| c == '*' || c.is_whitespace())
}

/// The author named by a From value: `Ann Lee <ann@x.org>`, `"Lee, Ann" <ann@x.org>`,
/// `Ann Lee [mailto:ann@x.org]`, `Ann Lee <ann@x.org<mailto:ann@x.org>>`, `ann@x.org`.
fn mailbox_in(value: &str) -> Option<Mailbox> {
    let address = ADDRESS.find(value)?;
    let name = value[..address.start()]
        .trim_end_matches(|c: char| matches!(c, '<' | '[' | '(' | '"' | '*') || c.is_whitespace())
        .trim_end_matches("mailto:")
        .trim_end_matches(|c: char| matches!(c, '<' | '[') || c.is_whitespace())
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '*') || c.is_whitespace());
    Some(Mailbox {
        address: address.as_str().to_lowercase(),
        name: Some(name.to_string()).filter(|name| !name.is_empty() && !name.contains('@')),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, address: &str, name: Option<&str>, subject: Option<&str>, forwarded_text: &str, forwarder_text: &str) {
        let forwarded = read(text).unwrap_or_else(|| panic!("no forward found in {text:?}"));
        let from = forwarded.from.as_ref().expect("an author");
        assert_eq!(from.address, address);
        assert_eq!(from.name.as_deref(), name);
        assert_eq!(forwarded.subject.as_deref(), subject);
        assert_eq!(forwarded.text, forwarded_text);
        assert_eq!(forwarded.forwarder_text, forwarder_text);
    }

    #[test]
    fn gmail_forward() {
        let text = "Can you look at this?\n\n---------- Forwarded message ---------\nFrom: Ann Lee <ann@customer.example>\nDate: Tue, Mar 3, 2026 at 10:00 AM\nSubject: Printer offline\nTo: <bob@example.com>\n\n\nThe printer is offline.\n\nAnn\n";
        check(text, "ann@customer.example", Some("Ann Lee"), Some("Printer offline"), "The printer is offline.\n\nAnn", "Can you look at this?");
        assert!(read(text).unwrap().says_forwarded);
    }

    #[test]
    fn outlook_forwards_plain_and_from_html() {
        let plain = "\n\n-----Original Message-----\nFrom: Lee, Ann <ann@customer.example> \nSent: Tuesday, March 3, 2026 10:00 AM\nTo: Bob <bob@example.com>; Carl <carl@example.com>;\n Dora <dora@example.com>\nSubject: Printer offline\n\nThe printer is offline.";
        check(plain, "ann@customer.example", Some("Lee, Ann"), Some("Printer offline"), "The printer is offline.", "");
        assert!(!read(plain).unwrap().says_forwarded, "Outlook's marker says nothing of forwarding; its subject does");
        let from_html = "FYI\n\n________________________________\n\n**From:** Ann Lee <ann@customer.example<mailto:ann@customer.example>>\n\n**Sent:** Tuesday, March 3, 2026 10:00\n\n**To:** Help <help@example.com>\n\n**Subject:** Printer offline\n\nThe printer is offline.";
        check(from_html, "ann@customer.example", Some("Ann Lee"), Some("Printer offline"), "The printer is offline.", "FYI");
        check("From: Ann Lee [mailto:ann@customer.example]\nSent: Tuesday\nSubject: Hi\n\nText", "ann@customer.example", Some("Ann Lee"), Some("Hi"), "Text", "");
    }

    #[test]
    fn apple_mail_and_thunderbird_forwards() {
        let apple = "See below.\n\n> Begin forwarded message:\n> \n> From: Ann Lee <ann@customer.example>\n> Subject: Printer offline\n> Date: 3 March 2026 at 10:00:00 CET\n> To: bob@example.com\n> \n> The printer is offline.\n";
        check(apple, "ann@customer.example", Some("Ann Lee"), Some("Printer offline"), "The printer is offline.", "See below.");
        let thunderbird = "\n\n-------- Forwarded Message --------\nSubject: \tPrinter offline\nDate: \tTue, 3 Mar 2026 10:00:00 +0100\nFrom: \tAnn Lee <ann@customer.example>\nTo: \tbob@example.com\n\n\n\nThe printer is offline.\n";
        check(thunderbird, "ann@customer.example", Some("Ann Lee"), Some("Printer offline"), "The printer is offline.", "");
        let german = "-------- Weitergeleitete Nachricht --------\nBetreff: \tDrucker\nDatum: \tDi, 3. Mär 2026\nVon: \tann@customer.example\nAn: \tbob@example.com\n\nDer Drucker ist aus.";
        check(german, "ann@customer.example", None, Some("Drucker"), "Der Drucker ist aus.", "");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for text in ["", "From:", ">", "> From: a@b.c", "-----Original Message-----", "---- Forwarded ----\nFrom: a@b.c", "From: x\rSent: y\r", "From：ａ@ｂ.ｃ\nSubject：x"] {
            let _ = read(text);
        }
        let forwarded = read("---- Forwarded ----\nFrom: a@b.cd").expect("a marker that says forwarded needs only the From line");
        assert_eq!(forwarded.text, "");
    }

    #[test]
    fn no_forward_without_a_block_and_no_author_without_an_address() {
        assert_eq!(read("Just text.\n\nFrom: the team"), None);
        assert_eq!(read("From my side all is fine.\nThanks"), None);
        let without_address = read("-----Original Message-----\nFrom: Ann Lee\nSent: Tuesday\n\nText").expect("a forward");
        assert_eq!(without_address.from, None);
        assert_eq!(without_address.text, "Text");
    }
}
