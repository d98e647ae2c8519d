//! The queue of webhook events: rows written with the ticket change, POSTed after
//! commit. Like the outbox, delivery only updates rows; a given-up event stays with its
//! last error.

use chrono::{DateTime, Utc};
use crate::store::{params, Connection};

use crate::clock::format_time;
use crate::ticket::TicketId;

/// One event claimed for delivery.
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    pub id: i64,
    pub webhook: String,
    pub ticket: TicketId,
    pub event: String,
    pub payload: String,
    pub attempts: u32,
}

pub fn enqueue(conn: &Connection, webhook: &str, ticket: TicketId, event: &str, payload: &str, now: DateTime<Utc>) -> crate::store::Result<i64> {
    let now = format_time(now);
    conn.prepare_cached(
        "INSERT INTO webhook_events (webhook, ticket, event, payload, status, created, next_attempt) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5)",
    )?
    .execute(params![webhook, ticket.0, event, payload, now])?;
    conn.last_insert_rowid()
}

/// Whether any event is due at `now`: a read, so that looking often takes no write lock.
pub fn any_due(conn: &Connection, now: DateTime<Utc>) -> crate::store::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM webhook_events WHERE status = 'queued' AND next_attempt <= ?1)")?
        .query_row([format_time(now)], |row| row.get(0))
}

/// Claims up to `limit` events due at `now`, oldest first, until `lease_until`: another
/// deliverer skips them meanwhile, and they are due again if this one dies first. The
/// outer conditions repeat the inner ones, so that an event another gateway claimed while
/// this statement waited for it is passed over (PostgreSQL rechecks only those).
pub fn claim_due(conn: &Connection, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> crate::store::Result<Vec<QueuedEvent>> {
    let mut events: Vec<QueuedEvent> = conn
        .prepare_cached(
            "UPDATE webhook_events SET next_attempt = ?2, claims = claims + 1 WHERE id IN
               (SELECT id FROM webhook_events WHERE status = 'queued' AND next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?3)
               AND status = 'queued' AND next_attempt <= ?1
             RETURNING id, webhook, ticket, event, payload, attempts",
        )?
        .query_map(params![format_time(now), format_time(lease_until), limit], |row| {
            Ok(QueuedEvent {
                id: row.get(0)?,
                webhook: row.get(1)?,
                ticket: TicketId(row.get(2)?),
                event: row.get(3)?,
                payload: row.get(4)?,
                attempts: row.get(5)?,
            })
        })?
        .collect::<crate::store::Result<_>>()?;
    events.sort_by_key(|event| event.id);
    Ok(events)
}

pub fn mark_sent(conn: &Connection, id: i64, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE webhook_events SET status = 'sent', attempts = attempts + 1, sent = ?2, last_error = NULL WHERE id = ?1")?
        .execute(params![id, format_time(now)])?;
    Ok(())
}

pub fn reschedule(conn: &Connection, id: i64, next_attempt: DateTime<Utc>, error: &str) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE webhook_events SET attempts = attempts + 1, claims = 0, next_attempt = ?2, last_error = ?3 WHERE id = ?1")?
        .execute(params![id, format_time(next_attempt), error])?;
    Ok(())
}

pub fn give_up(conn: &Connection, id: i64, error: &str) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE webhook_events SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1")?
        .execute(params![id, error])?;
    Ok(())
}
