//! The letters a change sends: for each reader, the data the templates see, the body
//! rendered in the reader's language, the message composed with its thread and loop
//! headers, and the rate limits of RFC 3834 applied. `apply` writes what comes out
//! with its outbox rows; nothing here sends anything.

use chrono::{DateTime, Utc};
use crate::store::Connection;
use serde::Serialize;

use super::compose::{self, compose, AutoSubmitted, Letter, Outgoing};
use super::readers::addressees;
use super::render::Templates;
use crate::config::Config;
use crate::identify::thread::Threading;
use crate::interpret::commands::Refusal;
use crate::knowledge::{Knowledge, Suggestions};
use crate::plan::{Notice, Plan};
use crate::rules::Rules;
use crate::ticket::sla::Calendar;
use crate::store;
use crate::ticket::{Role, SpoolId, Ticket, TicketId};

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
    next_action: Option<&'a str>,
    vendor: Option<&'a str>,
    vendor_ticket: Option<&'a str>,
    vendor_due: Option<String>,
}

impl<'a> TicketView<'a> {
    /// The ticket with its dates in the site's zone (`calendar`), as its people read them.
    fn of(ticket: &'a Ticket, calendar: &Calendar) -> TicketView<'a> {
        let local = |at: Option<DateTime<Utc>>| at.map(|at| calendar.local_text(at));
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
            due: local(ticket.due),
            requested_due: local(ticket.requested_due),
            committed_due: local(ticket.committed_due),
            time_spent_minutes: ticket.time_spent_minutes,
            next_action: ticket.next_action.as_deref(),
            vendor: ticket.vendor.as_deref(),
            vendor_ticket: ticket.vendor_ticket.as_deref(),
            vendor_due: local(ticket.vendor_due),
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
    /// The message number an agent names to publish a held-back note.
    held_back: Option<i64>,
    subject_tag: &'a str,
    help_name: &'a str,
    help_address: &'a str,
    /// For staff: what the ticket is about and how long is left, so that a letter about
    /// work to do needs no look-up.
    work: Option<&'a WorkView>,
    /// An example Due value for the receipt, a few days from today in the site's zone.
    due_example: String,
    /// The peer site and number a new ticket was transferred from.
    transferred_from: Option<TransferredView<'a>>,
    /// For the requester's receipt: resolved tickets and articles that may answer it.
    suggestions: Vec<SuggestionView>,
}

#[derive(Debug, Serialize)]
struct TransferredView<'a> {
    site: &'a str,
    number: Option<i64>,
}

/// A resolved ticket or an article as the receipt names it.
#[derive(Debug, Clone, Serialize)]
struct SuggestionView {
    title: String,
    summary: Option<String>,
}

impl SuggestionView {
    fn all(suggestions: &Suggestions, knowledge: &Knowledge, tag: &str) -> Vec<SuggestionView> {
        let tickets = suggestions.tickets.iter().map(|resolved| SuggestionView {
            title: format!("[{tag} #{}] {}", resolved.ticket, resolved.subject),
            summary: resolved.resolution.clone(),
        });
        let articles = suggestions.articles.iter().filter_map(|&index| knowledge.article(index)).map(|article| SuggestionView {
            title: format!("{} ({})", article.title, article.file),
            summary: Some(article.summary.clone()).filter(|summary| !summary.is_empty()),
        });
        tickets.chain(articles).collect()
    }
}

/// What an agent needs to work on a ticket, from its history.
#[derive(Debug, Serialize)]
struct WorkView {
    request: Option<String>,
    latest: Vec<String>,
    time_left: Option<String>,
    next: Option<String>,
}

impl WorkView {
    fn of(conn: &Connection, ticket: &Ticket, calendar: &crate::ticket::sla::Calendar, now: DateTime<Utc>) -> anyhow::Result<WorkView> {
        Ok(WorkView {
            request: store::tickets::first_request(conn, ticket.number)?.filter(|request| !request.is_empty()),
            latest: store::tickets::latest_comments(conn, ticket.number, 3)?
                .iter()
                .filter(|comment| !comment.detail.is_empty())
                .map(|comment| format!("{} {}: {}", calendar.local_text(comment.at), comment.actor, comment.detail))
                .collect(),
            time_left: ticket.due.filter(|_| !ticket.status.is_final()).map(|due| crate::ticket::time_left(due, now)),
            next: ticket.next_action.clone(),
        })
    }
}

/// The template of each kind of mail, as the ticket's history names it.
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
        Notice::VendorReminder => "vendor_reminder",
        Notice::VendorEscalation => "vendor_escalation",
    }
}

