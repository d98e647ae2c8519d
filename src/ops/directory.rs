//! The people directory from a file: `reqmail person import FILE.csv` adds and updates
//! people (address, name, role, organisation, other addresses) without touching their
//! tickets. A malformed row is reported with its line and skipped; the rest is imported
//! in one transaction.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::store;
use crate::ticket::Role;

/// What an import did; `skipped` holds one message per malformed row, naming its line.
#[derive(Debug, Default)]
pub struct Imported {
    pub added: usize,
    pub updated: usize,
    pub skipped: Vec<String>,
}

/// The columns, by header name (any case; "email" and "organization" also do).
struct Columns {
    address: usize,
    name: Option<usize>,
    role: Option<usize>,
    organisation: Option<usize>,
    addresses: Option<usize>,
}

/// One row read and checked.
struct Person {
    addresses: Vec<String>,
    name: Option<String>,
    role: Option<Role>,
    organisation: Option<String>,
}

/// Imports the people in the CSV file at `path` in the caller's transaction.
pub fn import_people(conn: &Connection, path: &Path, now: DateTime<Utc>) -> anyhow::Result<Imported> {
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
    let columns = columns(&headers).map_err(|problem| anyhow::anyhow!("{}: {problem}", path.display()))?;
    let mut imported = Imported::default();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = line_at(error.position());
                imported.skipped.push(format!("{} line {line}: {error}", path.display()));
                continue;
            }
        };
        let line = line_at(record.position());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let outcome = read_row(&record, &columns).and_then(|person| Ok(store_person(conn, &person, now)?));
        match outcome {
            Ok(true) => imported.added += 1,
            Ok(false) => imported.updated += 1,
            Err(problem) => imported.skipped.push(format!("{} line {line}: {problem}; row skipped", path.display())),
        }
    }
    Ok(imported)
}

fn columns(headers: &csv::StringRecord) -> Result<Columns, String> {
    let find = |names: &[&str]| headers.iter().position(|header| names.iter().any(|name| header.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name)));
    for header in headers.iter() {
        let known = ["address", "email", "name", "role", "organisation", "organization", "addresses", "other addresses"];
        if !known.iter().any(|name| header.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name)) {
            return Err(format!("unknown column {header:?} in the header line; the columns are address, name, role, organisation, addresses"));
        }
    }
    Ok(Columns {
        address: find(&["address", "email"]).ok_or("the header line has no address column (address, name, role, organisation, addresses)")?,
        name: find(&["name"]),
        role: find(&["role"]),
        organisation: find(&["organisation", "organization"]),
        addresses: find(&["addresses", "other addresses"]),
    })
}

fn read_row(record: &csv::StringRecord, columns: &Columns) -> anyhow::Result<Person> {
    let field = |index: Option<usize>| index.and_then(|index| record.get(index)).filter(|value| !value.is_empty()).map(str::to_string);
    let primary = field(Some(columns.address)).ok_or_else(|| anyhow::anyhow!("no address"))?;
    let others = field(columns.addresses).unwrap_or_default();
    let mut addresses = Vec::new();
    for text in std::iter::once(primary.as_str()).chain(others.split([' ', ';', ',']).filter(|address| !address.is_empty())) {
        let address = crate::parse::bare_address(text).ok_or_else(|| anyhow::anyhow!("{text:?} is not an address like ann@example.com"))?;
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    let role = field(columns.role)
        .map(|role| role.to_lowercase().parse::<Role>().map_err(|_| anyhow::anyhow!("role {role:?} is not one of customer, agent, vendor, admin")))
        .transpose()?;
    Ok(Person { addresses, name: field(columns.name), role, organisation: field(columns.organisation) })
}

/// Adds or updates the person of the row's first address; true when added. Another
/// address that someone else has already is refused: merging people is a decision for
/// `person set`, not a side effect of a file.
fn store_person(conn: &Connection, person: &Person, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let known = store::people::find_by_address(conn, &person.addresses[0])?;
    for address in &person.addresses[1..] {
        if let Some((other, _)) = store::people::find_by_address(conn, address)? {
            if known.is_none_or(|(id, _)| id != other) {
                anyhow::bail!("{address} belongs to another person than {}", person.addresses[0]);
            }
        }
    }
    let (id, added) = match known {
        Some((id, role)) => {
            if person.role.is_some() || person.name.is_some() {
                store::people::set_role(conn, id, person.role.unwrap_or(role), person.name.as_deref())?;
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
    Ok(added)
}
