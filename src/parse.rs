//! Step 3: raw bytes to [`Mail`], our owned view of a message.
//!
//! mail-parser does the MIME work (all charsets, encoded words, broken structure);
//! this module picks what reqmail needs, bounds the size of every value it keeps, and
//! says when the bytes are not a mail message at all. Parsing never panics on input;
//! text that cannot be decoded comes out with replacement characters.
//!
//! Hostile mail (issue 7): [`parse`] checks the header size and the line
//! length with one linear scan before mail-parser runs, and the part count and nesting
//! depth before any body is decoded or converted. Header fields that look like ours
//! (`X-Reqmail-*`) are removed here, before any later step can read them: only our
//! loop header is remembered, as a flag, and it can only make a message be ignored.

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};

use crate::config::LimitsConfig;

pub mod html;
mod plain;

/// Longest Message-ID we keep; longer ones are treated as absent (Stalwart does the same).
pub const MAX_ID_LENGTH: usize = 250;
/// Most header fields kept for classification and rules.
const MAX_HEADERS: usize = 500;
/// Longest header value kept.
const MAX_HEADER_VALUE: usize = 4096;
/// Most ids kept from References.
const MAX_REFERENCES: usize = 50;
/// Most text kept of one machine-readable report part (RFC 3464 delivery-status,
/// returned headers): enough for every recipient block of a real DSN.
const MAX_REPORT_PART: usize = 64 * 1024;
/// Most report parts kept.
const MAX_REPORT_PARTS: usize = 20;
/// Prefix of the header fields only reqmail may write.
const INTERNAL_PREFIX: &str = "x-reqmail-";

/// A message as reqmail sees it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The first From mailbox.
    pub from: Option<Mailbox>,
    /// The first Reply-To mailbox.
    pub reply_to: Option<Mailbox>,
    /// How many mailboxes all From headers name together.
    pub from_count: usize,
    /// How many From header fields there are (RFC 5322 allows exactly one).
    pub from_fields: usize,
    /// Whether an addr-spec in From is not written literally in the header (an
    /// encoded-word or other trick that decodes into an address): never authentic.
    pub from_disguised: bool,
    /// To, Cc and the envelope-style recipient headers, lower-cased addr-specs.
    pub recipients: Vec<String>,
    /// The Cc addr-specs alone, lower-cased: whom the sender copied.
    pub copied: Vec<String>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// Readable text of the body: the text/plain parts, else the HTML turned into text.
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Header fields in order, lower-cased names, raw (unfolded, trimmed) values.
    /// `X-Reqmail-*` fields are never here.
    pub headers: Vec<(String, String)>,
    /// Names of the `X-Reqmail-*` fields that were removed.
    pub removed_internal: Vec<String>,
    /// Whether our loop header (`X-Reqmail-Ticket`) was among them.
    pub loop_header: bool,
    /// Machine-readable parts of a report: `(content type, text)` of
    /// message/delivery-status, text/rfc822-headers and attached messages' headers.
    pub report_parts: Vec<(String, String)>,
    /// Message-IDs of attached (returned) messages.
    pub attached_message_ids: Vec<String>,
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
    /// The MIME parser gave up on broken structure.
    #[error("the MIME structure is too broken to read ({0})")]
    ParserFailed(String),
    /// Over one of the configured `[limits]`; the text names the limit.
    #[error("{0}")]
    OverLimit(String),
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