/// The parts of the site letters are written with.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    pub config: &'a Config,
    pub rules: &'a Rules,
    pub threading: &'a Threading,
    pub templates: &'a Templates,
    pub knowledge: &'a Knowledge,
}

/// One letter, composed and admitted by the rate limits, for the outbox.
#[derive(Debug, Clone)]
pub struct Composed {
    pub ticket: Option<TicketId>,
    /// The kind of mail, as the history lists it (`receipt`, `update`, …).
    pub kind: &'static str,
    /// The template it was rendered from.
    pub template: String,
    pub to: String,
    pub role: Role,
    pub subject: String,
    pub message_id: String,
    pub raw: Raw,
}

/// A letter's bytes, or what they are built from on the thread beside a batch
/// (`notify::finisher`).
#[derive(Debug, Clone)]
pub enum Raw {
    Ready(Vec<u8>),
    Later(Box<Letter>),
}

/// The letters of one change.
#[derive(Debug, Default)]
pub struct Letters {
    pub ready: Vec<Composed>,
    /// Letters due but not written, with the reason (for the history).
    pub withheld: Vec<String>,
}

/// What one change to `ticket` (as it is after `plan`) writes to whom.
pub fn letters(
    conn: &Connection,
    writer: Writer<'_>,
    plan: &Plan,
    ticket: &Ticket,
    summary: &[String],
    created: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Letters> {
    let mut letters = Letters::default();
    let addressed = addressees(conn, writer.rules, plan, ticket, created, now)?;
    if addressed.is_empty() {
        return Ok(letters);
    }
    let config = writer.config;
    // Read once the first letter is admitted: most of a busy scheduler pass's letters are
    // held back by the rate limits.
    let mut references: Option<Vec<String>> = None;
    let mut work: Option<WorkView> = None;
    let checklist = checklist(writer.rules, ticket);
    let author_name = plan.sender.name.clone().unwrap_or_else(|| plan.sender.address.clone());
    let author = if plan.unverified { format!("{author_name} (unverified sender)") } else { author_name };
    let subject = writer.threading.tag.subject_for(ticket.number, &ticket.subject);
    let calendar = writer.rules.calendar_of(&ticket.queue);
    let due_example = calendar.local_date(now + chrono::Duration::days(3)).format("%Y-%m-%d 17:00").to_string();
    let receipt_to_requester = |notice: &Notice, address: &str| *notice == Notice::Receipt && address == ticket.requester;
    let suggestions = if created && addressed.iter().any(|(notice, reader)| receipt_to_requester(notice, &reader.address)) {
        let found = writer.knowledge.suggest(conn, &ticket.subject, &plan.note)?;
        SuggestionView::all(&found, writer.knowledge, &config.mail.subject_tag)
    } else {
        Vec::new()
    };
    for (sequence, (notice, reader)) in addressed.iter().enumerate() {
        if *notice == Notice::Receipt && responder_loop(conn, config, plan, &reader.address, now)? {
            letters.withheld.push(format!(
                "no receipt to {}: it was sent automatic mail within limits.auto_mail_window_seconds and this mail \
                 looks automatic (an absence notice, or the same text again); a responder loop?",
                reader.address
            ));
            continue;
        }
        // RFC 3834 §2: no loops. A suppressed letter becomes a history note, not an outbox row;
        // it is decided before the letter is written, which costs more than the checks.
        if let Err(reason) = store::ratelimit::admit(conn, &config.limits, &reader.address, Some(ticket.number), now)? {
            letters.withheld.push(reason);
            continue;
        }
        if references.is_none() {
            references = Some(store::tickets::thread_references(conn, ticket.number)?);
        }
        let for_agent = matches!(reader.role, Role::Agent | Role::Admin);
        if for_agent && work.is_none() {
            work = Some(WorkView::of(conn, ticket, calendar, now)?);
        }
        let data = LetterData {
            ticket: TicketView::of(ticket, calendar),
            recipient_name: reader.name.as_deref(),
            author: author.clone(),
            note: &plan.note,
            changes: summary,
            refusals: plan.refusals.iter().map(|Refusal { field, value, reason }| RefusalView { field, value, reason }).collect(),
            attachments: plan.attachments.iter().map(|attachment| attachment.filename.as_str()).collect(),
            checklist: checklist.clone(),
            brief: reader.brief,
            created,
            grace_days: writer.rules.grace(&ticket.queue).num_days(),
            internal: plan.internal,
            unverified: plan.unverified,
            held_back: plan.message.filter(|_| plan.held_back).map(|message| message.0),
            subject_tag: &config.mail.subject_tag,
            help_name: &config.mail.name,
            help_address: &config.mail.address,
            work: work.as_ref().filter(|_| for_agent),
            due_example: due_example.clone(),
            transferred_from: plan.transferred_from.as_ref().map(|peer| TransferredView { site: &peer.site, number: peer.number }),
            suggestions: if receipt_to_requester(notice, &reader.address) { suggestions.clone() } else { Vec::new() },
        };
        let template_name = match notice {
            Notice::RuleTemplate(index) => plan.rule_templates.get(*index).map_or("update", String::as_str),
            _ => template(*notice),
        };
        let body = writer.templates.render(&ticket.queue, &reader.language, template_name, &data)?;
        let auto_submitted = match notice {
            Notice::Receipt | Notice::Refusal | Notice::Clarification => AutoSubmitted::AutoReplied,
            _ => AutoSubmitted::AutoGenerated,
        };
        let reply_to = crate::identify::token::reply_address(conn, &config.mail, writer.threading, ticket.number, &reader.address)?;
        // The vendor's desk threads by its own number: it stays in the subject beside ours.
        let subject = match ticket.vendor_ticket.as_deref() {
            Some(number) if reader.role == Role::Vendor => {
                let tag = if number.starts_with('[') { number.to_string() } else { format!("[{number}]") };
                writer.threading.tag.subject_for(ticket.number, &format!("{tag} {}", ticket.subject))
            }
            _ => subject.clone(),
        };
        let outgoing = Outgoing {
            ticket: Some(ticket.number),
            from_name: &config.mail.name,
            from_address: &config.mail.address,
            reply_to: &reply_to,
            to_address: &reader.address,
            to_name: reader.name.as_deref(),
            subject: &subject,
            body: &body,
            in_reply_to: plan.message_id.as_deref(),
            references: references.as_deref().unwrap_or_default(),
            auto_submitted,
            date: now,
            cause: plan.message.map_or(0, |message| message.0),
            sequence: sequence as u64,
        };
        let composed = match super::finisher::active() {
            true => compose::check_addresses(&outgoing).map(|()| (compose::message_id(&outgoing), Raw::Later(Box::new(Letter::of(&outgoing))))),
            false => compose(&outgoing).map(|(message_id, raw)| (message_id, Raw::Ready(raw))),
        };
        // An address we cannot write to (a customer's typo) costs that one letter, not the ticket.
        let (message_id, raw) = match composed {
            Ok(composed) => composed,
            Err(error) => {
                letters.withheld.push(format!("no mail to {}: {error:#}", reader.address));
                continue;
            }
        };
        letters.ready.push(Composed {
            ticket: Some(ticket.number),
            kind: template(*notice),
            template: template_name.to_string(),
            to: reader.address.clone(),
            role: reader.role,
            subject: subject.clone(),
            message_id,
            raw,
        });
    }
    Ok(letters)
}

/// What a canned reply's text sees: the ticket, and who writes to whom.
#[derive(Debug, Serialize)]
struct ReplyData<'a> {
    ticket: TicketView<'a>,
    requester_name: Option<String>,
    help_name: &'a str,
    help_address: &'a str,
    subject_tag: &'a str,
}

