//! Who hears about a change: requester, owner, Cc and the queue's watchers, each with
//! their own preferences; never the actor unless they asked; internal notes only to
//! agents and admins.

use rusqlite::Connection;

use super::Rules;
use crate::store;
use crate::ticket::{Role, Ticket};

/// One recipient with what shapes their copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub address: String,
    pub name: Option<String>,
    pub role: Role,
    pub brief: bool,
    pub language: String,
}

/// The readers of a change to `ticket` made by `actor`.
pub fn readers(conn: &Connection, rules: &Rules, ticket: &Ticket, actor: &str, internal: bool) -> rusqlite::Result<Vec<Reader>> {
    let queue_watchers = rules.queue(&ticket.queue).map(|queue| queue.watchers.clone()).unwrap_or_default();
    let candidates = std::iter::once(ticket.requester.clone())
        .chain(ticket.owner.clone())
        .chain(ticket.cc.iter().cloned())
        .chain(queue_watchers);
    let mut readers: Vec<Reader> = Vec::new();
    for address in candidates {
        if address.is_empty() || readers.iter().any(|reader| reader.address == address) {
            continue;
        }
        let profile = store::people::profile(conn, &address)?;
        let configured = rules.configured_person(&address);
        let role = configured.map(|person| person.role).or(profile.as_ref().map(|profile| profile.role)).unwrap_or(Role::Customer);
        let own = address.eq_ignore_ascii_case(actor);
        if own && !profile.as_ref().is_some_and(|profile| profile.notify_own_actions) {
            continue;
        }
        if internal && !matches!(role, Role::Agent | Role::Admin) {
            continue;
        }
        readers.push(Reader {
            name: configured.and_then(|person| person.name.clone()).or(profile.as_ref().and_then(|profile| profile.name.clone())),
            role,
            brief: profile.as_ref().is_some_and(|profile| profile.brief),
            language: profile.map_or_else(|| "en".to_string(), |profile| profile.language),
            address,
        });
    }
    Ok(readers)
}