/// Reads `raw` as a message; mail over `limits` is refused before the expensive work.
pub fn parse(raw: &[u8], limits: &LimitsConfig) -> Result<Mail, ParseError> {
    // Old Mac files end lines with CR alone; no MTA sends that, but files do arrive so.
    let head = &raw[..raw.len().min(8192)];
    let converted;
    let raw = if head.contains(&b'\r') && !head.contains(&b'\n') {
        converted = raw.iter().map(|&byte| if byte == b'\r' { b'\n' } else { byte }).collect::<Vec<u8>>();
        &converted[..]
    } else {
        raw
    };
    check_lines(raw, limits).map_err(ParseError::OverLimit)?;
    // mail-parser 0.11.9 still panics on some corrupted multiparts (found by our mangled
    // corpus test, kept in fixtures/mail/regression/); that is its failure, not ours.
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
    let mut message = match parsed {
        Ok(message) => message.ok_or(ParseError::NoHeaders)?,
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|text| text.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            return Err(ParseError::ParserFailed(what.unwrap_or_default()));
        }
    };
    let known_header = message.headers().iter().any(|header| !matches!(header.name, mail_parser::HeaderName::Other(_)));
    if !known_header {
        return Err(ParseError::NoHeaders);
    }
    check_structure(&message, limits).map_err(ParseError::OverLimit)?;

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
    mail.from_fields = message.headers().iter().filter(|header| header.name == mail_parser::HeaderName::From).count();
    let raw_from: String = message
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("from"))
        .map(|(_, value)| unfold(value).to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    // The identity is the addr-spec as written: one that only appears after decoding
    // (`=?utf-8?q?ceo=40example.com?=`) is a disguise.
    mail.from_disguised = from_mailboxes.iter().any(|mailbox| !raw_from.contains(&mailbox.address))
        || addr_specs_of(&raw_from).any(|spec| spec.contains("=?"));
    mail.from = from_mailboxes.into_iter().next();
    mail.reply_to = message.header_values("Reply-To").filter_map(|value| value.as_address()).flat_map(mailboxes).next();

    for address in message.to().into_iter().chain(message.cc()).flat_map(mailboxes) {
        push_unique(&mut mail.recipients, address.address);
    }
    for address in message.cc().into_iter().flat_map(mailboxes) {
        push_unique(&mut mail.copied, address.address);
    }

    for (name, value) in message.headers_raw().take(MAX_HEADERS) {
        let value = unfold(value);
        let lower = name.to_ascii_lowercase();
        if lower.starts_with(INTERNAL_PREFIX) {
            // Spoofed internal headers (the OTRS X-OTRS-* class of bugs) never reach a rule.
            if lower == "x-reqmail-ticket" {
                mail.loop_header = true;
            }
            if mail.removed_internal.len() < 20 {
                mail.removed_internal.push(truncate_chars(&one_line(&lower), 100));
            }
            continue;
        }
        if matches!(lower.as_str(), "delivered-to" | "x-original-to" | "envelope-to" | "x-envelope-to") {
            if let Some(address) = bare_address(&value) {
                push_unique(&mut mail.recipients, address);
            }
        }
        mail.headers.push((lower, truncate_chars(&value, MAX_HEADER_VALUE)));
    }

    mail.text = body_text(&message);
    collect_report_parts(&message, &mut mail);

    // The decoded contents are moved out of the parsed message, not copied: a large
    // attachment is held once.
    for id in std::mem::take(&mut message.attachments) {
        let Some(part) = message.parts.get_mut(id as usize) else { continue };
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
            content: take_contents(part),
        });
    }
    Ok(mail)
}

/// The part's contents, leaving it empty.
fn take_contents(part: &mut mail_parser::MessagePart<'_>) -> Vec<u8> {
    match std::mem::take(&mut part.body) {
        PartType::Text(text) | PartType::Html(text) => text.into_owned().into_bytes(),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes.into_owned(),
        PartType::Message(message) => message.raw_message.into_owned(),
        PartType::Multipart(_) => Vec::new(),
    }
}

/// HTML larger than this is turned into text by mail-parser's simpler converter, which
/// keeps less structure but needs no document tree.
const MAX_HTML_FOR_LAYOUT: usize = 2 << 20;
/// Line width for HTML rendering: wide, so that nothing the sender wrote is re-wrapped.
const HTML_TEXT_WIDTH: usize = 400;
/// One linear pass before mail-parser: the header block and the longest line.
fn check_lines(raw: &[u8], limits: &LimitsConfig) -> Result<(), String> {
    let mut header_bytes = None;
    let mut position = 0;
    for line in raw.split(|&byte| byte == b'\n') {
        let length = line.len();
        if length > limits.max_line_bytes {
            return Err(format!("a line of {length} bytes is longer than limits.max_line_bytes = {}", limits.max_line_bytes));
        }
        position += length + 1;
        if header_bytes.is_none() && line.strip_suffix(b"\r").unwrap_or(line).is_empty() {
            header_bytes = Some(position);
        }
        if header_bytes.is_none() && position > limits.max_header_bytes {
            return Err(format!("the header block is larger than limits.max_header_bytes = {}", limits.max_header_bytes));
        }
    }
    Ok(())
}

