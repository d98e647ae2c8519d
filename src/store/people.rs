//! People and their addresses.

use chrono::{DateTime, Utc};
use crate::store::{params, Connection, OptionalExtension};

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
    /// When the person left the directory; they act as a customer since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired: Option<String>,
}

/// The role a person acts in: a retired person (one who left the directory) keeps their
/// stored role for the record but is treated as a customer everywhere.
const ACTING_ROLE: &str = "CASE WHEN people.retired IS NULL THEN people.role ELSE 'customer' END";

/// The address a look-up binds, as an expression: a SQLite built with STAT4 (ours is
/// not, `.cargo/config.toml`) prepares a statement anew on every binding of a parameter
/// it compares directly with a column that ANALYZE sampled, and these look-ups run for
/// every letter; the cast leaves the plan (the address's unique key) as it is.
pub(crate) const BOUND_ADDRESS: &str = "CAST(?1 AS TEXT)";

pub fn find_by_address(conn: &Connection, address: &str) -> crate::store::Result<Option<(PersonId, Role)>> {
    conn.prepare_cached(&format!(
        "SELECT people.id, {ACTING_ROLE} FROM addresses JOIN people ON people.id = addresses.person WHERE addresses.address = {BOUND_ADDRESS}"
    ))?
    .query_row([address.to_lowercase()], |row| {
        let role: String = row.get(1)?;
        Ok((PersonId(row.get(0)?), role.parse().unwrap_or(Role::Customer)))
    })
    .optional()
}

/// Every address of the person who has `address` (primary first), or `address` alone when
/// nobody has it.
pub fn addresses_of(conn: &Connection, address: &str) -> crate::store::Result<Vec<String>> {
    let address = address.to_lowercase();
    let mut addresses: Vec<String> = conn
        .prepare_cached(
            "SELECT mine.address FROM addresses AS given JOIN addresses AS mine ON mine.person = given.person
             WHERE given.address = ?1 ORDER BY mine.is_primary DESC, mine.address",
        )?
        .query_map([&address], |row| row.get(0))?
        .collect::<crate::store::Result<_>>()?;
    if addresses.is_empty() {
        addresses.push(address);
    }
    Ok(addresses)
}

/// Adds a person with one primary address.
pub fn create(
    conn: &Connection,
    address: &str,
    name: Option<&str>,
    role: Role,
    now: DateTime<Utc>,
) -> crate::store::Result<PersonId> {
    conn.prepare_cached("INSERT INTO people (name, role, created) VALUES (?1, ?2, ?3)")?
        .execute(params![name, role.as_str(), format_time(now)])?;
    let person = PersonId(conn.last_insert_rowid()?);
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
) -> crate::store::Result<PersonId> {
    match find_by_address(conn, address)? {
        Some((person, _)) => Ok(person),
        None => create(conn, address, name, role, now),
    }
}

pub fn primary_address(conn: &Connection, person: PersonId) -> crate::store::Result<Option<String>> {
    conn.prepare_cached("SELECT address FROM addresses WHERE person = ?1 ORDER BY is_primary DESC, address LIMIT 1")?
        .query_row([person.0], |row| row.get(0))
        .optional()
}

/// The role stored for `person`, even when they are retired.
pub fn stored_role(conn: &Connection, person: PersonId) -> crate::store::Result<Role> {
    let role: String = conn.prepare_cached("SELECT role FROM people WHERE id = ?1")?.query_row([person.0], |row| row.get(0))?;
    Ok(role.parse().unwrap_or(Role::Customer))
}

pub fn set_role(conn: &Connection, person: PersonId, role: Role, name: Option<&str>) -> crate::store::Result<()> {
    conn.execute("UPDATE people SET role = ?1, name = COALESCE(?2, name) WHERE id = ?3", params![role.as_str(), name, person.0])?;
    Ok(())
}

pub fn list(conn: &Connection) -> crate::store::Result<Vec<PersonRow>> {
    let mut people: Vec<PersonRow> = conn
        .prepare("SELECT id, name, role, retired FROM people ORDER BY id")?
        .query_map([], |row| {
            Ok(PersonRow { id: row.get(0)?, name: row.get(1)?, role: row.get(2)?, addresses: Vec::new(), undeliverable: Vec::new(), retired: row.get(3)? })
        })?
        .collect::<crate::store::Result<_>>()?;
    let mut statement = conn.prepare("SELECT address FROM addresses WHERE person = ?1 ORDER BY is_primary DESC, address")?;
    for person in &mut people {
        person.addresses = statement.query_map([person.id], |row| row.get(0))?.collect::<crate::store::Result<_>>()?;
    }
    Ok(people)
}

/// What a person wants from notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub person: PersonId,
    pub role: Role,
    pub name: Option<String>,
    pub brief: bool,
    pub language: String,
    pub notify_own_actions: bool,
}

pub fn profile(conn: &Connection, address: &str) -> crate::store::Result<Option<Profile>> {
    conn.prepare_cached(&format!(
        "SELECT people.id, {ACTING_ROLE}, people.name, people.format, people.language, people.notify_own_actions
         FROM addresses JOIN people ON people.id = addresses.person WHERE addresses.address = {BOUND_ADDRESS}"
    ))?
    .query_row([address.to_lowercase()], |row| {
        let role: String = row.get(1)?;
        let format: String = row.get(3)?;
        Ok(Profile {
            person: PersonId(row.get(0)?),
            role: role.parse().unwrap_or(Role::Customer),
            name: row.get(2)?,
            brief: format == "brief",
            language: row.get(4)?,
            notify_own_actions: row.get::<_, i64>(5)? != 0,
        })
    })
    .optional()
}

