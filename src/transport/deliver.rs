//! Delivery of due outbox rows, after the change that wrote them has committed.
//!
//! A transient failure reschedules the row with exponential backoff; a permanent one,
//! or too many attempts, marks it failed and writes that on the ticket's history.
//! The row is marked only after the hand-over, so a crash in between sends the mail
//! again on the next pass (at least once, never lost).

use chrono::{DateTime, Duration, Utc};

use super::Transport;
use crate::config::OutboundConfig;
use crate::store::{self, Store};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    pub deferred: usize,
    pub failed: usize,
}

/// Rows claimed at a time; a pass goes on until nothing is due.
const BATCH: i64 = 50;
/// How long a claim keeps other deliverers away; a crash makes the rows due again after it.
const LEASE_MINUTES: i64 = 15;

pub fn deliver_due(
    store: &Store,
    transport: &mut dyn Transport,
    config: &OutboundConfig,
    now: DateTime<Utc>,
) -> anyhow::Result<DeliveryReport> {
    let mut report = DeliveryReport::default();
    loop {
        let due = store::outbox::claim_due(&store.conn, now, now + Duration::minutes(LEASE_MINUTES), BATCH)?;
        if due.is_empty() {
            return Ok(report);
        }
        // Each row is marked in its own short commit: no lock is held while the network is slow.
        let tx = &store.conn;
        for row in &due {
            // A permanent bounce since the letter was queued: do not send, say so on the ticket.
            if let Some(until) = store::undeliverable::blocked_until(tx, &row.recipient, now)? {
                let detail = format!("mail to {} not sent: it bounced permanently; undeliverable until {until}", row.recipient);
                store::outbox::give_up(tx, row.id, &detail)?;
                if let Some(ticket) = row.ticket {
                    store::tickets::add_history(tx, ticket, now, "reqmail", "mail-skipped", &detail, None)?;
                }
                report.failed += 1;
                continue;
            }
            let sent = transport.send(&row.sender, &row.recipient, &row.raw);
            if sent.is_ok() {
                crate::fault::point("after-send");
            }
            match sent {
                Ok(()) => {
                    store::outbox::mark_sent(tx, row.id, now)?;
                    report.sent += 1;
                }
                Err(error) if !error.permanent && row.attempts + 1 < config.max_attempts => {
                    let delay = backoff(config, row.attempts);
                    tracing::warn!(outbox = row.id, recipient = row.recipient, %error, "delivery deferred");
                    store::outbox::reschedule(tx, row.id, now + delay, &error.message)?;
                    report.deferred += 1;
                }
                Err(error) => {
                    tracing::warn!(outbox = row.id, recipient = row.recipient, %error, "delivery failed for good");
                    store::outbox::give_up(tx, row.id, &error.message)?;
                    if let Some(ticket) = row.ticket {
                        let detail = format!("mail to {} could not be delivered: {}", row.recipient, error.message);
                        store::tickets::add_history(tx, ticket, now, "reqmail", "delivery-failed", &detail, None)?;
                    }
                    report.failed += 1;
                }
            }
        }
    }
}

fn backoff(config: &OutboundConfig, attempts: u32) -> Duration {
    let seconds = config.retry_initial_seconds.saturating_mul(1u64 << attempts.min(20)).min(config.retry_max_seconds);
    Duration::seconds(seconds as i64)
}
