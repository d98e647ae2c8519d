//! Delivery of due outbox rows, after the change that wrote them has committed.
//!
//! A transient failure reschedules the row with exponential backoff; a permanent one,
//! or too many attempts, marks it failed and writes that on the ticket's history.
//! The row is marked only after the hand-over, so a crash in between sends the mail
//! again on the next pass (at least once, never lost; the Maildir transport recognises
//! a letter it already wrote). Gateways sharing one database claim rows under their own
//! name (`store::outbox::this_gateway`) for `LEASE_MINUTES`: a claim of a gateway that
//! died lapses and another takes the row over.

use chrono::{DateTime, Duration, Utc};

use std::sync::mpsc;

use super::Transport;
use crate::config::{OutboundConfig, StoreConfig};
use crate::store::outbox::{Claimed, Letter};
use crate::store::{self, Connection, Store};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    pub deferred: usize,
    pub failed: usize,
}

impl DeliveryReport {
    pub fn add(&mut self, other: &DeliveryReport) {
        self.sent += other.sent;
        self.deferred += other.deferred;
        self.failed += other.failed;
    }
}

/// Rows claimed at a time; a pass goes on until nothing is due.
const BATCH: i64 = 500;
/// How long a claim keeps other deliverers away; a crash makes the rows due again after it.
const LEASE_MINUTES: i64 = 15;

/// Delivers every row due at `now`, a batch at a time.
pub fn deliver_due(
    store: &Store,
    transport: &mut dyn Transport,
    config: &OutboundConfig,
    now: DateTime<Utc>,
) -> anyhow::Result<DeliveryReport> {
    deliver_batches(store, transport, config, now, claim(&store.conn, now)?)
}

/// Claims the next batch of rows due at `now`, in the caller's transaction: a process
/// that has just queued letters claims them in the same commit.
pub fn claim(conn: &crate::store::Connection, now: DateTime<Utc>) -> crate::store::Result<Vec<Letter>> {
    store::outbox::claim_due(conn, now, now + Duration::minutes(LEASE_MINUTES), BATCH)
}

/// Delivers the rows [`claim`] returned through the configured transport; when that
/// cannot even be set up, the rows are given back at once instead of waiting out
/// their lease.
pub fn deliver_claimed(store: &Store, config: &OutboundConfig, now: DateTime<Utc>, due: Vec<Letter>) -> anyhow::Result<DeliveryReport> {
    match super::from_config(config) {
        Ok(mut transport) => deliver_batches(store, transport.as_mut(), config, now, due),
        Err(error) => {
            let ids: Vec<i64> = due.iter().map(|row| row.id).collect();
            if let Err(release) = store::outbox::release(&store.conn, &ids, now) {
                tracing::warn!("claimed letters stay claimed until their lease ends: {release}");
            }
            Err(error)
        }
    }
}

/// Delivers `due`, then what else is due if that was a whole batch (a batch that was not
/// full left nothing due behind it).
fn deliver_batches(
    store: &Store,
    transport: &mut dyn Transport,
    config: &OutboundConfig,
    now: DateTime<Utc>,
    mut due: Vec<Letter>,
) -> anyhow::Result<DeliveryReport> {
    let mut report = DeliveryReport::default();
    while !due.is_empty() {
        deliver_batch(store, transport, config, now, &due, &mut report)?;
        due = if due.len() as i64 == BATCH { claim(&store.conn, now)? } else { Vec::new() };
    }
    Ok(report)
}

fn deliver_batch(
    store: &Store,
    transport: &mut dyn Transport,
    config: &OutboundConfig,
    now: DateTime<Utc>,
    due: &[Letter],
    report: &mut DeliveryReport,
) -> anyhow::Result<()> {
    // Hand everything over first, then record the results in one short commit: no
    // lock is held while the network (or the disk) is slow.
    let results = hand_over(&store.conn, transport, now, due)?;
    let tx = store.conn.unchecked_write()?;
    record(&tx, config, now, due, results, report)?;
    tx.commit()?;
    Ok(())
}