/// Part count and nesting depth, walked without recursion; before any body is decoded.
fn check_structure(message: &mail_parser::Message<'_>, limits: &LimitsConfig) -> Result<(), String> {
    let mut n_parts = 0usize;
    // (message, part index, depth)
    let mut stack: Vec<(&mail_parser::Message<'_>, usize, usize)> = vec![(message, 0, 1)];
    while let Some((current, index, depth)) = stack.pop() {
        if depth > limits.max_depth {
            return Err(format!("parts nested deeper than limits.max_depth = {}", limits.max_depth));
        }
        let Some(part) = current.parts.get(index) else { continue };
        n_parts += 1;
        if n_parts > limits.max_parts {
            return Err(format!("more than limits.max_parts = {} MIME parts", limits.max_parts));
        }
        match &part.body {
            PartType::Multipart(children) => {
                for &child in children {
                    // A malformed tree could point back up; children always come later.
                    if (child as usize) > index {
                        stack.push((current, child as usize, depth + 1));
                    }
                }
            }
            PartType::Message(nested) => stack.push((nested, 0, depth + 1)),
            _ => {}
        }
    }
    Ok(())
}

/// Keeps the machine-readable parts of a report (RFC 3464 §2, RFC 6522) for
/// `classify::bounce`: bounded in number and size.
fn collect_report_parts(message: &mail_parser::Message<'_>, mail: &mut Mail) {
    let mut stack: Vec<(&mail_parser::Message<'_>, usize)> = vec![(message, 0)];
    while let Some((current, depth)) = stack.pop() {
        for part in &current.parts {
            if mail.report_parts.len() >= MAX_REPORT_PARTS {
                return;
            }
            let content_type = part
                .content_type()
                .map(|ctype| format!("{}/{}", ctype.ctype(), ctype.subtype().unwrap_or("")).to_ascii_lowercase())
                .unwrap_or_default();
            match &part.body {
                PartType::Message(nested) => {
                    if let Some(id) = nested.message_id().and_then(clean_id) {
                        push_unique(&mut mail.attached_message_ids, id);
                    }
                    let headers: String = nested.headers_raw().take(MAX_HEADERS).map(|(name, value)| format!("{name}:{value}")).collect();
                    mail.report_parts.push(("message/rfc822".into(), truncate_chars(&headers, MAX_REPORT_PART)));
                    if depth < 2 {
                        stack.push((nested, depth + 1));
                    }
                }
                PartType::Text(text) | PartType::Html(text)
                    if content_type.contains("delivery-status") || content_type.contains("rfc822-headers") =>
                {
                    mail.report_parts.push((content_type, truncate_chars(text, MAX_REPORT_PART)));
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes)
                    if content_type.contains("delivery-status") || content_type.contains("rfc822-headers") =>
                {
                    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_REPORT_PART)]).into_owned();
                    mail.report_parts.push((content_type, text));
                }
                _ => {}
            }
        }
    }
}

/// The addr-spec parts of a raw address list: the text in angle brackets, or a whole
/// item when it has none.
fn addr_specs_of(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(|item| match (item.find('<'), item.rfind('>')) {
        (Some(open), Some(close)) if open < close => &item[open + 1..close],
        _ => item,
    })
}

fn body_text(message: &mail_parser::Message<'_>) -> String {
    let mut text = String::new();
    for (position, part) in message.text_bodies().enumerate() {
        let piece = match &part.body {
            PartType::Html(html) if html.len() <= MAX_HTML_FOR_LAYOUT => html_to_text(html),
            PartType::Text(_) => plain_text(message, part).or_else(|| message.body_text(position).map(|text| text.into_owned())),
            _ => message.body_text(position).map(|text| text.into_owned()),
        };
        if let Some(piece) = piece {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&piece);
        }
    }
    text.replace("\r\n", "\n")
}

