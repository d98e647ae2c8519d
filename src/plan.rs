//! What one message will change, decided before anything is written.
//!
//! `plan` is pure: from the parsed mail, its class, its sender and its ticket match it
//! builds a [`Plan`]; `apply` carries it out in one transaction.

use crate::classify::Class;
use crate::config::Config;
use crate::identify::sender::Sender;
use crate::identify::thread::TicketMatch;
use crate::interpret::body::visible_note;
use crate::interpret::subject::SubjectTag;
use crate::parse::{Attachment, Mail};
use crate::ticket::{Level, SpoolId, TicketId};

/// The change one message makes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub message: SpoolId,
    pub message_id: Option<String>,
    pub sender: Sender,
    pub subject: String,
    /// The sender's new words: quotes and signature removed.
    pub note: String,
    pub ticket: TicketChange,
    pub attachments: Vec<Attachment>,
    /// Why the message was tied to its ticket, for the history.
    pub matched_by: Option<&'static str>,
    pub notices: Vec<Notice>,
    /// Whether automatic mail may answer the sender.
    pub answerable: bool,
}

#[derive(Debug, Clone)]
pub enum TicketChange {
    Create { subject: String, queue: String, importance: Level, priority: Level },
    Comment { ticket: TicketId },
}

/// Which mail goes to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The receipt for a new ticket, to its requester.
    Receipt,
    /// A change notification to everyone involved except the actor.
    Update,
}

pub fn plan(config: &Config, tag: &SubjectTag, spool_id: SpoolId, mail: Mail, class: &Class, sender: Sender, matched: TicketMatch) -> Plan {
    let note = visible_note(&mail.text);
    let answerable = class.may_be_answered();
    let (ticket, matched_by, notices) = match matched {
        TicketMatch::New => {
            let subject = match tag.clean(&mail.subject) {
                cleaned if cleaned.is_empty() => "(no subject)".to_string(),
                cleaned => cleaned,
            };
            let change = TicketChange::Create {
                subject,
                queue: mail.queue_hint.clone().unwrap_or_else(|| config.mail.default_queue.clone()),
                importance: Level::Medium,
                priority: Level::Medium,
            };
            (change, None, if answerable { vec![Notice::Receipt] } else { Vec::new() })
        }
        TicketMatch::Existing { ticket, by } => {
            let notices = if answerable { vec![Notice::Update] } else { Vec::new() };
            (TicketChange::Comment { ticket }, Some(by.as_str()), notices)
        }
    };
    Plan {
        message: spool_id,
        message_id: mail.message_id,
        sender,
        subject: mail.subject,
        note,
        ticket,
        attachments: mail.attachments,
        matched_by,
        notices,
        answerable,
    }
}
