//! The sender: the person behind the From address, and their role.
//!
//! The identity is the addr-spec, never the display name. Unknown senders become
//! customers when the ticket change is applied.

use rusqlite::Connection;

use crate::parse::Mail;
use crate::store;
use crate::ticket::{PersonId, Role};

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The From addr-spec, lower-cased.
    pub address: String,
    pub name: Option<String>,
    /// The known person, or `None` for a first-time sender.
    pub person: Option<PersonId>,
    pub role: Role,
}

/// Finds the sender of `mail`; `None` when the message names no usable From address.
pub fn identify(conn: &Connection, mail: &Mail) -> rusqlite::Result<Option<Sender>> {
    let Some(from) = &mail.from else { return Ok(None) };
    let known = store::people::find_by_address(conn, &from.address)?;
    Ok(Some(Sender {
        address: from.address.clone(),
        name: from.name.clone(),
        person: known.map(|(person, _)| person),
        role: known.map_or(Role::Customer, |(_, role)| role),
    }))
}
