//! The flow of one message, from the spool to `apply` (DESIGN §1).
//!
//! `spool` makes the raw bytes durable; only then may a source acknowledge them.
//! `process` takes spooled messages through parse, classify, identify, thread,
//! interpret and plan, and applies each in a savepoint of one write transaction: a
//! message that fails is rolled back alone and quarantined with its reason, while a
//! database that cannot be written fails the whole pass and leaves everything spooled
//! for the next one. Every message ends applied, quarantined or ignored with a reason.
//!
//! Delivery status reports (RFC 3464) are matched here to the letter of ours they
//! return, through its Message-ID: a permanent failure marks the address
//! undeliverable, a delay is noted, and a report about mail we never sent is ignored.

use std::ops::ControlFlow::{self, Break, Continue};
use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::{DateTime, Utc};
use crate::store::Connection;
use sha2::{Digest, Sha256};

use crate::classify::{bounce, classify, Class, MachineKind};
use crate::config::UnknownSenders;
use crate::decision::{Decision, RefusedField, SenderRecord, TicketRecord};
use crate::identify::{sender, subject};
use crate::identify::thread::TicketMatch;
use crate::notify::letters::SenderNotice;
use crate::interpret::body::visible_note;
use crate::interpret::fields::{split_field_block, split_subject_fields};
use crate::parse::{clean_id, parse, Mail, ParseError};
use crate::report::by_mail;
use crate::store::compression::Compressor;
use crate::store::messages::{Arrival, Decided, EarlierKeys, SourceFacts, Spooled};
use crate::store::{self, Store};
use crate::ticket::{Role, SpoolId, TicketId};
use crate::rules::route::{self, Routing};
use crate::site::Site;
use crate::transfer::Received;
use crate::{apply, plan};

/// How processing a message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied { ticket: TicketId, created: bool },
    Quarantined { reason: String },
    Ignored { reason: String },
    /// Already processed earlier (an MTA retry, a second copy).
    Duplicate,
}

