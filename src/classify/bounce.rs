//! Delivery status reports: what failed, how badly, and which message of ours it was.
//!
//! RFC 3464 reports carry a `message/delivery-status` part with per-recipient fields
//! (`Final-Recipient`, `Action`, `Status`) and usually the returned message or its
//! headers. Many MTAs (qmail, old Exim and Sendmail, Exchange, Japanese carriers; see
//! the Sisimai corpus) send plain text instead, with the returned message pasted in.
//! So the returned Message-ID is looked for everywhere, in this order: attached
//! messages, returned header parts, then `Message-ID:` lines and our own id pattern in
//! the text. Matching it against our outgoing mail happens in the caller; here
//! everything is pure and linear in the size of the message.

use crate::parse::{clean_id, Mail};

/// Most candidate Message-IDs taken from one report.
const MAX_CANDIDATES: usize = 20;

/// What a delivery report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub severity: Severity,
    /// RFC 3463 status code (`5.1.1`) when one was found.
    pub status: Option<String>,
    /// Final-Recipient (or Original-Recipient) addresses, lower-cased.
    pub recipients: Vec<String>,
    /// Message-IDs that may be the returned message, best first.
    pub returned_ids: Vec<String>,
    /// A one-line explanation for the ticket history.
    pub diagnostic: Option<String>,
}

/// Permanent failure, or only a delay (RFC 3464 §2.3.3 `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Failed,
    Delayed,
    /// `delivered`, `relayed`, `expanded`: a success notice, nothing to do.
    Delivered,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Failed => "failed",
            Severity::Delayed => "delayed",
            Severity::Delivered => "delivered",
        }
    }
}

/// Reads `mail` as a delivery report; `help_domain` finds our own ids in pasted text.
pub fn read(mail: &Mail, help_domain: &str) -> DeliveryReport {
    let mut report = DeliveryReport { severity: Severity::Failed, status: None, recipients: Vec::new(), returned_ids: Vec::new(), diagnostic: None };
    let mut actions: Vec<String> = Vec::new();

    for (content_type, text) in &mail.report_parts {
        if content_type.contains("delivery-status") {
            for (name, value) in fields(text) {
                match name.as_str() {
                    "action" => actions.push(value.to_ascii_lowercase()),
                    "status" if report.status.is_none() => report.status = status_code(&value),
                    "final-recipient" | "original-recipient" => {
                        let address = value.rsplit_once(';').map_or(value.as_str(), |(_, address)| address);
                        if let Some(address) = crate::parse::bare_address(address) {
                            if !report.recipients.contains(&address) {
                                report.recipients.push(address);
                            }
                        }
                    }
                    "diagnostic-code" if report.diagnostic.is_none() => {
                        let text = value.rsplit_once(';').map_or(value.as_str(), |(_, text)| text);
                        report.diagnostic = Some(crate::parse::one_line(text).chars().take(300).collect());
                    }
                    _ => {}
                }
            }
        }
    }

    // The returned message: attached first, then returned headers, then pasted text.
    let mut candidates: Vec<String> = mail.attached_message_ids.clone();
    for (content_type, text) in &mail.report_parts {
        if content_type.contains("rfc822") {
            candidates.extend(message_id_lines(text));
        }
    }
    candidates.extend(message_id_lines(&mail.text));
    candidates.extend(our_ids_in(&mail.text, help_domain));
    for (_, text) in &mail.report_parts {
        candidates.extend(our_ids_in(text, help_domain));
    }
    for candidate in candidates {
        if report.returned_ids.len() >= MAX_CANDIDATES {
            break;
        }
        if Some(&candidate) != mail.message_id.as_ref() && !report.returned_ids.contains(&candidate) {
            report.returned_ids.push(candidate);
        }
    }

    report.severity = if actions.iter().any(|action| action.starts_with("failed")) {
        Severity::Failed
    } else if actions.iter().any(|action| action.starts_with("delayed")) {
        Severity::Delayed
    } else if !actions.is_empty() {
        Severity::Delivered
    } else {
        match report.status.as_deref().and_then(|status| status.chars().next()) {
            Some('4') => Severity::Delayed,
            Some('2') => Severity::Delivered,
            Some(_) => Severity::Failed,
            // No machine-readable part: the words of the usual delay notices.
            None if says_delay(&mail.subject) || says_delay(&mail.text.chars().take(4000).collect::<String>()) => Severity::Delayed,
            None => Severity::Failed,
        }
    };
    if report.status.is_none() {
        report.status = text_status_code(&mail.text);
    }
    report
}

