//! Step 9: carry out a [`Plan`] in the caller's transaction: ticket, history, the
//! inbound message's decision, attachments and every outgoing message with its outbox
//! row commit together or not at all. Only this module writes ticket state.

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::clock::format_time;
use crate::interpret::commands::{Preference, Refusal};
use crate::notify::compose::{compose, AutoSubmitted, Outgoing};
use crate::pipeline::Context;
use crate::plan::{Change, Plan, TicketChange};
use crate::rules::notify::{readers, Reader};
use crate::store::tickets::{NewTicket, TextColumn};
use crate::store::{self};
use crate::ticket::{PersonId, Role, Status, Ticket, TicketId};

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
    cc: &'a [String],
    category: Option<&'a str>,
    host: Option<&'a str>,
    due: Option<String>,
    requested_due: Option<String>,
    committed_due: Option<String>,
    time_spent_minutes: i64,
}

impl<'a> TicketView<'a> {
    fn of(ticket: &'a Ticket) -> TicketView<'a> {
        TicketView {
            number: ticket.number.0,
            subject: &ticket.subject,
            status: ticket.status.as_str(),
            queue: &ticket.queue,
            importance: ticket.importance.as_str(),
            priority: ticket.priority.as_str(),
            requester: &ticket.requester,
            owner: ticket.owner.as_deref(),
            cc: &ticket.cc,
            category: ticket.category.as_deref(),
            host: ticket.host.as_deref(),
            due: ticket.due.map(format_time),
            requested_due: ticket.requested_due.map(format_time),
            committed_due: ticket.committed_due.map(format_time),
            time_spent_minutes: ticket.time_spent_minutes,
        }
    }
}

#[derive(Debug, Serialize)]
struct RefusalView<'a> {
    field: &'a str,
    value: &'a str,
    reason: &'a str,
}

#[derive(Debug, Serialize)]
struct LetterData<'a> {
    ticket: TicketView<'a>,
    recipient_name: Option<&'a str>,
    author: String,
    note: &'a str,
    changes: &'a [String],
    refusals: Vec<RefusalView<'a>>,
    attachments: Vec<&'a str>,
    checklist: Vec<String>,
    brief: bool,
    created: bool,
    internal: bool,
    unverified: bool,
    subject_tag: &'a str,
    help_name: &'a str,
    help_address: &'a str,
}

/// The kinds of letter, each a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Letter {
    Receipt,
    Update,
    Refusal,
}

impl Letter {
    fn template(self) -> &'static str {
        match self {
            Letter::Receipt => "receipt",
            Letter::Update => "update",
            Letter::Refusal => "refusal",
        }
    }
}

