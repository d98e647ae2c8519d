//! Step 4: is this a person writing, or a machine? Decided before anything answers.
//!
//! RFC 3834 §2 and §3.1: never answer automatically to mail that is auto-submitted,
//! bulk or list mail, from a null sender or MAILER-DAEMON; recognise our own mail
//! coming back. Machines may still add to a ticket; only a person (or an
//! `auto-generated` monitoring message) opens one, and only a person gets a receipt.
//!
//! Besides RFC 3834's marks this knows Outlook's `X-Auto-Response-Suppress`, our loop
//! header and Message-IDs, mail looping through too many hops, and reports that are
//! not delivery reports (read receipts, abuse/ARF, DMARC aggregate and TLS reports).
//! [`bounce`] reads delivery status reports (RFC 3464 and the common other forms).

pub mod bounce;

use std::sync::LazyLock;

use regex::Regex;

use crate::config::LimitsConfig;
use crate::parse::Mail;

/// Who wrote the message, as far as its headers tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// A person: may open tickets and is answered.
    Person,
    /// A machine: never answered automatically.
    Machine { kind: MachineKind, reason: String },
    /// Our own mail, or mail from our own address: never processed.
    Ours { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineKind {
    /// `Auto-Submitted: auto-generated`: a monitoring tool or script. Opens tickets, gets no receipt.
    Generated,
    /// Vacation and other auto-replies: a note on a known ticket, never a new one.
    AutoReply,
    /// Bulk, junk and list mail.
    Bulk,
    /// Delivery status reports and other mail from a null sender or the mail system.
    Bounce,
    /// Read receipts (RFC 8098), abuse reports (ARF), DMARC aggregate and TLS reports.
    Report,
    /// Mail that went round too many hops, or through our address too often.
    Loop,
}

impl Class {
    /// Whether this message may be answered by automatic mail (receipts, refusals).
    pub fn may_be_answered(&self) -> bool {
        matches!(self, Class::Person)
    }

    /// Whether a message that matches no ticket may open one.
    pub fn may_open_ticket(&self) -> bool {
        matches!(self, Class::Person | Class::Machine { kind: MachineKind::Generated, .. })
    }
}

/// Classifies `mail`; `help_local` and `help_domain` come from `mail.address`, the hop
/// limits from `limits`.
pub fn classify(mail: &Mail, help_local: &str, help_domain: &str, limits: &LimitsConfig) -> Class {
    if mail.loop_header {
        return Class::Ours { reason: "our loop header X-Reqmail-Ticket: our own mail came back".into() };
    }
    let ours_suffix = format!("@{}", help_domain.to_ascii_lowercase());
    if let Some(id) = &mail.message_id {
        if id.starts_with("reqmail.") && id.to_ascii_lowercase().ends_with(&ours_suffix) {
            return Class::Ours { reason: format!("our own message <{id}> came back") };
        }
    }
    if let Some(from) = &mail.from {
        let help_local = help_local.to_ascii_lowercase();
        if let Some((local, domain)) = from.address.rsplit_once('@') {
            let base = local.split('+').next().unwrap_or(local);
            if base == help_local && format!("@{domain}") == ours_suffix {
                return Class::Ours { reason: format!("sent from our own address {}", from.address) };
            }
        }
    }

    let machine = |kind, reason: String| Class::Machine { kind, reason };
    let n_received = mail.headers_named("received").count();
    if n_received > limits.max_received_hops {
        return machine(MachineKind::Loop, format!("{n_received} Received headers: a mail loop (limits.max_received_hops)"));
    }
    let help_local_lower = help_local.to_ascii_lowercase();
    let n_delivered_to_ours = mail
        .headers_named("delivered-to")
        .filter_map(crate::parse::bare_address)
        .filter(|address| {
            address.rsplit_once('@').is_some_and(|(local, domain)| {
                local.split('+').next() == Some(help_local_lower.as_str()) && domain.eq_ignore_ascii_case(help_domain)
            })
        })
        .count();
    if n_delivered_to_ours > limits.max_delivered_to_ours {
        return machine(MachineKind::Loop, format!("delivered to our address {n_delivered_to_ours} times: a mail loop"));
    }
    let return_path = mail.header("return-path").map(str::trim);
    if return_path.is_some_and(|path| path == "<>" || path.is_empty()) {
        return machine(MachineKind::Bounce, "null return path (<>)".into());
    }
    // The raw header, because a bounce's From is often not a usable address ("<MAILER-DAEMON>").
    if let Some(from) = mail.header("from") {
        let lower = from.to_ascii_lowercase();
        if lower.contains("mailer-daemon") || lower.contains("postmaster@") || lower.contains("<postmaster>") {
            return machine(MachineKind::Bounce, format!("sent by the mail system ({})", crate::parse::one_line(from)));
        }
    }
    if let Some(content_type) = mail.header("content-type") {
        let content_type = content_type.to_ascii_lowercase();
        if content_type.starts_with("multipart/report") {
            // RFC 6522: report-type says which; only delivery-status is a bounce.
            if content_type.contains("delivery-status") || !content_type.contains("report-type") {
                return machine(MachineKind::Bounce, "a delivery status report (multipart/report)".into());
            }
            let kind = content_type.split("report-type").nth(1).unwrap_or("").trim_start_matches(['=', ' ', '"']);
            let kind: String = kind.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            return machine(MachineKind::Report, format!("a {kind} report (multipart/report)"));
        }
    }
    if mail.header("disposition-notification-to").is_none()
        && mail.report_parts.iter().any(|(content_type, _)| content_type.contains("delivery-status"))
    {
        return machine(MachineKind::Bounce, "a delivery status report (message/delivery-status part)".into());
    }
    if looks_like_outlook_read_receipt(mail) {
        return machine(MachineKind::Report, "an Outlook read receipt (Read: with a TNEF body)".into());
    }
    if looks_like_dmarc_report(mail) {
        return machine(MachineKind::Report, "a DMARC aggregate report".into());
    }
    if mail.header("tls-report-domain").is_some() || mail.header("tls-report-submitter").is_some() {
        return machine(MachineKind::Report, "an SMTP TLS report (RFC 8460)".into());
    }
    if let Some(value) = mail.header("auto-submitted") {
        let keyword = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if keyword == "auto-generated" {
            return machine(MachineKind::Generated, "Auto-Submitted: auto-generated".into());
        }
        if keyword != "no" {
            return machine(MachineKind::AutoReply, format!("Auto-Submitted: {keyword}"));
        }
    }
    // Outlook and Exchange put this on their automatic replies, often as the only mark.
    if let Some(value) = mail.header("x-auto-response-suppress") {
        return machine(MachineKind::AutoReply, format!("X-Auto-Response-Suppress: {}", crate::parse::one_line(value)));
    }
    for header in ["x-autoreply", "x-autorespond", "x-autogenerated"] {
        if mail.header(header).is_some() {
            return machine(MachineKind::AutoReply, format!("{header} header present"));
        }
    }
    if let Some(value) = mail.header("precedence") {
        let value = value.trim().to_ascii_lowercase();
        if matches!(value.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
            let kind = if value == "auto_reply" { MachineKind::AutoReply } else { MachineKind::Bulk };
            return machine(kind, format!("Precedence: {value}"));
        }
    }
    for header in ["list-id", "list-unsubscribe"] {
        if mail.header(header).is_some() {
            return machine(MachineKind::Bulk, format!("mailing-list mail ({header})"));
        }
    }
    if let Some(prefix) = auto_reply_subject(&mail.subject) {
        return machine(MachineKind::AutoReply, format!("subject begins like an automatic reply ({prefix:?})"));
    }
    Class::Person
}

/// Subject prefixes that vacation responders write and people do not (Apple iCloud sends
/// "Auto reply:" with no RFC 3834 header at all). Only whole prefixes with their colon.
fn auto_reply_subject(subject: &str) -> Option<&'static str> {
    const PREFIXES: &[&str] = &[
        "auto reply:", "autoreply:", "auto-reply:", "automatic reply:", "auto response:", "autoresponse:", "out of office:",
        "out of office reply:", "out of office autoreply:", "abwesenheitsnotiz:", "automatische antwort:", "réponse automatique:",
        "risposta automatica:", "respuesta automática:", "automatisch antwoord:", "automatyczna odpowiedź:", "自動応答:", "自動返信:",
    ];
    let lower = subject.trim_start().to_lowercase();
    PREFIXES.iter().copied().find(|prefix| lower.starts_with(prefix))
}