/// A text/plain part that needs more than the parser does: UTF-7 decoded from its raw
/// bytes, `format=flowed` joined; `None` leaves the part to the parser.
fn plain_text(message: &mail_parser::Message<'_>, part: &mail_parser::MessagePart<'_>) -> Option<String> {
    let content_type = part.content_type()?;
    let utf7 = content_type.attribute("charset").is_some_and(|charset| charset.eq_ignore_ascii_case("utf-7"));
    let flowed = content_type.attribute("format").is_some_and(|format| format.eq_ignore_ascii_case("flowed"));
    let delete_space = content_type.attribute("delsp").is_some_and(|delsp| delsp.eq_ignore_ascii_case("yes"));
    let seven_bit = part.content_transfer_encoding().is_none_or(|encoding| encoding.eq_ignore_ascii_case("7bit"));
    let text = match (&part.body, utf7 && seven_bit) {
        (_, true) => {
            let raw = message.raw_message().get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)?;
            plain::decode_utf7(raw)?
        }
        (PartType::Text(text), false) if flowed => text.to_string(),
        _ => return None,
    };
    Some(if flowed { plain::unflow(&text.replace("\r\n", "\n"), delete_space) } else { text })
}

/// Readable text from HTML: blocks become lines, block quotes get `> `, scripts and
/// styles vanish, entities are decoded; links keep their text only.
/// Nesting is bounded first ([`html::bound_nesting`]), which keeps this linear in the input.
pub fn html_to_text(html: &str) -> Option<String> {
    let html = html::bound_nesting(html);
    html2text::config::plain_no_decorate().string_from_read(html.as_bytes(), HTML_TEXT_WIDTH).ok()
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

/// The first header field `name` (lower case), unfolded, read from the header block
/// without parsing the message: for decisions that come before parsing (dedupe, limits).
pub fn scan_header(raw: &[u8], name: &str) -> Option<String> {
    const HEADER_SCAN_LIMIT: usize = 256 * 1024;
    let head = &raw[..raw.len().min(HEADER_SCAN_LIMIT)];
    let mut lines = head.split(|&byte| byte == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line)).peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            return None;
        }
        let Some(colon) = line.iter().position(|&byte| byte == b':') else { continue };
        if !line[..colon].trim_ascii().eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        let mut value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(next) = lines.peek() {
            if next.first().is_some_and(|byte| *byte == b' ' || *byte == b'\t') {
                value.push_str(&String::from_utf8_lossy(next));
                lines.next();
            } else {
                break;
            }
        }
        return Some(value.trim().to_string());
    }
    None
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
        assert_eq!(parse(b"\x00\x01\x02 binary garbage", &LimitsConfig::default()).unwrap_err(), ParseError::NoHeaders);
        assert_eq!(parse(b"", &LimitsConfig::default()).unwrap_err(), ParseError::NoHeaders);
    }

    #[test]
    fn utf7_and_flowed_bodies_read_as_written() {
        let limits = LimitsConfig::default();
        let utf7 = b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-7\r\n\r\nA+ImIDkQ. 1 +- 1 = 2, Gr+APw-+AN8-e\r\n";
        assert_eq!(parse(utf7, &limits).unwrap().text, "A\u{2262}\u{391}. 1 + 1 = 2, Grüße\n");
        let flowed = b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\nThe printer on the \r\nsecond floor works.\r\n";
        assert_eq!(parse(flowed, &limits).unwrap().text, "The printer on the second floor works.\n");
        let delsp = b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n\r\n\xe3\x83\x97\xe3\x83\xaa\xe3\x83\xb3 \r\n\xe3\x82\xbf\xe3\x83\xbc\r\n";
        assert_eq!(parse(delsp, &limits).unwrap().text, "プリンター\n");
    }

    #[test]
    fn reads_the_parts_reqmail_uses() {
        let raw = b"From: Ann Example <Ann@Example.COM>\r\nTo: help@example.com\r\nDelivered-To: help+7@example.com\r\nSubject: =?utf-8?q?Drucker_kaputt_=E2=9C=93?=\r\nMessage-ID: <abc@x>\r\nIn-Reply-To: <p1@x>\r\nReferences: <p0@x> <p1@x>\r\n\r\nHello\r\n";
        let mail = parse(raw, &LimitsConfig::default()).unwrap();
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
    fn internal_headers_are_removed_before_anyone_reads_them() {
        let raw = b"From: a@b.c\r\nX-Reqmail-Queue: admin\r\nX-REQMAIL-Ticket: 3\r\nSubject: s\r\n\r\nbody\r\n";
        let mail = parse(raw, &LimitsConfig::default()).unwrap();
        assert!(mail.headers.iter().all(|(name, _)| !name.starts_with("x-reqmail")), "{:?}", mail.headers);
        assert_eq!(mail.removed_internal, ["x-reqmail-queue", "x-reqmail-ticket"]);
        assert!(mail.loop_header);
    }

    #[test]
    fn limits_are_checked_before_parsing() {
        let limits = LimitsConfig { max_line_bytes: 100, max_header_bytes: 200, max_parts: 3, max_depth: 3, ..LimitsConfig::default() };
        let long_line = format!("From: a@b.c\r\nSubject: s\r\n\r\n{}\r\n", "x".repeat(101));
        assert!(matches!(parse(long_line.as_bytes(), &limits), Err(ParseError::OverLimit(text)) if text.contains("max_line_bytes")));
        let big_header = format!("From: a@b.c\r\n{}\r\nbody", "X-A: 1\r\n".repeat(40));
        assert!(matches!(parse(big_header.as_bytes(), &limits), Err(ParseError::OverLimit(text)) if text.contains("max_header_bytes")));
        let mut nested = String::from("From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n");
        for level in 1..6 {
            nested.push_str(&format!("--b{}\r\nContent-Type: multipart/mixed; boundary=b{level}\r\n\r\n", level - 1));
        }
        nested.push_str("--b5\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        assert!(matches!(parse(nested.as_bytes(), &limits), Err(ParseError::OverLimit(_))));
    }

    #[test]
    fn encoded_word_inside_an_address_is_a_disguise() {
        let honest = parse(b"From: =?utf-8?q?Ann_=C3=A9?= <ann@example.org>\r\nSubject: s\r\n\r\nx\r\n", &LimitsConfig::default()).unwrap();
        assert!(!honest.from_disguised);
        let disguised = parse(b"From: <=?utf-8?q?ceo=40example.com?=>\r\nSubject: s\r\n\r\nx\r\n", &LimitsConfig::default()).unwrap();
        assert!(disguised.from_disguised || disguised.from.is_none(), "{:?}", disguised.from);
        let two = parse(b"From: a@example.org\r\nFrom: b@example.org\r\nSubject: s\r\n\r\nx\r\n", &LimitsConfig::default()).unwrap();
        assert_eq!(two.from_fields, 2);
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = b"From: a@b.c\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>First&nbsp;line</p><script>x</script><p>Second</p></body></html>\r\n";
        let mail = parse(raw, &LimitsConfig::default()).unwrap();
        assert!(mail.text.contains("First") && mail.text.contains("Second"), "{:?}", mail.text);
        assert!(!mail.text.contains("<p>"), "{:?}", mail.text);
    }

    /// CPU time of this thread: unlike the wall clock, not inflated when other processes
    /// keep the machine busy.
    fn thread_cpu_time() -> std::time::Duration {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec into the valid pointer given.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }

    /// The hostile-HTML attack: half a megabyte of unclosed `<div>`s, or deeply nested
    /// `<blockquote>`s, once took 37 s and 5 s. Four times the input must cost about four
    /// times as much (quadratic work would cost sixteen times).
    #[test]
    fn hostile_html_converts_in_time_linear_in_its_size() {
        fn cost(html: &str) -> std::time::Duration {
            (0..3)
                .map(|_| {
                    let started = thread_cpu_time();
                    let text = html_to_text(html).expect("converts");
                    assert!(text.contains("end"), "the words survive");
                    thread_cpu_time() - started
                })
                .min()
                .unwrap()
        }
        for unit in ["<div>x", "<blockquote>x", "<div><span><table><tr><td>x"] {
            let count = 10_000;
            let small = format!("{}end", unit.repeat(count));
            let large = format!("{}end", unit.repeat(count * 4));
            let (small_cost, large_cost) = (cost(&small), cost(&large));
            let ratio = large_cost.as_secs_f64() / small_cost.as_secs_f64();
            assert!(ratio < 8.0, "{unit}: {small_cost:?} for {count}, {large_cost:?} for four times that (×{ratio:.1})");
            assert!(large_cost < std::time::Duration::from_secs(5), "{unit}: {large_cost:?}");
        }
    }
}
