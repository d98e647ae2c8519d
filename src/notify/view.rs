//! The ticket as the outside world sees it: the object of `ticket show --json` and
//! `ticket list --json`, which webhook events carry too.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::clock::format_time;
use crate::ticket::{Ticket, TicketId};

/// The ticket object without its history.
pub fn ticket_json(ticket: &Ticket, links: &[TicketId]) -> Value {
    let time = |at: Option<DateTime<Utc>>| at.map(format_time);
    json!({
        "number": ticket.number.0,
        "subject": ticket.subject,
        "status": ticket.status.as_str(),
        "queue": ticket.queue,
        "importance": ticket.importance.as_str(),
        "priority": ticket.priority.as_str(),
        "owner": ticket.owner,
        "requester": ticket.requester,
        "cc": ticket.cc,
        "category": ticket.category,
        "host": ticket.host,
        "due": time(ticket.due),
        "requested_due": time(ticket.requested_due),
        "committed_due": time(ticket.committed_due),
        "created": format_time(ticket.created),
        "updated": format_time(ticket.updated),
        "resolved": time(ticket.resolved_at),
        "closed": time(ticket.closed_at),
        "time_spent_minutes": ticket.time_spent_minutes,
        "next": ticket.next_action,
        "vendor": ticket.vendor,
        "vendor_ticket": ticket.vendor_ticket,
        "vendor_due": time(ticket.vendor_due),
        "transfer": ticket.peer.as_ref().map(|peer| json!({"site": peer.site, "ticket": peer.number, "theirs": peer.theirs})),
        "links": links.iter().map(|number| number.0).collect::<Vec<_>>(),
    })
}
