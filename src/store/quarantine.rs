//! Quarantine: inbound messages reqmail could not process, kept whole with the reason.

use chrono::{DateTime, Utc};
use crate::store::{params, Connection};

use crate::clock::format_time;
use crate::ticket::SpoolId;

/// One quarantined message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineEntry {
    pub id: i64,
    pub at: String,
    pub reason: String,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub size: i64,
}

pub fn put(conn: &Connection, id: SpoolId, reason: &str, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.prepare_cached(
        "INSERT INTO quarantine (message, reason, at) VALUES (?1, ?2, ?3)
         ON CONFLICT (message) DO UPDATE SET reason = excluded.reason, at = excluded.at",
    )?
    .execute(params![id.0, reason, format_time(now)])?;
    conn.prepare_cached("UPDATE messages SET state = 'quarantined', outcome = ?2 WHERE id = ?1")?.execute(params![id.0, reason])?;
    Ok(())
}

pub fn list(conn: &Connection) -> crate::store::Result<Vec<QuarantineEntry>> {
    conn.prepare(
        "SELECT q.message, q.at, q.reason, m.from_address, m.subject, m.size
         FROM quarantine q JOIN messages m ON m.id = q.message ORDER BY q.message",
    )?
    .query_map([], |row| {
        Ok(QuarantineEntry {
            id: row.get(0)?,
            at: row.get(1)?,
            reason: row.get(2)?,
            from_address: row.get(3)?,
            subject: row.get(4)?,
            size: row.get(5)?,
        })
    })?
    .collect()
}

pub fn contains(conn: &Connection, id: SpoolId) -> crate::store::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM quarantine WHERE message = ?1)", [id.0], |row| row.get(0))
}

/// Takes a message out of quarantine so that it is processed again.
pub fn release(conn: &Connection, id: SpoolId) -> crate::store::Result<()> {
    conn.execute("DELETE FROM quarantine WHERE message = ?1", [id.0])?;
    crate::store::messages::respool(conn, id)
}

/// Drops a message for good: its raw bytes are erased, a record that it was dropped stays.
pub fn drop_message(conn: &Connection, id: SpoolId, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.execute("DELETE FROM quarantine WHERE message = ?1", [id.0])?;
    conn.execute("DELETE FROM message_raw WHERE message = ?1", [id.0])?;
    conn.execute(
        "UPDATE messages SET state = 'ignored', raw = X'', raw_zstd = 0, outcome = 'dropped from quarantine at ' || ?2 WHERE id = ?1",
        params![id.0, format_time(now)],
    )?;
    Ok(())
}
