//! Who reads which letter: the sender gets receipts, refusals and clarifications; the
//! requester, owner, Cc and the queue's watchers get updates, each with their own
//! preferences, never the actor unless they asked, internal notes only agents and
//! admins; whoever decides now gets the resolution; owners (else watchers, also when the
//! owner has retired) and supervisors get the timed reminders; the vendor working on a
//! ticket reads its public updates and is reminded when their answer is due. A machine
//! that opened a ticket reads none of them.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use crate::plan::{Notice, Plan};
use crate::rules::Rules;
use crate::store;
use crate::ticket::{ApprovalStage, Role, Ticket};

/// One recipient with what shapes their copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub address: String,
    pub name: Option<String>,
    pub role: Role,
    pub brief: bool,
    pub language: String,
}

/// The reader behind `address` (the configuration's role and name win over the stored
/// ones), and whether they asked to hear of their own changes.
fn reader(conn: &Connection, rules: &Rules, address: &str) -> crate::store::Result<(Reader, bool)> {
    let profile = store::people::profile(conn, address)?;
    let configured = rules.configured_person(address);
    let reader = Reader {
        address: address.to_string(),
        name: configured.and_then(|person| person.name.clone()).or(profile.as_ref().and_then(|profile| profile.name.clone())),
        role: configured.map(|person| person.role).or(profile.as_ref().map(|profile| profile.role)).unwrap_or(Role::Customer),
        brief: profile.as_ref().is_some_and(|profile| profile.brief),
        language: profile.as_ref().map_or_else(|| "en".to_string(), |profile| profile.language.clone()),
    };
    Ok((reader, profile.is_some_and(|profile| profile.notify_own_actions)))
}

/// The readers of a change to `ticket` made by `actor`.
pub fn readers(conn: &Connection, rules: &Rules, ticket: &Ticket, actor: &str, internal: bool) -> crate::store::Result<Vec<Reader>> {
    let queue_watchers = rules.queue(&ticket.queue).map(|queue| queue.watchers.clone()).unwrap_or_default();
    let candidates = std::iter::once(ticket.requester.clone())
        .chain(ticket.owner.clone())
        .chain(ticket.cc.iter().cloned())
        .chain(queue_watchers)
        .chain(vendor_desk(rules, ticket));
    let actor_addresses = store::people::addresses_of(conn, actor)?;
    let mut readers: Vec<Reader> = Vec::new();
    for address in candidates {
        if address.is_empty() || readers.iter().any(|reader| reader.address == address) {
            continue;
        }
        let (reader, notify_own_actions) = reader(conn, rules, &address)?;
        if actor_addresses.iter().any(|own| own.eq_ignore_ascii_case(&address)) && !notify_own_actions {
            continue;
        }
        if internal && !matches!(reader.role, Role::Agent | Role::Admin) {
            continue;
        }
        readers.push(reader);
    }
    Ok(readers)
}

/// The address of the vendor working on `ticket`, if one is.
fn vendor_desk(rules: &Rules, ticket: &Ticket) -> Option<String> {
    ticket.vendor.as_deref().and_then(|name| rules.vendor(name)).map(|vendor| vendor.config.address.to_lowercase())
}

/// Each letter `plan` sends about `ticket` (as it is after the change), with its reader.
pub fn addressees(
    conn: &Connection,
    rules: &Rules,
    plan: &Plan,
    ticket: &Ticket,
    created: bool,
    now: DateTime<Utc>,
) -> crate::store::Result<Vec<(Notice, Reader)>> {
    let sender = &plan.sender;
    let reader_of = |address: &str| reader(conn, rules, address).map(|(reader, _)| reader);
    let queue = rules.queue(&ticket.queue);
    let decider = match ticket.approval_stage {
        Some(ApprovalStage::Supervisor) => queue.and_then(|queue| queue.supervisor.clone()),
        _ => Some(ticket.requester.clone()),
    };
    let mut letters: Vec<(Notice, Reader)> = Vec::new();
    for notice in &plan.notices {
        match notice {
            Notice::Receipt | Notice::Clarification => letters.push((*notice, reader_of(&sender.address)?)),
            Notice::Refusal => {
                let tell = !plan.unverified || store::people::first_notice(conn, &sender.address, "unverified", now)?;
                if tell {
                    letters.push((*notice, reader_of(&sender.address)?));
                }
            }
            Notice::Update => {
                let resolution_goes_to = plan.notices.contains(&Notice::Resolution).then(|| decider.clone()).flatten();
                // A survey answer is between the requester and the staff; so is a transfer,
                // which the requester hears of once, from the site that takes the ticket.
                let staff_only =
                    plan.changes.iter().any(|change| matches!(change, crate::plan::Change::SurveyRating(_) | crate::plan::Change::Transfer(_)));
                for reader in readers(conn, rules, ticket, &sender.address, plan.internal)? {
                    if staff_only && !matches!(reader.role, Role::Agent | Role::Admin) {
                        continue;
                    }
                    let has_receipt = created && reader.address == sender.address;
                    if has_receipt || resolution_goes_to.as_deref() == Some(reader.address.as_str()) {
                        continue;
                    }
                    letters.push((Notice::Update, reader));
                }
            }
            Notice::Resolution => {
                if let Some(decider) = &decider {
                    letters.push((Notice::Resolution, reader_of(decider)?));
                }
            }
            Notice::AutoClosed | Notice::Survey | Notice::RuleTemplate(_) => letters.push((*notice, reader_of(&ticket.requester)?)),
            Notice::VendorReminder => {
                if let Some(address) = vendor_desk(rules, ticket) {
                    letters.push((*notice, reader_of(&address)?));
                }
            }
            Notice::Reminder | Notice::Nag | Notice::HoldTimeout | Notice::Escalation | Notice::VendorEscalation => {
                // An owner who left the directory reads nothing more; the watchers do.
                let owner = match &ticket.owner {
                    Some(owner) if !store::directory::is_retired(conn, owner)? => Some(owner.clone()),
                    _ => None,
                };
                let mut addresses: Vec<String> = match owner {
                    Some(owner) => vec![owner],
                    None => queue.map(|queue| queue.watchers.clone()).unwrap_or_default(),
                };
                if matches!(notice, Notice::Escalation | Notice::VendorEscalation) {
                    addresses.extend(queue.and_then(|queue| queue.supervisor.clone()));
                    // An overdue ticket nobody watches still reaches someone who can act.
                    if addresses.is_empty() {
                        addresses.extend(queue.and_then(|queue| queue.fallback_owner.clone()));
                    }
                    if addresses.is_empty() {
                        addresses = store::fetch_health::admin_addresses(conn)?;
                    }
                }
                addresses.dedup();
                for address in addresses {
                    letters.push((*notice, reader_of(&address)?));
                }
            }
        }
    }
    // A machine that opened the ticket reads no letters, at any of its addresses: no
    // receipt, no approval boxes, no survey. A configured monitor gets its status mail
    // (notify::monitors) instead.
    if store::tickets::opened_by_machine(conn, ticket.number)? {
        let machine = store::people::addresses_of(conn, &ticket.requester)?;
        letters.retain(|(_, reader)| !machine.iter().any(|address| address.eq_ignore_ascii_case(&reader.address)));
    }
    Ok(letters)
}