/// The idempotency key: the Message-ID together with a hash of the body, else a hash
/// of all the bytes. A second copy of one message (a retrying MTA, another alias, the
/// same mail by IMAP and by pipe) differs only in its trace headers and has one
/// effect; a different message that reuses a Message-ID (scanners and broken clients
/// do) has another body and is kept and processed as the new mail it is.
pub fn dedupe_key(raw: &[u8]) -> String {
    match scan_message_id(raw) {
        Some(id) => format!("id:{id} body:{}", body_hash(raw)),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

fn body_hash(raw: &[u8]) -> String {
    hex::encode(&Sha256::digest(body_of(raw))[..16])
}

/// The same message stored under a key of earlier versions, so that a retry of mail
/// spooled before an upgrade still has one effect: the key as a digest (before 0036), or
/// the Message-ID alone (before 0035), only where the store held mail then (`old_keys`):
/// at a million messages each look-up costs a page read.
fn stored_before_upgrade(conn: &Connection, raw: &[u8], dedupe_key: &str, old_keys: EarlierKeys) -> crate::store::Result<Option<Spooled>> {
    if old_keys.digests {
        if let Some(spooled) = store::messages::inbound_by_digest(conn, dedupe_key)? {
            return Ok(Some(spooled));
        }
    }
    if !old_keys.message_id_alone {
        return Ok(None);
    }
    let Some(id) = scan_message_id(raw) else { return Ok(None) };
    let Some((spooled, stored)) = store::messages::inbound_by_key(conn, &format!("id:{id}"))? else { return Ok(None) };
    Ok((body_hash(&stored) == body_hash(raw)).then_some(spooled))
}

/// The bytes after the header block (all of them when there is no blank line).
fn body_of(raw: &[u8]) -> &[u8] {
    // No separator starts inside another, so the first to start is the first to end: one
    // scan that stops at the header's end, where a search per separator would read a
    // whole message for each kind of line end it does not use.
    let separators: [&[u8]; 3] = [b"\r\n\r\n", b"\n\n", b"\r\r"];
    (0..raw.len())
        .find_map(|at| separators.iter().find(|separator| raw[at..].starts_with(separator)).map(|separator| at + separator.len()))
        .map_or(raw, |start| &raw[start..])
}

/// Finds the Message-ID in the header block without parsing the whole message, so that
/// the spool can dedupe before anything else runs.
fn scan_message_id(raw: &[u8]) -> Option<String> {
    let value = crate::parse::scan_header(raw, "message-id")?;
    let start = value.find('<')?;
    let end = start + value[start..].find('>')?;
    clean_id(&value[start + 1..end])
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
    spool_prepared_in(conn, message, None, store::messages::earlier_keys(conn)?, now)
}

/// What the spool needs of a message's bytes besides the database, worked out on a
/// source's reading thread ([`prepare`]): its idempotency key and its bytes compressed.
#[derive(Debug)]
pub struct Prepared {
    dedupe_key: String,
    /// `None` when compressing failed there; the writer tries again, and says why.
    compressed: Option<Vec<u8>>,
}

/// [`Prepared`] for `raw`, with a compressor the writer made (`compression::compressor`).
pub fn prepare(compressor: &Compressor, raw: &[u8]) -> Prepared {
    Prepared { dedupe_key: dedupe_key(raw), compressed: compressor.compress(raw).ok() }
}

/// [`spool`] for messages a source prepared ([`prepare`]) while it read them, flushed
/// to the disk beside the caller: it acknowledges them only after [`store::Flush::wait`].
pub fn spool_prepared(
    store: &mut Store,
    incoming: &[Incoming<'_>],
    prepared: Vec<Prepared>,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<Spooled>, store::Flush)> {
    let _thresholds = store::compression::hold_thresholds(&store.conn)?;
    let old_keys = store::messages::earlier_keys(&store.conn)?;
    store.write_flushing(|tx| incoming.iter().zip(prepared).map(|(message, prepared)| spool_prepared_in(tx, message, Some(prepared), old_keys, now)).collect())
}

/// [`spool_in`] with what a reading thread [`prepare`]d, if it did.
pub fn spool_prepared_in(conn: &Connection, message: &Incoming<'_>, prepared: Option<Prepared>, old_keys: EarlierKeys, now: DateTime<Utc>) -> anyhow::Result<Spooled> {
    let (dedupe_key, compressed) = match prepared {
        Some(Prepared { dedupe_key, compressed }) => (dedupe_key, compressed),
        None => (dedupe_key(message.raw), None),
    };
    if let Some(spooled) = stored_before_upgrade(conn, message.raw, &dedupe_key, old_keys)? {
        return Ok(spooled);
    }
    store::cache_for_message(conn, message.raw.len())?;
    let arrival = Arrival {
        raw: message.raw,
        dedupe_key: &dedupe_key,
        source: message.source,
        recipient: message.recipient,
        queue: message.queue,
        received: now,
    };
    Ok(store::messages::spool_compressed(conn, &arrival, compressed.as_deref())?)
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

/// [`waiting`], each with what its source read ahead ([`read_ahead`], in the order of
/// `spooled`): a message stored before, maybe with other trace headers, is read from the
/// stored bytes instead.
pub fn waiting_read(spooled: &[Spooled], read: impl IntoIterator<Item = Option<ReadAhead>>) -> Vec<(SpoolId, Option<ReadAhead>)> {
    spooled
        .iter()
        .zip(read)
        .filter_map(|(spooled, ahead)| match *spooled {
            Spooled::New(id) => Some((id, ahead)),
            Spooled::Known { id, processed: false } => Some((id, None)),
            Spooled::Known { processed: true, .. } => None,
        })
        .collect()
}

/// Steps 3–9 for each spooled message in `ids`, in one write transaction.
pub fn process(site: &Site, store: &mut Store, ids: &[SpoolId], now: DateTime<Utc>) -> anyhow::Result<Vec<(SpoolId, Outcome)>> {
    Ok(process_then(site, store, ids, now, |_| Ok(()))?.0)
}

/// [`process`], with `before_commit` run last in the same transaction: the MTA pipe
/// claims there the letters it delivers next, without a commit of their own.
pub fn process_then<T>(
    site: &Site,
    store: &mut Store,
    ids: &[SpoolId],
    now: DateTime<Utc>,
    before_commit: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<(Vec<(SpoolId, Outcome)>, T)> {
    let (decided, value) = process_decided_then(site, store, ids, now, before_commit)?;
    Ok((decided.into_iter().map(|(id, outcome, _)| (id, outcome)).collect(), value))
}

/// What [`spool_and_process_then`] did with a message it stored: how processing ended
/// and what `before_commit` gave, or why the message stays spooled for the next pass.
pub type Stored<T> = anyhow::Result<(Vec<(SpoolId, Outcome)>, T)>;

/// Steps 2–9 for one message in a single commit that waits for the disk, for a process
/// that handles one message and exits (the MTA pipe): one commit instead of two. The
/// processing runs under a savepoint after the spool: when it fails or panics, only the
/// savepoint is rolled back, and the commit keeps the message spooled for the next pass.
/// `Err`: nothing was stored (a crash before the commit is the same: nothing was
/// acknowledged, and the sender tries again).
pub fn spool_and_process_then<T>(
    site: &Site,
    store: &mut Store,
    incoming: &Incoming<'_>,
    now: DateTime<Utc>,
    before_commit: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<Stored<T>> {
    store.write_flushed(|tx| {
        let spooled = spool_in(tx, incoming, now)?;
        crate::fault::point("after-spool");
        let stored = process_spooled_in(site, tx, &[spooled], now, before_commit)?;
        crate::fault::point("before-apply-commit");
        Ok(stored)
    })
}

/// Steps 3–9 for messages spooled in the caller's transaction, under a savepoint: when
/// processing fails or panics, only the savepoint is rolled back, and the caller's commit
/// keeps the messages spooled for the next pass. `Err` only when the savepoint itself
/// cannot be made or kept.
pub fn process_spooled_in<T>(
    site: &Site,
    tx: &mut crate::store::Transaction<'_>,
    spooled: &[Spooled],
    now: DateTime<Utc>,
    before_commit: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<Stored<T>> {
    let mut processing = tx.savepoint()?;
    let attempt = catch_unwind(AssertUnwindSafe(|| process_in(site, &mut processing, waiting(spooled).into_iter().map(|id| (id, None)), now, before_commit)));
    Ok(match attempt {
        Ok(Ok((decided, value))) => {
            processing.commit()?;
            Ok((decided.into_iter().map(|(id, outcome, _)| (id, outcome)).collect(), value))
        }
        Ok(Err(error)) => Err(error),
        Err(panic) => Err(anyhow::anyhow!("reqmail failed while processing ({})", panic_text(&panic))),
    })
}

/// One processed message: its spool id, how it ended, and the record of why.
pub type Handled = (SpoolId, Outcome, Decision);

/// [`process`], with the [`Decision`] record of each message.
pub fn process_decided(site: &Site, store: &mut Store, ids: &[SpoolId], now: DateTime<Utc>) -> anyhow::Result<Vec<Handled>> {
    Ok(process_decided_then(site, store, ids, now, |_| Ok(()))?.0)
}

/// [`process_then`] for messages a source read ahead ([`read_ahead`]) while it still held
/// their bytes, so that parsing is off the writer's thread.
/// A message without one (`None`) is read from the store.
pub fn process_read<T>(
    site: &Site,
    store: &mut Store,
    messages: Vec<(SpoolId, Option<ReadAhead>)>,
    now: DateTime<Utc>,
    before_commit: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<(Vec<(SpoolId, Outcome)>, T)> {
    let (decided, value) = process_each(site, store, messages.into_iter(), now, before_commit)?;
    Ok((decided.into_iter().map(|(id, outcome, _)| (id, outcome)).collect(), value))
}

fn process_decided_then<T>(
    site: &Site,
    store: &mut Store,
    ids: &[SpoolId],
    now: DateTime<Utc>,
    before_commit: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<(Vec<Handled>, T)> {
    process_each(site, store, ids.iter().map(|&id| (id, None)), now, before_commit)
}

/// From this many messages, a batch's letters are built and compressed on a thread beside
/// it, and its decision records compressed there (`notify::finisher`); for fewer,
/// starting the thread costs more than it saves.
const FINISHED_BESIDE_FROM: usize = 16;

/// The batch loop, in one write transaction, its search text indexed once at the end.
/// Messages are first processed one after the other without a savepoint each: a
/// savepoint copies every page the message changes that an earlier message changed before
/// (the tickets' and history's last pages, their indexes). Should a message fail, that
/// pass is rolled back whole and the batch done again with a savepoint per message, so
/// that only the failed one is rolled back and quarantined. SQLite does not check foreign
/// keys meanwhile ([`Store::unchecked`]).
fn process_each<T>(
    site: &Site,
    store: &mut Store,
    messages: impl ExactSizeIterator<Item = (SpoolId, Option<ReadAhead>)>,
    now: DateTime<Utc>,
    before_commit: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<(Vec<Handled>, T)> {
    let messages: Vec<_> = messages.collect();
    let ids: Vec<SpoolId> = messages.iter().map(|(id, _)| *id).collect();
    let (mut beside, _thresholds) = match messages.len() >= FINISHED_BESIDE_FROM {
        true => {
            let compressor = |kind| store::compression::compressor(&store.conn, kind);
            let beside = crate::notify::finisher::Batch::start(compressor("out")?, compressor("decision")?)?;
            (Some(beside), Some(store::compression::hold_thresholds(&store.conn)?))
        }
        false => (None, None),
    };
    let before_commit = |tx: &Connection| {
        if let Some(beside) = beside.take() {
            beside.settle(tx)?;
        }
        before_commit(tx)
    };
    let (decided, value) = store.unchecked(|store| {
        let tx = store.write()?;
        store::search::defer_indexing(&tx)?;
        let unguarded = process_unguarded(site, &tx, messages, now)?;
        let (decided, value, tx) = match unguarded {
            Some(decided) => {
                let value = before_commit(&tx)?;
                (decided, value, tx)
            }
            None => {
                drop(tx);
                crate::notify::finisher::forget_decisions();
                let mut tx = store.write()?;
                store::search::defer_indexing(&tx)?;
                let (decided, value) = process_in(site, &mut tx, ids.into_iter().map(|id| (id, None)), now, before_commit)?;
                (decided, value, tx)
            }
        };
        store::search::index_deferred(&tx)?;
        crate::fault::point("before-apply-commit");
        tx.commit()?;
        Ok((decided, value))
    })?;
    store::cache_for_batches(&store.conn)?;
    Ok((decided, value))
}

/// Steps 3–9 for each message in `tx` without a savepoint each; `None` as soon as one
/// fails (an error that is not the database's, or a panic), leaving `tx` for the caller to
/// roll back. The outcomes are logged only once the whole pass has succeeded.
fn process_unguarded(
    site: &Site,
    tx: &Connection,
    messages: Vec<(SpoolId, Option<ReadAhead>)>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Vec<Handled>>> {
    store::people::sync_configured(tx, &site.rules.configured_addresses(), now)?;
    let mut decided = Vec::with_capacity(messages.len());
    for (id, ahead) in messages {
        let span = tracing::info_span!("message", spool = id.0);
        let _entered = span.enter();
        let mut decision = Decision::default();
        let outcome = match attempt(site, tx, id, ahead, now, &mut decision) {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(error)) if store::is_transient(&error) => return Err(error.context(format!("message {id} stays spooled"))),
            Ok(Err(_)) | Err(_) => {
                tracing::debug!(spool = id.0, "failed; the batch is processed again with a savepoint per message");
                return Ok(None);
            }
        };
        record(tx, id, outcome, decision, &mut decided)?;
    }
    for (id, outcome, _) in &decided {
        log_outcome(*id, outcome);
    }
    Ok(Some(decided))
}

/// Processes one message in `conn`, a panic caught.
fn attempt(site: &Site, conn: &Connection, id: SpoolId, ahead: Option<ReadAhead>, now: DateTime<Utc>, decision: &mut Decision) -> std::thread::Result<anyhow::Result<Outcome>> {
    catch_unwind(AssertUnwindSafe(|| process_one(site, conn, id, ahead, now, decision)))
}

/// Keeps how message `id` ended: its decision record in the store, and in `decided`.
fn record(conn: &Connection, id: SpoolId, outcome: Outcome, mut decision: Decision, decided: &mut Vec<Handled>) -> anyhow::Result<()> {
    settle(&mut decision, &outcome);
    // A duplicate's row belongs to the delivery that processed it, record and all.
    if outcome != Outcome::Duplicate {
        let compact = serde_json::to_string(&decision).expect("a decision is plain data");
        match crate::notify::finisher::active() {
            true => crate::notify::finisher::hand_over_decision(id.0, compact),
            false => store::messages::record_decision(conn, id, &compact)?,
        }
    }
    decided.push((id, outcome, decision));
    Ok(())
}

/// A transaction, or a savepoint in one, where each message gets a savepoint of its own.
trait Nest: std::ops::Deref<Target = Connection> {
    fn nest(&mut self) -> crate::store::Result<crate::store::Savepoint<'_>>;
}

impl Nest for crate::store::Transaction<'_> {
    fn nest(&mut self) -> crate::store::Result<crate::store::Savepoint<'_>> {
        self.savepoint()
    }
}

impl Nest for crate::store::Savepoint<'_> {
    fn nest(&mut self) -> crate::store::Result<crate::store::Savepoint<'_>> {
        self.savepoint()
    }
}

/// Steps 3–9 for each message, in the caller's write transaction, which the caller
/// commits.
fn process_in<T>(
    site: &Site,
    tx: &mut impl Nest,
    messages: impl ExactSizeIterator<Item = (SpoolId, Option<ReadAhead>)>,
    now: DateTime<Utc>,
    before_commit: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<(Vec<Handled>, T)> {
    store::people::sync_configured(tx, &site.rules.configured_addresses(), now)?;
    let mut decided = Vec::with_capacity(messages.len());
    for (id, ahead) in messages {
        let span = tracing::info_span!("message", spool = id.0);
        let _entered = span.enter();
        let savepoint = tx.nest()?;
        let mut decision = Decision::default();
        let outcome = match attempt(site, &savepoint, id, ahead, now, &mut decision) {
            Ok(Ok(outcome)) => {
                savepoint.commit()?;
                outcome
            }
            Ok(Err(error)) if store::is_transient(&error) => return Err(error.context(format!("message {id} stays spooled"))),
            Ok(Err(error)) => {
                drop(savepoint);
                decision = Decision::default();
                quarantine(tx, id, &format!("cannot be applied: {error:#}"), now)?
            }
            Err(panic) => {
                drop(savepoint);
                decision = Decision::default();
                quarantine(tx, id, &failed_on_it(&panic_text(&panic)), now)?
            }
        };
        log_outcome(id, &outcome);
        record(tx, id, outcome, decision, &mut decided)?;
    }
    let value = before_commit(tx)?;
    Ok((decided, value))
}

/// Writes how the message ended into its record.
fn settle(decision: &mut Decision, outcome: &Outcome) {
    let (state, reason) = match outcome {
        Outcome::Applied { ticket, created } => {
            if decision.ticket.is_none() {
                decision.ticket = Some(TicketRecord { number: ticket.0, created: *created, matched_by: None, follow_up_of: None });
            }
            ("applied", None)
        }
        Outcome::Quarantined { reason } => ("quarantined", Some(reason.clone())),
        Outcome::Ignored { reason } => ("ignored", Some(reason.clone())),
        Outcome::Duplicate => ("duplicate", None),
    };
    decision.outcome = state.to_string();
    decision.reason = reason;
}

fn class_text(class: &Class) -> String {
    match class {
        Class::Person => "person".to_string(),
        Class::Machine { kind, reason } => format!("machine ({kind:?}): {reason}"),
        Class::Ours { reason } => format!("ours: {reason}"),
    }
}

fn sender_record(sender: &sender::Sender) -> SenderRecord {
    let (trust, why) = match &sender.trust {
        sender::Trust::Authentic { by } => ("authentic", by.clone()),
        sender::Trust::Unverified { reason } => ("unverified", reason.clone()),
    };
    SenderRecord {
        address: sender.address.clone(),
        role: sender.role.to_string(),
        trust: trust.to_string(),
        trust_why: why,
        forwarded_by: None,
    }
}

/// What a plan carries into the record before it is applied.
fn record_plan(decision: &mut Decision, plan: &plan::Plan) {
    decision.rules = plan
        .rule_log
        .iter()
        .map(|(rule, line)| format!("{rule}: {line}"))
        .chain(plan.rule_changes.iter().map(|(rule, change)| format!("{rule}: {}", change.describe())))
        .chain(plan.rule_notes.iter().map(|(rule, note)| format!("{rule}: note {note:?}")))
        .chain(plan.rule_templates.iter().map(|template| format!("template {template}")))
        .collect();
    decision.applied = plan.changes.iter().map(plan::Change::describe).collect();
    decision.refused = plan
        .refusals
        .iter()
        .map(|refusal| RefusedField { field: refusal.field.clone(), value: refusal.value.clone(), reason: refusal.reason.clone() })
        .collect();
}

/// Processes what earlier runs stored but did not process (a crash, a full disk).
pub fn resume(site: &Site, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut resumed = 0;
    loop {
        let pending = store::messages::pending(&store.conn, 500)?;
        if pending.is_empty() {
            return Ok(resumed);
        }
        resumed += process(site, store, &pending, now)?.len();
    }
}

/// Steps 3–9 for one spooled message, in the caller's savepoint.
fn process_one(site: &Site, conn: &Connection, id: SpoolId, ahead: Option<ReadAhead>, now: DateTime<Utc>, decision: &mut Decision) -> anyhow::Result<Outcome> {
    let (mail, note) = match read(site, conn, id, ahead, now, decision)? {
        Some(Continue(read)) => read,
        Some(Break(outcome)) => return Ok(outcome),
        // Another process got there first (two deliveries of one message at once).
        None => return Ok(Outcome::Duplicate),
    };
    // A peer site's transfer is signed machine mail: it skips classify and identify.
    let transferred = match crate::transfer::receive(site, conn, id, &mail, now)? {
        Received::NotATransfer => None,
        Received::Applied { ticket, created } => Some(Outcome::Applied { ticket, created }),
        Received::Refused(reason) => Some(quarantine(conn, id, &reason, now)?),
    };
    if let Some(outcome) = transferred {
        decision.class = Some("site transfer".to_string());
        return Ok(outcome);
    }
    let class = match classify_mail(site, conn, id, &mail, now, decision)? {
        Continue(class) => class,
        Break(outcome) => return Ok(outcome),
    };
    let (matched, sender) = match identify(site, conn, id, &mail, &class, now, decision)? {
        Continue(identified) => identified,
        Break(outcome) => return Ok(outcome),
    };
    if let Some(asked) = by_mail::asked(site, &mail) {
        if let Some(outcome) = answer_request(site, conn, id, &mail, &class, &sender, &asked, now, decision)? {
            return Ok(outcome);
        }
    }
    let mut note = Some(note);
    let (mail, sender, forwarder) = match matched {
        TicketMatch::New => attribute_forward(site, conn, mail, &mut note, sender)?,
        TicketMatch::Existing { .. } => (mail, sender, None),
    };
    if let Some(forwarder) = &forwarder {
        decision.sender = Some(SenderRecord { forwarded_by: Some(forwarder.address.clone()), ..sender_record(&sender) });
    }
    plan_and_apply(site, conn, id, (mail, note), &class, matched, sender, forwarder, now, decision)
}

/// What an agent writes on a line of its own above a forwarded message to keep the new
/// ticket theirs.
const KEEP_FORWARD_AS_MINE: &str = "@nofwd";

/// A mail an agent forwards to open a ticket is the request of whoever wrote it: the
/// ticket is theirs, their words are its first note, and the agent's words above the
/// forwarded message are the agent's internal note. Only an authentic agent or admin can
/// do this, and only with a forward (a forward prefix in the subject, or a body that says
/// "forwarded message"); `@nofwd` on a line of the agent's own keeps the ticket theirs.
/// Where the text changes, its `note` worked out ahead is dropped.
fn attribute_forward(
    site: &Site,
    conn: &Connection,
    mut mail: Mail,
    note: &mut Option<String>,
    sender: sender::Sender,
) -> crate::store::Result<(Mail, sender::Sender, Option<plan::Forwarder>)> {
    // Checked before the body is read: most new tickets come from customers.
    if !matches!(sender.role, Role::Agent | Role::Admin) || !sender.trust.is_authentic() {
        return Ok((mail, sender, None));
    }
    let Some(forwarded) = crate::interpret::forward::read(&mail.text) else { return Ok((mail, sender, None)) };
    if !forwarded.says_forwarded && !subject::is_forward(&mail.subject) {
        return Ok((mail, sender, None));
    }
    let is_opt_out = |line: &str| line.trim().eq_ignore_ascii_case(KEEP_FORWARD_AS_MINE);
    if forwarded.forwarder_text.lines().any(is_opt_out) {
        mail.text = mail.text.lines().filter(|line| !is_opt_out(line)).collect::<Vec<_>>().join("\n");
        *note = None;
        return Ok((mail, sender, None));
    }
    let Some(author) = &forwarded.from else { return Ok((mail, sender, None)) };
    if site.is_our_address(&author.address) || store::people::addresses_of(conn, &sender.address)?.iter().any(|own| own.eq_ignore_ascii_case(&author.address)) {
        return Ok((mail, sender, None));
    }
    let original_sender = site.forwarded_sender(conn, author, &sender)?;
    mail.subject = forwarded.subject.unwrap_or_else(|| subject::strip_prefixes(&mail.subject).to_string());
    mail.text = forwarded.text;
    *note = None;
    Ok((mail, original_sender, Some(plan::Forwarder { address: sender.address, note: forwarded.forwarder_text })))
}

/// A request for reports, lists or searches by mail opens no ticket: an agent gets the
/// answer, anyone else writing to the request address a refusal (machines nothing).
/// `None` for a subject command from someone who may not ask: an ordinary request.
#[allow(clippy::too_many_arguments)]
fn answer_request(
    site: &Site,
    conn: &Connection,
    id: SpoolId,
    mail: &Mail,
    class: &Class,
    sender: &sender::Sender,
    asked: &by_mail::Asked,
    now: DateTime<Utc>,
    decision: &mut Decision,
) -> anyhow::Result<Option<Outcome>> {
    let answered = if !class.may_be_answered() {
        if !asked.to_request_address {
            return Ok(None);
        }
        let reason = format!("machine mail ({}) to the request address", class_text(class));
        return ignore(conn, id, mail, &reason).map(Some);
    } else if by_mail::may_ask(sender) {
        by_mail::answer(conn, site, mail, sender, asked, id, now)?
    } else if asked.to_request_address {
        by_mail::refuse(conn, site, sender, id, now)?
    } else {
        return Ok(None);
    };
    decision.letters.extend(answered.letters);
    ignore(conn, id, mail, &answered.reason).map(Some)
}

/// Step 3 without the database: the bytes as [`Mail`] within the size limits, or why not.
/// Pure, so that a source may run it on another thread while the writer is busy
/// ([`process_read`]); a panic in it is caught and becomes that message's quarantine.
pub fn read_ahead(site: &Site, raw: &[u8]) -> ReadAhead {
    let attempt = catch_unwind(AssertUnwindSafe(|| {
        let limit = site.config.inbound.max_message_bytes;
        if raw.len() > limit {
            return Err(Unreadable::TooLarge(format!("message of {} bytes is larger than inbound.max_message_bytes = {limit}", raw.len())));
        }
        match parse(raw, &site.config.limits) {
            Ok(mail) => {
                let note = visible_note(split_field_block(&mail.text).1);
                Ok((mail, note))
            }
            Err(error @ ParseError::OverLimit(_)) => Err(Unreadable::TooLarge(format!("too large to process: {error}"))),
            Err(error) => Err(Unreadable::Broken(error.to_string())),
        }
    }));
    ReadAhead(attempt.unwrap_or_else(|panic| Err(Unreadable::Failed(panic_text(&panic)))), None)
}

/// Compresses the message's note for its history entry ahead, with the note dictionary's
/// `compressor`, on the source's reading thread.
pub fn compress_note_ahead(ahead: &mut ReadAhead, compressor: &Compressor) {
    if let Ok((_, note)) = &ahead.0 {
        ahead.1 = compressor.compress_note(note);
    }
}

/// For a message that reads as a new request (no reply headers, no ticket number in the
/// subject), finds the resolved tickets its receipt would suggest, on the reader's own
/// connection ([`crate::knowledge::Knowledge::look_ahead`]); a miss costs nothing but the
/// look, as the receipt then looks itself.
pub fn look_ahead_suggestions(site: &Site, conn: &Connection, ahead: &ReadAhead) {
    let Ok((mail, note)) = &ahead.0 else { return };
    let tag = &site.threading.tag;
    if !mail.in_reply_to.is_empty() || !mail.references.is_empty() || tag.find(&mail.subject).is_some() {
        return;
    }
    let subject = plan::new_ticket_subject(tag, &split_subject_fields(&mail.subject).1);
    if let Err(error) = site.knowledge.look_ahead(conn, &subject, note) {
        tracing::debug!("suggestions left to the receipt: {error:#}");
    }
}

/// A message parsed before its write transaction (see [`read_ahead`]), with the note of
/// its text, which needs no database either, and that note compressed when a source did
/// that ahead too ([`compress_note_ahead`]).
#[derive(Debug)]
pub struct ReadAhead(Result<(Mail, String), Unreadable>, Option<Vec<u8>>);

/// Why the bytes of a message give no [`Mail`]; each ends in quarantine.
#[derive(Debug)]
enum Unreadable {
    /// Over a size limit: the sender (a person) hears so.
    TooLarge(String),
    /// Not mail, or MIME too broken to read.
    Broken(String),
    /// reqmail itself failed on it.
    Failed(String),
}

/// Step 3: the spooled message as [`Mail`] (parsed here, or ahead by the source that
/// still holds its bytes), with what the source knew (envelope recipient, queue);
/// `Ok(None)` when it is no longer waiting.
fn read(
    site: &Site,
    conn: &Connection,
    id: SpoolId,
    ahead: Option<ReadAhead>,
    now: DateTime<Utc>,
    decision: &mut Decision,
) -> anyhow::Result<Option<ControlFlow<Outcome, (Mail, String)>>> {
    let (facts, ReadAhead(read, note_compressed), raw) = match ahead {
        Some(ahead) => match store::messages::unprocessed(conn, id)? {
            Some(facts) => (facts, ahead, None),
            None => return Ok(None),
        },
        None => match store::messages::waiting(conn, id)? {
            Some(waiting) => {
                let ahead = read_ahead(site, &waiting.raw);
                (SourceFacts { recipient: waiting.recipient, queue: waiting.queue }, ahead, Some(waiting.raw))
            }
            None => return Ok(None),
        },
    };
    let (mut mail, note) = match read {
        Ok(read) => read,
        Err(Unreadable::TooLarge(reason)) => {
            // Rare: the bytes are read again only to see whom to tell.
            let raw = match raw {
                Some(raw) => raw,
                None => store::messages::raw(conn, id)?.unwrap_or_default(),
            };
            return quarantine_too_large(conn, site, id, &raw, &reason, now, decision).map(|outcome| Some(Break(outcome)));
        }
        Err(Unreadable::Broken(reason)) => return quarantine(conn, id, &reason, now).map(|outcome| Some(Break(outcome))),
        Err(Unreadable::Failed(what)) => return quarantine(conn, id, &failed_on_it(&what), now).map(|outcome| Some(Break(outcome))),
    };
    if let Some(compressed) = note_compressed {
        store::compression::note_compressed_ahead(&note, compressed);
    }
    if !mail.removed_internal.is_empty() {
        tracing::info!(spool = id.0, removed = ?mail.removed_internal, "removed inbound header fields that only reqmail may write");
    }
    if let Some(recipient) = facts.recipient {
        if !mail.recipients.contains(&recipient) {
            mail.recipients.insert(0, recipient);
        }
    }
    mail.queue_hint = facts.queue;
    Ok(Some(Continue((mail, note))))
}

/// Step 4: a person or a machine; our own mail is ignored, a delivery report about a
/// letter of ours is recorded on its ticket.
fn classify_mail(site: &Site, conn: &Connection, id: SpoolId, mail: &Mail, now: DateTime<Utc>, decision: &mut Decision) -> anyhow::Result<ControlFlow<Outcome, Class>> {
    let (help_local, help_domain) = site.config.help_address_parts();
    let class = match classify(mail, help_local, help_domain, &site.config.limits) {
        // Many monitoring tools send plain mail without Auto-Submitted; a configured
        // monitor is a machine all the same, and is never answered like a person.
        Class::Person => match site.monitors.sender_monitor(mail) {
            Some(monitor) => Class::Machine { kind: MachineKind::Generated, reason: format!("from monitor {monitor:?}") },
            None => Class::Person,
        },
        class => class,
    };
    decision.class = Some(class_text(&class));
    if let Class::Ours { reason } = &class {
        return ignore(conn, id, mail, reason).map(Break);
    }
    if let Class::Machine { kind: MachineKind::Bounce, reason } = &class {
        if let Some(outcome) = record_bounce(conn, site, id, mail, reason, now)? {
            return Ok(Break(outcome));
        }
    }
    Ok(Continue(class))
}

/// Step 5: the ticket the message continues and who sent it; machine mail for no
/// ticket, mail without a usable sender and rejected unknown senders end here.
fn identify(
    site: &Site,
    conn: &Connection,
    id: SpoolId,
    mail: &Mail,
    class: &Class,
    now: DateTime<Utc>,
    decision: &mut Decision,
) -> anyhow::Result<ControlFlow<Outcome, (TicketMatch, sender::Sender)>> {
    let matched = site.monitors.thread(conn, mail, site.threading.thread(conn, mail)?)?;
    if matched == TicketMatch::New && !class.may_open_ticket() {
        let reason = match class {
            Class::Machine { reason, .. } => format!("machine mail ({reason}) for no known ticket"),
            _ => "not a request".to_string(),
        };
        return ignore(conn, id, mail, &reason).map(Break);
    }
    let Some(sender) = site.identify_sender(conn, mail)? else {
        if let Class::Machine { reason, .. } = class {
            return ignore(conn, id, mail, &format!("machine mail ({reason}) without a usable From address")).map(Break);
        }
        return quarantine(conn, id, "no usable From address: cannot tell who sent it or where to answer", now).map(Break);
    };
    decision.sender = Some(sender_record(&sender));
    if sender.person.is_none()
        && site.config.identify.unknown_senders == UnknownSenders::Reject
        && site.rules.configured_person(&sender.address).is_none()
    {
        if class.may_be_answered() {
            let notice = SenderNotice { recipient: &sender.address, template: "rejected", once_key: "rejected", reason: "unknown sender", cause: id };
            decision.letters.extend(apply::notice_without_ticket(conn, site, &notice, now)?);
        }
        let reason = format!("unknown sender {} rejected (identify.unknown_senders = \"reject\")", sender.address);
        return ignore(conn, id, mail, &reason).map(Break);
    }
    Ok(Continue((matched, sender)))
}

/// Steps 6–9: routing, the plan (which interprets the message) and applying it.
#[allow(clippy::too_many_arguments)]
fn plan_and_apply(
    site: &Site,
    conn: &Connection,
    id: SpoolId,
    (mut mail, note): (Mail, Option<String>),
    class: &Class,
    matched: TicketMatch,
    sender: sender::Sender,
    forwarded_by: Option<plan::Forwarder>,
    now: DateTime<Utc>,
    decision: &mut Decision,
) -> anyhow::Result<Outcome> {
    let mut current = match matched {
        TicketMatch::Existing { ticket, .. } => store::tickets::get(conn, ticket)?,
        TicketMatch::New => None,
    };
    // A reply long after closing is a new request that follows up the old one.
    let mut follow_up_of = None;
    if let Some(ticket) = current.as_ref().filter(|ticket| ticket.status == crate::ticket::Status::Closed) {
        let window = site.rules.follow_up(&ticket.queue);
        let rating = crate::interpret::approval::read_rating(&mail.text).is_some();
        if ticket.closed_at.is_some_and(|closed| now > closed + window) && class.may_open_ticket() && !rating {
            follow_up_of = Some(ticket.number);
            current = None;
        }
    }
    let matched_by = match matched {
        TicketMatch::Existing { by, .. } => Some(by.as_str()),
        TicketMatch::New => None,
    };
    let to_comment_address = site.config.mail.comment_address.as_deref().is_some_and(|comment| {
        let comment = comment.to_lowercase();
        mail.recipients.contains(&comment)
    });
    if mail.queue_hint.is_none() {
        let (help_local, help_domain) = site.config.help_address_parts();
        mail.queue_hint = site.rules.queue_for_recipients(&mail.recipients, help_local, help_domain);
    }
    let routing = if class.may_be_answered() || class.may_open_ticket() {
        match route::route(conn, &site.rules, &mail, &sender, current.as_ref(), mail.queue_hint.as_deref(), now)? {
            Ok(routing) => routing,
            Err(rule) => return ignore(conn, id, &mail, &format!("junk, says rule {rule:?}")),
        }
    } else {
        Routing::default()
    };
    let replied_to = mail.in_reply_to.iter().chain(mail.references.iter().rev()).cloned().collect();
    let copied = mail.copied.iter().filter(|address| !site.is_our_address(address)).cloned().collect();
    let alert = site.monitors.recognise(&mail);
    let inbound = plan::Inbound {
        replied_to,
        message: Some(id),
        message_id: mail.message_id,
        subject: mail.subject,
        text: mail.text,
        attachments: mail.attachments,
        to_comment_address,
        queue_hint: mail.queue_hint,
        forwarded_by,
        copied,
        note,
    };
    let plan = plan::plan(plan::PlanInput {
        rules: &site.rules,
        tag: &site.threading.tag,
        lookup: &plan::StoreLookup { conn, rules: &site.rules, now },
        inbound,
        class,
        sender,
        current: current.as_ref(),
        matched_by: if follow_up_of.is_some() { None } else { matched_by },
        follow_up_of,
        routing,
        now,
    })?;
    let created = matches!(plan.ticket, plan::TicketChange::Create { .. });
    record_plan(decision, &plan);
    let applied = apply::apply(conn, site, &plan, now)?;
    if let Some(alert) = alert.filter(|_| created) {
        store::monitors::link(conn, applied.ticket, &alert)?;
    }
    decision.ticket = Some(TicketRecord {
        number: applied.ticket.0,
        created,
        matched_by: plan.matched_by.map(str::to_string),
        follow_up_of: plan.follow_up_of.map(|ticket| ticket.0),
    });
    decision.changes = applied.changes;
    decision.letters = applied.letters;
    decision.withheld = applied.withheld;
    Ok(Outcome::Applied { ticket: applied.ticket, created })
}

/// Matches a delivery report to the letter of ours it returns and records it on that
/// letter's ticket; `None` when it names no returned message (threading decides then).
fn record_bounce(conn: &Connection, site: &Site, id: SpoolId, mail: &Mail, why: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Outcome>> {
    let (_, help_domain) = site.config.help_address_parts();
    let report = bounce::read(mail, help_domain);
    if report.returned_ids.is_empty() {
        return Ok(None);
    }
    let mut found = None;
    for returned in &report.returned_ids {
        if let Some(outgoing) = store::undeliverable::find_outgoing(conn, returned)? {
            found = Some((returned.clone(), outgoing));
            break;
        }
    }
    let Some((returned, (ticket, recipient))) = found else {
        let reason = format!("a bounce ({why}) for mail we never sent: <{}> is not ours", report.returned_ids[0]);
        return ignore(conn, id, mail, &reason).map(Some);
    };
    let status = report.status.as_deref().unwrap_or("no status code");
    let diagnostic = report.diagnostic.as_deref().map(|text| format!(": {text}")).unwrap_or_default();
    let (action, detail) = match report.severity {
        bounce::Severity::Failed => {
            let days = site.config.limits.undeliverable_days;
            let until = now + chrono::Duration::days(i64::from(days));
            let reason = format!("permanent failure {status}{diagnostic}");
            store::undeliverable::mark(conn, &recipient, until, &reason, ticket, now)?;
            let until = crate::clock::format_time(until);
            ("bounce", format!("mail to {recipient} failed permanently ({status}{diagnostic}); no mail to it until {until}"))
        }
        bounce::Severity::Delayed => ("bounce-delay", format!("mail to {recipient} is delayed ({status}{diagnostic}); the mail system keeps trying")),
        bounce::Severity::Delivered => ("delivery-report", format!("mail to {recipient} was delivered ({status})")),
    };
    let outcome_text = format!("{action}: {detail} (returned <{returned}>)");
    if let Some(ticket) = ticket {
        store::tickets::add_history(conn, ticket, now, "reqmail", action, &detail, Some(id))?;
    }
    let decided = Decided {
        state: if ticket.is_some() { "applied" } else { "ignored" },
        ticket,
        message_id: mail.message_id.as_deref(),
        from_address: mail.from.as_ref().map(|from| from.address.as_str()),
        subject: Some(&mail.subject),
        outcome: &outcome_text,
    };
    store::messages::decide(conn, id, &decided)?;
    Ok(Some(match ticket {
        Some(ticket) => Outcome::Applied { ticket, created: false },
        None => Outcome::Ignored { reason: outcome_text },
    }))
}

/// Quarantines an over-limit message and tells a human sender once a day, politely;
/// what its headers show is read without parsing the whole message.
fn quarantine_too_large(
    conn: &Connection,
    site: &Site,
    id: SpoolId,
    raw: &[u8],
    reason: &str,
    now: DateTime<Utc>,
    decision: &mut Decision,
) -> anyhow::Result<Outcome> {
    use crate::parse::scan_header;
    let outcome = quarantine(conn, id, reason, now)?;
    let from = scan_header(raw, "from").and_then(|from| crate::parse::bare_address(&from));
    let null_sender = scan_header(raw, "return-path").is_some_and(|path| path.trim() == "<>");
    let automatic = scan_header(raw, "auto-submitted").is_some_and(|value| !value.trim().eq_ignore_ascii_case("no"))
        || scan_header(raw, "precedence").is_some_and(|value| matches!(value.trim().to_lowercase().as_str(), "bulk" | "junk" | "list"))
        || scan_header(raw, "list-id").is_some();
    if let Some(from) = from.filter(|_| !null_sender && !automatic) {
        let (help_local, help_domain) = site.config.help_address_parts();
        let ours = from.ends_with(&format!("@{}", help_domain.to_lowercase())) && from.starts_with(&help_local.to_lowercase());
        let mail_system = from.starts_with("mailer-daemon@") || from.starts_with("postmaster@");
        if !ours && !mail_system {
            let once = format!("too-large:{}", now.date_naive());
            let notice = SenderNotice { recipient: &from, template: "too_large", once_key: &once, reason, cause: id };
            decision.letters.extend(apply::notice_without_ticket(conn, site, &notice, now)?);
        }
    }
    Ok(outcome)
}

/// Puts message `id` into quarantine with `reason`.
pub fn quarantine(conn: &Connection, id: SpoolId, reason: &str, now: DateTime<Utc>) -> anyhow::Result<Outcome> {
    store::quarantine::put(conn, id, reason, now)?;
    Ok(Outcome::Quarantined { reason: reason.to_string() })
}

fn ignore(conn: &Connection, id: SpoolId, mail: &Mail, reason: &str) -> anyhow::Result<Outcome> {
    let decided = Decided {
        state: "ignored",
        ticket: None,
        message_id: mail.message_id.as_deref(),
        from_address: mail.from.as_ref().map(|from| from.address.as_str()),
        subject: Some(&mail.subject),
        outcome: reason,
    };
    store::messages::decide(conn, id, &decided)?;
    Ok(Outcome::Ignored { reason: reason.to_string() })
}

/// The quarantine reason of a message that reqmail itself failed on.
fn failed_on_it(what: &str) -> String {
    format!("reqmail failed on this message ({what}); it is kept unchanged")
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

    #[test]
    fn the_key_is_the_message_id_and_the_body() {
        let message = b"Message-ID: <a@b>\r\nSubject: s\r\n\r\nbody\r\n";
        let relayed = b"Received: from relay\r\nDelivered-To: x@y\r\nMessage-ID: <a@b>\r\nSubject: s\r\n\r\nbody\r\n";
        assert_eq!(dedupe_key(message), dedupe_key(relayed), "trace headers are not the message");
        let other = b"Message-ID: <a@b>\r\nSubject: s\r\n\r\nanother body\r\n";
        assert_ne!(dedupe_key(message), dedupe_key(other), "a reused Message-ID is another message");
        // However odd the Message-ID, the stored key is a fixed-size digest that begins
        // with the Message-ID's, and a key without one never sorts among those.
        let long = format!("Message-ID: <{}@x>\r\n\r\nb", "~".repeat(900));
        for raw in [&message[..], b"Message-ID: <~ body:~@x>\r\n\r\nb", b"Message-ID: <id: body:@x>\r\n\r\nb", long.as_bytes(), b"\xff\xfe\0"] {
            let stored = store::messages::stored_key(&dedupe_key(raw));
            assert!(stored.len() <= 33 && stored.is_ascii(), "{stored}");
            let with_id = scan_message_id(raw).is_some();
            assert_eq!(stored.starts_with(&store::messages::message_id_keys(&scan_message_id(raw).unwrap_or_default()).0), with_id, "{stored}");
            assert_eq!(stored.starts_with('~'), with_id, "{stored}");
        }
        assert_eq!(body_of(b"A: b\n\nx"), b"x");
        assert_eq!(body_of(b"A: b\r\rx"), b"x");
        assert_eq!(body_of(b"no separator"), b"no separator");
        assert_eq!(body_of(b"A: b\r\n\r\nx\n\ny"), b"x\n\ny", "the first blank line ends the header");
        assert_eq!(body_of(b"A: b\r\r\n\r\nx"), b"\n\r\nx", "an old Mac line end before a CRLF one");
        assert_eq!(body_of(b"A: b\n\r\n\r\nx"), b"x");
    }

    #[test]
    fn only_a_readable_messages_note_is_compressed_ahead() {
        let site = Site::compile(crate::config::Config::default()).unwrap();
        let store = Store::open_in_memory(&Default::default()).unwrap();
        let text = |index: usize| format!("The printer on floor {index} jams again when it prints on both sides.\nRegards, Ann");
        let samples: Vec<Vec<u8>> = (0..300).map(|index| text(index).into_bytes()).collect();
        store::compression::add_dictionary(&store.conn, "note", &zstd::dict::from_samples(&samples, 2048).unwrap());
        let notes = store::compression::compressor(&store.conn, "note").unwrap();
        let hostile: [&[u8]; 4] = [b"", b"\x00\xff\xfe garbage without a header", b"Subject: \xff\r\n\r\n", &[0xc3; 4096]];
        for raw in hostile {
            let mut ahead = read_ahead(&site, raw);
            compress_note_ahead(&mut ahead, &notes);
            if ahead.0.is_err() {
                assert_eq!(ahead.1, None, "{raw:?}");
            }
        }
        let mail = format!("From: ann@example.org\r\nTo: help@example.com\r\nSubject: Printer\r\nMessage-ID: <p@example.org>\r\n\r\n{}\r\n", text(7));
        let mut ahead = read_ahead(&site, mail.as_bytes());
        compress_note_ahead(&mut ahead, &notes);
        let (note, compressed) = match ahead {
            ReadAhead(Ok((_, note)), Some(compressed)) => (note, compressed),
            other => panic!("not compressed ahead: {other:?}"),
        };
        assert_eq!(store::compression::decompress(&store.conn, &compressed, 0).unwrap(), note.as_bytes());
    }
}
