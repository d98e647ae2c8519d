//! Step 9: carry out a [`Plan`] in the caller's transaction: ticket, history, the
//! inbound message's decision, attachments and every outgoing message with its outbox
//! row commit together or not at all. Only this module (and the scheduler through it)
//! writes ticket state.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::notify::compose::{compose, AutoSubmitted, Outgoing};
use crate::pipeline::Context;
use crate::plan::{Notice, Plan, TicketChange};
use crate::store::{self, tickets::NewTicket};
use crate::ticket::{Role, Ticket, TicketId};

/// How many earlier Message-IDs go into References.
const REFERENCES_KEPT: i64 = 10;

/// What the templates see of a ticket.
#[derive(Debug, Serialize)]
struct TicketView<'a> {
    number: i64,
    subject: &'a str,
    status: &'a str,
    queue: &'a str,
    importance: &'a str,
    priority: &'a str,
    requester: &'a str,
    owner: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct LetterData<'a> {
    ticket: TicketView<'a>,
    recipient_name: Option<&'a str>,
    author: &'a str,
    note: &'a str,
    attachments: Vec<String>,
    subject_tag: &'a str,
    help_name: &'a str,
    help_address: &'a str,
}

/// Applies `plan`; returns the ticket it touched.
pub fn apply(conn: &Connection, context: &Context, plan: &Plan, now: DateTime<Utc>) -> anyhow::Result<TicketId> {
    let sender = &plan.sender;
    let actor = store::people::find_or_create(conn, &sender.address, sender.name.as_deref(), Role::Customer, now)?;

    let ticket = match &plan.ticket {
        TicketChange::Create { subject, queue, importance, priority } => {
            let new = NewTicket {
                subject: subject.clone(),
                queue: queue.clone(),
                importance: *importance,
                priority: *priority,
                requester: actor,
                first_number: context.config.store.first_ticket_number,
            };
            let ticket = store::tickets::create(conn, &new, now)?;
            store::tickets::add_history(conn, ticket, now, &sender.address, "create", subject, Some(plan.message))?;
            ticket
        }
        TicketChange::Comment { ticket } => {
            store::tickets::touch(conn, *ticket, now)?;
            let detail = match plan.matched_by {
                Some(by) => format!("{} (matched by {by})", plan.note),
                None => plan.note.clone(),
            };
            let action = if plan.answerable { "comment" } else { "automatic-comment" };
            store::tickets::add_history(conn, *ticket, now, &sender.address, action, &detail, Some(plan.message))?;
            *ticket
        }
    };

    for attachment in &plan.attachments {
        store::blobs::attach(conn, plan.message, &attachment.filename, &attachment.content_type, &attachment.content)?;
    }
    store::messages::decide(
        conn,
        plan.message,
        &store::messages::Decided {
            state: "applied",
            ticket: Some(ticket),
            message_id: plan.message_id.as_deref(),
            from_address: Some(&sender.address),
            subject: Some(&plan.subject),
            note: Some(&plan.note),
            outcome: if matches!(plan.ticket, TicketChange::Create { .. }) { "created ticket" } else { "added to ticket" },
        },
    )?;

    if !plan.notices.is_empty() {
        let current = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying"))?;
        let mut references = store::tickets::thread_message_ids(conn, ticket, REFERENCES_KEPT)?;
        if let Some(first) = store::tickets::thread_message_ids(conn, ticket, i64::MAX)?.into_iter().next() {
            if !references.contains(&first) {
                references.insert(0, first);
            }
        }
        let mut sequence = 0;
        let mut mailed = Vec::new();
        for notice in &plan.notices {
            for (recipient, recipient_name) in recipients(conn, *notice, &current, &sender.address)? {
                sequence += 1;
                match send_letter(conn, context, plan, &current, *notice, &recipient, recipient_name.as_deref(), &references, sequence, now)? {
                    Ok(()) => mailed.push(recipient),
                    Err(reason) => {
                        store::tickets::add_history(conn, ticket, now, "reqmail", "mail-skipped", &reason, Some(plan.message))?;
                    }
                }
            }
        }
        if !mailed.is_empty() {
            store::tickets::add_history(conn, ticket, now, "reqmail", "mail", &format!("to {}", mailed.join(", ")), Some(plan.message))?;
        }
    }
    Ok(ticket)
}

