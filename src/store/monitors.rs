//! Which ticket a monitoring system's alert opened, under which key.

use crate::store::{params, Connection, OptionalExtension as _};

use crate::ticket::TicketId;

/// The monitor, key and sender address a ticket was opened for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorLink {
    pub monitor: String,
    pub key: String,
    pub address: String,
}

/// Ties `ticket` to an alert; a ticket keeps the first alert that opened it.
pub fn link(conn: &Connection, ticket: TicketId, link: &MonitorLink) -> crate::store::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO monitor_tickets (ticket, monitor, key, address) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![ticket.0, link.monitor, link.key, link.address])?;
    Ok(())
}

/// The newest ticket of `monitor` with `key` that is still being worked on.
pub fn open_ticket(conn: &Connection, monitor: &str, key: &str) -> crate::store::Result<Option<TicketId>> {
    conn.prepare_cached(
        "SELECT m.ticket FROM monitor_tickets m JOIN tickets t ON t.number = m.ticket
         WHERE m.monitor = ?1 AND m.key = ?2 AND t.status IN ('new', 'open', 'hold') ORDER BY m.ticket DESC LIMIT 1",
    )?
    .query_row(params![monitor, key], |row| row.get(0).map(TicketId))
    .optional()
}

pub fn link_of(conn: &Connection, ticket: TicketId) -> crate::store::Result<Option<MonitorLink>> {
    conn.prepare_cached("SELECT monitor, key, address FROM monitor_tickets WHERE ticket = ?1")?
        .query_row([ticket.0], |row| Ok(MonitorLink { monitor: row.get(0)?, key: row.get(1)?, address: row.get(2)? }))
        .optional()
}
