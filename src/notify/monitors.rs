//! The status mail to a monitoring system (`[[monitors]]`) whose alert opened a ticket,
//! when that ticket is resolved or closed: the one automatic answer a machine gets, and
//! only one that is configured. The body is `key: value` lines, the status is also in
//! the `X-Reqmail-Status` header; it is rate-limited like every automatic letter.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use super::compose::{compose, AutoSubmitted, Outgoing};
use super::letters::{Composed, Letters, Raw, Writer};
use crate::clock::format_time;
use crate::plan::Plan;
use crate::store;
use crate::ticket::{Role, Status, Ticket};

/// The header with the ticket's new status, for monitors that read headers only.
pub const STATUS_HEADER: &str = "X-Reqmail-Status";

/// Adds to `letters` the status letter this change owes a monitor, if any (or why it
/// was withheld).
pub fn add_status_letter(conn: &Connection, writer: Writer<'_>, plan: &Plan, ticket: &Ticket, now: DateTime<Utc>, letters: &mut Letters) -> anyhow::Result<()> {
    let Some(status) = plan.new_status().filter(|status| matches!(status, Status::Resolved | Status::Closed)) else { return Ok(()) };
    let Some(alert) = store::monitors::link_of(conn, ticket.number)? else { return Ok(()) };
    if let Err(reason) = store::ratelimit::admit(conn, &writer.config.limits, &alert.address, Some(ticket.number), now)? {
        letters.withheld.push(format!("status mail to monitor {}: {reason}", alert.monitor));
        return Ok(());
    }
    let time = |at: Option<DateTime<Utc>>| at.map_or_else(String::new, format_time);
    let body = [
        ("ticket", ticket.number.0.to_string()),
        ("status", status.as_str().to_string()),
        ("monitor", alert.monitor.clone()),
        ("key", alert.key.clone()),
        ("queue", ticket.queue.clone()),
        ("owner", ticket.owner.clone().unwrap_or_default()),
        ("resolved", time(ticket.resolved_at)),
        ("closed", time(ticket.closed_at)),
        ("subject", crate::parse::one_line(&ticket.subject)),
    ]
    .iter()
    .map(|(name, value)| format!("{name}: {value}\n"))
    .collect::<String>();
    let subject = writer.threading.tag.subject_for(ticket.number, &format!("{status}: {}", ticket.subject));
    let reply_to = writer.threading.ticket_address(ticket.number);
    let (message_id, raw) = compose(&Outgoing {
        ticket: Some(ticket.number),
        from_name: &writer.config.mail.name,
        from_address: &writer.config.mail.address,
        reply_to: &reply_to,
        to_address: &alert.address,
        to_name: None,
        subject: &subject,
        body: &body,
        in_reply_to: None,
        references: &[],
        auto_submitted: AutoSubmitted::AutoReplied,
        date: now,
        cause: plan.message.map_or(0, |message| message.0),
        sequence: u64::MAX,
    })?;
    let mut with_status = format!("{STATUS_HEADER}: {status}\r\n").into_bytes();
    with_status.extend_from_slice(&raw);
    letters.ready.push(Composed {
        ticket: Some(ticket.number),
        kind: "monitor-status",
        template: "monitor-status".to_string(),
        to: alert.address,
        role: Role::Customer,
        subject,
        message_id,
        raw: Raw::Ready(with_status),
    });
    Ok(())
}
