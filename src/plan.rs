//! What one message (or one `ticket update`) will change, decided before anything is
//! written.
//!
//! `plan` reads the field block, turns it into commands with the sender's rights,
//! checks each against the ticket and the site's rules, and returns a [`Plan`]: the
//! changes, the refusals to send back, the note and who is to be told. It reads the
//! database only through [`Lookup`]; `apply` carries the plan out in one transaction.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use crate::classify::Class;
use crate::identify::sender::Sender;
use crate::interpret::approval::{marks_yes, read_answer, Answer};
use crate::interpret::body::visible_note;
use crate::interpret::commands::{interpret, CcChange, Command, Preference, Refusal, Standing};
use crate::interpret::fields::{split_field_block, split_subject_fields};
use crate::identify::subject::SubjectTag;
use crate::parse::Attachment;
use crate::rules::assign;
use crate::rules::route::{Action, Routing};
use crate::rules::Rules;
use crate::store;
use crate::ticket::{transitions, Level, PeerTicket, Role, SpoolId, Status, Ticket, TicketId};

/// Read access `plan` needs to people and tickets. A failed read is an error, never
/// "not found": a busy database must leave the message spooled, not refuse a field.
pub trait Lookup {
    /// A person by address, unique name or rotation (its member on duty): role and
    /// primary address.
    fn person(&self, text: &str) -> crate::store::Result<Option<(Role, String)>>;
    /// The primary address of the person who has `address`.
    fn primary_address(&self, address: &str) -> crate::store::Result<Option<String>>;
    /// Whether scheduler job `job` (e.g. the survey) ran for `ticket`.
    fn job_done(&self, ticket: TicketId, job: &str) -> crate::store::Result<bool>;
    /// The ticket `id` resolves to (following merges), if it exists.
    fn ticket(&self, id: TicketId) -> crate::store::Result<Option<TicketId>>;
    /// The sender and note of inbound `message` on `ticket`, while its note is held back
    /// for agents.
    fn held_note(&self, ticket: TicketId, message: SpoolId) -> crate::store::Result<Option<(String, String)>>;
    /// The text of the letter on `ticket` that `reader` (any of their addresses) answers:
    /// the one `replied_to` names (In-Reply-To first), else the latest that asked them to
    /// mark a box.
    fn answered_letter(&self, ticket: TicketId, reader: &str, replied_to: &[String]) -> crate::store::Result<Option<String>>;
    /// The comment `entry` of `ticket` that `Split:` names, or why it cannot be split off.
    fn comment_to_split(&self, ticket: TicketId, entry: i64) -> crate::store::Result<Result<Comment, String>>;
}

/// A comment of a ticket as its author wrote it, ready to become a ticket of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub entry: i64,
    pub author: String,
    pub text: String,
}

/// Finds comment `entry` of `ticket` (a history entry id, as `ticket show` lists it) with
/// its author's address and their words; `Err` says why it cannot be split off.
pub fn comment_to_split(conn: &Connection, ticket: TicketId, entry: i64) -> crate::store::Result<Result<Comment, String>> {
    let found = store::tickets::history_entry(conn, entry)?.filter(|(on_ticket, _, _)| *on_ticket == ticket);
    let Some((_, event, message)) = found.filter(|(_, event, _)| matches!(event.action.as_str(), "comment" | "internal-note" | "create"))
    else {
        return Ok(Err(format!(
            "entry {entry} is not a comment of ticket {ticket}; `reqmail ticket show {ticket}` lists the entries in [brackets]"
        )));
    };
    // "ann@example.com (unverified)": the address is the first word.
    let Some(author) = event.actor.split_whitespace().next().and_then(crate::parse::bare_address) else {
        return Ok(Err(format!("entry {entry} was written by {:?}, not a person who can be told", event.actor)));
    };
    // The comment as its author wrote it, not the history line about it.
    let text = match message {
        Some(message) => store::messages::note(conn, message)?.unwrap_or(event.detail),
        None => event.detail,
    };
    Ok(Ok(Comment { entry, author, text }))
}

/// [`Lookup`] over an open transaction.
pub struct StoreLookup<'a> {
    pub conn: &'a Connection,
    pub rules: &'a Rules,
    pub now: DateTime<Utc>,
}

