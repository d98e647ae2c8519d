//! The directory from files: `reqmail person import FILE.csv` adds and updates people
//! (address, name, role, organisation, other addresses) without touching their tickets;
//! `reqmail host import FILE.csv` records hosts with their location and owner, which
//! `ticket show` gives beside a ticket's `Host:`. A malformed row is reported with its
//! line and skipped; the rest is imported in one transaction. `ldap.rs` brings people
//! from an LDAP directory the same way.

use std::path::Path;

use chrono::{DateTime, Utc};
use crate::store::Connection;

use crate::store;
use crate::ticket::{PersonId, Role};

/// What an import did; `skipped` holds one message per malformed row, naming its line.
#[derive(Debug, Default)]
pub struct Imported {
    pub added: usize,
    pub updated: usize,
    pub skipped: Vec<String>,
}

/// The columns of a people file, each with the header names it may have (any case).
const PEOPLE_COLUMNS: &[&[&str]] = &[&["address", "email"], &["name"], &["role"], &["organisation", "organization"], &["addresses", "other addresses"]];
/// The columns of a hosts file.
const HOST_COLUMNS: &[&[&str]] = &[&["host", "name"], &["location"], &["owner"], &["description"]];

/// One person read and checked, from a row or a directory entry.
pub struct Person {
    /// The first is the one the person is known by; there is at least one.
    pub addresses: Vec<String>,
    pub name: Option<String>,
    /// `None` leaves a known person's role as it is (a new one becomes a customer).
    pub role: Option<Role>,
    pub organisation: Option<String>,
}

/// Imports the people in the CSV file at `path` in the caller's transaction.
pub fn import_people(conn: &Connection, path: &Path, now: DateTime<Utc>) -> anyhow::Result<Imported> {
    import_rows(path, PEOPLE_COLUMNS, |fields| store_person(conn, &read_person(fields)?, now))
}

/// Imports the hosts in the CSV file at `path` (host, location, owner, description),
/// replacing what was known of each host named.
pub fn import_hosts(conn: &Connection, path: &Path, now: DateTime<Utc>) -> anyhow::Result<Imported> {
    import_rows(path, HOST_COLUMNS, |fields| {
        let name = fields[0].as_deref().ok_or_else(|| anyhow::anyhow!("no host name"))?;
        if name.chars().any(char::is_whitespace) {
            anyhow::bail!("host {name:?} has a space in its name");
        }
        let host = store::hosts::Host { name: name.to_string(), location: fields[1].clone(), owner: fields[2].clone(), description: fields[3].clone() };
        Ok(store::hosts::upsert(conn, &host, now)?)
    })
}

/// Reads the CSV file at `path`, whose header line names some of `columns` (the first is
/// required), and hands each row's fields in that order to `row` (true: added, false:
/// updated); a row that fails is reported with its line and skipped.
fn import_rows(path: &Path, columns: &[&[&str]], mut row: impl FnMut(&[Option<String>]) -> anyhow::Result<bool>) -> anyhow::Result<Imported> {
    let text = std::fs::read(path).map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display()))?;
    // The line from the byte offset (a record's offset is where the blank lines before
    // it begin): csv's own line count leaves blank lines out.
    let line_at = |position: Option<&csv::Position>| {
        position.map_or(0, |position| {
            let start = (position.byte() as usize).min(text.len());
            let blank = text[start..].iter().take_while(|&&byte| byte == b'\n' || byte == b'\r').count();
            1 + text[..start + blank].iter().filter(|&&byte| byte == b'\n').count()
        })
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_slice());
    let headers = reader.headers().map_err(|error| anyhow::anyhow!("{}: cannot read the header line: {error}", path.display()))?.clone();
    let positions = find_columns(&headers, columns).map_err(|problem| anyhow::anyhow!("{}: {problem}", path.display()))?;
    let mut imported = Imported::default();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                imported.skipped.push(format!("{} line {}: {error}", path.display(), line_at(error.position())));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let fields: Vec<Option<String>> = positions
            .iter()
            .map(|position| position.and_then(|index| record.get(index)).filter(|value| !value.is_empty()).map(str::to_string))
            .collect();
        match row(&fields) {
            Ok(true) => imported.added += 1,
            Ok(false) => imported.updated += 1,
            Err(problem) => imported.skipped.push(format!("{} line {}: {problem}; row skipped", path.display(), line_at(record.position()))),
        }
    }
    Ok(imported)
}

