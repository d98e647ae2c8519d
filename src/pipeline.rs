//! The flow of one message, from the spool to `apply` (DESIGN §1).
//!
//! `spool` makes the raw bytes durable; only then may a source acknowledge them.
//! `process` takes spooled messages through parse, classify, identify, thread,
//! interpret and plan, and applies each in a savepoint of one write transaction: a
//! message that fails is rolled back alone and quarantined with its reason, while a
//! database that cannot be written fails the whole pass and leaves everything spooled
//! for the next one. Every message ends applied, quarantined or ignored with a reason.

use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::classify::{classify, Class};
use crate::config::Config;
use crate::identify::{sender, thread::Threading};
use crate::notify::render::Templates;
use crate::parse::{clean_id, parse};
use crate::store::messages::{Arrival, Decided, Spooled};
use crate::store::{self, Store};
use crate::ticket::{SpoolId, TicketId};
use crate::{apply, plan};

/// What a command needs to process mail: the configuration, compiled.
pub struct Context {
    pub config: Config,
    pub threading: Threading,
    pub templates: Templates,
}

impl Context {
    pub fn new(config: Config) -> anyhow::Result<Context> {
        let templates = Templates::load(config.templates.dir.as_deref())?;
        let threading = Threading::new(&config.mail);
        Ok(Context { config, threading, templates })
    }
}

/// How processing a message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied { ticket: TicketId, created: bool },
    Quarantined { reason: String },
    Ignored { reason: String },
    /// Already processed earlier (an MTA retry, a second copy).
    Duplicate,
}

/// The idempotency key: the Message-ID, else a hash of the bytes.
pub fn dedupe_key(raw: &[u8]) -> String {
    match scan_message_id(raw) {
        Some(id) => format!("id:{id}"),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

/// Finds the Message-ID in the header block without parsing the whole message, so that
/// the spool can dedupe before anything else runs.
fn scan_message_id(raw: &[u8]) -> Option<String> {
    const HEADER_SCAN_LIMIT: usize = 256 * 1024;
    let head = &raw[..raw.len().min(HEADER_SCAN_LIMIT)];
    let mut lines = head.split(|&byte| byte == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line)).peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            return None;
        }
        let Some(colon) = line.iter().position(|&byte| byte == b':') else { continue };
        if !line[..colon].trim_ascii().eq_ignore_ascii_case(b"message-id") {
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
        let start = value.find('<')?;
        let end = start + value[start..].find('>')?;
        return clean_id(&value[start + 1..end]);
    }
    None
}

/// One message handed over by a source.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub raw: &'a [u8],
    /// Where it came from, for the record: `pipe`, `maildir:NAME`, `imap:MAILBOX/UID`.
    pub source: &'a str,
    /// The envelope recipient, when the source knows it.
    pub recipient: Option<&'a str>,
    /// The queue a new ticket from this message lands in (an IMAP mailbox's `queue`);
    /// `None` leaves it to the plan (`mail.default_queue`).
    pub queue: Option<&'a str>,
}