impl Lookup for StoreLookup<'_> {
    fn comment_to_split(&self, ticket: TicketId, entry: i64) -> crate::store::Result<Result<Comment, String>> {
        comment_to_split(self.conn, ticket, entry)
    }

    fn person(&self, text: &str) -> crate::store::Result<Option<(Role, String)>> {
        if let Some(rotation) = self.rules.rotation(text) {
            let member = assign::on_duty_member(self.conn, self.rules, rotation, None, self.now)?;
            return Ok(member.map(|address| (Role::Agent, address)));
        }
        Ok(store::people::find_by_address_or_name(self.conn, text)?.map(|(_, role, address)| (role, address)))
    }

    fn ticket(&self, id: TicketId) -> crate::store::Result<Option<TicketId>> {
        store::tickets::resolve_merged(self.conn, id)
    }

    fn primary_address(&self, address: &str) -> crate::store::Result<Option<String>> {
        match store::people::find_by_address(self.conn, address)? {
            Some((person, _)) => store::people::primary_address(self.conn, person),
            None => Ok(None),
        }
    }

    fn job_done(&self, ticket: TicketId, job: &str) -> crate::store::Result<bool> {
        store::tickets::job_done(self.conn, ticket, job)
    }

    fn held_note(&self, ticket: TicketId, message: SpoolId) -> crate::store::Result<Option<(String, String)>> {
        store::tickets::held_note(self.conn, ticket, message)
    }

    fn answered_letter(&self, ticket: TicketId, reader: &str, replied_to: &[String]) -> crate::store::Result<Option<String>> {
        use crate::interpret::approval::asks_for_a_mark;
        // Enough to reach past the updates sent since the resolution; a reply to anything
        // older names it in In-Reply-To.
        const RECENT_LETTERS: i64 = 50;
        let letters = store::messages::letters_to_reader(self.conn, ticket, reader, RECENT_LETTERS)?;
        let text_of = |row| -> crate::store::Result<Option<String>> {
            let raw = store::messages::raw(self.conn, row)?.unwrap_or_default();
            Ok(crate::parse::parse(&raw, &Default::default()).ok().map(|mail| mail.text))
        };
        for id in replied_to {
            if let Some(&(row, _)) = letters.iter().find(|(_, message_id)| message_id == id) {
                return text_of(row);
            }
        }
        for &(row, _) in &letters {
            if let Some(text) = text_of(row)?.filter(|text| asks_for_a_mark(text)) {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }
}

/// The parts of an incoming message that `plan` reads.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    pub message: Option<SpoolId>,
    pub message_id: Option<String>,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Sent to the comment address: an internal note when the sender is staff.
    pub to_comment_address: bool,
    /// The queue the source tied the message to (an IMAP mailbox's queue).
    pub queue_hint: Option<String>,
    /// The Message-IDs the message answers: In-Reply-To, then References newest first.
    pub replied_to: Vec<String>,
    /// The agent who forwarded this message to us on behalf of its author, with what
    /// they wrote above it.
    pub forwarded_by: Option<Forwarder>,
    /// Whom the sender copied (Cc), our own addresses left out.
    pub copied: Vec<String>,
    /// The note of `text` (its words below the field block, `visible_note`), when the
    /// source worked it out ahead on another thread; `None` has the plan work it out.
    pub note: Option<String>,
}

/// An agent who forwarded someone's mail to open a ticket for them.
#[derive(Debug, Clone, Default)]
pub struct Forwarder {
    pub address: String,
    /// What the agent wrote above the forwarded message; in a plan, without quotes and
    /// signature.
    pub note: String,
}

/// The change one message makes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub message: Option<SpoolId>,
    pub message_id: Option<String>,
    pub sender: Sender,
    pub subject: String,
    /// The sender's new words: fields, quotes and signature removed.
    pub note: String,
    /// The note is for agents only.
    pub internal: bool,
    /// The sender could not be verified; the note is flagged so.
    pub unverified: bool,
    /// An unverified sender who is not on the ticket wrote: the note is held back for
    /// agents, who may publish it (DESIGN §4), and nobody else hears of it.
    pub held_back: bool,
    pub ticket: TicketChange,
    pub changes: Vec<Change>,
    pub refusals: Vec<Refusal>,
    pub attachments: Vec<Attachment>,
    /// Why the message was tied to its ticket, for the history.
    pub matched_by: Option<&'static str>,
    /// The agent who forwarded the sender's mail; their words are an internal note.
    pub forwarded_by: Option<Forwarder>,
    /// Whether automatic mail may answer the sender (receipt, refusals).
    pub answerable: bool,
    /// The mail this change sends.
    pub notices: Vec<Notice>,
    /// The closed ticket this new one follows up.
    pub follow_up_of: Option<TicketId>,
    /// Changes made by routing rules, each with the rule's name; applied before the sender's.
    pub rule_changes: Vec<(String, Change)>,
    /// What rules decided for a new ticket's queue and levels, for the history.
    pub rule_log: Vec<(String, String)>,
    /// Internal notes added by rules.
    pub rule_notes: Vec<(String, String)>,
    /// Named templates rules send to the requester.
    pub rule_templates: Vec<String>,
    /// The peer site and its ticket a new ticket was transferred from (its receipt says so).
    pub transferred_from: Option<PeerTicket>,
}

/// A kind of mail a change sends; `apply` finds its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// To the sender of a new ticket.
    Receipt,
    /// To everyone on the ticket but the actor.
    Update,
    /// To the sender: the fields that were not applied.
    Refusal,
    /// To the sender: mark exactly one box.
    Clarification,
    /// The resolution with its two boxes, to whoever decides now.
    Resolution,
    /// To the requester: the ticket closed after the grace period.
    AutoClosed,
    /// To the owner (else the watchers): a share of the SLA time is used.
    Reminder,
    /// To the owner and the queue's supervisor: the SLA due date passed.
    Escalation,
    /// To the owner: nobody touched the ticket for a while.
    Nag,
    /// To the owner: the hold timed out and the ticket is open again.
    HoldTimeout,
    /// To the requester: one question, five boxes.
    Survey,
    /// To the requester: the template a rule named (index into `Plan::rule_templates`).
    RuleTemplate(usize),
    /// To the vendor: their answer is due.
    VendorReminder,
    /// To the owner and the queue's supervisor: the vendor is late.
    VendorEscalation,
}

#[derive(Debug, Clone)]
pub enum TicketChange {
    Create { subject: String, queue: String, importance: Level, priority: Level },
    Update { ticket: TicketId },
}