/// Hands `due` to the transport, but for recipients whose mail bounced for good.
fn hand_over(conn: &Connection, transport: &mut dyn Transport, now: DateTime<Utc>, due: &[Letter]) -> anyhow::Result<Vec<Outcome>> {
    let mut blocked = Vec::with_capacity(due.len());
    for row in due {
        blocked.push(store::undeliverable::blocked_until(conn, &row.recipient, now)?);
    }
    let to_send: Vec<&Letter> = due.iter().zip(&blocked).filter(|(_, blocked)| blocked.is_none()).map(|(row, _)| row).collect();
    let mut handed = transport.send_all(&to_send).into_iter();
    if handed.as_slice().iter().any(Result::is_ok) {
        crate::fault::point("after-send");
    }
    Ok(blocked
        .into_iter()
        .map(|blocked| match blocked {
            Some(until) => Outcome::Blocked(until),
            None => Outcome::Handed(handed.next().unwrap_or_else(|| Err(super::TransportError::transient("no result from the transport")))),
        })
        .collect())
}

/// Records in `tx` what became of each of `due`.
fn record(tx: &Connection, config: &OutboundConfig, now: DateTime<Utc>, due: &[Letter], results: Vec<Outcome>, report: &mut DeliveryReport) -> anyhow::Result<()> {
    for (row, result) in due.iter().zip(results) {
        match result {
            // A permanent bounce since the letter was queued: do not send, say so on the ticket.
            Outcome::Blocked(until) => {
                let detail = format!("mail to {} not sent: it bounced permanently; undeliverable until {until}", row.recipient);
                if !store::outbox::give_up(tx, row.id, &detail)? {
                    taken_over(row);
                    continue;
                }
                if let Some(ticket) = row.ticket {
                    store::tickets::add_history(tx, ticket, now, "reqmail", "mail-skipped", &detail, None)?;
                }
                report.failed += 1;
            }
            Outcome::Handed(Ok(())) => {
                if !store::outbox::mark_sent(tx, row.id, now)? {
                    taken_over(row);
                    continue;
                }
                report.sent += 1;
            }
            Outcome::Handed(Err(error)) if !error.permanent && row.attempts + 1 < config.max_attempts => {
                let delay = backoff(config, row.attempts);
                tracing::warn!(outbox = row.id, recipient = row.recipient, %error, "delivery deferred");
                if !store::outbox::reschedule(tx, row.id, now + delay, &error.message)? {
                    taken_over(row);
                    continue;
                }
                report.deferred += 1;
            }
            Outcome::Handed(Err(error)) => {
                tracing::warn!(outbox = row.id, recipient = row.recipient, %error, "delivery failed for good");
                if !store::outbox::give_up(tx, row.id, &error.message)? {
                    taken_over(row);
                    continue;
                }
                if let Some(ticket) = row.ticket {
                    let detail = format!("mail to {} could not be delivered: {}", row.recipient, error.message);
                    store::tickets::add_history(tx, ticket, now, "reqmail", "delivery-failed", &detail, None)?;
                }
                report.failed += 1;
            }
        }
    }
    Ok(())
}

/// Delivery beside a writer that seldom leaves the write lock free (`fetch` draining a
/// Maildir, a long `tick`): the writer claims what is due and records what was
/// delivered in its own transactions ([`Courier::settle`]), and a thread of the
/// courier's own reads the claimed letters and hands them to the transport meanwhile.
/// Neither waits for the other's lock, and the letters leave while mail is still being
/// processed rather than all after it.
pub struct Courier {
    claimed: Option<mpsc::Sender<Vec<Claimed>>>,
    delivered: mpsc::Receiver<Delivered>,
    thread: Option<std::thread::JoinHandle<()>>,
    config: OutboundConfig,
    report: DeliveryReport,
}

/// What the courier's thread did with claimed rows.
enum Delivered {
    Handed(Vec<Letter>, Vec<Outcome>),
    /// Not read or not handed over (the store failed): given back in the writer's next
    /// transaction.
    NotHanded(Vec<Claimed>, String),
}

impl Courier {
    /// A courier beside a batch's writer; none when it cannot start (logged), and the
    /// batch's letters are delivered after it.
    pub fn beside(store: &StoreConfig, config: &OutboundConfig, now: DateTime<Utc>) -> Option<Courier> {
        Courier::start(store, config, now).map_err(|error| tracing::warn!("letters are delivered after the batch: {error:#}")).ok()
    }