/// Applies `plan`; returns the ticket it touched.
pub fn apply(conn: &Connection, context: &Context, plan: &Plan, now: DateTime<Utc>) -> anyhow::Result<TicketId> {
    let rules = &context.rules;
    let sender = &plan.sender;
    let actor = match store::people::find_by_address(conn, &sender.address)? {
        Some((person, _)) => person,
        None => {
            let person = store::people::create(conn, &sender.address, sender.name.as_deref(), sender.role, now)?;
            store::people::set_organisation(conn, person, rules.organisation_of(&sender.address))?;
            person
        }
    };
    let actor_text = if plan.unverified { format!("{} (unverified)", sender.address) } else { sender.address.clone() };

    // The ticket
    let created = matches!(plan.ticket, TicketChange::Create { .. });
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
            let detail = format!("{subject} (queue {queue}, importance {importance}, priority {priority})");
            store::tickets::add_history(conn, ticket, now, &actor_text, "create", &detail, plan.message)?;
            ticket
        }
        TicketChange::Update { ticket } => {
            store::tickets::touch(conn, *ticket, now)?;
            *ticket
        }
    };
    let note_action = match (plan.internal, plan.answerable) {
        (true, _) => "internal-note",
        (false, true) => "comment",
        (false, false) => "automatic-comment",
    };
    if !plan.note.is_empty() || !created {
        let detail = match plan.matched_by {
            Some(by) => format!("{} (matched by {by})", plan.note),
            None => plan.note.clone(),
        };
        add_history(conn, ticket, now, &actor_text, note_action, &detail, plan, plan.internal)?;
    }

    // The changes
    let mut summary = Vec::new();
    let mut sla_changed = created;
    for change in &plan.changes {
        let before = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying"))?;
        if let Some(line) = apply_change(conn, context, plan, &before, change, &actor_text, now)? {
            summary.push(line);
        }
        sla_changed |= matches!(change, Change::Queue(_) | Change::Priority(_) | Change::Status { .. });
    }
    if sla_changed {
        update_sla(conn, context, ticket)?;
    }
    if !plan.refusals.is_empty() {
        let detail: Vec<String> = plan.refusals.iter().map(|refusal| format!("{}: {} ({})", refusal.field, refusal.value, refusal.reason)).collect();
        add_history(conn, ticket, now, &actor_text, "refused", &detail.join("; "), plan, false)?;
    }

    // The message itself
    if let Some(message) = plan.message {
        for attachment in &plan.attachments {
            store::blobs::attach(conn, message, &attachment.filename, &attachment.content_type, &attachment.content)?;
        }
        store::messages::decide(
            conn,
            message,
            &store::messages::Decided {
                state: "applied",
                ticket: Some(ticket),
                message_id: plan.message_id.as_deref(),
                from_address: Some(&sender.address),
                subject: Some(&plan.subject),
                note: Some(&plan.note),
                outcome: if created { "created ticket" } else { "added to ticket" },
            },
        )?;
    }

    // The mail
    let current = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying"))?;
    let mut letters: Vec<(Letter, Reader)> = Vec::new();
    let own_profile = store::people::profile(conn, &sender.address)?;
    let sender_reader = Reader {
        address: sender.address.clone(),
        name: sender.name.clone(),
        role: sender.role,
        brief: own_profile.as_ref().is_some_and(|profile| profile.brief),
        language: own_profile.map_or_else(|| "en".to_string(), |profile| profile.language),
    };
    if created && plan.answerable {
        letters.push((Letter::Receipt, sender_reader.clone()));
    }
    if plan.notify {
        for reader in readers(conn, rules, &current, &sender.address, plan.internal)? {
            if created && reader.address == sender.address {
                continue;
            }
            letters.push((Letter::Update, reader));
        }
    }
    let tell_refusals = plan.answerable
        && !plan.refusals.is_empty()
        && (!plan.unverified || store::people::first_notice(conn, &sender.address, "unverified", now)?);
    if tell_refusals {
        letters.push((Letter::Refusal, sender_reader));
    }
    send_letters(conn, context, plan, &current, &letters, &summary, created, now)?;
    Ok(ticket)
}

#[allow(clippy::too_many_arguments)]
fn add_history(
    conn: &Connection,
    ticket: TicketId,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    detail: &str,
    plan: &Plan,
    internal: bool,
) -> rusqlite::Result<()> {
    store::tickets::add_history(conn, ticket, now, actor, action, detail, plan.message)?;
    if internal {
        conn.execute("UPDATE history SET internal = 1 WHERE id = last_insert_rowid()", [])?;
    }
    Ok(())
}

