//! Running the routing rules on one message: which rules fire, and what they ask for
//! (queue, levels, category, owner, Cc, notes, templates), or the rule that calls it junk.
//! Routing only reads; planning turns the actions into checked changes.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use super::{assign, engine, Rules};
use crate::identify::sender::Sender;
use crate::parse::Mail;
use crate::ticket::{Level, Ticket};

/// What a rule asks for one ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Queue(String),
    Importance(Level),
    Priority(Level),
    Category(String),
    /// The owner's address (a rotation already resolved to its member on duty).
    Owner(String),
    AddCc(String),
}

/// What the rules decided for one message, each entry with the rule's name.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    pub actions: Vec<(String, Action)>,
    pub notes: Vec<(String, String)>,
    /// Named templates to send to the requester.
    pub templates: Vec<String>,
}

/// The routing of `mail`, or `Err(name)` of the rule that marked it as junk.
pub fn route(
    conn: &Connection,
    rules: &Rules,
    mail: &Mail,
    sender: &Sender,
    current: Option<&Ticket>,
    queue_hint: Option<&str>,
    now: DateTime<Utc>,
) -> crate::store::Result<Result<Routing, String>> {
    let mut routing = Routing::default();
    if rules.rules.is_empty() {
        return Ok(Ok(routing));
    }
    let fields = engine::field_lines(mail);
    let facts = engine::Facts::of_mail(mail, sender, rules, &fields, current, now);
    let mut queue = current.map(|ticket| ticket.queue.clone()).or(queue_hint.map(str::to_string));
    for rule in engine::fire(&rules.rules, &facts, current.is_none()) {
        let then = &rule.then;
        let name = format!("rule {}", rule.name);
        if then.junk {
            return Ok(Err(rule.name.clone()));
        }
        if let Some(wanted) = &then.queue {
            queue = Some(wanted.to_lowercase());
            routing.actions.push((name.clone(), Action::Queue(wanted.to_lowercase())));
        }
        if let Some(level) = then.importance {
            routing.actions.push((name.clone(), Action::Importance(level)));
        }
        if let Some(level) = then.priority {
            routing.actions.push((name.clone(), Action::Priority(level)));
        }
        if let Some(category) = then.category.as_deref().and_then(|category| rules.category(category)) {
            routing.actions.push((name.clone(), Action::Category(category)));
        }
        if let Some(owner) = &then.owner {
            let assignee = match rules.rotation(owner) {
                Some(rotation) => assign::on_duty_member(conn, rules, rotation, queue.as_deref(), now)?,
                None => crate::parse::bare_address(owner),
            };
            match assignee {
                Some(address) => routing.actions.push((name.clone(), Action::Owner(address))),
                None => routing.notes.push((name.clone(), format!("nobody on duty in {owner} and no fallback owner"))),
            }
        }
        for cc in &then.cc {
            if let Some(address) = crate::parse::bare_address(cc) {
                routing.actions.push((name.clone(), Action::AddCc(address)));
            }
        }
        if let Some(note) = &then.note {
            routing.notes.push((name.clone(), note.clone()));
        }
        if let Some(template) = &then.template {
            routing.templates.push(template.clone());
        }
    }
    Ok(Ok(routing))
}
