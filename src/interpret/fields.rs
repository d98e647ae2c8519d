//! The field block: `Name: value` lines at the top of a body (DESIGN §2), and the same
//! fields in the subject as `[importance=high; queue=hardware]` (Roundup style).
//!
//! The block starts at the first non-blank line and ends at the first blank line or
//! the first line that is not a known field, so a `Note: …` in the middle of prose is
//! never read as a field. Parsing is line by line and never fails.

use std::sync::LazyLock;

use regex::Regex;

/// The fields of the mail language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldName {
    Queue,
    Importance,
    Priority,
    Due,
    Host,
    Category,
    Cc,
    Status,
    Owner,
    Time,
    Check,
    Merge,
    Visibility,
    Publish,
    Preferences,
    Split,
    Next,
    Reply,
    Vendor,
    VendorTicket,
    Transfer,
}

impl FieldName {
    /// The name as the field table writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldName::Queue => "Queue",
            FieldName::Importance => "Importance",
            FieldName::Priority => "Priority",
            FieldName::Due => "Due",
            FieldName::Host => "Host",
            FieldName::Category => "Category",
            FieldName::Cc => "Cc",
            FieldName::Status => "Status",
            FieldName::Owner => "Owner",
            FieldName::Time => "Time",
            FieldName::Check => "Check",
            FieldName::Merge => "Merge",
            FieldName::Visibility => "Visibility",
            FieldName::Publish => "Publish",
            FieldName::Preferences => "Preferences",
            FieldName::Split => "Split",
            FieldName::Next => "Next",
            FieldName::Reply => "Reply",
            FieldName::Vendor => "Vendor",
            FieldName::VendorTicket => "Vendor-Ticket",
            FieldName::Transfer => "Transfer",
        }
    }

    /// Reads a field name or one of its aliases, in any case.
    pub fn from_name(name: &str) -> Option<FieldName> {
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        Some(match name.as_str() {
            "queue" => FieldName::Queue,
            "importance" | "impact" => FieldName::Importance,
            "priority" | "prio" => FieldName::Priority,
            "due" | "due-date" | "deadline" => FieldName::Due,
            "host" | "system" | "hostname" => FieldName::Host,
            "category" | "cause" | "root-cause" => FieldName::Category,
            "cc" => FieldName::Cc,
            "status" | "state" => FieldName::Status,
            "owner" | "assign" | "assignee" => FieldName::Owner,
            "time" | "time-spent" | "worked" => FieldName::Time,
            "check" | "checklist" => FieldName::Check,
            "merge" | "merge-into" => FieldName::Merge,
            "visibility" => FieldName::Visibility,
            "publish" => FieldName::Publish,
            "preferences" | "prefs" => FieldName::Preferences,
            "split" | "split-off" => FieldName::Split,
            "next" | "next-action" => FieldName::Next,
            "reply" | "canned-reply" => FieldName::Reply,
            "vendor" => FieldName::Vendor,
            "vendor-ticket" | "vendor-case" => FieldName::VendorTicket,
            "transfer" | "transfer-to" => FieldName::Transfer,
            _ => return None,
        })
    }
}

/// One field as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLine {
    pub name: FieldName,
    pub value: String,
}

/// Most field lines read from one block; more is not a field block but a list.
const MAX_FIELDS: usize = 40;
/// Longest value kept.
const MAX_VALUE_CHARS: usize = 500;

/// Longest field name, in characters.
const MAX_NAME_CHARS: usize = 21;

/// `Name: value` with at most four blanks before the name, at most one between name and
/// colon; the name a letter followed by letters, `_` or `-`. Returns name and trimmed value.
fn field_line(line: &str) -> Option<(&str, &str)> {
    let indent = line.chars().take_while(|c| c.is_whitespace()).take(5).count();
    if indent > 4 {
        return None;
    }
    let rest = line.trim_start();
    let name_len = rest.bytes().take_while(|byte| byte.is_ascii_alphabetic() || matches!(byte, b'_' | b'-')).count();
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) || name_len > MAX_NAME_CHARS {
        return None;
    }
    let mut after = rest[name_len..].chars();
    let value = match after.next()? {
        ':' => after.as_str(),
        blank if blank.is_whitespace() => after.as_str().strip_prefix(':')?,
        _ => return None,
    };
    Some((name, value.trim()))
}

