//! Addresses that bounced permanently: no more mail to them for a while
//! (`limits.undeliverable_days`), shown on the ticket and in `person list`.

use chrono::{DateTime, Utc};
use crate::store::{params, Connection, OptionalExtension};

use crate::clock::format_time;
use crate::ticket::TicketId;

/// Marks `address` undeliverable until `until`; a later bounce extends it.
pub fn mark(conn: &Connection, address: &str, until: DateTime<Utc>, reason: &str, ticket: Option<TicketId>, now: DateTime<Utc>) -> crate::store::Result<()> {
    // `undeliverable.until`: PostgreSQL finds a bare column ambiguous beside `excluded`.
    conn.prepare_cached(
        "INSERT INTO undeliverable (address, until, reason, ticket, at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (address) DO UPDATE SET until = MAX(undeliverable.until, excluded.until), reason = excluded.reason,
           ticket = excluded.ticket, at = excluded.at",
    )?
    .execute(params![address.to_lowercase(), format_time(until), reason, ticket.map(|ticket| ticket.0), format_time(now)])?;
    Ok(())
}

/// Until when `address` gets no mail, if it is blocked at `now`.
pub fn blocked_until(conn: &Connection, address: &str, now: DateTime<Utc>) -> crate::store::Result<Option<String>> {
    conn.prepare_cached("SELECT until FROM undeliverable WHERE address = ?1 AND until > ?2")?
        .query_row(params![address.to_lowercase(), format_time(now)], |row| row.get(0))
        .optional()
}

/// Every blocked address with its end and reason, for `person list`.
pub fn all(conn: &Connection, now: DateTime<Utc>) -> crate::store::Result<Vec<(String, String, String)>> {
    conn.prepare("SELECT address, until, reason FROM undeliverable WHERE until > ?1 ORDER BY address")?
        .query_map([format_time(now)], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect()
}

/// Our outgoing message with Message-ID `message_id`: its ticket and recipient.
pub fn find_outgoing(conn: &Connection, message_id: &str) -> crate::store::Result<Option<(Option<TicketId>, String)>> {
    conn.prepare_cached("SELECT ticket, recipient FROM messages WHERE direction = 'out' AND message_id = ?1 ORDER BY id LIMIT 1")?
        .query_row([message_id], |row| Ok((row.get::<_, Option<i64>>(0)?.map(TicketId), row.get::<_, Option<String>>(1)?.unwrap_or_default())))
        .optional()
}
