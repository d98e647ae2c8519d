//! The outbox queue: rows written with the ticket change, delivered after commit.
//!
//! Delivery only updates rows (status, attempts, next attempt, last error); history is
//! never erased. A claim names the gateway that holds it ([`this_gateway`]): gateways
//! sharing one database each record results only for their own claims, so a letter
//! whose claim lapsed and was taken over is recorded once, by the one that holds it.

use chrono::{DateTime, Utc};
use crate::store::{params, Connection};

use crate::clock::format_time;
use crate::store::messages::{RAW_COLUMNS, RAW_JOIN};
use crate::ticket::TicketId;

/// One letter in the outbox, claimed for delivery.
#[derive(Debug, Clone)]
pub struct Letter {
    pub id: i64,
    pub ticket: Option<TicketId>,
    pub sender: String,
    pub recipient: String,
    pub attempts: u32,
    pub raw: Vec<u8>,
    /// An earlier claim ran out without a result: that deliverer died, perhaps after
    /// handing the letter over.
    pub maybe_handed_over: bool,
}

pub fn enqueue(
    conn: &Connection,
    message: i64,
    ticket: Option<TicketId>,
    sender: &str,
    recipient: &str,
    now: DateTime<Utc>,
) -> crate::store::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO outbox (message, ticket, sender, recipient, status, next_attempt) VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
    )?
    .execute(params![message, ticket.map(|ticket| ticket.0), sender, recipient, format_time(now)])?;
    conn.last_insert_rowid()
}

/// Claims up to `limit` queued rows due at `now`, oldest first, by moving their next
/// attempt to `lease_until`: a concurrent deliverer does not see them, and if this one
/// dies before marking them they become due again when the lease ends. The outer
/// conditions repeat the inner ones: a row another gateway claimed while this statement
/// waited for it is checked again and passed over (PostgreSQL rechecks only those).
pub fn claim_due(conn: &Connection, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> crate::store::Result<Vec<Letter>> {
    let claimed = claim_due_rows(conn, now, lease_until, limit)?;
    claimed_letters(conn, &claimed)
}

/// A row [`claim_due_rows`] claimed.
#[derive(Debug, Clone, Copy)]
pub struct Claimed {
    pub id: i64,
    /// Claimed before, and that claim ran out ([`Letter::maybe_handed_over`]).
    pub maybe_handed_over: bool,
}

/// [`claim_due`] without reading the letters, which [`claimed_letters`] reads, on
/// another connection too once the claim has committed.
pub fn claim_due_rows(conn: &Connection, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> crate::store::Result<Vec<Claimed>> {
    conn.prepare_cached(
        "UPDATE outbox SET next_attempt = ?2, claims = claims + 1, claimed_by = ?4 WHERE id IN
           (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?3)
           AND status = 'queued' AND next_attempt <= ?1
         RETURNING id, claims > 1",
    )?
    .query_map(params![format_time(now), format_time(lease_until), limit, this_gateway()], |row| {
        Ok(Claimed { id: row.get(0)?, maybe_handed_over: row.get(1)? })
    })?
    .collect()
}

/// The letters of `claimed`, in the order of their rows.
pub fn claimed_letters(conn: &Connection, claimed: &[Claimed]) -> crate::store::Result<Vec<Letter>> {
    let mut rows = Vec::with_capacity(claimed.len());
    let mut statement = conn.prepare_cached(&format!(
        "SELECT o.id, o.ticket, o.sender, o.recipient, o.attempts, {RAW_COLUMNS} FROM outbox o JOIN messages m ON m.id = o.message {RAW_JOIN} WHERE o.id = ?1"
    ))?;
    for claim in claimed {
        rows.push(statement.query_row([claim.id], |row| {
            Ok(Letter {
                id: row.get(0)?,
                ticket: row.get::<_, Option<i64>>(1)?.map(TicketId),
                sender: row.get(2)?,
                recipient: row.get(3)?,
                attempts: row.get(4)?,
                raw: crate::store::messages::stored_raw(conn, row, 5)?,
                maybe_handed_over: claim.maybe_handed_over,
            })
        })?);
    }
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

/// Gives claimed rows back untouched, due at `now`: the deliverer could not even start
/// (its transport is misconfigured), so no attempt is counted.
pub fn release(conn: &Connection, ids: &[i64], now: DateTime<Utc>) -> crate::store::Result<()> {
    let mut statement = conn.prepare_cached(
        "UPDATE outbox SET next_attempt = ?2, claims = max(claims - 1, 0), claimed_by = NULL WHERE id = ?1 AND status = 'queued' AND claimed_by = ?3",
    )?;
    for id in ids {
        statement.execute(params![id, format_time(now), this_gateway()])?;
    }
    Ok(())
}

/// The results below are recorded only while this gateway holds the row's claim; each
/// says whether it did (false: the claim lapsed and another gateway took the row over).
pub fn mark_sent(conn: &Connection, id: i64, now: DateTime<Utc>) -> crate::store::Result<bool> {
    let changed = conn
        .prepare_cached("UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent = ?2, last_error = NULL WHERE id = ?1 AND claimed_by = ?3")?
        .execute(params![id, format_time(now), this_gateway()])?;
    Ok(changed > 0)
}

pub fn reschedule(conn: &Connection, id: i64, next_attempt: DateTime<Utc>, error: &str) -> crate::store::Result<bool> {
    let changed = conn
        .prepare_cached("UPDATE outbox SET attempts = attempts + 1, claims = 0, next_attempt = ?2, last_error = ?3 WHERE id = ?1 AND claimed_by = ?4")?
        .execute(params![id, format_time(next_attempt), error, this_gateway()])?;
    Ok(changed > 0)
}

pub fn give_up(conn: &Connection, id: i64, error: &str) -> crate::store::Result<bool> {
    let changed = conn
        .prepare_cached("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1 AND claimed_by = ?3")?
        .execute(params![id, error, this_gateway()])?;
    Ok(changed > 0)
}

/// This process as a claimer: host, process id and start time, so that a restarted
/// gateway with a reused process id is another claimer.
pub fn this_gateway() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("{}:{}:{}", host.trim(), std::process::id(), started.as_micros())
    })
}