/// `Name: value` fields of a delivery-status body (RFC 3464 §2.1), folded lines joined.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                if value.len() < 1000 {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            if !name.is_empty() && name.len() < 40 && !name.contains(' ') {
                fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
    }
    fields
}

/// `5.1.1` out of `5.1.1 (bad destination mailbox)`.
fn status_code(value: &str) -> Option<String> {
    let code: String = value.trim().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let parts: Vec<&str> = code.split('.').collect();
    let valid = parts.len() == 3 && matches!(parts[0], "2" | "4" | "5") && parts[1..].iter().all(|part| !part.is_empty() && part.len() <= 3);
    valid.then_some(code)
}

/// The first enhanced status code (`5.x.y`/`4.x.y`) in free text, for non-standard bounces.
fn text_status_code(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .take(20_000)
        .map(|word| word.trim_matches('.'))
        .find_map(|word| status_code(word).filter(|code| !code.starts_with('2')))
}

fn says_delay(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["delayed", "delay notification", "will retry", "will continue to try", "still trying", "warning: message"]
        .iter()
        .any(|phrase| lower.contains(phrase))
}

/// Values of `Message-ID:` lines anywhere in `text` (a pasted original message).
fn message_id_lines(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches(['>', ' ', '\t']);
        if line.len() < 11 || !line.is_char_boundary(11) || !line[..11].eq_ignore_ascii_case("message-id:") {
            continue;
        }
        let value = line[11..].trim();
        let value = match (value.find('<'), value.rfind('>')) {
            (Some(open), Some(close)) if open < close => &value[open + 1..close],
            _ => value,
        };
        if let Some(id) = clean_id(value) {
            ids.push(id);
            if ids.len() >= MAX_CANDIDATES {
                break;
            }
        }
    }
    ids
}

/// Our own Message-IDs (`reqmail.…@domain`) anywhere in `text`.
fn our_ids_in(text: &str, help_domain: &str) -> Vec<String> {
    let domain = help_domain.to_ascii_lowercase();
    let mut ids = Vec::new();
    for (start, _) in text.match_indices("reqmail.") {
        let rest = &text[start..];
        let id: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_')).take(200).collect();
        let id = id.trim_end_matches('.');
        if id.to_ascii_lowercase().ends_with(&format!("@{domain}")) && !ids.iter().any(|seen: &String| seen == id) {
            ids.push(id.to_string());
            if ids.len() >= MAX_CANDIDATES {
                break;
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn rfc3464_failure_with_returned_headers() {
        let raw = b"From: MAILER-DAEMON@mx.example.org\r\nTo: help@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.org>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry.\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: Recipient address rejected\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: help@example.com\r\nMessage-ID: <reqmail.7.abcdef@example.com>\r\nSubject: [REQ #7] x\r\n--B--\r\n";
        let mail = parse(raw, &crate::config::LimitsConfig::default()).unwrap();
        let report = read(&mail, "example.com");
        assert_eq!(report.severity, Severity::Failed);
        assert_eq!(report.status.as_deref(), Some("5.1.1"));
        assert_eq!(report.recipients, ["gone@example.org"]);
        assert_eq!(report.returned_ids.first().map(String::as_str), Some("reqmail.7.abcdef@example.com"));
        assert!(report.diagnostic.unwrap().contains("Recipient address rejected"));
    }

    #[test]
    fn qmail_style_text_bounce_with_pasted_message() {
        let raw = b"From: MAILER-DAEMON@example.org\r\nSubject: failure notice\r\n\r\nHi. This is the qmail-send program.\r\n<gone@example.org>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n--- Below this line is a copy of the message.\r\n\r\nMessage-ID: <reqmail.9.0123abcd@example.com>\r\nSubject: [REQ #9] y\r\n";
        let report = read(&parse(raw, &crate::config::LimitsConfig::default()).unwrap(), "example.com");
        assert_eq!(report.severity, Severity::Failed);
        assert_eq!(report.returned_ids, ["reqmail.9.0123abcd@example.com"]);
        assert_eq!(report.status.as_deref(), Some("5.1.1"));
    }

    #[test]
    fn delay_is_only_a_delay() {
        let raw = b"From: MAILER-DAEMON@example.org\r\nSubject: Delayed Mail (still being retried)\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; slow@example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n--B--\r\n";
        assert_eq!(read(&parse(raw, &crate::config::LimitsConfig::default()).unwrap(), "example.com").severity, Severity::Delayed);
    }
}
