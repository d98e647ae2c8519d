//! Sliding-window limits on automatic mail to any one address (RFC 3834 §2: an
//! automatic responder must not answer in a loop). Two help desks answering each
//! other stop after a few letters: per address and ticket, per address, and overall.

use chrono::{DateTime, Duration, Utc};
use crate::store::{params, Connection};

use crate::clock::format_time;
use crate::config::LimitsConfig;
use crate::store::messages::NOTE_OF_M;
use crate::ticket::{SpoolId, TicketId};

/// Admits one automatic letter to `address` about `ticket` and records it, or says why
/// not (undeliverable address, or a window is full). Runs in the caller's transaction.
pub fn admit(conn: &Connection, limits: &LimitsConfig, address: &str, ticket: Option<TicketId>, now: DateTime<Utc>) -> crate::store::Result<Result<(), String>> {
    let address = address.to_lowercase();
    if let Some(until) = crate::store::undeliverable::blocked_until(conn, &address, now)? {
        return Ok(Err(format!("no mail to {address}: it bounced permanently; undeliverable until {until}")));
    }
    let since = format_time(now - window(limits));
    let pruned = conn.prepare_cached("DELETE FROM auto_mail WHERE at <= ?1")?.execute([&since])?;
    let seconds = limits.auto_mail_window_seconds;
    let (n, about_ticket): (i64, i64) = conn
        .prepare_cached("SELECT COUNT(*), COUNT(CASE WHEN ticket = ?2 THEN 1 END) FROM auto_mail WHERE address = ?1")?
        .query_row(params![address, ticket.map(|ticket| ticket.0)], |row| Ok((row.get(0)?, row.get(1)?)))?;
    if ticket.is_some() && about_ticket >= i64::from(limits.auto_mail_per_ticket) {
        return Ok(Err(format!(
            "no mail to {address}: {about_ticket} automatic letters about this ticket in {seconds} s (limits.auto_mail_per_ticket); a mail loop?"
        )));
    }
    if n >= i64::from(limits.auto_mail_per_address) {
        return Ok(Err(format!("no mail to {address}: {n} automatic letters in {seconds} s (limits.auto_mail_per_address)")));
    }
    // Counting the whole window for every letter would cost as much as the window holds
    // (thousands in a busy hour); a running total costs one row.
    let in_window = match crate::store::setting(conn, LETTERS_IN_WINDOW)?.and_then(|total| total.parse::<i64>().ok()) {
        Some(total) => total - pruned as i64,
        None => conn.prepare_cached("SELECT COUNT(*) FROM auto_mail")?.query_row([], |row| row.get(0))?,
    };
    let admitted = in_window < i64::from(limits.auto_mail_global);
    if admitted {
        conn.prepare_cached("INSERT INTO auto_mail (address, ticket, at) VALUES (?1, ?2, ?3)")?
            .execute(params![address, ticket.map(|ticket| ticket.0), format_time(now)])?;
    }
    crate::store::set_setting(conn, LETTERS_IN_WINDOW, &(in_window + i64::from(admitted)).to_string())?;
    if !admitted {
        return Ok(Err(format!(
            "no mail to {address}: {in_window} automatic letters to everyone in {seconds} s (limits.auto_mail_global)"
        )));
    }
    Ok(Ok(()))
}

/// Whether `address` was sent automatic mail within the window and, after one of our
/// letters, has written `subject` and `note` before, to a ticket it was mailed about: a
/// responder answering our letters with the same mail (a person sending their request
/// again wrote the first copy before we mailed them). `message` (the mail being
/// processed) does not count.
pub fn repeats_itself_after_our_mail(
    conn: &Connection,
    limits: &LimitsConfig,
    address: &str,
    subject: &str,
    note: &str,
    message: Option<SpoolId>,
    now: DateTime<Utc>,
) -> crate::store::Result<bool> {
    conn.prepare_cached(&format!(
        "WITH mailed AS (SELECT ticket FROM auto_mail WHERE address = ?1 AND at > ?4)
         SELECT EXISTS (SELECT 1 FROM messages m WHERE m.direction = 'in' AND m.id IS NOT ?3
             AND m.subject = ?5 AND m.ticket IN (SELECT ticket FROM mailed) AND {NOTE_OF_M} = ?2
             AND EXISTS (SELECT 1 FROM messages ours WHERE ours.direction = 'out' AND ours.ticket IN (SELECT ticket FROM mailed)
                 AND lower(ours.recipient) = ?1 AND ours.id < m.id))",
    ))?
    .query_row(params![address.to_lowercase(), note, message.map(|message| message.0), format_time(now - window(limits)), subject], |row| {
        row.get(0)
    })
}

/// Whether `address` was sent automatic mail within the window.
pub fn mailed_recently(conn: &Connection, limits: &LimitsConfig, address: &str, now: DateTime<Utc>) -> crate::store::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM auto_mail WHERE address = ?1 AND at > ?2)")?
        .query_row(params![address.to_lowercase(), format_time(now - window(limits))], |row| row.get(0))
}

fn window(limits: &LimitsConfig) -> Duration {
    Duration::seconds(limits.auto_mail_window_seconds.min(i64::MAX as u64 / 1000) as i64)
}

/// The settings row that holds how many rows `auto_mail` has.
const LETTERS_IN_WINDOW: &str = "auto_mail_rows";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_slide() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let limits = LimitsConfig { auto_mail_per_ticket: 2, auto_mail_per_address: 3, auto_mail_global: 4, auto_mail_window_seconds: 60, ..LimitsConfig::default() };
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let admit = |address: &str, ticket: i64, seconds: i64| admit(&store.conn, &limits, address, Some(TicketId(ticket)), start + Duration::seconds(seconds)).unwrap();
        assert!(admit("a@x.org", 1, 0).is_ok());
        assert!(admit("a@x.org", 1, 1).is_ok());
        assert!(admit("a@x.org", 1, 2).unwrap_err().contains("auto_mail_per_ticket"));
        assert!(admit("a@x.org", 2, 3).is_ok());
        assert!(admit("a@x.org", 3, 4).unwrap_err().contains("auto_mail_per_address"));
        assert!(admit("b@x.org", 4, 5).is_ok());
        assert!(admit("c@x.org", 5, 6).unwrap_err().contains("auto_mail_global"));
        // A minute later the first letters have left the window.
        assert!(admit("a@x.org", 1, 61).is_ok());
    }
}
