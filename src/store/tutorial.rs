//! The tutorial robot's progress per ticket: the steps it took, kept with the other
//! scheduler jobs (`scheduled_done`, job `tutorial`).

use crate::store::Connection;

use crate::ticket::TicketId;

/// The step keys already taken on `ticket`.
pub fn steps_taken(conn: &Connection, ticket: TicketId) -> crate::store::Result<Vec<String>> {
    conn.prepare_cached("SELECT key FROM scheduled_done WHERE ticket = ?1 AND job = 'tutorial'")?
        .query_map([ticket.0], |row| row.get(0))?
        .collect()
}