/// One attribute change, checked and ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Queue(String),
    Importance(Level),
    Priority(Level),
    RequestedDue(DateTime<Utc>),
    CommittedDue(DateTime<Utc>),
    Host(String),
    Category(String),
    AddCc(String),
    RemoveCc(String),
    Status { to: Status, why: Option<&'static str> },
    /// The new owner's address; `apply` makes a person of it when it is new.
    Owner(Option<String>),
    TimeMinutes(i64),
    Check(Vec<u32>),
    MergeInto(TicketId),
    /// A held-back note is relayed to the ticket's readers.
    Publish(SpoolId),
    Preferences(Vec<Preference>),
    /// The supervisor approved; now the customer is asked.
    AskCustomer,
    SurveyRating(u8),
    /// The comment becomes a ticket of its own, its author the requester.
    Split(Comment),
    /// The next action to take; `None` clears it.
    Next(Option<String>),
    /// The configured canned reply of this name joins the note as the public answer.
    Reply(String),
    /// The vendor (by its configured name) who works on the ticket now; `None` takes it off.
    Vendor(Option<String>),
    VendorTicket(String),
    /// The vendor clock: `true` starts it (we wrote to them), `false` stops it (they answered).
    AwaitVendor(bool),
    /// The ticket goes to the peer site of this name, which owns it from then on.
    Transfer(String),
    /// The note goes on to the peer site of this name, which owns the ticket now.
    Relay(String),
}

impl Plan {
    /// The status this plan leaves the ticket in, when it changes it (the sender's
    /// changes come after the rules').
    pub fn new_status(&self) -> Option<Status> {
        let changes = self.rule_changes.iter().map(|(_, change)| change).chain(&self.changes);
        changes.rev().find_map(|change| match change {
            Change::Status { to, .. } => Some(*to),
            _ => None,
        })
    }
}

impl From<Action> for Change {
    fn from(action: Action) -> Change {
        match action {
            Action::Queue(queue) => Change::Queue(queue),
            Action::Importance(level) => Change::Importance(level),
            Action::Priority(level) => Change::Priority(level),
            Action::Category(category) => Change::Category(category),
            Action::Owner(address) => Change::Owner(Some(address)),
            Action::AddCc(address) => Change::AddCc(address),
        }
    }
}

impl Change {
    /// The change in a few words, for the decision record.
    pub fn describe(&self) -> String {
        let time = crate::clock::format_time;
        match self {
            Change::Queue(queue) => format!("queue: {queue}"),
            Change::Importance(level) => format!("importance: {level}"),
            Change::Priority(level) => format!("priority: {level}"),
            Change::RequestedDue(at) => format!("requested due: {}", time(*at)),
            Change::CommittedDue(at) => format!("committed due: {}", time(*at)),
            Change::Host(host) => format!("host: {host}"),
            Change::Category(category) => format!("category: {category}"),
            Change::AddCc(address) => format!("cc: +{address}"),
            Change::RemoveCc(address) => format!("cc: -{address}"),
            Change::Status { to, why: Some(why) } => format!("status: {to} ({why})"),
            Change::Status { to, why: None } => format!("status: {to}"),
            Change::Owner(Some(address)) => format!("owner: {address}"),
            Change::Owner(None) => "owner: nobody".to_string(),
            Change::TimeMinutes(minutes) => format!("time: +{minutes}m"),
            Change::Check(items) => format!("check: {}", join_numbers(items)),
            Change::MergeInto(target) => format!("merge into #{target}"),
            Change::Publish(message) => format!("publish: the note of message {message}"),
            Change::Preferences(preferences) => format!("preferences: {preferences:?}"),
            Change::AskCustomer => "approval: the customer is asked".to_string(),
            Change::SurveyRating(rating) => format!("survey: {rating} of 5"),
            Change::Split(comment) => format!("split: entry {} for {}", comment.entry, comment.author),
            Change::Next(Some(next)) => format!("next: {next}"),
            Change::Next(None) => "next: none".to_string(),
            Change::Reply(name) => format!("reply: {name}"),
            Change::Vendor(Some(vendor)) => format!("vendor: {vendor}"),
            Change::Vendor(None) => "vendor: none".to_string(),
            Change::VendorTicket(number) => format!("vendor ticket: {number}"),
            Change::AwaitVendor(true) => "the vendor's answer is awaited".to_string(),
            Change::AwaitVendor(false) => "the vendor answered".to_string(),
            Change::Transfer(peer) => format!("transfer to site {peer}"),
            Change::Relay(peer) => format!("relay to site {peer}, which owns the ticket"),
        }
    }
}

/// Everything `plan` is given.
pub struct PlanInput<'a> {
    pub rules: &'a Rules,
    pub tag: &'a SubjectTag,
    pub lookup: &'a dyn Lookup,
    pub inbound: Inbound,
    pub class: &'a Class,
    pub sender: Sender,
    pub current: Option<&'a Ticket>,
    pub matched_by: Option<&'static str>,
    /// Set when the message answers a ticket closed longer than the follow-up window.
    pub follow_up_of: Option<TicketId>,
    /// What the routing rules decided (`rules::route`).
    pub routing: Routing,
    pub now: DateTime<Utc>,
}

/// Decides what one message changes; fails only when the database cannot be read.
/// The field and value of a sender's change that would leave `ticket` as it is.
fn unchanged(change: &Change, ticket: &Ticket) -> Option<(&'static str, String)> {
    let time = |at: &DateTime<Utc>| crate::clock::format_time(*at);
    match change {
        Change::Queue(queue) if *queue == ticket.queue => Some(("Queue", queue.clone())),
        Change::Importance(level) if *level == ticket.importance => Some(("Importance", level.to_string())),
        Change::Priority(level) if *level == ticket.priority => Some(("Priority", level.to_string())),
        Change::Host(host) if ticket.host.as_deref() == Some(host.as_str()) => Some(("Host", host.clone())),
        Change::Category(category) if ticket.category.as_deref() == Some(category.as_str()) => Some(("Category", category.clone())),
        Change::RequestedDue(at) if ticket.requested_due == Some(*at) => Some(("Due", time(at))),
        Change::CommittedDue(at) if ticket.committed_due == Some(*at) => Some(("Committed", time(at))),
        Change::Owner(Some(owner)) if ticket.owner.as_deref().is_some_and(|current| current.eq_ignore_ascii_case(owner)) => {
            Some(("Owner", owner.clone()))
        }
        Change::AddCc(address) if ticket.cc.iter().any(|cc| cc.eq_ignore_ascii_case(address)) => Some(("Cc", address.clone())),
        Change::Vendor(vendor) if *vendor == ticket.vendor => Some(("Vendor", vendor.clone().unwrap_or_else(|| "none".into()))),
        Change::VendorTicket(number) if ticket.vendor_ticket.as_ref() == Some(number) => Some(("Vendor-Ticket", number.clone())),
        Change::Next(next) if *next == ticket.next_action => Some(("Next", next.clone().unwrap_or_else(|| "none".into()))),
        _ => None,
    }
}