/// The text of canned reply `name` for `ticket`, in its requester's language.
pub fn canned_reply(conn: &Connection, writer: Writer<'_>, ticket: &Ticket, name: &str) -> anyhow::Result<String> {
    let profile = store::people::profile(conn, &ticket.requester)?;
    let language = profile.as_ref().map_or(super::render::FALLBACK_LANGUAGE, |profile| profile.language.as_str());
    let config = writer.config;
    let data = ReplyData {
        ticket: TicketView::of(ticket, writer.rules.calendar_of(&ticket.queue)),
        requester_name: profile.as_ref().and_then(|profile| profile.name.clone()),
        help_name: &config.mail.name,
        help_address: &config.mail.address,
        subject_tag: &config.mail.subject_tag,
    };
    let text = writer.templates.render(&ticket.queue, language, &super::render::reply_template(name), &data)?;
    Ok(text.trim().to_string())
}

/// A responder without RFC 3834 marks answers each receipt with a fresh mail that opens
/// a ticket: its address was mailed a moment ago and its mail reads like an absence
/// notice or repeats an earlier one word for word, subject and text. A person opening
/// several tickets writes something new each time, so they still get their receipts.
fn responder_loop(conn: &Connection, config: &Config, plan: &Plan, address: &str, now: DateTime<Utc>) -> crate::store::Result<bool> {
    if !store::ratelimit::mailed_recently(conn, &config.limits, address, now)? {
        return Ok(false);
    }
    if crate::classify::sounds_like_an_absence_notice(&plan.subject, &plan.note) {
        return Ok(true);
    }
    let said_something = !plan.note.trim().is_empty();
    Ok(said_something && store::ratelimit::repeats_itself_after_our_mail(conn, &config.limits, address, &plan.subject, &plan.note, plan.message, now)?)
}

