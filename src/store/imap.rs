//! Where fetching stands in each IMAP mailbox: `(uidvalidity, last_uid)` per account
//! and mailbox, so that a pass starts where the last one stopped (RFC 3501 §2.3.1.1).

use chrono::{DateTime, Utc};
use crate::store::{params, Connection, OptionalExtension};

use crate::clock::format_time;

/// The stored position in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub uidvalidity: u32,
    /// The highest UID that is stored and marked on the server.
    pub last_uid: u32,
}

pub fn cursor(conn: &Connection, account: &str, mailbox: &str) -> crate::store::Result<Option<Cursor>> {
    conn.prepare_cached("SELECT uidvalidity, last_uid FROM imap_mailboxes WHERE account = ?1 AND mailbox = ?2")?
        .query_row([account, mailbox], |row| Ok(Cursor { uidvalidity: row.get(0)?, last_uid: row.get(1)? }))
        .optional()
}

/// Records the position. A lower `last_uid` under the same UIDVALIDITY never replaces a
/// higher one, so two fetchers working on one mailbox cannot move it backwards.
pub fn advance(conn: &Connection, account: &str, mailbox: &str, cursor: Cursor, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.prepare_cached(
        "INSERT INTO imap_mailboxes (account, mailbox, uidvalidity, last_uid, updated) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account, mailbox) DO UPDATE SET
           last_uid = CASE WHEN uidvalidity = excluded.uidvalidity THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
           uidvalidity = excluded.uidvalidity,
           updated = excluded.updated",
    )?
    .execute(params![account, mailbox, cursor.uidvalidity, cursor.last_uid, format_time(now)])?;
    Ok(())
}

/// When the mailbox's cursor last moved: the last fetch that stored mail from it.
pub fn last_stored(conn: &Connection, account: &str, mailbox: &str) -> crate::store::Result<Option<String>> {
    conn.query_row("SELECT updated FROM imap_mailboxes WHERE account = ?1 AND mailbox = ?2", [account, mailbox], |row| row.get(0))
        .optional()
}
