//! People as a directory manages them (their entry's key, retirement) and the state of
//! the last sync from each directory.

use chrono::{DateTime, Utc};
use crate::store::{params, Connection, OptionalExtension as _};

use crate::clock::{format_time, parse_time};
use crate::ticket::PersonId;

/// The person whose directory entry has `key`.
pub fn person_by_key(conn: &Connection, key: &str) -> crate::store::Result<Option<PersonId>> {
    conn.prepare_cached("SELECT id FROM people WHERE directory_key = ?1")?.query_row([key], |row| Ok(PersonId(row.get(0)?))).optional()
}

/// The key of the directory entry that manages `person`, if one does.
pub fn key_of(conn: &Connection, person: PersonId) -> crate::store::Result<Option<String>> {
    conn.prepare_cached("SELECT directory_key FROM people WHERE id = ?1")?.query_row([person.0], |row| row.get(0))
}

/// Marks `person` as managed by the directory entry `key`, and active.
pub fn manage(conn: &Connection, person: PersonId, key: &str) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE people SET directory_key = ?2, retired = NULL WHERE id = ?1")?.execute(params![person.0, key])?;
    Ok(())
}

/// The people a directory manages who are not retired, with their keys.
pub fn active_managed(conn: &Connection) -> crate::store::Result<Vec<(PersonId, String)>> {
    conn.prepare("SELECT id, directory_key FROM people WHERE directory_key IS NOT NULL AND retired IS NULL ORDER BY id")?
        .query_map([], |row| Ok((PersonId(row.get(0)?), row.get(1)?)))?
        .collect()
}

/// Retires `person` as of `now`: they keep their tickets and history and count as a customer.
pub fn retire(conn: &Connection, person: PersonId, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE people SET retired = ?2 WHERE id = ?1 AND retired IS NULL")?.execute(params![person.0, format_time(now)])?;
    Ok(())
}

/// Whether the person who has `address` is retired.
pub fn is_retired(conn: &Connection, address: &str) -> crate::store::Result<bool> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT people.retired IS NOT NULL FROM addresses JOIN people ON people.id = addresses.person WHERE addresses.address = {}",
            crate::store::people::BOUND_ADDRESS
        ))?
        .query_row([address.to_lowercase()], |row| row.get(0))
        .optional()?
        .unwrap_or(false))
}

/// What is known of the syncs from one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    pub last_attempt: DateTime<Utc>,
    pub last_success: Option<DateTime<Utc>>,
    /// How many people the last successful sync listed.
    pub people: i64,
    /// Why the last attempt failed; `None` when it worked.
    pub last_error: Option<String>,
}

pub fn sync_state(conn: &Connection, directory: &str) -> crate::store::Result<Option<SyncState>> {
    conn.prepare_cached("SELECT last_attempt, last_success, people, last_error FROM directory_syncs WHERE directory = ?1")?
        .query_row([directory], |row| {
            let last_attempt: String = row.get(0)?;
            let last_success: Option<String> = row.get(1)?;
            Ok(SyncState {
                last_attempt: parse_time(&last_attempt).unwrap_or_default(),
                last_success: last_success.as_deref().and_then(parse_time),
                people: row.get(2)?,
                last_error: row.get(3)?,
            })
        })
        .optional()
}

/// Records a sync that listed `people` people.
pub fn record_success(conn: &Connection, directory: &str, people: usize, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.prepare_cached(
        "INSERT INTO directory_syncs (directory, last_attempt, last_success, people, last_error) VALUES (?1, ?2, ?2, ?3, NULL)
         ON CONFLICT (directory) DO UPDATE SET last_attempt = ?2, last_success = ?2, people = ?3, last_error = NULL",
    )?
    .execute(params![directory, format_time(now), people as i64])?;
    Ok(())
}

/// Records a sync that failed with `error`; the last success stays as it was.
pub fn record_failure(conn: &Connection, directory: &str, error: &str, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.prepare_cached(
        "INSERT INTO directory_syncs (directory, last_attempt, last_error) VALUES (?1, ?2, ?3)
         ON CONFLICT (directory) DO UPDATE SET last_attempt = ?2, last_error = ?3",
    )?
    .execute(params![directory, format_time(now), error])?;
    Ok(())
}

/// Everything a sync may change about `person`, as one comparable text.
pub fn fingerprint(conn: &Connection, person: PersonId) -> crate::store::Result<String> {
    // The fields are separated by the unit separator, which no name or address holds
    // (PostgreSQL's text takes no NUL).
    conn.prepare_cached(
        "SELECT coalesce(name, '') || char(31) || role || char(31) || coalesce(organisation, '') || char(31) || coalesce(retired, '') || char(31) || coalesce(directory_key, '')
            || char(31) || (SELECT group_concat(address || ':' || is_primary, ' ') FROM (SELECT address, is_primary FROM addresses WHERE person = ?1 ORDER BY address))
         FROM people WHERE id = ?1",
    )?
    .query_row([person.0], |row| row.get(0))
}
