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
           last_uid = CASE WHEN imap_mailboxes.uidvalidity = excluded.uidvalidity THEN max(imap_mailboxes.last_uid, excluded.last_uid) ELSE excluded.last_uid END,
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

/// The right to fetch one mailbox, for gateways sharing one PostgreSQL database: a
/// session advisory lock keyed by account and mailbox, held on a connection of its own
/// for as long as the gateway fetches that mailbox. When the gateway dies its connection
/// closes and the server drops the lock, so another one takes over. A SQLite store is on
/// one machine, where fetchers that overlap are harmless (the spool keeps one copy and
/// the cursor never moves backwards): there every lease is granted.
pub struct MailboxLease {
    holder: Option<::postgres::Client>,
}

/// The lease on `mailbox` of `account`, or `None` while another gateway holds it.
pub fn try_lease(config: &crate::config::StoreConfig, account: &str, mailbox: &str) -> anyhow::Result<Option<MailboxLease>> {
    let Some(url) = &config.url else { return Ok(Some(MailboxLease { holder: None })) };
    let key = lease_key(account, mailbox);
    let mut client = super::postgres::Url::parse(url)?.connect()?;
    let granted: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?.get(0);
    Ok(granted.then(|| MailboxLease { holder: Some(client) }))
}

impl MailboxLease {
    /// Whether the lease still holds: the lock lives as long as its connection, which a
    /// server restart or a cut network ends without telling the gateway.
    pub fn held(&mut self) -> bool {
        match &mut self.holder {
            None => true,
            Some(client) => client.is_valid(std::time::Duration::from_secs(10)).is_ok(),
        }
    }
}

impl Drop for MailboxLease {
    fn drop(&mut self) {
        // Closing the connection ends the lock. The client closes by blocking on its own
        // runtime, which must not happen on a thread of the daemon's runtime.
        if let Some(client) = self.holder.take() {
            std::thread::spawn(move || drop(client));
        }
    }
}

/// A lock key for the mailbox, the same in every gateway: the first 8 bytes of a SHA-256.
fn lease_key(account: &str, mailbox: &str) -> i64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("reqmail imap lease\0{account}\0{mailbox}"));
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}
