//! People and their addresses.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::clock::format_time;
use crate::ticket::{PersonId, Role};

/// A person as `person list` shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PersonRow {
    pub id: i64,
    pub name: Option<String>,
    pub role: String,
    pub addresses: Vec<String>,
    /// Addresses that bounced permanently: `address until TIME (reason)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undeliverable: Vec<String>,
}

pub fn find_by_address(conn: &Connection, address: &str) -> rusqlite::Result<Option<(PersonId, Role)>> {
    conn.prepare_cached(
        "SELECT people.id, people.role FROM addresses JOIN people ON people.id = addresses.person WHERE addresses.address = ?1",
    )?
    .query_row([address.to_lowercase()], |row| {
        let role: String = row.get(1)?;
        Ok((PersonId(row.get(0)?), role.parse().unwrap_or(Role::Customer)))
    })
    .optional()
}

/// Adds a person with one primary address.
pub fn create(
    conn: &Connection,
    address: &str,
    name: Option<&str>,
    role: Role,
    now: DateTime<Utc>,
) -> rusqlite::Result<PersonId> {
    conn.prepare_cached("INSERT INTO people (name, role, created) VALUES (?1, ?2, ?3)")?
        .execute(params![name, role.as_str(), format_time(now)])?;
    let person = PersonId(conn.last_insert_rowid());
    conn.prepare_cached("INSERT INTO addresses (address, person, is_primary) VALUES (?1, ?2, 1)")?
        .execute(params![address.to_lowercase(), person.0])?;
    Ok(person)
}

/// The person with `address`, created as `role` when unknown.
pub fn find_or_create(
    conn: &Connection,
    address: &str,
    name: Option<&str>,
    role: Role,
    now: DateTime<Utc>,
) -> rusqlite::Result<PersonId> {
    match find_by_address(conn, address)? {
        Some((person, _)) => Ok(person),
        None => create(conn, address, name, role, now),
    }
}

pub fn primary_address(conn: &Connection, person: PersonId) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT address FROM addresses WHERE person = ?1 ORDER BY is_primary DESC, address LIMIT 1")?
        .query_row([person.0], |row| row.get(0))
        .optional()
}

pub fn set_role(conn: &Connection, person: PersonId, role: Role, name: Option<&str>) -> rusqlite::Result<()> {
    conn.execute("UPDATE people SET role = ?1, name = COALESCE(?2, name) WHERE id = ?3", params![role.as_str(), name, person.0])?;
    Ok(())
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<PersonRow>> {
    let mut people: Vec<PersonRow> = conn
        .prepare("SELECT id, name, role FROM people ORDER BY id")?
        .query_map([], |row| Ok(PersonRow { id: row.get(0)?, name: row.get(1)?, role: row.get(2)?, addresses: Vec::new(), undeliverable: Vec::new() }))?
        .collect::<rusqlite::Result<_>>()?;
    let mut statement = conn.prepare("SELECT address FROM addresses WHERE person = ?1 ORDER BY is_primary DESC, address")?;
    for person in &mut people {
        person.addresses = statement.query_map([person.id], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    }
    Ok(people)
}