/// Applies one change; returns the line for the notification's summary.
fn apply_change(
    conn: &Connection,
    context: &Context,
    plan: &Plan,
    before: &Ticket,
    change: &Change,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    let ticket = before.number;
    let optional = |value: Option<&str>| value.unwrap_or("-").to_string();
    let time_text = |at: Option<DateTime<Utc>>| at.map_or("-".to_string(), format_time);
    let (field, old, new) = match change {
        Change::Queue(queue) => {
            store::tickets::set_text(conn, ticket, TextColumn::Queue, Some(queue))?;
            ("queue", before.queue.clone(), queue.clone())
        }
        Change::Importance(level) => {
            store::tickets::set_text(conn, ticket, TextColumn::Importance, Some(level.as_str()))?;
            ("importance", before.importance.to_string(), level.to_string())
        }
        Change::Priority(level) => {
            store::tickets::set_text(conn, ticket, TextColumn::Priority, Some(level.as_str()))?;
            ("priority", before.priority.to_string(), level.to_string())
        }
        Change::RequestedDue(at) => {
            store::tickets::set_text(conn, ticket, TextColumn::RequestedDue, Some(&format_time(*at)))?;
            ("requested due", time_text(before.requested_due), format_time(*at))
        }
        Change::CommittedDue(at) => {
            store::tickets::set_text(conn, ticket, TextColumn::CommittedDue, Some(&format_time(*at)))?;
            ("committed due", time_text(before.committed_due), format_time(*at))
        }
        Change::Host(host) => {
            store::tickets::set_text(conn, ticket, TextColumn::Host, Some(host))?;
            ("host", optional(before.host.as_deref()), host.clone())
        }
        Change::Category(category) => {
            store::tickets::set_text(conn, ticket, TextColumn::Category, Some(category))?;
            ("category", optional(before.category.as_deref()), category.clone())
        }
        Change::AddCc(address) => {
            let person = store::people::find_or_create(conn, address, None, Role::Customer, now)?;
            if !store::tickets::add_cc(conn, ticket, person)? {
                return Ok(None);
            }
            ("cc", String::new(), format!("+{address}"))
        }
        Change::RemoveCc(address) => {
            if !store::tickets::remove_cc(conn, ticket, address)? {
                return Ok(None);
            }
            ("cc", String::new(), format!("-{address}"))
        }
        Change::Status { to, why } => {
            change_status(conn, context, before, *to, now)?;
            let line = format!("status: {} → {}{}", before.status, to, why.map(|why| format!(" ({why})")).unwrap_or_default());
            store::tickets::add_history(conn, ticket, now, actor, "status", &line, plan.message)?;
            return Ok(Some(line));
        }
        Change::Owner(owner) => {
            store::tickets::set_owner(conn, ticket, owner.as_ref().map(|(person, _)| *person))?;
            let new = owner.as_ref().map_or("nobody".to_string(), |(_, address)| address.clone());
            let line = format!("owner: {} → {new}", optional(before.owner.as_deref()));
            store::tickets::add_history(conn, ticket, now, actor, "owner", &line, plan.message)?;
            if before.status == Status::New && owner.is_some() {
                change_status(conn, context, before, Status::Open, now)?;
                store::tickets::add_history(conn, ticket, now, actor, "status", "status: new → open (assigned)", plan.message)?;
            }
            return Ok(Some(line));
        }
        Change::TimeMinutes(minutes) => {
            store::tickets::add_time(conn, ticket, *minutes)?;
            ("time", format!("{}m", before.time_spent_minutes), format!("{}m (+{minutes}m)", before.time_spent_minutes + minutes))
        }
        Change::Check(items) => {
            store::tickets::add_checks(conn, ticket, items)?;
            let list: Vec<String> = items.iter().map(u32::to_string).collect();
            ("checked", String::new(), list.join(", "))
        }
        Change::MergeInto(target) => {
            store::tickets::merge(conn, ticket, *target)?;
            let line = format!("merged #{ticket} into #{target}");
            store::tickets::add_history(conn, *target, now, actor, "merge", &line, plan.message)?;
            return Ok(Some(line));
        }
        Change::Preferences(preferences) => {
            let person = match store::people::find_by_address(conn, &plan.sender.address)? {
                Some((person, _)) => person,
                None => return Ok(None),
            };
            set_preferences(conn, person, preferences)?;
            return Ok(None);
        }
    };
    let line = if old.is_empty() { format!("{field}: {new}") } else { format!("{field}: {old} → {new}") };
    store::tickets::add_history(conn, ticket, now, actor, field, &line, plan.message)?;
    Ok(Some(line))
}

fn set_preferences(conn: &Connection, person: PersonId, preferences: &[Preference]) -> rusqlite::Result<()> {
    let mut brief = None;
    let mut language = None;
    let mut own = None;
    for preference in preferences {
        match preference {
            Preference::Brief(value) => brief = Some(*value),
            Preference::Language(value) => language = Some(value.as_str()),
            Preference::NotifyOwnActions(value) => own = Some(*value),
        }
    }
    store::people::set_preferences(conn, person, brief, language, own)
}

/// Moves the status, keeping the SLA clock's hold bookkeeping.
fn change_status(conn: &Connection, context: &Context, before: &Ticket, to: Status, now: DateTime<Utc>) -> rusqlite::Result<()> {
    let ticket = before.number;
    store::tickets::set_text(conn, ticket, TextColumn::Status, Some(to.as_str()))?;
    if before.status == Status::Hold && to != Status::Hold {
        let calendar = context.rules.calendar_of(&before.queue);
        let held = before.hold_started.map_or(Duration::zero(), |started| calendar.between(started, now));
        store::tickets::add_held_minutes(conn, ticket, held.num_minutes())?;
    }
    if to == Status::Hold && before.status != Status::Hold {
        store::tickets::set_text(conn, ticket, TextColumn::HoldStarted, Some(&format_time(now)))?;
    }
    Ok(())
}