/// Outlook's read receipts arrive as `Read: …` with the whole body in TNEF.
fn looks_like_outlook_read_receipt(mail: &Mail) -> bool {
    let subject = mail.subject.trim_start().to_ascii_lowercase();
    let tnef = mail.header("content-type").is_some_and(|value| value.to_ascii_lowercase().contains("ms-tnef"))
        || mail.header("x-ms-tnef-correlator").is_some();
    tnef && (subject.starts_with("read:") || subject.starts_with("gelesen:") || subject.starts_with("lu :") || subject.starts_with("lu:"))
}

/// RFC 7489 §7.2.1.1: "Report Domain: … Submitter: …" with a zip or gzip attachment.
fn looks_like_dmarc_report(mail: &Mail) -> bool {
    let subject = mail.subject.to_ascii_lowercase();
    subject.contains("report domain")
        && (subject.contains("submitter")
            || mail.attachments.iter().any(|attachment| {
                attachment.content_type.contains("zip") || attachment.content_type.contains("gzip") || attachment.filename.ends_with(".xml.gz")
            }))
}

/// Absence notices in the words responders use (English, German, French, Spanish,
/// Italian, Dutch, Portuguese, Scandinavian, Polish, Japanese, Chinese).
/// In lower case, matched against lower-cased text: with `(?i)` the regex crate builds
/// every case variant of these words, and building it was most of the regex work (and
/// page faults) of a short-lived `ingest`.
static ABSENCE_WORDING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"out of (the )?office|away from (the |my )?(office|desk)|auto(matic|matische)?[ -]?(reply|response|antwort)|\bon (annual |parental )?(leave|vacation|holiday)\b|abwesenheit|nicht im büro|außer haus|absent du bureau|réponse automatique|je suis absente?|fuera de la oficina|respuesta automática|fuori ufficio|risposta automatica|afwezig|automatisch antwoord|ausente|resposta automática|fora do escritório|frånvar|autosvar|fraværende|poza biurem|不在|自動応答|自动回复|休假",
    )
    .expect("a valid pattern")
});

