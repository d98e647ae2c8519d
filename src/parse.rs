//! Step 3: raw bytes to [`Mail`], our owned view of a message.
//!
//! mail-parser does the MIME work (all charsets, encoded words, broken structure);
//! this module picks what reqmail needs, bounds the size of every value it keeps, and
//! says when the bytes are not a mail message at all. Parsing never panics on input;
//! text that cannot be decoded comes out with replacement characters.

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

/// Longest Message-ID we keep; longer ones are treated as absent (Stalwart does the same).
pub const MAX_ID_LENGTH: usize = 250;
/// Most header fields kept for classification and rules.
const MAX_HEADERS: usize = 500;
/// Longest header value kept.
const MAX_HEADER_VALUE: usize = 4096;
/// Most ids kept from References.
const MAX_REFERENCES: usize = 50;

/// A message as reqmail sees it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The first From mailbox.
    pub from: Option<Mailbox>,
    /// How many mailboxes all From headers name together.
    pub from_count: usize,
    /// To, Cc and the envelope-style recipient headers, lower-cased addr-specs.
    pub recipients: Vec<String>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// Readable text of the body: the text/plain parts, else the HTML turned into text.
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Header fields in order, lower-cased names, raw (unfolded, trimmed) values.
    pub headers: Vec<(String, String)>,
    /// The queue the source tied this message to (not from the message itself); set by
    /// the pipeline from the spool row.
    pub queue_hint: Option<String>,
}

/// An address with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    /// The addr-spec, lower-cased.
    pub address: String,
    pub name: Option<String>,
}

/// An attached file: a safe name for display, and the bytes.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// Why bytes could not be read as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a mail message: no header field could be read")]
    NoHeaders,
}

impl Mail {
    /// The first value of header `name` (lower-case), raw.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(header, _)| header == name).map(|(_, value)| value.as_str())
    }

    /// Every value of header `name` (lower-case), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(header, _)| header == name).map(|(_, value)| value.as_str())
    }
}

/// Reads `raw` as a message.
pub fn parse(raw: &[u8]) -> Result<Mail, ParseError> {
    // Old Mac files end lines with CR alone; no MTA sends that, but files do arrive so.
    let head = &raw[..raw.len().min(8192)];
    let converted;
    let raw = if head.contains(&b'\r') && !head.contains(&b'\n') {
        converted = raw.iter().map(|&byte| if byte == b'\r' { b'\n' } else { byte }).collect::<Vec<u8>>();
        &converted[..]
    } else {
        raw
    };
    let message = MessageParser::default().parse(raw).ok_or(ParseError::NoHeaders)?;
    let known_header = message.headers().iter().any(|header| !matches!(header.name, mail_parser::HeaderName::Other(_)));
    if !known_header {
        return Err(ParseError::NoHeaders);
    }

    let mut mail = Mail {
        message_id: message.message_id().and_then(clean_id),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        subject: message.subject().map(one_line).unwrap_or_default(),
        date: message.date().and_then(|date| DateTime::from_timestamp(date.to_timestamp(), 0)),
        ..Mail::default()
    };
    mail.references.truncate(MAX_REFERENCES);
    mail.in_reply_to.truncate(MAX_REFERENCES);

    let from_mailboxes: Vec<Mailbox> = message
        .header_values("From")
        .filter_map(|value| value.as_address())
        .flat_map(mailboxes)
        .collect();
    mail.from_count = from_mailboxes.len();
    mail.from = from_mailboxes.into_iter().next();

    for address in message.to().into_iter().chain(message.cc()).flat_map(mailboxes) {
        push_unique(&mut mail.recipients, address.address);
    }

    for (name, value) in message.headers_raw().take(MAX_HEADERS) {
        let value = unfold(value);
        let lower = name.to_ascii_lowercase();
        if matches!(lower.as_str(), "delivered-to" | "x-original-to" | "envelope-to" | "x-envelope-to") {
            if let Some(address) = bare_address(&value) {
                push_unique(&mut mail.recipients, address);
            }
        }
        mail.headers.push((lower, truncate_chars(&value, MAX_HEADER_VALUE)));
    }

    mail.text = body_text(&message);

    for part in message.attachments() {
        let content_type = part
            .content_type()
            .map(|ctype| match ctype.subtype() {
                Some(subtype) => format!("{}/{}", ctype.ctype(), subtype),
                None => ctype.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_string());
        mail.attachments.push(Attachment {
            filename: safe_filename(part.attachment_name().unwrap_or("")),
            content_type: truncate_chars(&one_line(&content_type.to_ascii_lowercase()), 100),
            content: part.contents().to_vec(),
        });
    }
    Ok(mail)
}

fn body_text(message: &mail_parser::Message<'_>) -> String {
    let mut text = String::new();
    for position in 0..message.text_body_count() {
        if let Some(part) = message.body_text(position) {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&part);
        }
    }
    text.replace("\r\n", "\n")
}

