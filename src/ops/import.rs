//! `reqmail import mbox|maildir|mh PATH`: an old archive becomes tickets.
//!
//! Every message goes through the same pipeline as live mail, at its own date (the
//! `Date:` header), oldest first, so that replies thread onto the requests they answer
//! and tickets carry their original times. Nobody hears about it: the letters that
//! processing queues are taken back in the same transaction, and the scheduler's
//! reminders, escalations and surveys for the imported state are marked done. Running
//! the same import again finds every message already stored (the spool's dedupe key).
//!
//! MH folders as older help desks kept them hold one numbered file per ticket: the
//! request, then admin lines the desk appended at the end (`ASSIGNED TO: ann`,
//! `STATUS: closed`). Such a ticket keeps its number when no ticket here has it or a
//! higher one (import into a new store to keep them all), and the admin lines become
//! its owner, its status and history entries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::site::Site;
use crate::pipeline::{Incoming, Outcome};
use crate::store::messages::Spooled;
use crate::store::Store;
use crate::ticket::TicketId;

/// The archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One file of messages, each after a `From ` line (mboxrd and mboxo).
    Mbox,
    /// A Maildir: the files in `cur/` and `new/` (left where they are).
    Maildir,
    /// An MH folder: numbered files, one ticket each, with appended admin lines.
    Mh,
}

/// One message of the archive.
#[derive(Debug, Clone)]
pub struct Item {
    /// Where it is in the archive, for the summary: a file, or `mbox:N`.
    pub label: String,
    pub raw: Vec<u8>,
    pub date: Option<DateTime<Utc>>,
    /// MH: the ticket number and the appended admin lines.
    pub mh: Option<MhTicket>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MhTicket {
    pub number: i64,
    pub admin: Vec<AdminLine>,
}

/// `NAME: value` appended by the old desk, e.g. `ASSIGNED TO: ann`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminLine {
    pub name: String,
    pub value: String,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    pub messages: usize,
    pub created: usize,
    pub threaded: usize,
    /// MH numbers that were taken: (old number, new number).
    pub renumbered: Vec<(i64, i64)>,
    /// Why, and which messages.
    pub skipped: BTreeMap<String, Vec<String>>,
    /// Letters processing queued and the import took back.
    pub letters_held_back: usize,
}

impl Summary {
    fn skip(&mut self, reason: impl Into<String>, label: &str) {
        self.skipped.entry(reason.into()).or_default().push(label.to_string());
    }

    pub fn skipped_count(&self) -> usize {
        self.skipped.values().map(Vec::len).sum()
    }
}

/// Reads the archive; files that cannot be read are skipped with their reason.
pub fn read(format: Format, path: &Path, summary: &mut Summary) -> anyhow::Result<Vec<Item>> {
    let mut items = match format {
        Format::Mbox => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read the mbox {}", path.display()))?;
            split_mbox(&bytes)
                .into_iter()
                .enumerate()
                .map(|(index, raw)| Item { label: format!("{}:{}", path.display(), index + 1), date: date_of(&raw), raw, mh: None })
                .collect()
        }
        Format::Maildir => {
            let mut files = Vec::new();
            for sub in ["cur", "new"] {
                let folder = path.join(sub);
                let entries = std::fs::read_dir(&folder)
                    .with_context(|| format!("{} is not a Maildir (no readable {sub}/)", path.display()))?;
                files.extend(entries.flatten().map(|entry| entry.path()).filter(|file| file.is_file()));
            }
            files.sort();
            read_files(files, summary, |_, raw| Item { label: String::new(), date: date_of(&raw), raw, mh: None })
        }
        Format::Mh => {
            let entries = std::fs::read_dir(path).with_context(|| format!("cannot read the MH folder {}", path.display()))?;
            let mut numbered: Vec<(i64, PathBuf)> = entries
                .flatten()
                .filter_map(|entry| Some((entry.file_name().to_str()?.parse::<i64>().ok().filter(|number| *number > 0)?, entry.path())))
                .collect();
            numbered.sort();
            read_files(numbered.into_iter().map(|(_, file)| file).collect(), summary, |file, raw| {
                let number = file.file_name().and_then(|name| name.to_str()).and_then(|name| name.parse().ok()).unwrap_or_default();
                let (message, admin) = split_admin_lines(&raw);
                Item { label: String::new(), date: date_of(&message), raw: message, mh: Some(MhTicket { number, admin }) }
            })
        }
    };
    // Requests before the replies that answer them; MH tickets in number order, so
    // that each can keep its number.
    if format != Format::Mh {
        items.sort_by_key(|item| item.date);
    }
    Ok(items)
}