/// Whether a person's mail reads like an absence notice. Such wording alone never makes
/// mail a machine's (a person may write it too); with other signs it suggests a
/// responder answering our letters in a loop.
pub fn sounds_like_an_absence_notice(subject: &str, text: &str) -> bool {
    ABSENCE_WORDING.is_match(&subject.to_lowercase()) || ABSENCE_WORDING.is_match(&text.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn check(headers: &str, expected: &str) {
        let raw = format!("{headers}\r\nSubject: s\r\n\r\nbody\r\n");
        let mail = parse(raw.as_bytes(), &crate::config::LimitsConfig::default()).unwrap();
        let class = classify(&mail, "help", "example.com", &LimitsConfig::default());
        let text = match &class {
            Class::Person => "person".to_string(),
            Class::Machine { kind, .. } => format!("{kind:?}"),
            Class::Ours { .. } => "ours".to_string(),
        };
        assert_eq!(text, expected, "{headers}");
    }

    #[test]
    fn absence_wording_in_any_case() {
        assert!(sounds_like_an_absence_notice("OUT OF OFFICE: Re: printer", ""));
        assert!(sounds_like_an_absence_notice("Re: Drucker", "Ich bin NICHT IM BÜRO bis Montag."));
        assert!(sounds_like_an_absence_notice("Réponse automatique", ""));
        assert!(sounds_like_an_absence_notice("", "I am On Annual Leave until 3 May."));
        assert!(!sounds_like_an_absence_notice("Re: printer", "Officer, the leaves are on the desk."));
    }

    #[test]
    fn classes() {
        check("From: a@b.c", "person");
        check("From: a@b.c\r\nAuto-Submitted: no", "person");
        check("From: a@b.c\r\nAuto-Submitted: auto-replied", "AutoReply");
        check("From: a@b.c\r\nAuto-Submitted: auto-generated", "Generated");
        check("From: a@b.c\r\nX-Autoreply: yes", "AutoReply");
        check("From: a@b.c\r\nPrecedence: bulk", "Bulk");
        check("From: a@b.c\r\nList-Id: <x.lists.b.c>", "Bulk");
        check("Return-Path: <>\r\nFrom: a@b.c", "Bounce");
        check("From: MAILER-DAEMON@b.c", "Bounce");
        check("From: Help <help@example.com>", "ours");
        check("From: help+12@Example.com", "ours");
        check("From: a@b.c\r\nMessage-ID: <reqmail.1.2.x@example.com>", "ours");
        check("From: a@b.c\r\nX-Reqmail-Ticket: 4", "ours");
        check("From: a@b.c\r\nX-Auto-Response-Suppress: All", "AutoReply");
        check("From: a@b.c\r\nPrecedence: junk", "Bulk");
        check("From: a@b.c\r\nPrecedence: auto_reply", "AutoReply");
        check("From: a@b.c\r\nList-Unsubscribe: <mailto:u@b.c>", "Bulk");
        check("From: postmaster@b.c", "Bounce");
        check("From: a@b.c\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=x", "Report");
        check("From: a@b.c\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x", "Bounce");
        check("From: a@b.c\r\nDelivered-To: help@example.com\r\nDelivered-To: help+3@example.com\r\nDelivered-To: help@example.com", "Loop");
        check(&format!("From: a@b.c\r\n{}", "Received: from x by y\r\n".repeat(51).trim_end()), "Loop");
    }
}