fn mailboxes<'a>(address: &'a Address<'a>) -> impl Iterator<Item = Mailbox> + 'a {
    address.iter().filter_map(|addr| {
        let spec = addr.address.as_deref()?.trim();
        let spec = bare_address(spec)?;
        Some(Mailbox { address: spec, name: addr.name.as_deref().map(one_line).filter(|name| !name.is_empty()) })
    })
}

/// An addr-spec in lower case, or `None` for something that is not one.
pub fn bare_address(text: &str) -> Option<String> {
    let text = text.trim();
    let text = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    let text = text.trim().trim_end_matches('.');
    let (local, domain) = text.rsplit_once('@')?;
    let acceptable = !local.is_empty()
        && !domain.is_empty()
        && text.len() <= 320
        && !text.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
    acceptable.then(|| text.to_lowercase())
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => clean_id(id).into_iter().collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
}

/// A Message-ID without brackets and blanks, if it is short enough to be one.
pub fn clean_id(id: &str) -> Option<String> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>').trim();
    (!id.is_empty() && id.len() <= MAX_ID_LENGTH && !id.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then(|| id.to_string())
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

fn unfold(value: &str) -> String {
    value.split(['\r', '\n']).map(str::trim).filter(|piece| !piece.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Collapses control characters and line breaks to single spaces.
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace()).filter(|piece| !piece.is_empty()).collect::<Vec<_>>().join(" ")
}

fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

/// A file name that is safe to show and to offer for download: no folders, no drive
/// letters, no control characters, no leading dots, bounded length.
pub fn safe_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let last = last.rsplit_once(':').map_or(last, |(_, after)| after);
    let cleaned: String = last
        .chars()
        .map(|c| if c.is_control() || matches!(c, '<' | '>' | '"' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    let cleaned = truncate_chars(cleaned.trim().trim_start_matches('.').trim(), 200);
    if cleaned.is_empty() { "attachment".to_string() } else { cleaned }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_never_carry_paths() {
        for (input, expected) in [
            ("../../etc/passwd", "passwd"),
            ("C:\\Windows\\system.ini", "system.ini"),
            ("C:evil.exe", "evil.exe"),
            ("..", "attachment"),
            (".htaccess", "htaccess"),
            ("a\0b.txt", "a_b.txt"),
            ("", "attachment"),
            ("report 2026.pdf", "report 2026.pdf"),
        ] {
            assert_eq!(safe_filename(input), expected, "{input:?}");
        }
    }

    #[test]
    fn headerless_bytes_are_not_mail() {
        assert_eq!(parse(b"\x00\x01\x02 binary garbage").unwrap_err(), ParseError::NoHeaders);
        assert_eq!(parse(b"").unwrap_err(), ParseError::NoHeaders);
    }

    #[test]
    fn reads_the_parts_reqmail_uses() {
        let raw = b"From: Ann Example <Ann@Example.COM>\r\nTo: help@example.com\r\nDelivered-To: help+7@example.com\r\nSubject: =?utf-8?q?Drucker_kaputt_=E2=9C=93?=\r\nMessage-ID: <abc@x>\r\nIn-Reply-To: <p1@x>\r\nReferences: <p0@x> <p1@x>\r\n\r\nHello\r\n";
        let mail = parse(raw).unwrap();
        assert_eq!(mail.from.as_ref().unwrap().address, "ann@example.com");
        assert_eq!(mail.from.as_ref().unwrap().name.as_deref(), Some("Ann Example"));
        assert_eq!(mail.subject, "Drucker kaputt ✓");
        assert_eq!(mail.message_id.as_deref(), Some("abc@x"));
        assert_eq!(mail.in_reply_to, vec!["p1@x"]);
        assert_eq!(mail.references, vec!["p0@x", "p1@x"]);
        assert_eq!(mail.recipients, vec!["help@example.com", "help+7@example.com"]);
        assert_eq!(mail.text.trim(), "Hello");
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = b"From: a@b.c\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>First&nbsp;line</p><script>x</script><p>Second</p></body></html>\r\n";
        let mail = parse(raw).unwrap();
        assert!(mail.text.contains("First") && mail.text.contains("Second"), "{:?}", mail.text);
        assert!(!mail.text.contains("<p>"), "{:?}", mail.text);
    }
}
