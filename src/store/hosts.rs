//! Hosts from the site's inventory: location, owner and description by name.

use chrono::{DateTime, Utc};
use crate::store::{params, Backend, Connection, OptionalExtension as _};

use crate::clock::format_time;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub location: Option<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
}

/// Records `host`, replacing what was known of it; true when it is new.
pub fn upsert(conn: &Connection, host: &Host, now: DateTime<Utc>) -> crate::store::Result<bool> {
    let known = get(conn, &host.name)?.is_some();
    // SQLite's name is NOCASE; PostgreSQL's twin has a unique index on lower(name).
    let conflict = match conn.backend() {
        Backend::Sqlite => "name",
        Backend::Postgres => "(lower(name))",
    };
    conn.prepare_cached(&format!(
        "INSERT INTO hosts (name, location, owner, description, updated) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT ({conflict}) DO UPDATE SET location = ?2, owner = ?3, description = ?4, updated = ?5"
    ))?
    .execute(params![host.name, host.location, host.owner, host.description, format_time(now)])?;
    Ok(!known)
}

/// The host named `name` (any case).
pub fn get(conn: &Connection, name: &str) -> crate::store::Result<Option<Host>> {
    let sql = match conn.backend() {
        Backend::Sqlite => "SELECT name, location, owner, description FROM hosts WHERE name = ?1",
        Backend::Postgres => "SELECT name, location, owner, description FROM hosts WHERE lower(name) = lower(?1)",
    };
    conn.prepare_cached(sql)?
        .query_row([name], |row| Ok(Host { name: row.get(0)?, location: row.get(1)?, owner: row.get(2)?, description: row.get(3)? }))
        .optional()
}