/// Splits `body` into its field block and the rest.
pub fn split_field_block(body: &str) -> (Vec<FieldLine>, &str) {
    let mut fields = Vec::new();
    let mut rest_start = 0;
    let mut offset = 0;
    let mut started = false;
    for line in body.split_inclusive('\n') {
        let next_offset = offset + line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        if content.trim().is_empty() {
            if started {
                rest_start = next_offset;
                break;
            }
            offset = next_offset;
            rest_start = offset;
            continue;
        }
        let parsed = field_line(content).and_then(|(name, value)| Some((FieldName::from_name(name)?, value)));
        match parsed {
            Some((name, value)) if fields.len() < MAX_FIELDS => {
                started = true;
                fields.push(FieldLine { name, value: value.chars().take(MAX_VALUE_CHARS).collect() });
                offset = next_offset;
                rest_start = offset;
            }
            _ => break,
        }
    }
    if fields.is_empty() {
        return (fields, body);
    }
    (fields, &body[rest_start.min(body.len())..])
}

static SUBJECT_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\s*([A-Za-z][A-Za-z_-]{0,20}\s*=[^\[\]]*)\]").expect("valid subject pattern"));
/// Longest subject block read; longer brackets are prose.
const MAX_SUBJECT_BLOCK: usize = 300;

/// Finds a `[name=value; name=value]` block in `subject`; returns the fields and the
/// subject without that block. Brackets whose names are not all fields are left alone.
pub fn split_subject_fields(subject: &str) -> (Vec<FieldLine>, String) {
    // Most subjects have no block; they never pay for compiling the pattern.
    if !subject.contains('[') || !subject.contains('=') {
        return (Vec::new(), subject.to_string());
    }
    for found in SUBJECT_BLOCK.captures_iter(subject) {
        let inner = &found[1];
        if inner.len() > MAX_SUBJECT_BLOCK {
            continue;
        }
        let mut fields = Vec::new();
        let mut all_known = true;
        for pair in inner.split([';', ',']).map(str::trim).filter(|pair| !pair.is_empty()) {
            match pair.split_once('=').and_then(|(name, value)| Some((FieldName::from_name(name)?, value.trim()))) {
                Some((name, value)) => fields.push(FieldLine { name, value: value.to_string() }),
                None => all_known = false,
            }
        }
        if all_known && !fields.is_empty() {
            let whole = found.get(0).expect("group 0 always exists");
            let rest = format!("{}{}", &subject[..whole.start()], &subject[whole.end()..]);
            return (fields, crate::parse::one_line(&rest));
        }
    }
    (Vec::new(), subject.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected_fields: &[(FieldName, &str)], expected_rest: &str) {
        let (fields, rest) = split_field_block(body);
        let got: Vec<(FieldName, &str)> = fields.iter().map(|field| (field.name, field.value.as_str())).collect();
        assert_eq!(got, expected_fields, "{body:?}");
        assert_eq!(rest, expected_rest, "{body:?}");
    }

    #[test]
    fn field_blocks() {
        use FieldName::*;
        check("Priority: high\nOwner: bob\n\nPlease look.\n", &[(Priority, "high"), (Owner, "bob")], "Please look.\n");
        check("\n\n  prio : urgent\nSTATUS: hold\nText right after.\n", &[(Priority, "urgent"), (Status, "hold")], "Text right after.\n");
        check("Hello,\nPriority: high\n", &[], "Hello,\nPriority: high\n");
        check("Note: this is not a field\nPriority: high\n", &[], "Note: this is not a field\nPriority: high\n");
        check("Due-Date: 2026-12-01 17:00\r\nSystem: mail01\r\n\r\nbody", &[(Due, "2026-12-01 17:00"), (Host, "mail01")], "body");
        check("Time: 1h30m", &[(Time, "1h30m")], "");
        check("", &[], "");
    }

    #[test]
    fn field_line_shapes() {
        assert_eq!(field_line("    Priority:high  "), Some(("Priority", "high")));
        assert_eq!(field_line("     Priority: high"), None);
        assert_eq!(field_line("Due_Date\t: 1 May"), Some(("Due_Date", "1 May")));
        assert_eq!(field_line("Priority  : high"), None);
        assert_eq!(field_line("-Priority: high"), None);
        assert_eq!(field_line("Abcdefghijklmnopqrstu: x"), Some(("Abcdefghijklmnopqrstu", "x")));
        assert_eq!(field_line("Abcdefghijklmnopqrstuv: x"), None);
        assert_eq!(field_line("Priority"), None);
        assert_eq!(field_line("Prio\u{e9}: x"), None);
        assert_eq!(field_line("Owner:"), Some(("Owner", "")));
    }

    #[test]
    fn subject_blocks() {
        let (fields, rest) = split_subject_fields("Printer down [importance=high; queue=hardware]");
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0], FieldLine { name: FieldName::Importance, value: "high".into() });
        assert_eq!(rest, "Printer down");
        let (fields, rest) = split_subject_fields("[REQ #12] a=b [x=y]");
        assert!(fields.is_empty());
        assert_eq!(rest, "[REQ #12] a=b [x=y]");
    }
}
