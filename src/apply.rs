//! Step 9: carry out a [`Plan`] in the caller's transaction: ticket, history, the
//! inbound message's decision, attachments and every outgoing message with its outbox
//! row commit together or not at all. Only this module writes ticket state.

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::clock::format_time;
use crate::decision::LetterRecord;
use crate::interpret::commands::{Preference, Refusal};
use crate::notify::compose::{compose, AutoSubmitted, Outgoing};
use crate::site::Site;
use crate::plan::{Change, Notice, Plan, TicketChange};
use crate::rules::notify::{readers, Reader};
use crate::store::tickets::{NewTicket, TextColumn};
use crate::store::{self};
use crate::ticket::{ApprovalStage, PersonId, Role, Status, Ticket, TicketId};

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
    grace_days: i64,
    internal: bool,
    unverified: bool,
    subject_tag: &'a str,
    help_name: &'a str,
    help_address: &'a str,
}

/// The template of each kind of mail.
fn template(notice: Notice) -> &'static str {
    match notice {
        Notice::Receipt => "receipt",
        Notice::Update => "update",
        Notice::Refusal => "refusal",
        Notice::Clarification => "clarification",
        Notice::Resolution => "resolution",
        Notice::AutoClosed => "closed",
        Notice::Reminder => "reminder",
        Notice::Escalation => "escalation",
        Notice::Nag => "nag",
        Notice::HoldTimeout => "hold_timeout",
        Notice::Survey => "survey",
        Notice::RuleTemplate(_) => "rule template",
    }
}

/// What applying a plan did.
#[derive(Debug)]
pub struct Applied {
    pub ticket: TicketId,
    /// The history lines of the changes, as the letters list them.
    pub changes: Vec<String>,
    pub letters: Vec<LetterRecord>,
    /// Letters that were due but not written, with the reason.
    pub withheld: Vec<String>,
}

