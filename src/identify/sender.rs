//! The sender: the person behind the From address, and their role.
//!
//! The identity is the addr-spec, never the display name. Unknown senders become
//! customers when the ticket change is applied.

use rusqlite::Connection;

use crate::config::IdentifyConfig;
use crate::parse::Mail;
use crate::rules::Rules;
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
    /// Whether the From address is proven (DESIGN §4); only authentic senders may
    /// issue commands, approve, or change the Cc list.
    pub trust: Trust,
}

/// How far a sender's From address can be believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Proven: the reply token of this recipient, or aligned DMARC/DKIM/SPF results
    /// from the trusted receiving server.
    Authentic { by: String },
    /// Not proven; the text may be kept as a note, flagged as unverified.
    Unverified { reason: String },
}

impl Trust {
    pub fn is_authentic(&self) -> bool {
        matches!(self, Trust::Authentic { .. })
    }
}

/// Finds the sender of `mail`; `None` when the message names no usable From address.
/// A role given in the configuration wins over the one stored in the database.
pub fn identify(conn: &Connection, rules: &Rules, config: &IdentifyConfig, mail: &Mail) -> rusqlite::Result<Option<Sender>> {
    let Some(from) = &mail.from else { return Ok(None) };
    let known = store::people::find_by_address(conn, &from.address)?;
    let configured = rules.configured_person(&from.address);
    let trust = if config.trust_from_header && mail.from_count == 1 {
        Trust::Authentic { by: "identify.trust_from_header".into() }
    } else {
        Trust::Unverified { reason: "no reply token and no trusted authentication results".into() }
    };
    Ok(Some(Sender {
        address: from.address.clone(),
        name: from.name.clone().or_else(|| configured.and_then(|person| person.name.clone())),
        person: known.map(|(person, _)| person),
        role: configured.map(|person| person.role).or(known.map(|(_, role)| role)).unwrap_or(Role::Customer),
        trust,
    }))
}