fn read_files(files: Vec<PathBuf>, summary: &mut Summary, make: impl Fn(&Path, Vec<u8>) -> Item) -> Vec<Item> {
    files
        .into_iter()
        .filter_map(|file| match std::fs::read(&file) {
            Ok(raw) => {
                let mut item = make(&file, raw);
                item.label = file.display().to_string();
                Some(item)
            }
            Err(error) => {
                summary.skip(format!("unreadable: {error}"), &file.display().to_string());
                None
            }
        })
        .collect()
}

/// The messages of an mbox: each starts after a `From ` line at the start of the file
/// or after a blank line; `>From ` lines in a body lose one `>` (mboxrd).
pub fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut previous_blank = true;
    for line in bytes.split_inclusive(|byte| *byte == b'\n') {
        if previous_blank && is_separator(line) {
            if let Some(message) = current.take() {
                messages.push(finish_mbox_message(message));
            }
            current = Some(Vec::new());
            previous_blank = false;
            continue;
        }
        previous_blank = line == b"\n" || line == b"\r\n";
        if let Some(message) = current.as_mut() {
            let quoted_from = line.iter().position(|byte| *byte != b'>').is_some_and(|index| index > 0 && line[index..].starts_with(b"From "));
            message.extend_from_slice(if quoted_from { &line[1..] } else { line });
        }
    }
    if let Some(message) = current {
        messages.push(finish_mbox_message(message));
    }
    messages.into_iter().filter(|message| !message.iter().all(u8::is_ascii_whitespace)).collect()
}

/// `From SENDER DATE`: a body line that merely starts with "From " (which careful
/// writers quote anyway) rarely has the time of day in it.
fn is_separator(line: &[u8]) -> bool {
    line.starts_with(b"From ") && line.split(|byte| *byte == b' ').filter(|word| !word.is_empty()).count() >= 3 && line.contains(&b':')
}

/// The blank line that separates a message from the next `From ` line is the mbox's.
fn finish_mbox_message(mut message: Vec<u8>) -> Vec<u8> {
    if message.ends_with(b"\r\n\r\n") {
        message.truncate(message.len() - 2);
    } else if message.ends_with(b"\n\n") {
        message.truncate(message.len() - 1);
    }
    message
}

/// Admin line names older desks appended (compared without case).
const ADMIN_NAMES: &[&str] = &["ASSIGNED TO", "ASSIGNED", "OWNER", "STATUS", "PRIORITY", "CATEGORY", "CLOSED", "RESOLVED", "NOTE"];

/// Splits an MH ticket file into the message and the admin lines appended at its end
/// (a trailing run of `NAME: value` lines with known names, blank lines between them
/// allowed). The message keeps its bytes up to there.
pub fn split_admin_lines(raw: &[u8]) -> (Vec<u8>, Vec<AdminLine>) {
    let lines: Vec<&[u8]> = raw.split_inclusive(|byte| *byte == b'\n').collect();
    let mut cut = lines.len();
    let mut admin = Vec::new();
    for (index, line) in lines.iter().enumerate().rev() {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let Some((name, value)) = text.split_once(':') else { break };
        let name = name.trim().to_uppercase();
        if !ADMIN_NAMES.contains(&name.as_str()) {
            break;
        }
        admin.push(AdminLine { name, value: value.trim().to_string() });
        cut = index;
    }
    admin.reverse();
    // Only lines after the header block count: a header named "Status:" is not one.
    let body_start = raw.windows(2).position(|pair| pair == b"\n\n").or_else(|| raw.windows(4).position(|four| four == b"\r\n\r\n"));
    let cut_at: usize = lines[..cut].iter().map(|line| line.len()).sum();
    match body_start {
        Some(start) if cut_at > start && !admin.is_empty() => (raw[..cut_at].to_vec(), admin),
        _ => (raw.to_vec(), Vec::new()),
    }
}