/// Where each of `columns` is in the header line; the first must be there, and every
/// header must be one of them.
fn find_columns(headers: &csv::StringRecord, columns: &[&[&str]]) -> Result<Vec<Option<usize>>, String> {
    let header_names: Vec<String> = headers.iter().map(|header| header.trim_start_matches('\u{feff}').to_lowercase()).collect();
    let listed: Vec<&str> = columns.iter().map(|names| names[0]).collect();
    if let Some(unknown) = header_names.iter().find(|header| !columns.iter().any(|names| names.contains(&header.as_str()))) {
        return Err(format!("unknown column {unknown:?} in the header line; the columns are {}", listed.join(", ")));
    }
    let positions: Vec<Option<usize>> =
        columns.iter().map(|names| header_names.iter().position(|header| names.contains(&header.as_str()))).collect();
    if positions[0].is_none() {
        return Err(format!("the header line has no {} column ({})", listed[0], listed.join(", ")));
    }
    Ok(positions)
}

fn read_person(fields: &[Option<String>]) -> anyhow::Result<Person> {
    let primary = fields[0].as_deref().ok_or_else(|| anyhow::anyhow!("no address"))?;
    let others = fields[4].as_deref().unwrap_or_default();
    let addresses = read_addresses(std::iter::once(primary).chain(others.split([' ', ';', ',']).filter(|address| !address.is_empty())))?;
    let role = fields[2]
        .as_deref()
        .map(|role| role.to_lowercase().parse::<Role>().map_err(|_| anyhow::anyhow!("role {role:?} is not one of customer, agent, vendor, admin")))
        .transpose()?;
    Ok(Person { addresses, name: fields[1].clone(), role, organisation: fields[3].clone() })
}

/// The addresses in `texts`, each checked and lower-cased, without repeats.
pub fn read_addresses<'a>(texts: impl IntoIterator<Item = &'a str>) -> anyhow::Result<Vec<String>> {
    let mut addresses = Vec::new();
    for text in texts {
        let address = crate::parse::bare_address(text).ok_or_else(|| anyhow::anyhow!("{text:?} is not an address like ann@example.com"))?;
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    Ok(addresses)
}

/// Adds or updates the person of the row's first address; true when added.
fn store_person(conn: &Connection, person: &Person, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let known = store::people::find_by_address(conn, &person.addresses[0])?.map(|(id, _)| id);
    Ok(store_person_as(conn, person, known, now)?.1)
}

/// Updates `known` (else adds a person) with what `person` says; true when added.
/// Another address that someone else has already is refused: merging people is a
/// decision for `person set`, not a side effect of a file or a directory.
pub fn store_person_as(conn: &Connection, person: &Person, known: Option<PersonId>, now: DateTime<Utc>) -> anyhow::Result<(PersonId, bool)> {
    for address in &person.addresses {
        if let Some((other, _)) = store::people::find_by_address(conn, address)? {
            if known.is_none_or(|id| id != other) {
                anyhow::bail!("{address} belongs to another person than {}", person.addresses[0]);
            }
        }
    }
    let (id, added) = match known {
        Some(id) => {
            if person.role.is_some() || person.name.is_some() {
                let role = match person.role {
                    Some(role) => role,
                    None => store::people::stored_role(conn, id)?,
                };
                store::people::set_role(conn, id, role, person.name.as_deref())?;
            }
            (id, false)
        }
        None => (store::people::create(conn, &person.addresses[0], person.name.as_deref(), person.role.unwrap_or(Role::Customer), now)?, true),
    };
    for address in &person.addresses {
        if store::people::find_by_address(conn, address)?.is_none() {
            store::people::add_address(conn, id, address)?;
        }
    }
    if let Some(organisation) = &person.organisation {
        store::people::set_organisation(conn, id, Some(organisation))?;
    }
    Ok((id, added))
}