/// Recomputes the SLA due dates from queue, priority and time on hold.
fn update_sla(conn: &Connection, context: &Context, ticket: TicketId) -> rusqlite::Result<()> {
    let Some(current) = store::tickets::get(conn, ticket)? else { return Ok(()) };
    let (response, resolution) =
        context.rules.sla_due(&current.queue, current.priority, current.created, Duration::minutes(current.held_minutes));
    store::tickets::set_text(conn, ticket, TextColumn::ResponseDue, response.map(format_time).as_deref())?;
    store::tickets::set_text(conn, ticket, TextColumn::Due, resolution.map(format_time).as_deref())?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn send_letters(
    conn: &Connection,
    context: &Context,
    plan: &Plan,
    ticket: &Ticket,
    letters: &[(Letter, Reader)],
    summary: &[String],
    created: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if letters.is_empty() {
        return Ok(());
    }
    let config = &context.config;
    let mut references = store::tickets::thread_message_ids(conn, ticket.number, REFERENCES_KEPT)?;
    if let Some(first) = store::tickets::thread_message_ids(conn, ticket.number, i64::MAX)?.into_iter().next() {
        if !references.contains(&first) {
            references.insert(0, first);
        }
    }
    let checklist: Vec<String> = context
        .rules
        .checklist(ticket.category.as_deref())
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let mark = if ticket.checks.contains(&(index as u32 + 1)) { "x" } else { " " };
            format!("[{mark}] {}. {item}", index + 1)
        })
        .collect();
    let author_name = plan.sender.name.clone().unwrap_or_else(|| plan.sender.address.clone());
    let author = if plan.unverified { format!("{author_name} (unverified sender)") } else { author_name };
    let subject = context.threading.tag.subject_for(ticket.number, &ticket.subject);
    let reply_to = context.threading.ticket_address(ticket.number);
    let mut mailed = Vec::new();
    for (sequence, (letter, reader)) in letters.iter().enumerate() {
        let data = LetterData {
            ticket: TicketView::of(ticket),
            recipient_name: reader.name.as_deref(),
            author: author.clone(),
            note: &plan.note,
            changes: summary,
            refusals: plan
                .refusals
                .iter()
                .map(|Refusal { field, value, reason }| RefusalView { field, value, reason })
                .collect(),
            attachments: plan.attachments.iter().map(|attachment| attachment.filename.as_str()).collect(),
            checklist: checklist.clone(),
            brief: reader.brief,
            created,
            internal: plan.internal,
            unverified: plan.unverified,
            subject_tag: &config.mail.subject_tag,
            help_name: &config.mail.name,
            help_address: &config.mail.address,
        };
        let body = context.templates.render(&reader.language, letter.template(), &data)?;
        let auto_submitted = match letter {
            Letter::Receipt | Letter::Refusal => AutoSubmitted::AutoReplied,
            Letter::Update => AutoSubmitted::AutoGenerated,
        };
        let composed = compose(&Outgoing {
            ticket: ticket.number,
            from_name: &config.mail.name,
            from_address: &config.mail.address,
            reply_to: &reply_to,
            to_address: &reader.address,
            to_name: reader.name.as_deref(),
            subject: &subject,
            body: &body,
            in_reply_to: plan.message_id.as_deref(),
            references: &references,
            auto_submitted,
            date: now,
            cause: plan.message.map_or(0, |message| message.0),
            sequence: sequence as u64,
        });
        // An address we cannot write to (a customer's typo) costs that one letter, not the ticket.
        let (message_id, raw) = match composed {
            Ok(composed) => composed,
            Err(error) => {
                let reason = format!("no mail to {}: {error:#}", reader.address);
                store::tickets::add_history(conn, ticket.number, now, "reqmail", "mail-skipped", &reason, plan.message)?;
                continue;
            }
        };
        let message = store::messages::insert_outgoing(conn, Some(ticket.number), &message_id, &reader.address, &subject, &raw, now)?;
        store::outbox::enqueue(conn, message, Some(ticket.number), &config.mail.address, &reader.address, now)?;
        mailed.push(format!("{} ({})", reader.address, letter.template()));
    }
    if !mailed.is_empty() {
        store::tickets::add_history(conn, ticket.number, now, "reqmail", "mail", &format!("to {}", mailed.join(", ")), plan.message)?;
    }
    Ok(())
}
