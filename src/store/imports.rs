//! What `reqmail import` needs of the store: imported mail goes through the pipeline
//! like any other, and these statements then take back, inside the same transaction,
//! every letter that processing queued (the customers of an old archive must not hear
//! from us about requests they made years ago), and keep the scheduler from mailing
//! about deadlines that passed long before the import.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use crate::clock::format_time;
use crate::ticket::{Status, Ticket};

/// Where the tables that outgoing mail writes to stood before a message was processed.
#[derive(Debug, Clone, Copy)]
pub struct LetterMark {
    message: i64,
    outbox: i64,
    history: i64,
    auto_mail: i64,
}

fn max_id(conn: &Connection, table: &str) -> crate::store::Result<i64> {
    conn.query_row(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"), [], |row| row.get(0))
}

/// Call before processing; the notices a person gets once are remembered aside.
pub fn mark_letters(conn: &Connection) -> crate::store::Result<LetterMark> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS import_notices (address TEXT, notice TEXT, PRIMARY KEY (address, notice));
         DELETE FROM import_notices;
         INSERT INTO import_notices SELECT address, notice FROM notices_sent;",
    )?;
    Ok(LetterMark {
        message: max_id(conn, "messages")?,
        outbox: max_id(conn, "outbox")?,
        history: max_id(conn, "history")?,
        auto_mail: max_id(conn, "auto_mail")?,
    })
}

/// Removes the letters queued since `mark` for `ticket` (or for no ticket) because of
/// the message `cause` (`None`: a change without a message), with their outgoing messages, the history
/// lines about them (sent or held back), their rate-limit counts and once-only notices.
/// Letters of other tickets queued meanwhile by other processes stay. Returns how many
/// letters were taken back.
pub fn take_back_letters(conn: &Connection, mark: LetterMark, ticket: Option<i64>, cause: Option<i64>) -> crate::store::Result<usize> {
    conn.execute_batch("CREATE TEMP TABLE IF NOT EXISTS import_letters (id INTEGER PRIMARY KEY, message INTEGER); DELETE FROM import_letters;")?;
    conn.execute(
        "INSERT INTO import_letters (id, message) SELECT id, message FROM outbox WHERE id > ?1 AND (ticket IS ?2 OR ticket IS NULL)",
        crate::store::params![mark.outbox, ticket],
    )?;
    let letters = conn.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM import_letters)", [])?;
    conn.execute(
        "DELETE FROM history WHERE id > ?1 AND ticket IS ?2 AND message IS ?3 AND actor = 'reqmail' AND action IN ('mail', 'mail-skipped')",
        crate::store::params![mark.history, ticket, cause],
    )?;
    conn.execute(
        "DELETE FROM message_raw WHERE message > ?1 AND message IN (SELECT message FROM import_letters)",
        [mark.message],
    )?;
    conn.execute(
        "DELETE FROM messages WHERE id > ?1 AND direction = 'out' AND id IN (SELECT message FROM import_letters)",
        [mark.message],
    )?;
    conn.execute("DELETE FROM auto_mail WHERE id > ?1 AND (ticket IS ?2 OR ticket IS NULL)", crate::store::params![mark.auto_mail, ticket])?;
    conn.execute(
        "DELETE FROM notices_sent WHERE (address, notice) NOT IN (SELECT address, notice FROM import_notices)",
        [],
    )?;
    Ok(letters)
}

/// The ticket an inbound message was applied to.
pub fn ticket_of_message(conn: &Connection, message: i64) -> crate::store::Result<Option<i64>> {
    conn.query_row("SELECT ticket FROM messages WHERE id = ?1", [message], |row| row.get(0))
}

/// Marks the scheduler's jobs for `ticket` as state stands now done (reminders and
/// escalation of a deadline, nag, survey, auto-close, hold timeout), so that an imported
/// ticket causes no mail until something new happens to it.
pub fn quiet_scheduler(conn: &Connection, ticket: &Ticket, reminder_thresholds: &[f64], now: DateTime<Utc>) -> crate::store::Result<()> {
    let mut jobs: Vec<(&str, String)> = vec![("nag", format_time(ticket.updated))];
    match ticket.status {
        Status::New | Status::Open => {
            jobs.push(("escalation", "due".into()));
            jobs.extend(reminder_thresholds.iter().map(|threshold| ("reminder", threshold.to_string())));
        }
        Status::Closed => jobs.push(("survey", "once".into())),
        Status::Resolved => jobs.extend(ticket.resolved_at.map(|at| ("auto-close", format_time(at)))),
        Status::Hold => jobs.extend(ticket.hold_started.map(|at| ("hold-timeout", format_time(at)))),
        Status::Merged | Status::Rejected => {}
    }
    for (job, key) in jobs {
        super::tickets::mark_job_done(conn, ticket.number, job, &key, now)?;
    }
    Ok(())
}
