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

use super::Transport;
use crate::config::OutboundConfig;
use crate::store::outbox::Letter;
use crate::store::{self, Store};

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
    let mut blocked = Vec::with_capacity(due.len());
    for row in due {
        blocked.push(store::undeliverable::blocked_until(&store.conn, &row.recipient, now)?);
    }
    let to_send: Vec<&Letter> = due.iter().zip(&blocked).filter(|(_, blocked)| blocked.is_none()).map(|(row, _)| row).collect();
    let mut handed = transport.send_all(&to_send).into_iter();
    if handed.as_slice().iter().any(Result::is_ok) {
        crate::fault::point("after-send");
    }
    let results: Vec<Outcome> = blocked
        .into_iter()
        .map(|blocked| match blocked {
            Some(until) => Outcome::Blocked(until),
            None => Outcome::Handed(handed.next().unwrap_or_else(|| Err(super::TransportError::transient("no result from the transport")))),
        })
        .collect();
    let tx = store.conn.unchecked_write()?;
    for (row, result) in due.iter().zip(results) {
        match result {
            // A permanent bounce since the letter was queued: do not send, say so on the ticket.
            Outcome::Blocked(until) => {
                let detail = format!("mail to {} not sent: it bounced permanently; undeliverable until {until}", row.recipient);
                if !store::outbox::give_up(&tx, row.id, &detail)? {
                    taken_over(row);
                    continue;
                }
                if let Some(ticket) = row.ticket {
                    store::tickets::add_history(&tx, ticket, now, "reqmail", "mail-skipped", &detail, None)?;
                }
                report.failed += 1;
            }
            Outcome::Handed(Ok(())) => {
                if !store::outbox::mark_sent(&tx, row.id, now)? {
                    taken_over(row);
                    continue;
                }
                report.sent += 1;
            }
            Outcome::Handed(Err(error)) if !error.permanent && row.attempts + 1 < config.max_attempts => {
                let delay = backoff(config, row.attempts);
                tracing::warn!(outbox = row.id, recipient = row.recipient, %error, "delivery deferred");
                if !store::outbox::reschedule(&tx, row.id, now + delay, &error.message)? {
                    taken_over(row);
                    continue;
                }
                report.deferred += 1;
            }
            Outcome::Handed(Err(error)) => {
                tracing::warn!(outbox = row.id, recipient = row.recipient, %error, "delivery failed for good");
                if !store::outbox::give_up(&tx, row.id, &error.message)? {
                    taken_over(row);
                    continue;
                }
                if let Some(ticket) = row.ticket {
                    let detail = format!("mail to {} could not be delivered: {}", row.recipient, error.message);
                    store::tickets::add_history(&tx, ticket, now, "reqmail", "delivery-failed", &detail, None)?;
                }
                report.failed += 1;
            }
        }
    }
    tx.commit()?;
    Ok(())
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