/// Applies `plan`; returns the ticket it touched and the letters it wrote.
pub fn apply(conn: &Connection, site: &Site, plan: &Plan, now: DateTime<Utc>) -> anyhow::Result<Applied> {
    let rules = &site.rules;
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
                first_number: site.config.store.first_ticket_number,
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
    if !plan.note.is_empty() || (plan.message.is_some() && !created) {
        let detail = match plan.matched_by {
            Some(by) => format!("{} (matched by {by})", plan.note),
            None => plan.note.clone(),
        };
        add_history(conn, ticket, now, &actor_text, note_action, &detail, plan, plan.internal)?;
    }

    // The changes: the rules' first, then the sender's
    for (rule, line) in &plan.rule_log {
        store::tickets::add_history(conn, ticket, now, rule, "rule", line, plan.message)?;
    }
    for (rule, note) in &plan.rule_notes {
        add_history(conn, ticket, now, rule, "internal-note", note, plan, true)?;
    }
    let mut summary = Vec::new();
    let mut sla_changed = created;
    for (rule, change) in &plan.rule_changes {
        let before = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying"))?;
        if let Some(line) = apply_change(conn, site, plan, &before, change, rule, now)? {
            summary.push(line);
        }
        sla_changed |= matches!(change, Change::Queue(_) | Change::Priority(_) | Change::Status { .. });
    }
    for change in &plan.changes {
        let before = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying"))?;
        if let Some(line) = apply_change(conn, site, plan, &before, change, &actor_text, now)? {
            summary.push(line);
        }
        sla_changed |= matches!(change, Change::Queue(_) | Change::Priority(_) | Change::Status { .. });
    }
    if sla_changed {
        update_sla(conn, site, ticket)?;
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

    if let Some(earlier) = plan.follow_up_of {
        store::tickets::set_follow_up_of(conn, ticket, earlier)?;
        let line = format!("#{ticket} follows up #{earlier}, which was closed");
        store::tickets::add_history(conn, ticket, now, &actor_text, "follow-up", &line, plan.message)?;
        store::tickets::add_history(conn, earlier, now, &actor_text, "follow-up", &line, plan.message)?;
    }

    // The mail
    let current = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying"))?;
    let letters = addressees(conn, site, plan, &current, created, now)?;
    let (letters, withheld) = send_letters(conn, site, plan, &current, &letters, &summary, created, now)?;
    Ok(Applied { ticket, changes: summary, letters, withheld })
}

/// Who gets which mail.
fn addressees(
    conn: &Connection,
    site: &Site,
    plan: &Plan,
    ticket: &Ticket,
    created: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(Notice, Reader)>> {
    let rules = &site.rules;
    let sender = &plan.sender;
    let reader_of = |address: &str| -> rusqlite::Result<Reader> {
        let profile = store::people::profile(conn, address)?;
        let configured = rules.configured_person(address);
        Ok(Reader {
            address: address.to_string(),
            name: configured.and_then(|person| person.name.clone()).or(profile.as_ref().and_then(|profile| profile.name.clone())),
            role: configured.map(|person| person.role).or(profile.as_ref().map(|profile| profile.role)).unwrap_or(Role::Customer),
            brief: profile.as_ref().is_some_and(|profile| profile.brief),
            language: profile.map_or_else(|| "en".to_string(), |profile| profile.language),
        })
    };
    let queue = rules.queue(&ticket.queue);
    let decider = match ticket.approval_stage {
        Some(crate::ticket::ApprovalStage::Supervisor) => queue.and_then(|queue| queue.supervisor.clone()),
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
                for reader in readers(conn, rules, ticket, &sender.address, plan.internal)? {
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
            Notice::Reminder | Notice::Nag | Notice::HoldTimeout | Notice::Escalation => {
                let mut addresses: Vec<String> = match &ticket.owner {
                    Some(owner) => vec![owner.clone()],
                    None => queue.map(|queue| queue.watchers.clone()).unwrap_or_default(),
                };
                if *notice == Notice::Escalation {
                    addresses.extend(queue.and_then(|queue| queue.supervisor.clone()));
                }
                addresses.dedup();
                for address in addresses {
                    letters.push((*notice, reader_of(&address)?));
                }
            }
        }
    }
    Ok(letters)
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
    if internal {
        store::tickets::add_internal_history(conn, ticket, now, actor, action, detail, plan.message)
    } else {
        store::tickets::add_history(conn, ticket, now, actor, action, detail, plan.message)
    }
}

/// Applies one change; returns the line for the notification's summary.
fn apply_change(
    conn: &Connection,
    site: &Site,
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
            change_status(conn, site, before, *to, now)?;
            let line = format!("status: {} → {}{}", before.status, to, why.map(|why| format!(" ({why})")).unwrap_or_default());
            store::tickets::add_history(conn, ticket, now, actor, "status", &line, plan.message)?;
            return Ok(Some(line));
        }
        Change::Owner(owner) => {
            let person = match owner {
                Some(address) => Some(store::people::find_or_create(conn, address, None, Role::Agent, now)?),
                None => None,
            };
            store::tickets::set_owner(conn, ticket, person)?;
            let new = owner.clone().unwrap_or_else(|| "nobody".to_string());
            let line = format!("owner: {} → {new}", optional(before.owner.as_deref()));
            store::tickets::add_history(conn, ticket, now, actor, "owner", &line, plan.message)?;
            if before.status == Status::New && owner.is_some() {
                change_status(conn, site, before, Status::Open, now)?;
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
        Change::AskCustomer => {
            store::tickets::set_text(conn, ticket, TextColumn::ApprovalStage, Some(ApprovalStage::Customer.as_str()))?;
            let line = "the supervisor approved the resolution; the customer is asked".to_string();
            store::tickets::add_history(conn, ticket, now, actor, "approval", &line, plan.message)?;
            return Ok(Some(line));
        }
        Change::SurveyRating(rating) => {
            store::tickets::record_survey(conn, ticket, *rating, plan.message, now)?;
            store::tickets::add_history(conn, ticket, now, actor, "survey", &format!("rating {rating} of 5"), plan.message)?;
            return Ok(None);
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
fn change_status(conn: &Connection, site: &Site, before: &Ticket, to: Status, now: DateTime<Utc>) -> rusqlite::Result<()> {
    let ticket = before.number;
    store::tickets::set_text(conn, ticket, TextColumn::Status, Some(to.as_str()))?;
    if before.status == Status::Hold && to != Status::Hold {
        let calendar = site.rules.calendar_of(&before.queue);
        let held = before.hold_started.map_or(Duration::zero(), |started| calendar.between(started, now));
        store::tickets::add_held_minutes(conn, ticket, held.num_minutes())?;
    }
    if to == Status::Hold && before.status != Status::Hold {
        store::tickets::set_text(conn, ticket, TextColumn::HoldStarted, Some(&format_time(now)))?;
    }
    match to {
        Status::Resolved => {
            // The supervisor decides first when the queue asks for it, or when the ticket was escalated.
            let queue = site.rules.queue(&before.queue);
            let supervisor_first = queue.is_some_and(|queue| queue.supervisor_approval)
                || (queue.is_some_and(|queue| queue.supervisor.is_some()) && store::tickets::job_done(conn, ticket, "escalation")?);
            let stage = if supervisor_first { ApprovalStage::Supervisor } else { ApprovalStage::Customer };
            store::tickets::set_text(conn, ticket, TextColumn::ResolvedAt, Some(&format_time(now)))?;
            store::tickets::set_text(conn, ticket, TextColumn::ApprovalStage, Some(stage.as_str()))?;
        }
        Status::Closed => {
            store::tickets::set_text(conn, ticket, TextColumn::ClosedAt, Some(&format_time(now)))?;
            store::tickets::set_text(conn, ticket, TextColumn::ApprovalStage, None)?;
        }
        _ => {
            store::tickets::set_text(conn, ticket, TextColumn::ApprovalStage, None)?;
            store::tickets::set_text(conn, ticket, TextColumn::ResolvedAt, None)?;
            store::tickets::set_text(conn, ticket, TextColumn::ClosedAt, None)?;
        }
    }
    Ok(())
}

/// Recomputes the SLA due dates from queue, priority and time on hold.
fn update_sla(conn: &Connection, site: &Site, ticket: TicketId) -> rusqlite::Result<()> {
    let Some(current) = store::tickets::get(conn, ticket)? else { return Ok(()) };
    let (response, resolution) =
        site.rules.sla_due(&current.queue, current.priority, current.created, Duration::minutes(current.held_minutes));
    store::tickets::set_sla_due(conn, ticket, response.map(format_time).as_deref(), resolution.map(format_time).as_deref())
}

#[allow(clippy::too_many_arguments)]
fn send_letters(
    conn: &Connection,
    site: &Site,
    plan: &Plan,
    ticket: &Ticket,
    letters: &[(Notice, Reader)],
    summary: &[String],
    created: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<LetterRecord>, Vec<String>)> {
    let mut written = Vec::new();
    let mut withheld = Vec::new();
    if letters.is_empty() {
        return Ok((written, withheld));
    }
    let config = &site.config;
    let references = store::tickets::thread_references(conn, ticket.number)?;
    let checklist: Vec<String> = site
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
    let subject = site.threading.tag.subject_for(ticket.number, &ticket.subject);
    let mut mailed = Vec::new();
    for (sequence, (notice, reader)) in letters.iter().enumerate() {
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
            grace_days: site.rules.grace(&ticket.queue).num_days(),
            internal: plan.internal,
            unverified: plan.unverified,
            subject_tag: &config.mail.subject_tag,
            help_name: &config.mail.name,
            help_address: &config.mail.address,
        };
        let template_name = match notice {
            Notice::RuleTemplate(index) => plan.rule_templates.get(*index).map_or("update", String::as_str),
            _ => template(*notice),
        };
        let body = site.templates.render(&ticket.queue, &reader.language, template_name, &data)?;
        let auto_submitted = match notice {
            Notice::Receipt | Notice::Refusal | Notice::Clarification => AutoSubmitted::AutoReplied,
            _ => AutoSubmitted::AutoGenerated,
        };
        let reply_to = crate::identify::token::reply_address(conn, &config.mail, &site.threading, ticket.number, &reader.address)?;
        let composed = compose(&Outgoing {
            ticket: Some(ticket.number),
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
                withheld.push(reason);
                continue;
            }
        };
        // RFC 3834 §2: no loops. A suppressed letter becomes a history note, not an outbox row.
        if let Err(reason) = store::ratelimit::admit(conn, &config.limits, &reader.address, Some(ticket.number), now)? {
            store::tickets::add_history(conn, ticket.number, now, "reqmail", "mail-skipped", &reason, plan.message)?;
            withheld.push(reason);
            continue;
        }
        let message = store::messages::insert_outgoing(conn, Some(ticket.number), &message_id, &reader.address, &subject, &raw, now)?;
        store::outbox::enqueue(conn, message, Some(ticket.number), &config.mail.address, &reader.address, now)?;
        mailed.push(format!("{} ({})", reader.address, template(*notice)));
        written.push(LetterRecord { template: template_name.to_string(), to: reader.address.clone(), role: reader.role.to_string() });
    }
    if !mailed.is_empty() {
        store::tickets::add_history(conn, ticket.number, now, "reqmail", "mail", &format!("to {}", mailed.join(", ")), plan.message)?;
    }
    Ok((written, withheld))
}

#[derive(Debug, Serialize)]
struct NoticeData<'a> {
    recipient_name: Option<&'a str>,
    reason: &'a str,
    help_name: &'a str,
    help_address: &'a str,
}

#[allow(clippy::too_many_arguments)]
/// A short notice to a sender whose message made no ticket (an unknown sender rejected,
/// a message too large). Sent once per `once_key` and address, within the rate limits,
/// and never to machines: the caller checks that.
pub fn notice_without_ticket(
    conn: &Connection,
    site: &Site,
    recipient: &str,
    template_name: &str,
    once_key: &str,
    reason: &str,
    cause: Option<crate::ticket::SpoolId>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let config = &site.config;
    if !store::people::first_notice(conn, recipient, once_key, now)? {
        return Ok(false);
    }
    if store::ratelimit::admit(conn, &config.limits, recipient, None, now)?.is_err() {
        return Ok(false);
    }
    let data = NoticeData { recipient_name: None, reason, help_name: &config.mail.name, help_address: &config.mail.address };
    let body = site.templates.render(&site.rules.default_queue, "en", template_name, &data)?;
    let subject = match template_name {
        "rejected" => "Your message to the help desk",
        _ => "Your message could not be processed",
    };
    let composed = compose(&Outgoing {
        ticket: None,
        from_name: &config.mail.name,
        from_address: &config.mail.address,
        reply_to: &config.mail.address,
        to_address: recipient,
        to_name: None,
        subject,
        body: &body,
        in_reply_to: None,
        references: &[],
        auto_submitted: AutoSubmitted::AutoReplied,
        date: now,
        cause: cause.map_or(0, |cause| cause.0),
        sequence: 0,
    });
    let Ok((message_id, raw)) = composed else { return Ok(false) };
    let message = store::messages::insert_outgoing(conn, None, &message_id, recipient, subject, &raw, now)?;
    store::outbox::enqueue(conn, message, None, &config.mail.address, recipient, now)?;
    Ok(true)
}