/// The subject a new ticket gets from a message's `subject` (its field block taken off
/// already): our tags and reply prefixes removed, never empty.
pub fn new_ticket_subject(tag: &SubjectTag, subject: &str) -> String {
    match tag.clean(subject) {
        cleaned if cleaned.is_empty() => "(no subject)".to_string(),
        cleaned => cleaned,
    }
}

pub fn plan(input: PlanInput<'_>) -> crate::store::Result<Plan> {
    let PlanInput { rules, tag, lookup, mut inbound, class, sender, current, matched_by, follow_up_of, routing, now } = input;
    let note_ahead = inbound.note.take();
    let mut rule_changes: Vec<(String, Change)> = routing.actions.into_iter().map(|(rule, action)| (rule, Change::from(action))).collect();
    let mut rule_log = Vec::new();
    let person_wrote = class.may_be_answered();
    let staff = matches!(sender.role, Role::Agent | Role::Admin);
    let authentic = sender.trust.is_authentic();
    let held_back = match current {
        Some(ticket) if person_wrote && !authentic && !staff => !on_ticket(rules, lookup, ticket, &sender.address)?,
        _ => false,
    };

    // Fields: the subject block and the body block; machines command nothing.
    let (mut fields, subject) = split_subject_fields(&inbound.subject);
    let (body_fields, rest) = split_field_block(&inbound.text);
    fields.extend(body_fields);
    if !person_wrote {
        fields.clear();
    }
    let queue_now = current.map_or(rules.default_queue.as_str(), |ticket| ticket.queue.as_str());
    let standing = Standing { role: sender.role, authentic, new_ticket: current.is_none() };
    let (commands, mut refusals) = interpret(&fields, standing, now, rules.calendar_of(queue_now));

    let mut checker = Checker {
        rules,
        lookup,
        current,
        sender: &sender,
        refusals: &mut refusals,
        changes: Vec::new(),
        internal: None,
        published: Vec::new(),
    };
    for command in commands {
        checker.check(command)?;
    }
    let Checker { changes, internal, published, .. } = checker;
    let mut changes = changes;
    if let Some(ticket) = current {
        // A field that names what the ticket already is gets an answer, not a history entry.
        changes.retain(|change| match unchanged(change, ticket) {
            Some((field, value)) => {
                refusals.push(Refusal { field: field.into(), reason: format!("it is already {value}; nothing changed"), value });
                false
            }
            None => true,
        });
    }
    // A canned reply answers the customer: public unless the agent says otherwise.
    let replies = changes.iter().any(|change| matches!(change, Change::Reply(_)));
    let internal = held_back || (internal.unwrap_or(inbound.to_comment_address && staff && !replies) && staff);
    if let Some(ticket) = current.filter(|_| person_wrote && authentic && !staff && !held_back) {
        changes.extend(newly_copied(rules, lookup, ticket, &sender, &inbound.copied, &changes)?);
    }

    let mut notices = Vec::new();
    if let Some(ticket) = current.filter(|_| person_wrote && !held_back) {
        let sets_status = changes.iter().any(|change| matches!(change, Change::Status { .. }));
        match ticket.status {
            // The next action ends a hold (DESIGN §3).
            Status::Hold if !sets_status => {
                changes.push(Change::Status { to: Status::Open, why: Some("the next action ends the hold") });
            }
            Status::Resolved if !sets_status => {
                read_approval(rules, lookup, ticket, &sender, &inbound, &mut changes, &mut refusals, &mut notices)?
            }
            Status::New | Status::Open if !sets_status && marks_yes(&inbound.text) => {
                read_solved_by_suggestion(lookup, ticket, &sender, &inbound, &mut changes, &mut refusals)?
            }
            Status::Closed if !sets_status => {
                let rating = crate::interpret::approval::read_rating(&inbound.text);
                match rating {
                    Some(rating) if lookup.job_done(ticket.number, "survey")? => changes.push(Change::SurveyRating(rating)),
                    _ if authentic => changes.push(Change::Status { to: Status::Open, why: Some("reopened by a reply") }),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    let ticket = match current {
        Some(ticket) => TicketChange::Update { ticket: ticket.number },
        None => {
            let hinted = inbound.queue_hint.as_deref().and_then(|hint| rules.queue(hint)).map(|queue| queue.name.clone());
            let mut queue = hinted.unwrap_or_else(|| rules.default_queue.clone());
            let mut importance = Level::Medium;
            let mut priority = None;
            // Rules decide first; what the sender asked for (and may ask for) wins.
            rule_changes.retain(|(rule, change)| match change {
                Change::Queue(name) => {
                    queue = name.clone();
                    rule_log.push((rule.clone(), format!("queue {name}")));
                    false
                }
                Change::Importance(level) => {
                    importance = *level;
                    rule_log.push((rule.clone(), format!("importance {level}")));
                    false
                }
                Change::Priority(level) => {
                    priority = Some(*level);
                    rule_log.push((rule.clone(), format!("priority {level}")));
                    false
                }
                _ => true,
            });
            changes.retain(|change| match change {
                Change::Queue(name) => {
                    queue = name.clone();
                    false
                }
                Change::Importance(level) => {
                    importance = *level;
                    false
                }
                Change::Priority(level) => {
                    priority = Some(*level);
                    false
                }
                _ => true,
            });
            let subject = new_ticket_subject(tag, &subject);
            let queue_default = rules.queue(&queue).and_then(|queue| queue.default_priority);
            TicketChange::Create { subject, queue, importance, priority: priority.or(queue_default).unwrap_or(importance) }
        }
    };

    if current.is_none() && person_wrote {
        notices.push(Notice::Receipt);
    }
    let note = with_published(note_ahead.unwrap_or_else(|| visible_note(rest)), &published);
    // A reply that changes nothing and says nothing gives the others nothing to read.
    let news = current.is_none() || !changes.is_empty() || !note.is_empty() || !rule_changes.is_empty() || !routing.notes.is_empty();
    if person_wrote && news {
        notices.push(Notice::Update);
    }
    let nothing_public = internal || note.is_empty();
    changes.extend(vendor_clock(rules, current, &sender, &inbound.subject, &changes, person_wrote, nothing_public));
    if changes.iter().any(|change| matches!(change, Change::Status { to: Status::Resolved, .. } | Change::AskCustomer)) {
        notices.push(Notice::Resolution);
    }
    if !refusals.is_empty() && person_wrote && !held_back {
        notices.push(Notice::Refusal);
    }
    notices.extend((0..routing.templates.len()).map(Notice::RuleTemplate));
    let (mut rule_notes, mut rule_templates) = (routing.notes, routing.templates);
    // The peer site owns the ticket now: what a person still writes to us goes on to
    // them, and nothing else happens here (no reopening, no letters, no fields). A
    // machine's mail stays here: the peer answers people.
    if let Some(peer) = current.and_then(|ticket| ticket.peer.as_ref()).filter(|peer| peer.theirs && person_wrote) {
        changes = vec![Change::Relay(peer.site.clone())];
        refusals.clear();
        notices.clear();
        rule_changes.clear();
        rule_log.clear();
        rule_notes.clear();
        rule_templates.clear();
    }
    Ok(Plan {
        rule_changes,
        rule_log,
        rule_notes,
        rule_templates,
        transferred_from: None,
        follow_up_of,
        notices,
        message: inbound.message,
        message_id: inbound.message_id,
        unverified: person_wrote && !authentic,
        held_back,
        sender,
        subject: inbound.subject,
        note,
        internal,
        ticket,
        changes,
        refusals,
        attachments: inbound.attachments,
        matched_by,
        forwarded_by: inbound
            .forwarded_by
            .map(|forwarder| Forwarder { note: visible_note(&forwarder.note), address: forwarder.address }),
        answerable: person_wrote,
    })
}

/// Most people one reply can add to a ticket's Cc list.
const MAX_COPIED_FROM_A_REPLY: usize = 10;

/// The Cc list grows from replies: whom a verified customer on the ticket copied on their
/// reply follows the ticket from now on. It never shrinks that way: a reply without Cc (an
/// out-of-office, a phone's reply to the sender alone) changes nothing; removing takes a
/// `Cc: -address` line. Staff are left out, they see tickets anyway.
fn newly_copied(rules: &Rules, lookup: &dyn Lookup, ticket: &Ticket, sender: &Sender, copied: &[String], changes: &[Change]) -> crate::store::Result<Vec<Change>> {
    let mut added = Vec::new();
    if copied.is_empty() || !on_ticket(rules, lookup, ticket, &sender.address)? {
        return Ok(added);
    }
    for address in copied.iter().take(MAX_COPIED_FROM_A_REPLY) {
        let named_by_a_field = changes.iter().any(|change| matches!(change, Change::AddCc(named) | Change::RemoveCc(named) if named.eq_ignore_ascii_case(address)));
        if named_by_a_field || address.eq_ignore_ascii_case(&sender.address) || on_ticket(rules, lookup, ticket, address)? {
            continue;
        }
        if !matches!(lookup.person(address)?, Some((Role::Agent | Role::Admin, _))) {
            added.push(Change::AddCc(address.clone()));
        }
    }
    Ok(added)
}

/// What a message does to the vendor's side of a ticket: the vendor's clock runs from a
/// public word of ours (or their assignment) until a person at the vendor answers, and
/// their first mail that carries their ticket number in the subject (their system's
/// acknowledgement too) tells us that number.
fn vendor_clock(
    rules: &Rules,
    current: Option<&Ticket>,
    sender: &Sender,
    subject: &str,
    changes: &[Change],
    person_wrote: bool,
    nothing_public: bool,
) -> Vec<Change> {
    let assigned_now = changes.iter().rev().find_map(|change| match change {
        Change::Vendor(vendor) => Some(vendor.clone()),
        _ => None,
    });
    let vendor_name = assigned_now.clone().unwrap_or_else(|| current.and_then(|ticket| ticket.vendor.clone()));
    let Some(vendor) = vendor_name.as_deref().and_then(|name| rules.vendor(name)) else { return Vec::new() };
    let mut clock = Vec::new();
    if vendor.config.writes_from(&sender.address) {
        if !sender.trust.is_authentic() {
            return clock;
        }
        let knows_number = current.is_some_and(|ticket| ticket.vendor_ticket.is_some())
            || changes.iter().any(|change| matches!(change, Change::VendorTicket(_)));
        if let Some(number) = vendor.config.tag.find(subject).filter(|_| !knows_number) {
            clock.push(Change::VendorTicket(number));
        }
        if person_wrote && current.is_some_and(|ticket| ticket.vendor_due.is_some()) {
            clock.push(Change::AwaitVendor(false));
        }
    } else if person_wrote && matches!(sender.role, Role::Agent | Role::Admin) && (assigned_now.is_some() || !nothing_public) {
        clock.push(Change::AwaitVendor(true));
    }
    clock
}

/// Whether `address` is the requester, owner, a Cc or a watcher of `ticket`, by any of
/// its person's addresses.
fn on_ticket(rules: &Rules, lookup: &dyn Lookup, ticket: &Ticket, address: &str) -> crate::store::Result<bool> {
    let primary = lookup.primary_address(address)?;
    let watchers = rules.queue(&ticket.queue).map(|queue| queue.watchers.as_slice()).unwrap_or_default();
    let mut participants = std::iter::once(&ticket.requester).chain(&ticket.owner).chain(&ticket.cc).chain(watchers);
    Ok(participants.any(|participant| {
        participant.eq_ignore_ascii_case(address) || primary.as_deref().is_some_and(|primary| participant.eq_ignore_ascii_case(primary))
    }))
}

/// The agent's note followed by each note they publish, quoted with its author.
fn with_published(note: String, published: &[(String, String)]) -> String {
    let mut text = note;
    for (author, held_note) in published {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&format!("{author} (unverified sender) wrote:\n"));
        for line in held_note.lines() {
            text.push_str(&format!("> {line}\n"));
        }
    }
    text
}

/// Reads the answer to a resolution from the one who decides it now; anyone else's
/// words stay a note.
#[allow(clippy::too_many_arguments)]
fn read_approval(
    rules: &Rules,
    lookup: &dyn Lookup,
    ticket: &Ticket,
    sender: &Sender,
    inbound: &Inbound,
    changes: &mut Vec<Change>,
    refusals: &mut Vec<Refusal>,
    notices: &mut Vec<Notice>,
) -> crate::store::Result<()> {
    use crate::ticket::ApprovalStage;
    let stage = ticket.approval_stage.unwrap_or(ApprovalStage::Customer);
    let decider = match stage {
        ApprovalStage::Supervisor => rules.queue(&ticket.queue).and_then(|queue| queue.supervisor.clone()),
        ApprovalStage::Customer => Some(ticket.requester.clone()),
    };
    let Some(answer) = answer_from(lookup, ticket, sender, inbound, decider.as_deref(), &rules.denial_phrases)? else { return Ok(()) };
    if !sender.trust.is_authentic() {
        if answer != Answer::Unclear {
            let value = if answer == Answer::Approve { "yes" } else { "no" };
            refusals.push(unverified_answer("Approval", value, "the resolution mail"));
        }
        return Ok(());
    }
    match (answer, stage) {
        (Answer::Approve, ApprovalStage::Supervisor) => changes.push(Change::AskCustomer),
        (Answer::Approve, ApprovalStage::Customer) => {
            changes.push(Change::Status { to: Status::Closed, why: Some("approved by the customer") })
        }
        (Answer::Deny, ApprovalStage::Supervisor) => {
            changes.push(Change::Status { to: Status::Open, why: Some("the supervisor did not approve the resolution") })
        }
        (Answer::Deny, ApprovalStage::Customer) => {
            changes.push(Change::Status { to: Status::Open, why: Some("not solved, says the customer") })
        }
        (Answer::Unclear, _) => notices.push(Notice::Clarification),
    }
    Ok(())
}

/// The requester's mark in the box of the receipt that suggested answers (the knowledge
/// loop) closes the ticket; as with approvals, only a mark where our letter to them had
/// an empty box counts, and only from an authentic sender.
fn read_solved_by_suggestion(
    lookup: &dyn Lookup,
    ticket: &Ticket,
    sender: &Sender,
    inbound: &Inbound,
    changes: &mut Vec<Change>,
    refusals: &mut Vec<Refusal>,
) -> crate::store::Result<()> {
    if answer_from(lookup, ticket, sender, inbound, Some(&ticket.requester), &[])? != Some(Answer::Approve) {
        return Ok(());
    }
    if !sender.trust.is_authentic() {
        refusals.push(unverified_answer("Solved", "yes", "the receipt"));
        return Ok(());
    }
    changes.push(Change::Status { to: Status::Closed, why: Some("solved by a suggested answer, says the requester") });
    Ok(())
}

/// What `inbound` answers to the last letter with boxes we sent its sender, when the
/// sender is `decider` (by any of their addresses); `None` for anyone else.
fn answer_from(
    lookup: &dyn Lookup,
    ticket: &Ticket,
    sender: &Sender,
    inbound: &Inbound,
    decider: Option<&str>,
    denial_phrases: &[String],
) -> crate::store::Result<Option<Answer>> {
    let sender_primary = lookup.primary_address(&sender.address)?.unwrap_or_else(|| sender.address.clone());
    if decider != Some(sender_primary.as_str()) {
        return Ok(None);
    }
    let letter = lookup.answered_letter(ticket.number, &sender.address, &inbound.replied_to)?;
    Ok(Some(read_answer(&inbound.text, letter.as_deref(), denial_phrases)))
}

/// The refusal of a marked box whose sender is not proven.
fn unverified_answer(field: &str, value: &str, letter: &str) -> Refusal {
    Refusal {
        field: field.into(),
        value: value.into(),
        reason: format!("your answer could not be verified as coming from you; reply to {letter} itself"),
    }
}

/// Checks commands against the ticket and the rules, collecting changes and refusals.
struct Checker<'a, 'r> {
    rules: &'a Rules,
    lookup: &'a dyn Lookup,
    current: Option<&'a Ticket>,
    sender: &'a Sender,
    refusals: &'r mut Vec<Refusal>,
    changes: Vec<Change>,
    internal: Option<bool>,
    /// The author and text of each held-back note being published.
    published: Vec<(String, String)>,
}

impl Checker<'_, '_> {
    fn refuse(&mut self, field: &str, value: impl Into<String>, reason: impl Into<String>) {
        self.refusals.push(Refusal { field: field.into(), value: value.into(), reason: reason.into() });
    }

    fn category_after(&self) -> Option<String> {
        self.changes
            .iter()
            .rev()
            .find_map(|change| if let Change::Category(category) = change { Some(category.clone()) } else { None })
            .or_else(|| self.current.and_then(|ticket| ticket.category.clone()))
    }

    fn check(&mut self, command: Command) -> crate::store::Result<()> {
        let status_now = self.current.map_or(Status::New, |ticket| ticket.status);
        match command {
            Command::Queue(name) => match self.rules.queue(&name) {
                Some(queue) => self.changes.push(Change::Queue(queue.name.clone())),
                None => {
                    let known = self.rules.queue_names().join(", ");
                    self.refuse("Queue", name, format!("there is no such queue; known queues: {known}"))
                }
            },
            Command::Importance(level) => self.changes.push(Change::Importance(level)),
            Command::Priority(level) => self.changes.push(Change::Priority(level)),
            Command::RequestedDue(at) => self.changes.push(Change::RequestedDue(at)),
            Command::CommittedDue(at) => self.changes.push(Change::CommittedDue(at)),
            Command::Host(host) => self.changes.push(Change::Host(host)),
            Command::Category(text) => match self.rules.category(&text) {
                Some(category) => self.changes.push(Change::Category(category)),
                None => {
                    let known: Vec<&str> = self.rules.category_names().iter().take(20).map(String::as_str).collect();
                    let known = if known.is_empty() { "none are configured".to_string() } else { known.join("; ") };
                    self.refuse("Category", text, format!("no such category; known: {known}"))
                }
            },
            Command::Cc(list) => {
                for change in list {
                    self.changes.push(match change {
                        CcChange::Add(address) => Change::AddCc(address),
                        CcChange::Remove(address) => Change::RemoveCc(address),
                    });
                }
            }
            Command::Status(to) => {
                if let Err(reason) = transitions::check(status_now, to, self.sender.role) {
                    self.refuse("Status", to.as_str(), reason);
                    return Ok(());
                }
                if to == Status::Resolved {
                    let category = self.category_after();
                    let checklist = self.rules.checklist(category.as_deref());
                    let mut ticked: Vec<u32> = self.current.map(|ticket| ticket.checks.clone()).unwrap_or_default();
                    for change in &self.changes {
                        if let Change::Check(items) = change {
                            ticked.extend(items);
                        }
                    }
                    let left: Vec<String> = checklist
                        .iter()
                        .enumerate()
                        .filter(|(index, _)| !ticked.contains(&(*index as u32 + 1)))
                        .map(|(index, item)| format!("{}. {item}", index + 1))
                        .collect();
                    if !left.is_empty() {
                        self.refuse(
                            "Status",
                            "resolved",
                            format!("the checklist is not done; still to tick (Check: N): {}", left.join("; ")),
                        );
                        return Ok(());
                    }
                }
                if to != status_now {
                    self.changes.push(Change::Status { to, why: None });
                }
            }
            Command::Owner(text) => self.check_owner(text)?,
            Command::TimeMinutes(minutes) => self.changes.push(Change::TimeMinutes(minutes)),
            Command::Check(items) => {
                let category = self.category_after();
                let length = self.rules.checklist(category.as_deref()).len() as u32;
                if length == 0 {
                    self.refuse("Check", join_numbers(&items), "this ticket's category has no checklist");
                    return Ok(());
                }
                match items.iter().find(|item| **item > length) {
                    Some(item) => self.refuse("Check", join_numbers(&items), format!("item {item} does not exist; the checklist has {length} items")),
                    None => self.changes.push(Change::Check(items)),
                }
            }
            Command::Merge(target) => self.check_merge(target)?,
            Command::Internal(internal) => self.internal = Some(internal),
            Command::Publish(message) => {
                let held = match self.current {
                    Some(ticket) => self.lookup.held_note(ticket.number, message)?,
                    None => None,
                };
                match held {
                    Some(note) => {
                        self.changes.push(Change::Publish(message));
                        self.published.push(note);
                    }
                    None => self.refuse("Publish", message.to_string(), "no note of that message is held back on this ticket"),
                }
            }
            Command::Preferences(preferences) => self.changes.push(Change::Preferences(preferences)),
            Command::Split(entry) => {
                let Some(ticket) = self.current else {
                    self.refuse("Split", entry.to_string(), "a new ticket has no comments to split off yet");
                    return Ok(());
                };
                match self.lookup.comment_to_split(ticket.number, entry)? {
                    Ok(comment) => self.changes.push(Change::Split(comment)),
                    Err(reason) => self.refuse("Split", entry.to_string(), reason),
                }
            }
            Command::Next(next) => self.changes.push(Change::Next(next)),
            Command::Vendor(None) => self.changes.push(Change::Vendor(None)),
            Command::Vendor(Some(name)) => match self.rules.vendor(&name) {
                Some(vendor) => self.changes.push(Change::Vendor(Some(vendor.config.name.clone()))),
                None => {
                    let known = self.rules.vendor_names();
                    let known = if known.is_empty() { "none are configured".to_string() } else { known.join(", ") };
                    self.refuse("Vendor", name, format!("there is no such vendor; known vendors: {known}"))
                }
            },
            Command::Transfer(name) => {
                let peer = self.rules.peer_sites.iter().find(|peer| peer.eq_ignore_ascii_case(name.trim()));
                match peer {
                    Some(peer) => self.changes.push(Change::Transfer(peer.clone())),
                    None => {
                        let known = if self.rules.peer_sites.is_empty() { "none are configured".to_string() } else { self.rules.peer_sites.join(", ") };
                        self.refuse("Transfer", name, format!("there is no such site; known sites: {known}"))
                    }
                }
            }
            Command::VendorTicket(number) => {
                let assigned = self.changes.iter().rev().find_map(|change| match change {
                    Change::Vendor(vendor) => Some(vendor.is_some()),
                    _ => None,
                });
                if assigned.unwrap_or_else(|| self.current.is_some_and(|ticket| ticket.vendor.is_some())) {
                    self.changes.push(Change::VendorTicket(number));
                } else {
                    self.refuse("Vendor-Ticket", number, "no vendor works on this ticket; assign one first with Vendor: NAME");
                }
            }
            Command::Reply(name) => {
                if self.rules.canned_replies.contains(&name) {
                    self.changes.push(Change::Reply(name));
                } else {
                    let known =
                        if self.rules.canned_replies.is_empty() { "none are configured".to_string() } else { self.rules.canned_replies.join(", ") };
                    self.refuse("Reply", name, format!("there is no such canned reply; known replies: {known}"));
                }
            }
        }
        Ok(())
    }

    fn check_owner(&mut self, text: String) -> crate::store::Result<()> {
        if matches!(text.to_lowercase().as_str(), "nobody" | "none" | "-") {
            self.changes.push(Change::Owner(None));
            return Ok(());
        }
        let wanted = if text.eq_ignore_ascii_case("me") { self.sender.address.clone() } else { text.clone() };
        let configured = crate::parse::bare_address(&wanted).and_then(|address| self.rules.configured_person(&address).cloned());
        match self.lookup.person(&wanted)? {
            Some((role, address)) => {
                let role = configured.map_or(role, |configured| configured.role);
                if matches!(role, Role::Agent | Role::Admin) {
                    self.changes.push(Change::Owner(Some(address)));
                } else {
                    self.refuse("Owner", text, format!("{address} is not an agent"));
                }
            }
            None => self.refuse("Owner", text, "no such agent; write an agent's address or name"),
        }
        Ok(())
    }

    fn check_merge(&mut self, target: TicketId) -> crate::store::Result<()> {
        match self.lookup.ticket(target)? {
            Some(resolved) if Some(resolved) == self.current.map(|ticket| ticket.number) => {
                self.refuse("Merge", target.to_string(), "a ticket cannot be merged into itself")
            }
            Some(resolved) => self.changes.push(Change::MergeInto(resolved)),
            None => self.refuse("Merge", target.to_string(), "there is no such ticket"),
        }
        Ok(())
    }
}

fn join_numbers(items: &[u32]) -> String {
    items.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// A plan made by the scheduler or another system job: changes and mail, no message.
pub fn system(ticket: TicketId, sender: Sender, changes: Vec<Change>, notices: Vec<Notice>) -> Plan {
    Plan {
        message: None,
        message_id: None,
        sender,
        subject: String::new(),
        note: String::new(),
        internal: false,
        unverified: false,
        held_back: false,
        ticket: TicketChange::Update { ticket },
        changes,
        refusals: Vec::new(),
        attachments: Vec::new(),
        matched_by: None,
        forwarded_by: None,
        answerable: false,
        notices,
        follow_up_of: None,
        rule_changes: Vec::new(),
        rule_log: Vec::new(),
        rule_notes: Vec::new(),
        rule_templates: Vec::new(),
        transferred_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::identify::sender::Trust;

    /// A database that answers every read with "busy".
    struct BusyDatabase;

    fn busy() -> crate::store::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None).into()
    }

    impl Lookup for BusyDatabase {
        fn person(&self, _: &str) -> crate::store::Result<Option<(Role, String)>> {
            Err(busy())
        }
        fn primary_address(&self, _: &str) -> crate::store::Result<Option<String>> {
            Err(busy())
        }
        fn job_done(&self, _: TicketId, _: &str) -> crate::store::Result<bool> {
            Err(busy())
        }
        fn ticket(&self, _: TicketId) -> crate::store::Result<Option<TicketId>> {
            Err(busy())
        }
        fn held_note(&self, _: TicketId, _: SpoolId) -> crate::store::Result<Option<(String, String)>> {
            Err(busy())
        }
        fn answered_letter(&self, _: TicketId, _: &str, _: &[String]) -> crate::store::Result<Option<String>> {
            Err(busy())
        }
        fn comment_to_split(&self, _: TicketId, _: i64) -> crate::store::Result<Result<Comment, String>> {
            Err(busy())
        }
    }

    #[test]
    fn a_busy_database_fails_the_plan_and_never_becomes_a_refusal() {
        let rules = Rules::compile(&Config::default()).unwrap();
        let tag = SubjectTag::new("REQ");
        let agent = Sender {
            address: "bob@example.com".into(),
            name: None,
            person: None,
            role: Role::Agent,
            trust: Trust::Authentic { by: "test".into() },
        };
        for text in ["Owner: ann@example.com\n\nPlease take this one.", "Merge: 7\n\nSame printer."] {
            let input = PlanInput {
                rules: &rules,
                tag: &tag,
                lookup: &BusyDatabase,
                inbound: Inbound { subject: "Printer on fire".into(), text: text.into(), ..Inbound::default() },
                class: &Class::Person,
                sender: agent.clone(),
                current: None,
                matched_by: None,
                follow_up_of: None,
                routing: Routing::default(),
                now: "2026-11-21T10:00:00Z".parse().unwrap(),
            };
            // A plan with "no such agent" would be mailed to the sender; an error leaves
            // the message spooled for the next pass.
            let error = plan(input).expect_err(text);
            assert!(store::is_transient(&anyhow::Error::from(error)), "{text}: busy is transient");
        }
    }
}
