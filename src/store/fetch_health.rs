//! The health of each fetched mailbox (account and mailbox name): last success, last
//! error, since when it fails, the advice for the admins, and whether they were told.

use chrono::{DateTime, Utc};
use crate::store::{params, Connection, OptionalExtension as _};

use crate::clock::{format_time, parse_time};

/// One mailbox's row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    pub account: String,
    pub mailbox: String,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Set while the mailbox fails: the first failure after the last success.
    pub failing_since: Option<DateTime<Utc>>,
    pub remedy: Option<String>,
    pub alerted: bool,
}

const COLUMNS: &str = "account, mailbox, last_success, last_error_at, last_error, failing_since, remedy, alerted";

fn read(row: &crate::store::Row<'_>) -> crate::store::Result<Health> {
    let time = |index: usize| -> crate::store::Result<Option<DateTime<Utc>>> { Ok(row.get::<_, Option<String>>(index)?.as_deref().and_then(parse_time)) };
    Ok(Health {
        account: row.get(0)?,
        mailbox: row.get(1)?,
        last_success: time(2)?,
        last_error_at: time(3)?,
        last_error: row.get(4)?,
        failing_since: time(5)?,
        remedy: row.get(6)?,
        alerted: row.get(7)?,
    })
}

pub fn get(conn: &Connection, account: &str, mailbox: &str) -> crate::store::Result<Option<Health>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM fetch_health WHERE account = ?1 AND mailbox = ?2"))?
        .query_row([account, mailbox], read)
        .optional()
}

pub fn list(conn: &Connection) -> crate::store::Result<Vec<Health>> {
    conn.prepare(&format!("SELECT {COLUMNS} FROM fetch_health ORDER BY account, mailbox"))?.query_map([], read)?.collect()
}

/// Records a successful pass; returns the row as it was before (to see whether the
/// admins were told of a failure that has now ended).
pub fn record_success(conn: &Connection, account: &str, mailbox: &str, now: DateTime<Utc>) -> crate::store::Result<Option<Health>> {
    let before = get(conn, account, mailbox)?;
    conn.prepare_cached(
        "INSERT INTO fetch_health (account, mailbox, last_success) VALUES (?1, ?2, ?3)
         ON CONFLICT (account, mailbox) DO UPDATE SET last_success = ?3, failing_since = NULL, remedy = NULL, alerted = 0",
    )?
    .execute(params![account, mailbox, format_time(now)])?;
    Ok(before)
}

/// Records a failure; returns the row after it.
pub fn record_failure(conn: &Connection, account: &str, mailbox: &str, error: &str, remedy: &str, now: DateTime<Utc>) -> crate::store::Result<Health> {
    conn.prepare_cached(
        "INSERT INTO fetch_health (account, mailbox, last_error_at, last_error, failing_since, remedy) VALUES (?1, ?2, ?3, ?4, ?3, ?5)
         ON CONFLICT (account, mailbox) DO UPDATE SET last_error_at = ?3, last_error = ?4, remedy = ?5,
             failing_since = COALESCE(fetch_health.failing_since, ?3)",
    )?
    .execute(params![account, mailbox, format_time(now), error, remedy])?;
    Ok(get(conn, account, mailbox)?.expect("just written"))
}

pub fn mark_alerted(conn: &Connection, account: &str, mailbox: &str) -> crate::store::Result<()> {
    conn.execute("UPDATE fetch_health SET alerted = 1 WHERE account = ?1 AND mailbox = ?2", [account, mailbox])?;
    Ok(())
}

/// Read through the partial index `people_admins` (migration 0030).
const ADMIN_ADDRESSES: &str = "SELECT (SELECT address FROM addresses a WHERE a.person = p.id ORDER BY is_primary DESC, address LIMIT 1)
     FROM people p WHERE p.role = 'admin' ORDER BY p.id";

/// The primary address of every admin in the store.
pub fn admin_addresses(conn: &Connection) -> crate::store::Result<Vec<String>> {
    conn.prepare_cached(ADMIN_ADDRESSES)?.query_map([], |row| row.get::<_, Option<String>>(0))?.filter_map(Result::transpose).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_start_and_a_success_ends_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&crate::config::StoreConfig { path: dir.path().join("db"), ..Default::default() }).unwrap();
        let conn = &store.conn;
        let at = |minute: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, minute, 0).unwrap();
        record_failure(conn, "help@imap:993", "INBOX", "refused", "log in", at(1)).unwrap();
        let health = record_failure(conn, "help@imap:993", "INBOX", "refused again", "log in", at(5)).unwrap();
        assert_eq!((health.failing_since, health.last_error_at, health.last_error.as_deref()), (Some(at(1)), Some(at(5)), Some("refused again")));
        mark_alerted(conn, "help@imap:993", "INBOX").unwrap();
        let before = record_success(conn, "help@imap:993", "INBOX", at(9)).unwrap().unwrap();
        assert!(before.alerted);
        let after = get(conn, "help@imap:993", "INBOX").unwrap().unwrap();
        assert_eq!((after.failing_since, after.alerted, after.last_success), (None, false, Some(at(9))));
        assert_eq!(after.last_error.as_deref(), Some("refused again"), "the last error stays visible");
    }

    /// Escalations of unowned tickets ask for the admins one by one: a probe, not a scan of
    /// every customer.
    #[test]
    fn the_admins_are_found_without_reading_everyone() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0).unwrap();
        for index in 0..20 {
            crate::store::people::create(conn, &format!("c{index}@example.org"), None, crate::ticket::Role::Customer, now).unwrap();
        }
        crate::store::people::create(conn, "boss@example.com", None, crate::ticket::Role::Admin, now).unwrap();
        assert_eq!(admin_addresses(conn).unwrap(), vec!["boss@example.com".to_string()]);
        let plan = crate::store::query_plan(conn, ADMIN_ADDRESSES, []);
        // A scan of the partial index reads the admins only.
        assert!(plan.iter().filter(|step| step.starts_with("SCAN p") || step.starts_with("SEARCH p")).all(|step| step.contains("people_admins")), "{plan:?}");
    }
}