/// Step 2: stores the raw bytes of every message in one transaction and waits until
/// they are on the disk. Only after this returns may the source acknowledge them.
pub fn spool(store: &mut Store, incoming: &[Incoming<'_>], now: DateTime<Utc>) -> anyhow::Result<Vec<Spooled>> {
    store.write_flushed(|tx| incoming.iter().map(|message| spool_in(tx, message, now)).collect())
}

/// Stores one message in the caller's transaction; for sources that do more in the same
/// commit (IMAP quarantines oversized messages there).
pub fn spool_in(conn: &Connection, message: &Incoming<'_>, now: DateTime<Utc>) -> anyhow::Result<Spooled> {
    let dedupe_key = dedupe_key(message.raw);
    let arrival = Arrival {
        raw: message.raw,
        dedupe_key: &dedupe_key,
        source: message.source,
        recipient: message.recipient,
        queue: message.queue,
        received: now,
    };
    Ok(store::messages::spool(conn, &arrival)?)
}

/// The spool ids among `spooled` that still wait for processing.
pub fn waiting(spooled: &[Spooled]) -> Vec<SpoolId> {
    spooled
        .iter()
        .filter_map(|spooled| match spooled {
            Spooled::New(id) | Spooled::Known { id, processed: false } => Some(*id),
            Spooled::Known { processed: true, .. } => None,
        })
        .collect()
}

/// Steps 3–9 for each spooled message in `ids`, in one write transaction.
pub fn process(context: &Context, store: &mut Store, ids: &[SpoolId], now: DateTime<Utc>) -> anyhow::Result<Vec<(SpoolId, Outcome)>> {
    let mut tx = store.write()?;
    let mut outcomes = Vec::with_capacity(ids.len());
    for &id in ids {
        let span = tracing::info_span!("message", spool = id.0);
        let _entered = span.enter();
        let savepoint = tx.savepoint()?;
        let attempt = catch_unwind(AssertUnwindSafe(|| process_one(context, &savepoint, id, now)));
        let outcome = match attempt {
            Ok(Ok(outcome)) => {
                savepoint.commit()?;
                outcome
            }
            Ok(Err(error)) if is_transient(&error) => return Err(error.context(format!("message {id} stays spooled"))),
            Ok(Err(error)) => {
                drop(savepoint);
                quarantine(&tx, id, &format!("cannot be applied: {error:#}"), now)?
            }
            Err(panic) => {
                drop(savepoint);
                let what = panic_text(&panic);
                quarantine(&tx, id, &format!("reqmail failed on this message ({what}); it is kept unchanged"), now)?
            }
        };
        log_outcome(id, &outcome);
        outcomes.push((id, outcome));
    }
    tx.commit()?;
    Ok(outcomes)
}

fn process_one(context: &Context, conn: &Connection, id: SpoolId, now: DateTime<Utc>) -> anyhow::Result<Outcome> {
    let state: Option<String> =
        conn.query_row("SELECT state FROM messages WHERE id = ?1 AND direction = 'in'", [id.0], |row| row.get(0)).ok();
    if state.as_deref() != Some("spooled") {
        // Another process got there first (two deliveries of one message at once).
        return Ok(Outcome::Duplicate);
    }
    let raw = store::messages::raw(conn, id)?.unwrap_or_default();
    let limit = context.config.inbound.max_message_bytes;
    if raw.len() > limit {
        let reason = format!("message of {} bytes is larger than inbound.max_message_bytes = {limit}", raw.len());
        return quarantine(conn, id, &reason, now);
    }

    // Parse
    let mut mail = match parse(&raw) {
        Ok(mail) => mail,
        Err(error) => return quarantine(conn, id, &error.to_string(), now),
    };
    drop(raw);
    if let Some(recipient) = store::messages::envelope_recipient(conn, id)? {
        if !mail.recipients.contains(&recipient) {
            mail.recipients.insert(0, recipient);
        }
    }
    mail.queue_hint = store::messages::queue_hint(conn, id)?;

    // Classify
    let (help_local, help_domain) = context.config.help_address_parts();
    let class = classify(&mail, help_local, help_domain);
    if let Class::Ours { reason } = &class {
        return ignore(conn, id, &mail, reason);
    }

    // Thread and identify
    let matched = context.threading.thread(conn, &mail)?;
    if matched == crate::identify::thread::TicketMatch::New && !class.may_open_ticket() {
        let reason = match &class {
            Class::Machine { reason, .. } => format!("machine mail ({reason}) for no known ticket"),
            _ => "not a request".to_string(),
        };
        return ignore(conn, id, &mail, &reason);
    }
    let Some(sender) = sender::identify(conn, &mail)? else {
        if let Class::Machine { reason, .. } = &class {
            return ignore(conn, id, &mail, &format!("machine mail ({reason}) without a usable From address"));
        }
        return quarantine(conn, id, "no usable From address: cannot tell who sent it or where to answer", now);
    };

    // Interpret, plan, apply
    let plan = plan::plan(&context.config, &context.threading.tag, id, mail, &class, sender, matched);
    let created = matches!(plan.ticket, plan::TicketChange::Create { .. });
    let ticket = apply::apply(conn, context, &plan, now)?;
    Ok(Outcome::Applied { ticket, created })
}

/// Puts message `id` into quarantine with `reason`.
pub fn quarantine(conn: &Connection, id: SpoolId, reason: &str, now: DateTime<Utc>) -> anyhow::Result<Outcome> {
    store::quarantine::put(conn, id, reason, now)?;
    Ok(Outcome::Quarantined { reason: reason.to_string() })
}

fn ignore(conn: &Connection, id: SpoolId, mail: &crate::parse::Mail, reason: &str) -> anyhow::Result<Outcome> {
    let decided = Decided {
        state: "ignored",
        ticket: None,
        message_id: mail.message_id.as_deref(),
        from_address: mail.from.as_ref().map(|from| from.address.as_str()),
        subject: Some(&mail.subject),
        note: None,
        outcome: reason,
    };
    store::messages::decide(conn, id, &decided)?;
    Ok(Outcome::Ignored { reason: reason.to_string() })
}

/// Database trouble that another try may not have: busy, locked, full, unwritable.
pub fn is_transient(error: &anyhow::Error) -> bool {
    use rusqlite::ErrorCode::*;
    error.chain().any(|cause| match cause.downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(failure, _)) => matches!(
            failure.code,
            DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | ReadOnly | CannotOpen | OutOfMemory | FileLockingProtocolFailed
        ),
        _ => false,
    })
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "internal error".to_string())
}

/// Debug detail only (quarantine aside): the sources log the one info line per message,
/// with its source (`source::log_handled`).
fn log_outcome(id: SpoolId, outcome: &Outcome) {
    match outcome {
        Outcome::Applied { ticket, created: true } => tracing::debug!(spool = id.0, ticket = ticket.0, "created ticket"),
        Outcome::Applied { ticket, created: false } => tracing::debug!(spool = id.0, ticket = ticket.0, "added to ticket"),
        Outcome::Quarantined { reason } => tracing::warn!(spool = id.0, reason, "quarantined"),
        Outcome::Ignored { reason } => tracing::debug!(spool = id.0, reason, "ignored"),
        Outcome::Duplicate => tracing::debug!(spool = id.0, "already processed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_found_even_when_folded() {
        assert_eq!(scan_message_id(b"From: a@b\r\nMessage-ID:\r\n <x@y>\r\n\r\nbody"), Some("x@y".into()));
        assert_eq!(scan_message_id(b"message-id: <A@B>\nSubject: s\n\nbody"), Some("A@B".into()));
        assert_eq!(scan_message_id(b"From: a@b\n\nMessage-ID: <in@body>\n"), None);
        assert_eq!(scan_message_id(b"\x00\xff"), None);
        assert!(dedupe_key(b"no id here").starts_with("sha256:"));
    }
}