fn date_of(raw: &[u8]) -> Option<DateTime<Utc>> {
    let value = crate::parse::scan_header(raw, "date")?;
    DateTime::parse_from_rfc2822(value.trim()).ok().map(|date| date.with_timezone(&Utc))
}

/// The status an old desk's word means here.
fn status_word(value: &str) -> Option<&'static str> {
    let word = value.split_whitespace().next()?.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    Some(match word.as_str() {
        "new" => "new",
        "open" | "opened" | "assigned" | "active" | "reopened" | "working" => "open",
        "hold" | "held" | "pending" | "waiting" | "stalled" => "hold",
        "resolved" => "resolved",
        "closed" | "done" | "fixed" | "solved" | "complete" | "completed" | "finished" => "closed",
        "rejected" | "junk" | "spam" | "invalid" => "rejected",
        _ => return None,
    })
}

/// Imports `items` in order; `progress` is told after each one.
pub fn import(site: &Site, store: &mut Store, items: &[Item], now: DateTime<Utc>, summary: &mut Summary, mut progress: impl FnMut()) -> anyhow::Result<()> {
    for item in items {
        summary.messages += 1;
        import_one(site, store, item, now, summary)?;
        progress();
    }
    Ok(())
}

fn import_one(site: &Site, store: &mut Store, item: &Item, now: DateTime<Utc>, summary: &mut Summary) -> anyhow::Result<()> {
    // A date in the future is a wrong clock, not a plan.
    let when = item.date.filter(|date| *date <= now).unwrap_or(now);
    let source = format!("import:{}", item.label);
    let tx = store.write()?;
    if let Some(mh) = &item.mh {
        // The next new ticket takes this number, unless a ticket here has it or a higher one.
        crate::store::set_setting(&tx, "next_ticket_number", &mh.number.to_string())?;
    }
    let spooled = crate::pipeline::spool_in(&tx, &Incoming { raw: &item.raw, source: &source, recipient: None, queue: None }, when)?;
    let mark = crate::store::imports::mark_letters(&tx)?;
    tx.commit()?;
    let id = match spooled {
        Spooled::Known { processed: true, .. } => {
            summary.skip("already imported (or received) before", &item.label);
            return Ok(());
        }
        Spooled::New(id) | Spooled::Known { id, processed: false } => id,
    };
    let (outcomes, letters) =
        crate::pipeline::process_then(site, store, &[id], when, |conn| {
            let ticket = crate::store::imports::ticket_of_message(conn, id.0)?;
            Ok(crate::store::imports::take_back_letters(conn, mark, ticket, Some(id.0))?)
        })?;
    summary.letters_held_back += letters;
    let ticket = match outcomes.into_iter().next().map(|(_, outcome)| outcome) {
        Some(Outcome::Applied { ticket, created }) => {
            if created {
                summary.created += 1;
            } else {
                summary.threaded += 1;
            }
            ticket
        }
        Some(Outcome::Quarantined { reason }) => {
            summary.skip(format!("quarantined: {reason} (`reqmail quarantine list`)"), &item.label);
            return Ok(());
        }
        Some(Outcome::Ignored { reason }) => {
            summary.skip(format!("ignored: {reason}"), &item.label);
            return Ok(());
        }
        Some(Outcome::Duplicate) | None => {
            summary.skip("already imported (or received) before", &item.label);
            return Ok(());
        }
    };
    if let Some(mh) = &item.mh {
        if ticket.0 != mh.number {
            summary.renumbered.push((mh.number, ticket.0));
        }
        summary.letters_held_back += apply_admin_lines(site, store, ticket, &mh.admin, when)?;
    }
    let tx = store.write()?;
    if let Some(current) = crate::store::tickets::get(&tx, ticket)? {
        crate::store::imports::quiet_scheduler(&tx, &current, &site.rules.reminder_thresholds, when)?;
    }
    tx.commit()?;
    Ok(())
}