/// The ticket's checklist as the letters show it, ticked items marked.
fn checklist(rules: &Rules, ticket: &Ticket) -> Vec<String> {
    rules
        .checklist(ticket.category.as_deref())
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let mark = if ticket.checks.contains(&(index as u32 + 1)) { "x" } else { " " };
            format!("[{mark}] {}. {item}", index + 1)
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct NoticeData<'a> {
    recipient_name: Option<&'a str>,
    reason: &'a str,
    help_name: &'a str,
    help_address: &'a str,
}

/// A short notice to a sender whose message made no ticket (an unknown sender rejected,
/// a message too large).
#[derive(Debug, Clone, Copy)]
pub struct SenderNotice<'a> {
    pub recipient: &'a str,
    pub template: &'a str,
    /// Sent once per key and address.
    pub once_key: &'a str,
    pub reason: &'a str,
    /// The message it answers.
    pub cause: SpoolId,
}

/// The letter of `notice`: once per key and address, within the rate limits, and never
/// to machines (the caller checks that); `None` when none is due.
pub fn notice(conn: &Connection, writer: Writer<'_>, notice: &SenderNotice<'_>, now: DateTime<Utc>) -> anyhow::Result<Option<Composed>> {
    let &SenderNotice { recipient, template: template_name, once_key, reason, cause } = notice;
    let config = writer.config;
    if !store::people::first_notice(conn, recipient, once_key, now)? {
        return Ok(None);
    }
    if store::ratelimit::admit(conn, &config.limits, recipient, None, now)?.is_err() {
        return Ok(None);
    }
    let data = NoticeData { recipient_name: None, reason, help_name: &config.mail.name, help_address: &config.mail.address };
    let body = writer.templates.render(&writer.rules.default_queue, "en", template_name, &data)?;
    let subject = match template_name {
        "rejected" => "Your message to the help desk",
        "request_refused" => "Your request to the help desk",
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
        cause: cause.0,
        sequence: 0,
    });
    let Ok((message_id, raw)) = composed else { return Ok(None) };
    let role = store::people::profile(conn, recipient)?.map_or(Role::Customer, |profile| profile.role);
    Ok(Some(Composed {
        ticket: None,
        kind: "notice",
        template: template_name.to_string(),
        to: recipient.to_string(),
        role,
        subject: subject.to_string(),
        message_id,
        raw: Raw::Ready(raw),
    }))
}