/// Finds a person by address, or by name when exactly one person has it.
pub fn find_by_address_or_name(conn: &Connection, text: &str) -> crate::store::Result<Option<(PersonId, Role, String)>> {
    if let Some(address) = crate::parse::bare_address(text) {
        return Ok(find_by_address(conn, &address)?.map(|(person, role)| (person, role, address)));
    }
    let matches: Vec<(i64, String)> = conn
        .prepare_cached(&format!("SELECT id, {ACTING_ROLE} FROM people WHERE lower(name) = lower(?1) LIMIT 2"))?
        .query_map([text.trim()], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<crate::store::Result<_>>()?;
    match matches.as_slice() {
        [(id, role)] => {
            let address = primary_address(conn, PersonId(*id))?.unwrap_or_default();
            Ok(Some((PersonId(*id), role.parse().unwrap_or(Role::Customer), address)))
        }
        _ => Ok(None),
    }
}

pub fn set_preferences(
    conn: &Connection,
    person: PersonId,
    brief: Option<bool>,
    language: Option<&str>,
    notify_own_actions: Option<bool>,
) -> crate::store::Result<()> {
    conn.execute(
        "UPDATE people SET format = COALESCE(?2, format), language = COALESCE(?3, language),
         notify_own_actions = COALESCE(?4, notify_own_actions) WHERE id = ?1",
        params![person.0, brief.map(|brief| if brief { "brief" } else { "full" }), language, notify_own_actions],
    )?;
    Ok(())
}

pub fn set_organisation(conn: &Connection, person: PersonId, organisation: Option<&str>) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE people SET organisation = ?2 WHERE id = ?1")?.execute(params![person.0, organisation])?;
    Ok(())
}

pub fn add_address(conn: &Connection, person: PersonId, address: &str) -> crate::store::Result<()> {
    conn.execute("INSERT INTO addresses (address, person, is_primary) VALUES (?1, ?2, 0)", params![address.to_lowercase(), person.0])?;
    Ok(())
}

/// Removes an address; the person keeps their identity through the others.
pub fn remove_address(conn: &Connection, address: &str) -> crate::store::Result<bool> {
    Ok(conn.execute("DELETE FROM addresses WHERE address = ?1", [address.to_lowercase()])? == 1)
}

pub fn set_primary(conn: &Connection, person: PersonId, address: &str) -> crate::store::Result<()> {
    conn.execute("UPDATE addresses SET is_primary = CASE WHEN address = ?2 THEN 1 ELSE 0 END WHERE person = ?1", params![person.0, address.to_lowercase()])?;
    Ok(())
}

/// Whether `notice` was already sent to `address`; records it when not.
pub fn first_notice(conn: &Connection, address: &str, notice: &str, now: DateTime<Utc>) -> crate::store::Result<bool> {
    Ok(conn
        .prepare_cached("INSERT OR IGNORE INTO notices_sent (address, notice, at) VALUES (?1, ?2, ?3)")?
        .execute(params![address, notice, format_time(now)])?
        == 1)
}

/// One address of a person named in the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConfiguredAddress<'a> {
    pub address: &'a str,
    /// The person's first address, under which they are stored.
    pub primary: &'a str,
    pub role: Role,
    pub name: Option<&'a str>,
}

/// Brings the people named in the configuration into the database (creating them, adding
/// their addresses, setting role and name), once per change of that list.
pub fn sync_configured(conn: &Connection, configured: &[ConfiguredAddress<'_>], now: DateTime<Utc>) -> crate::store::Result<()> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for ConfiguredAddress { address, primary, role, name } in configured {
        hasher.update(format!("{address}\0{primary}\0{role}\0{name:?}\n"));
    }
    let fingerprint = hex::encode(hasher.finalize());
    if crate::store::setting(conn, "configured_people")?.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    for &ConfiguredAddress { address, primary, role, name } in configured {
        let person = match find_by_address(conn, primary)? {
            Some((person, _)) => person,
            None => create(conn, primary, name, role, now)?,
        };
        match find_by_address(conn, address)? {
            None => add_address(conn, person, address)?,
            Some((owner, _)) if owner != person => {
                tracing::warn!(address, "configured address already belongs to another person; left there");
            }
            Some(_) => {}
        }
        set_role(conn, person, role, name)?;
    }
    crate::store::set_setting(conn, "configured_people", &fingerprint)
}

/// How many addresses the person has and how many tickets they request or own.
pub fn addresses_and_tickets(conn: &Connection, person: PersonId) -> crate::store::Result<(i64, i64)> {
    let addresses = conn.prepare_cached("SELECT COUNT(*) FROM addresses WHERE person = ?1")?.query_row([person.0], |row| row.get(0))?;
    let tickets = conn
        .prepare_cached("SELECT COUNT(*) FROM tickets WHERE requester = ?1 OR owner = ?1")?
        .query_row([person.0], |row| row.get(0))?;
    Ok((addresses, tickets))
}

/// Whether `address` is its person's primary address.
pub fn is_primary(conn: &Connection, address: &str) -> crate::store::Result<bool> {
    conn.prepare_cached("SELECT is_primary FROM addresses WHERE address = ?1")?.query_row([address], |row| row.get(0))
}

/// Makes the first of the person's addresses (in address order) the primary one.
pub fn promote_first_address(conn: &Connection, person: PersonId) -> crate::store::Result<()> {
    conn.prepare_cached(
        "UPDATE addresses SET is_primary = 1 WHERE address = (SELECT address FROM addresses WHERE person = ?1 ORDER BY address LIMIT 1)",
    )?
    .execute([person.0])?;
    Ok(())
}
