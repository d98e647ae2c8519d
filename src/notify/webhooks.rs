//! What webhooks hear: one JSON event per applied change, queued for each `[[webhooks]]`
//! table that asks for its kind and queue, in the transaction of the change.
//!
//! The event carries the ticket as it is after the change, the change lines the letters
//! list, and the note unless it is internal. A change that only sent mail (a reminder,
//! a survey) is no event.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use crate::clock::format_time;
use crate::config::integrations::{WebhookConfig, WebhookEvent};
use crate::plan::{Notice, Plan};
use crate::store;
use crate::ticket::{Status, Ticket, TicketId};

/// Queues the event of this change for every webhook that wants it, and notes on the
/// ticket which webhooks will hear of it.
pub fn enqueue(
    conn: &Connection,
    webhooks: &[WebhookConfig],
    plan: &Plan,
    ticket: &Ticket,
    created: bool,
    changes: &[String],
    now: DateTime<Utc>,
) -> crate::store::Result<()> {
    if webhooks.is_empty() {
        return Ok(());
    }
    let Some(event) = event_of(plan, created, changes) else { return Ok(()) };
    let listeners: Vec<&WebhookConfig> = webhooks.iter().filter(|webhook| webhook.wants(event, &ticket.queue)).collect();
    if listeners.is_empty() {
        return Ok(());
    }
    let links = store::tickets::links(conn, ticket.number)?;
    let body = payload(event, plan, ticket, &links, changes, now).to_string();
    let names: Vec<&str> = listeners.iter().map(|webhook| webhook.name()).collect();
    for name in &names {
        store::webhooks::enqueue(conn, name, ticket.number, event.as_str(), &body, now)?;
    }
    let detail = format!("{} to {}", event.as_str(), names.join(", "));
    store::tickets::add_history(conn, ticket.number, now, "reqmail", "webhook", &detail, plan.message)
}

/// The kind of change, the most telling first; `None` when nothing on the ticket changed.
fn event_of(plan: &Plan, created: bool, changes: &[String]) -> Option<WebhookEvent> {
    if created {
        return Some(WebhookEvent::Created);
    }
    match plan.new_status() {
        Some(Status::Closed) => return Some(WebhookEvent::Closed),
        Some(Status::Resolved) => return Some(WebhookEvent::Resolved),
        _ => {}
    }
    if plan.notices.contains(&Notice::Escalation) {
        return Some(WebhookEvent::Escalated);
    }
    let touched = !changes.is_empty() || !plan.note.is_empty() || plan.message.is_some();
    touched.then_some(WebhookEvent::Updated)
}

fn payload(event: WebhookEvent, plan: &Plan, ticket: &Ticket, links: &[TicketId], changes: &[String], now: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "event": event.as_str(),
        "at": format_time(now),
        "actor": plan.sender.address,
        "ticket": super::view::ticket_json(ticket, links),
        "changes": changes,
        "note": (!plan.internal && !plan.note.is_empty()).then_some(&plan.note),
    })
}