/// The old desk's admin lines: each one a history entry as written, and the owner and
/// status they name applied as an administrator would, without mail.
/// Returns the letters taken back.
fn apply_admin_lines(site: &Site, store: &mut Store, ticket: TicketId, admin: &[AdminLine], when: DateTime<Utc>) -> anyhow::Result<usize> {
    if admin.is_empty() {
        return Ok(0);
    }
    let mut fields = Vec::new();
    for line in admin {
        match line.name.as_str() {
            "ASSIGNED TO" | "ASSIGNED" | "OWNER" if !line.value.is_empty() => fields.push(format!("Owner: {}", line.value)),
            "STATUS" => fields.extend(status_word(&line.value).map(|status| format!("Status: {status}"))),
            "CLOSED" => fields.push("Status: closed".to_string()),
            "RESOLVED" => fields.push("Status: resolved".to_string()),
            _ => {}
        }
    }
    let tx = store.write()?;
    let mark = crate::store::imports::mark_letters(&tx)?;
    // The old desk assigned tickets to its agents: an address not known here is one.
    for line in admin.iter().filter(|line| matches!(line.name.as_str(), "ASSIGNED TO" | "ASSIGNED" | "OWNER")) {
        if let Some(address) = crate::parse::bare_address(&line.value) {
            if crate::store::people::find_by_address(&tx, &address)?.is_none() {
                crate::store::people::create(&tx, &address, None, crate::ticket::Role::Agent, when)?;
            }
        }
    }
    for line in admin {
        crate::store::tickets::add_history(&tx, ticket, when, "import", "imported", &format!("{}: {}", line.name, line.value), None)?;
    }
    // The last owner and status win, as they did in the old desk.
    let mut last: BTreeMap<&str, &String> = BTreeMap::new();
    for field in &fields {
        last.insert(field.split(':').next().unwrap_or_default(), field);
    }
    if !last.is_empty() {
        let text = format!("{}\n\n", last.values().map(|field| field.as_str()).collect::<Vec<_>>().join("\n"));
        let current = crate::store::tickets::get(&tx, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished during the import"))?;
        let sender = crate::identify::sender::Sender {
            address: site.config.mail.address.clone(),
            name: Some("import".into()),
            person: None,
            role: crate::ticket::Role::Admin,
            trust: crate::identify::sender::Trust::Authentic { by: "import".into() },
        };
        let plan = crate::plan::plan(crate::plan::PlanInput {
            rules: &site.rules,
            tag: &site.threading.tag,
            lookup: &crate::plan::StoreLookup { conn: &tx, rules: &site.rules, now: when },
            inbound: crate::plan::Inbound { text, ..Default::default() },
            class: &crate::classify::Class::Person,
            sender,
            current: Some(&current),
            matched_by: None,
            follow_up_of: None,
            routing: Default::default(),
            now: when,
        })?;
        crate::apply::apply(&tx, site, &plan, when)?;
    }
    let letters = crate::store::imports::take_back_letters(&tx, mark, Some(ticket.0), None)?;
    tx.commit()?;
    Ok(letters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_on_from_lines_after_blank_lines_and_unquotes_from() {
        let mbox = b"From a@x Sat Nov 21 09:00:00 2026\nSubject: one\n\nFrom the start, unquoted.\n>From here on\n\nFrom b@x Sat Nov 21 10:00:00 2026\r\nSubject: two\r\n\r\nbody\r\n";
        let messages = split_mbox(mbox);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0], b"Subject: one\n\nFrom the start, unquoted.\nFrom here on\n");
        assert_eq!(messages[1], b"Subject: two\r\n\r\nbody\r\n");
        assert!(split_mbox(b"").is_empty());
    }

    #[test]
    fn admin_lines_at_the_end_of_an_mh_file_are_split_off_and_headers_are_not_admin_lines() {
        let file = b"From: a@x\nStatus: RO\nSubject: s\n\nPrinter broken.\nStatus: my guess\nPlease help.\n\nASSIGNED TO: ann\n\nSTATUS: closed 2019-03-04\n";
        let (message, admin) = split_admin_lines(file);
        assert_eq!(message, b"From: a@x\nStatus: RO\nSubject: s\n\nPrinter broken.\nStatus: my guess\nPlease help.\n\n");
        assert_eq!(
            admin,
            [AdminLine { name: "ASSIGNED TO".into(), value: "ann".into() }, AdminLine { name: "STATUS".into(), value: "closed 2019-03-04".into() }]
        );
        let (message, admin) = split_admin_lines(b"From: a@x\nStatus: RO\n");
        assert_eq!((message.as_slice(), admin.len()), (&b"From: a@x\nStatus: RO\n"[..], 0));
        assert_eq!(status_word("Done, by ann"), Some("closed"));
        assert_eq!(status_word("whatever"), None);
    }
}