/// Who gets `notice` about `ticket` after `actor` acted: never the actor themself.
fn recipients(conn: &Connection, notice: Notice, ticket: &Ticket, actor: &str) -> rusqlite::Result<Vec<(String, Option<String>)>> {
    let candidates: Vec<&str> = match notice {
        Notice::Receipt => vec![ticket.requester.as_str()],
        Notice::Update => std::iter::once(ticket.requester.as_str())
            .chain(ticket.owner.as_deref())
            .chain(ticket.cc.iter().map(String::as_str))
            .filter(|address| !address.eq_ignore_ascii_case(actor))
            .collect(),
    };
    let mut unique: Vec<(String, Option<String>)> = Vec::new();
    for address in candidates {
        if address.is_empty() || unique.iter().any(|(seen, _)| seen == address) {
            continue;
        }
        let name = conn
            .prepare_cached("SELECT p.name FROM addresses a JOIN people p ON p.id = a.person WHERE a.address = ?1")?
            .query_row([address], |row| row.get::<_, Option<String>>(0))
            .unwrap_or(None);
        unique.push((address.to_string(), name));
    }
    Ok(unique)
}

#[allow(clippy::too_many_arguments)]
fn send_letter(
    conn: &Connection,
    context: &Context,
    plan: &Plan,
    ticket: &Ticket,
    notice: Notice,
    recipient: &str,
    recipient_name: Option<&str>,
    references: &[String],
    sequence: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<(), String>> {
    let config = &context.config;
    let data = LetterData {
        ticket: TicketView {
            number: ticket.number.0,
            subject: &ticket.subject,
            status: ticket.status.as_str(),
            queue: &ticket.queue,
            importance: ticket.importance.as_str(),
            priority: ticket.priority.as_str(),
            requester: &ticket.requester,
            owner: ticket.owner.as_deref(),
        },
        recipient_name,
        author: plan.sender.name.as_deref().unwrap_or(&plan.sender.address),
        note: &plan.note,
        attachments: plan.attachments.iter().map(|attachment| attachment.filename.clone()).collect(),
        subject_tag: &config.mail.subject_tag,
        help_name: &config.mail.name,
        help_address: &config.mail.address,
    };
    let (template, auto_submitted) = match notice {
        Notice::Receipt => ("receipt", AutoSubmitted::AutoReplied),
        Notice::Update => ("update", AutoSubmitted::AutoGenerated),
    };
    let body = context.templates.render(template, &data)?;
    let subject = context.threading.tag.subject_for(ticket.number, &ticket.subject);
    let reply_to = crate::identify::token::reply_address(conn, &config.mail, &context.threading, ticket.number, recipient)?;
    let composed = compose(&Outgoing {
        ticket: ticket.number,
        from_name: &config.mail.name,
        from_address: &config.mail.address,
        reply_to: &reply_to,
        to_address: recipient,
        to_name: recipient_name,
        subject: &subject,
        body: &body,
        in_reply_to: plan.message_id.as_deref(),
        references,
        auto_submitted,
        date: now,
        cause: plan.message.0,
        sequence,
    });
    // An address we cannot write to (a customer's typo) costs that one letter, not the ticket.
    let (message_id, raw) = match composed {
        Ok(composed) => composed,
        Err(error) => return Ok(Err(format!("no mail to {recipient}: {error:#}"))),
    };
    // RFC 3834 §2: no loops. Suppressed letters become a history note, not an outbox row.
    if let Err(reason) = store::ratelimit::admit(conn, &config.limits, recipient, Some(ticket.number), now)? {
        return Ok(Err(reason));
    }
    let message = store::messages::insert_outgoing(conn, Some(ticket.number), &message_id, recipient, &subject, &raw, now)?;
    store::outbox::enqueue(conn, message, Some(ticket.number), &config.mail.address, recipient, now)?;
    Ok(Ok(()))
}