    /// Starts the thread, with a connection of its own to `store` and the transport
    /// `config` names.
    fn start(store: &StoreConfig, config: &OutboundConfig, now: DateTime<Utc>) -> anyhow::Result<Courier> {
        let reader = Store::open(store)?;
        let mut transport = super::from_config(config)?;
        let (claimed, to_deliver) = mpsc::channel::<Vec<Claimed>>();
        let (handed, delivered) = mpsc::channel();
        let thread = std::thread::Builder::new().name("courier".into()).spawn(move || {
            for claims in to_deliver {
                let done = store::outbox::claimed_letters(&reader.conn, &claims).map_err(anyhow::Error::from).and_then(|mut letters| {
                    let results = hand_over(&reader.conn, transport.as_mut(), now, &letters)?;
                    // Only the rows go back to be recorded.
                    letters.iter_mut().for_each(|letter| letter.raw = Vec::new());
                    Ok(Delivered::Handed(letters, results))
                });
                let _ = handed.send(done.unwrap_or_else(|error| Delivered::NotHanded(claims, format!("{error:#}"))));
            }
        })?;
        Ok(Courier { claimed: Some(claimed), delivered, thread: Some(thread), config: config.clone(), report: DeliveryReport::default() })
    }

    /// In the writer's transaction `tx`: records what the thread delivered since the last
    /// call and claims what is due at `now`, to be handed to the thread once `tx`
    /// has committed ([`Courier::hand`]).
    pub fn settle(&mut self, tx: &Connection, now: DateTime<Utc>) -> anyhow::Result<Vec<Claimed>> {
        for delivered in self.delivered.try_iter().collect::<Vec<_>>() {
            self.record(tx, now, delivered)?;
        }
        let mut claims = Vec::new();
        loop {
            let batch = store::outbox::claim_due_rows(tx, now, now + Duration::minutes(LEASE_MINUTES), BATCH)?;
            let whole = batch.len() as i64 == BATCH;
            claims.extend(batch);
            if !whole {
                return Ok(claims);
            }
        }
    }

    /// Hands the rows [`Courier::settle`] claimed to the thread, their claim committed.
    pub fn hand(&self, claims: Vec<Claimed>) {
        if let (false, Some(claimed)) = (claims.is_empty(), &self.claimed) {
            // A thread that is gone has failed: what it did not hand back waits out its lease.
            let _ = claimed.send(claims);
        }
    }

    /// Waits for the thread and records what it did in `store`. When that fails (logged),
    /// its letters stay claimed until their lease ends, and a later pass records them.
    pub fn finish(self, store: &mut Store, now: DateTime<Utc>) -> DeliveryReport {
        self.finish_recorded(store, now).unwrap_or_else(|error| {
            tracing::warn!("delivered letters stay claimed until their lease ends, and a later pass records them: {error:#}");
            DeliveryReport::default()
        })
    }

    fn finish_recorded(mut self, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<DeliveryReport> {
        self.claimed = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let delivered: Vec<Delivered> = self.delivered.try_iter().collect();
        if !delivered.is_empty() {
            let tx = store.conn.unchecked_write()?;
            for delivered in delivered {
                self.record(&tx, now, delivered)?;
            }
            tx.commit()?;
        }
        Ok(self.report)
    }

    fn record(&mut self, tx: &Connection, now: DateTime<Utc>, delivered: Delivered) -> anyhow::Result<()> {
        match delivered {
            Delivered::Handed(letters, results) => record(tx, &self.config, now, &letters, results, &mut self.report),
            Delivered::NotHanded(claims, reason) => {
                tracing::warn!("delivery beside the batch postponed: {reason}");
                let ids: Vec<i64> = claims.iter().map(|claim| claim.id).collect();
                Ok(store::outbox::release(tx, &ids, now)?)
            }
        }
    }
}

/// This gateway's claim on `row` lapsed while it was sending (a pass slower than the
/// lease) and another gateway holds the row now: that one records what became of it.
fn taken_over(row: &Letter) {
    tracing::warn!(outbox = row.id, recipient = row.recipient, "the claim lapsed before the result was recorded; another gateway holds the letter now");
}

/// What happened to one claimed row before it is recorded.
enum Outcome {
    Blocked(String),
    Handed(Result<(), super::TransportError>),
}

/// How long to wait after the `attempts`-th failure; webhooks wait the same.
pub fn backoff(config: &OutboundConfig, attempts: u32) -> Duration {
    let seconds = config.retry_initial_seconds.saturating_mul(1u64 << attempts.min(20)).min(config.retry_max_seconds);
    Duration::seconds(seconds as i64)
}
