//! Step 9: carry out a [`Plan`] in the caller's transaction: ticket, history, the
//! inbound message's decision, attachments and every outgoing message with its outbox
//! row commit together or not at all. Only this module writes ticket state.

use chrono::{DateTime, Duration, Utc};
use crate::store::Connection;

use crate::clock::format_time;
use crate::decision::LetterRecord;
use crate::interpret::commands::Preference;
use crate::notify::letters::{Composed, Letters, Raw, SenderNotice};
use crate::notify;
use crate::site::Site;
use crate::config::desk::SiteConfig;
use crate::identify::sender::{Sender, Trust};
use crate::notify::transfer::{HandedTicket, Transfer};
use crate::plan::{Change, Comment, Plan, TicketChange};
use crate::store::tickets::{HistoryEntry, NewTicket, TextColumn};
use crate::store::{self};
use crate::ticket::{ApprovalStage, PeerTicket, PersonId, Role, SpoolId, Status, Ticket, TicketId};

/// What applying a plan did.
#[derive(Debug)]
pub struct Applied {
    pub ticket: TicketId,
    /// The history lines of the changes, as the letters list them.
    pub changes: Vec<String>,
    pub letters: Vec<LetterRecord>,
    /// Letters that were due but not written, with the reason.
    pub withheld: Vec<String>,
    /// The ticket as the plan left it, read once for its letters: callers that go on
    /// with it need not read it again.
    pub current: Ticket,
}

/// Applies `plan`; returns the ticket it touched and the letters it wrote.
pub fn apply(conn: &Connection, site: &Site, plan: &Plan, now: DateTime<Utc>) -> anyhow::Result<Applied> {
    apply_with(conn, site, plan, None, now)
}

/// As [`apply`] for a plan that updates `ticket`, which the caller read in this
/// transaction and has not changed since: the ticket is read again only once a change
/// has moved it, not before each step (the scheduler runs thousands of plans a pass).
pub fn apply_to(conn: &Connection, site: &Site, plan: &Plan, ticket: Ticket, now: DateTime<Utc>) -> anyhow::Result<Applied> {
    apply_with(conn, site, plan, Some(ticket), now)
}

fn apply_with(conn: &Connection, site: &Site, plan: &Plan, known: Option<Ticket>, now: DateTime<Utc>) -> anyhow::Result<Applied> {
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
            // Automatic mail opened it: the letters of a human requester would go to a machine.
            if !plan.answerable {
                store::tickets::mark_opened_by_machine(conn, ticket)?;
            }
            let detail = format!("{subject} (queue {queue}, importance {importance}, priority {priority})");
            store::tickets::add_history(conn, ticket, now, &actor_text, "create", &detail, plan.message)?;
            if let Some(peer) = &plan.transferred_from {
                store::tickets::set_peer(conn, ticket, peer)?;
                let line = format!("transferred from site {}, their ticket #{}", peer.site, peer.number.unwrap_or_default());
                store::tickets::add_history(conn, ticket, now, &actor_text, "transfer", &line, plan.message)?;
            }
            ticket
        }
        TicketChange::Update { ticket } => {
            store::tickets::touch(conn, *ticket, now)?;
            *ticket
        }
    };
    // The ticket as stored, while no step has changed it since it was read; `None` once
    // one may have (each change, and anything the plan sets beside them).
    let mut stored = known.filter(|known| !created && known.number == ticket).map(|mut known| {
        // What `touch` wrote, as a read would give it back.
        known.updated = crate::clock::parse_time(&format_time(now)).unwrap_or(now);
        known
    });
    let current_or_read = |stored: &mut Option<Ticket>| -> anyhow::Result<Ticket> {
        match stored.take() {
            Some(ticket) => Ok(ticket),
            None => store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying")),
        }
    };
    let expanded;
    let plan = match canned_reply_of(plan) {
        Some(name) => {
            let current = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying"))?;
            let answer = notify::letters::canned_reply(conn, site.writer(), &current, name)?;
            let note = if plan.note.is_empty() { answer } else { format!("{}\n\n{answer}", plan.note) };
            expanded = Plan { note, ..plan.clone() };
            &expanded
        }
        None => plan,
    };
    let note_action = match (plan.internal, plan.answerable) {
        _ if plan.held_back => "held-note",
        (true, _) => "internal-note",
        (false, true) => "comment",
        (false, false) => "automatic-comment",
    };
    // How a message found its ticket is an entry of its own, so that the note stays the
    // sender's words alone.
    if plan.message.is_some() {
        let threading = match (plan.matched_by, plan.follow_up_of) {
            (Some(by), _) => format!("matched by {by}"),
            (None, Some(earlier)) => format!("new ticket: #{earlier} was closed longer than the follow-up window"),
            (None, None) => "new ticket: no reply address, subject tag or reference of a known ticket".to_string(),
        };
        store::tickets::add_history(conn, ticket, now, &actor_text, "threading", &threading, plan.message)?;
    }
    if let Some(forwarder) = &plan.forwarded_by {
        let detail = format!("forwarded the mail of {}", sender.address);
        store::tickets::add_history(conn, ticket, now, &forwarder.address, "forwarded", &detail, plan.message)?;
        if !forwarder.note.is_empty() {
            add_history(conn, ticket, now, &forwarder.address, "internal-note", &forwarder.note, plan.message, true)?;
        }
    }
    if !plan.note.is_empty() {
        add_history(conn, ticket, now, &actor_text, note_action, &plan.note, plan.message, plan.internal)?;
    }

    // The changes: the rules' first, then the sender's
    for (rule, line) in &plan.rule_log {
        store::tickets::add_history(conn, ticket, now, rule, "rule", line, plan.message)?;
    }
    for (rule, note) in &plan.rule_notes {
        add_history(conn, ticket, now, rule, "internal-note", note, plan.message, true)?;
    }
    let mut summary = Vec::new();
    let mut sla_changed = created;
    for (rule, change) in &plan.rule_changes {
        let before = current_or_read(&mut stored)?;
        if let Some(line) = apply_change(conn, site, plan, &before, change, rule, now)? {
            summary.push(line);
        }
        sla_changed |= matches!(change, Change::Queue(_) | Change::Priority(_) | Change::Status { .. });
    }
    for change in &plan.changes {
        let before = current_or_read(&mut stored)?;
        if let Some(line) = apply_change(conn, site, plan, &before, change, &actor_text, now)? {
            summary.push(line);
        }
        sla_changed |= matches!(change, Change::Queue(_) | Change::Priority(_) | Change::Status { .. });
    }
    if !plan.refusals.is_empty() {
        let detail: Vec<String> = plan.refusals.iter().map(|refusal| format!("{}: {} ({})", refusal.field, refusal.value, refusal.reason)).collect();
        add_history(conn, ticket, now, &actor_text, "refused", &detail.join("; "), plan.message, false)?;
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
                outcome: if created { "created ticket" } else { "added to ticket" },
            },
        )?;
    }

    if let Some(earlier) = plan.follow_up_of {
        stored = None;
        store::tickets::set_follow_up_of(conn, ticket, earlier)?;
        let line = format!("#{ticket} follows up #{earlier}, which was closed");
        store::tickets::add_history(conn, ticket, now, &actor_text, "follow-up", &line, plan.message)?;
        store::tickets::add_history(conn, earlier, now, &actor_text, "follow-up", &line, plan.message)?;
    }

    // The mail
    let mut current = current_or_read(&mut stored)?;
    if sla_changed {
        update_sla(conn, site, &mut current)?;
    }
    let mut letters = notify::letters::letters(conn, site.writer(), plan, &current, &summary, created, now)?;
    notify::monitors::add_status_letter(conn, site.writer(), plan, &current, now, &mut letters)?;
    let (letters, withheld) = write_letters(conn, plan, ticket, letters, &site.config.mail.address, now)?;
    notify::webhooks::enqueue(conn, &site.config.webhooks, plan, &current, created, &summary, now)?;
    Ok(Applied { ticket, changes: summary, letters, withheld, current })
}

/// The configured peer site `name` (plans name only configured ones).
fn peer_site<'a>(site: &'a Site, name: &str) -> anyhow::Result<&'a SiteConfig> {
    site.config.sites.iter().find(|peer| peer.name == name).ok_or_else(|| anyhow::anyhow!("site {name} is no longer configured"))
}

/// `ticket` as it travels to a peer site: its fields and its history as lines.
fn handed_ticket(conn: &Connection, ticket: &Ticket) -> crate::store::Result<HandedTicket> {
    let history = store::tickets::history(conn, ticket.number)?
        .iter()
        .filter(|event| !matches!(event.action.as_str(), "mail" | "threading" | "mail-skipped"))
        .map(|event| format!("{} {} ({}): {}", format_time(event.at), event.actor, event.action, event.detail))
        .collect();
    Ok(HandedTicket {
        number: ticket.number.0,
        subject: ticket.subject.clone(),
        requester: ticket.requester.clone(),
        cc: ticket.cc.clone(),
        importance: ticket.importance.to_string(),
        priority: ticket.priority.to_string(),
        host: ticket.host.clone(),
        category: ticket.category.clone(),
        history,
    })
}

/// Writes the signed letter that carries `transfer` about `ticket` to `peer`, with its
/// outbox row; never rate-limited (two sites of one organisation, no person's inbox).
pub fn send_transfer(
    conn: &Connection,
    site: &Site,
    ticket: &Ticket,
    peer: &SiteConfig,
    transfer: Transfer,
    cause: Option<SpoolId>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let letter = notify::transfer::letter(site.writer(), ticket.number, peer, &ticket.subject, transfer, cause.map_or(0, |message| message.0), now)?;
    write_letter(conn, letter, &site.config.mail.address, now)?;
    store::tickets::add_history(conn, ticket.number, now, "reqmail", "mail", &format!("to {} (transfer)", peer.address), cause)?;
    Ok(())
}

/// A peer site took over `ticket` (which we transferred to it) as its ticket `number`.
pub fn peer_took_over(conn: &Connection, ticket: TicketId, peer: &SiteConfig, number: i64, message: SpoolId, now: DateTime<Utc>) -> crate::store::Result<()> {
    store::tickets::set_peer(conn, ticket, &PeerTicket { site: peer.name.clone(), number: Some(number), theirs: true })?;
    let line = format!("site {} took it over as its ticket #{number}", peer.name);
    store::tickets::add_history(conn, ticket, now, &peer.address, "transfer", &line, Some(message))
}

/// A ticket we transferred to `peer` comes back: open again here, its requester told in
/// the one update letter, the peer's history kept.
pub fn take_back(conn: &Connection, site: &Site, ticket: &Ticket, peer: &SiteConfig, history: &[String], message: SpoolId, now: DateTime<Utc>) -> anyhow::Result<()> {
    store::tickets::set_peer(conn, ticket.number, &PeerTicket { site: peer.name.clone(), number: ticket.peer.as_ref().and_then(|known| known.number), theirs: false })?;
    keep_peer_history(conn, ticket.number, peer, history, message, now)?;
    let desk = Sender {
        address: site.config.mail.address.clone(),
        name: Some(site.config.mail.name.clone()),
        person: None,
        role: Role::Admin,
        trust: Trust::Authentic { by: format!("signed transfer from site {}", peer.name) },
    };
    let reopen = Change::Status { to: Status::Open, why: Some("transferred back") };
    let plan = crate::plan::system(ticket.number, desk, vec![reopen], vec![crate::plan::Notice::Update]);
    apply(conn, site, &plan, now)?;
    Ok(())
}

/// Keeps the history a peer site sent with `ticket` as one entry for agents, apart from
/// the note: its lines would read as quoted mail, and it may hold the peer's internal notes.
pub fn keep_peer_history(conn: &Connection, ticket: TicketId, peer: &SiteConfig, history: &[String], message: SpoolId, now: DateTime<Utc>) -> crate::store::Result<()> {
    let text = format!("The history at site {}:\n{}", peer.name, history.join("\n"));
    add_history(conn, ticket, now, &peer.address.to_lowercase(), "internal-note", &text, Some(message), true)
}

/// The canned reply the sender answers with (`Reply: NAME`), if any.
fn canned_reply_of(plan: &Plan) -> Option<&str> {
    plan.changes.iter().find_map(|change| match change {
        Change::Reply(name) => Some(name.as_str()),
        _ => None,
    })
}

/// A request opened for its requester by the desk, not by their own mail.
pub struct DeskRequest<'a> {
    pub requester: &'a str,
    pub subject: &'a str,
    /// The first note; a field block at its top is read with the desk's role.
    pub text: String,
    /// The message it came in (a transfer from a peer site) and its Message-ID.
    pub message: Option<(SpoolId, Option<String>)>,
    pub transferred_from: Option<PeerTicket>,
}

/// Opens a ticket for the requester (a customer if not known yet), the fields checked
/// with `desk`'s role; the requester gets the usual receipt. The desk's way in without
/// mail, how a split begins, and how a ticket from a peer site arrives.
pub fn open_for(conn: &Connection, site: &Site, desk: &Sender, request: DeskRequest<'_>, now: DateTime<Utc>) -> anyhow::Result<(TicketId, Plan)> {
    let DeskRequest { requester, subject, text, message, transferred_from } = request;
    if store::people::find_by_address(conn, requester)?.is_none() {
        let role = site.rules.configured_person(requester).map_or(Role::Customer, |person| person.role);
        let person = store::people::create(conn, requester, None, role, now)?;
        store::people::set_organisation(conn, person, site.rules.organisation_of(requester))?;
    }
    // The ticket is the requester's; what its fields may set is the desk's to decide.
    let on_behalf = Sender {
        address: requester.to_string(),
        name: None,
        person: store::people::find_by_address(conn, requester)?.map(|(person, _)| person),
        role: desk.role,
        trust: Trust::Authentic { by: format!("taken at the desk by {}", desk.address) },
    };
    let (message, message_id) = message.map_or((None, None), |(message, message_id)| (Some(message), message_id));
    let mut plan = crate::plan::plan(crate::plan::PlanInput {
        rules: &site.rules,
        tag: &site.threading.tag,
        lookup: &crate::plan::StoreLookup { conn, rules: &site.rules, now },
        inbound: crate::plan::Inbound { subject: subject.to_string(), text, message, message_id, ..Default::default() },
        class: &crate::classify::Class::Person,
        sender: on_behalf,
        current: None,
        matched_by: None,
        follow_up_of: None,
        routing: Default::default(),
        now,
    })?;
    plan.transferred_from = transferred_from;
    let applied = apply(conn, site, &plan, now)?;
    Ok((applied.ticket, plan))
}

/// Splits `comment` off `original`: a ticket of its own with the comment's author as
/// requester (told their new number by the receipt), linked both ways, both histories
/// saying so. `ticket split N ENTRY` and the `Split:` field both come here.
pub fn split(conn: &Connection, site: &Site, desk: &Sender, original: &Ticket, comment: &Comment, now: DateTime<Utc>) -> anyhow::Result<TicketId> {
    let request = DeskRequest { requester: &comment.author, subject: &original.subject, text: comment.text.clone(), message: None, transferred_from: None };
    let (ticket, _) = open_for(conn, site, desk, request, now)?;
    store::tickets::link(conn, original.number, ticket)?;
    let line = split_line(original.number, ticket, comment);
    store::tickets::add_history(conn, original.number, now, &desk.address, "split", &line, None)?;
    store::tickets::add_history(conn, ticket, now, &desk.address, "split", &line, None)?;
    Ok(ticket)
}

fn split_line(original: TicketId, opened: TicketId, comment: &Comment) -> String {
    format!("#{opened} split from #{original} (entry {}, for {})", comment.entry, comment.author)
}

#[allow(clippy::too_many_arguments)]
fn add_history(
    conn: &Connection,
    ticket: TicketId,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    detail: &str,
    message: Option<SpoolId>,
    internal: bool,
) -> crate::store::Result<()> {
    let at = &format_time(now);
    store::tickets::insert_history(conn, HistoryEntry { ticket, at, actor, action, detail, message, internal })
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
    // Letters show these lines: dates as the site reads them.
    let calendar = site.rules.calendar_of(&before.queue);
    let time_text = |at: Option<DateTime<Utc>>| at.map_or("-".to_string(), |at| calendar.local_text(at));
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
            ("requested due", time_text(before.requested_due), time_text(Some(*at)))
        }
        Change::CommittedDue(at) => {
            store::tickets::set_text(conn, ticket, TextColumn::CommittedDue, Some(&format_time(*at)))?;
            ("committed due", time_text(before.committed_due), time_text(Some(*at)))
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
        Change::Publish(message) => {
            store::tickets::publish_held_note(conn, ticket, *message)?;
            let line = format!("published the held-back note of message {message}");
            store::tickets::add_history(conn, ticket, now, actor, "publish", &line, plan.message)?;
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
        Change::Split(comment) => {
            let opened = split(conn, site, &plan.sender, before, comment, now)?;
            return Ok(Some(split_line(ticket, opened, comment)));
        }
        Change::Next(next) => {
            store::tickets::set_text(conn, ticket, TextColumn::NextAction, next.as_deref())?;
            ("next", optional(before.next_action.as_deref()), next.clone().unwrap_or_else(|| "-".to_string()))
        }
        Change::Vendor(vendor) => {
            store::tickets::set_text(conn, ticket, TextColumn::Vendor, vendor.as_deref())?;
            if vendor.is_none() {
                store::tickets::set_text(conn, ticket, TextColumn::VendorTicket, None)?;
                store::tickets::set_text(conn, ticket, TextColumn::VendorDue, None)?;
            }
            ("vendor", optional(before.vendor.as_deref()), vendor.clone().unwrap_or_else(|| "-".to_string()))
        }
        Change::VendorTicket(number) => {
            store::tickets::set_text(conn, ticket, TextColumn::VendorTicket, Some(number))?;
            ("vendor ticket", optional(before.vendor_ticket.as_deref()), number.clone())
        }
        Change::AwaitVendor(awaited) => {
            let current = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while applying"))?;
            let vendor = current.vendor.as_deref().and_then(|name| site.rules.vendor(name));
            let due = vendor.filter(|_| *awaited).map(|vendor| site.rules.calendar_of(&current.queue).add(now, vendor.response));
            store::tickets::set_text(conn, ticket, TextColumn::VendorDue, due.map(format_time).as_deref())?;
            let line = match due {
                Some(due) => format!("the vendor's answer is due {}", format_time(due)),
                None => "the vendor answered; their clock stopped".to_string(),
            };
            store::tickets::add_history(conn, ticket, now, actor, "vendor-clock", &line, plan.message)?;
            return Ok(None);
        }
        Change::Transfer(name) => {
            let peer = peer_site(site, name)?;
            send_transfer(conn, site, before, peer, Transfer::Ticket(handed_ticket(conn, before)?), plan.message, now)?;
            // A ticket that came from this peer keeps its number there.
            let known = before.peer.as_ref().filter(|known| known.site == peer.name).and_then(|known| known.number);
            store::tickets::set_peer(conn, ticket, &PeerTicket { site: peer.name.clone(), number: known, theirs: true })?;
            let line = format!("transferred to site {}; it answers with its number, and mail that still reaches us goes on to it", peer.name);
            store::tickets::add_history(conn, ticket, now, actor, "transfer", &line, plan.message)?;
            if !before.status.is_final() {
                change_status(conn, site, before, Status::Closed, now)?;
                store::tickets::add_history(conn, ticket, now, actor, "status", &format!("status: {} → closed (transferred)", before.status), plan.message)?;
            }
            return Ok(Some(format!("transferred to site {}", peer.name)));
        }
        Change::Relay(name) => {
            let peer = peer_site(site, name)?;
            let comment = Transfer::Comment { ours: ticket.0, author: plan.sender.address.clone(), verified: !plan.unverified, text: plan.note.clone() };
            send_transfer(conn, site, before, peer, comment, plan.message, now)?;
            store::tickets::add_history(conn, ticket, now, actor, "relay", &format!("passed on to site {}, which owns this ticket", peer.name), plan.message)?;
            return Ok(None);
        }
        // The reply's text is the note; the note says it all.
        Change::Reply(_) => return Ok(None),
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

fn set_preferences(conn: &Connection, person: PersonId, preferences: &[Preference]) -> crate::store::Result<()> {
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
fn change_status(conn: &Connection, site: &Site, before: &Ticket, to: Status, now: DateTime<Utc>) -> crate::store::Result<()> {
    let ticket = before.number;
    let now_text = format_time(now);
    let mut columns = store::tickets::StatusColumns::default();
    if before.status == Status::Hold && to != Status::Hold {
        let calendar = site.rules.calendar_of(&before.queue);
        let held = before.hold_started.map_or(Duration::zero(), |started| calendar.between(started, now));
        columns.held_minutes = Some(held.num_minutes());
    }
    if to == Status::Hold && before.status != Status::Hold {
        columns.hold_started = Some(&now_text);
    }
    match to {
        Status::Resolved => {
            // The supervisor decides first when the queue asks for it, or when the ticket was escalated.
            let queue = site.rules.queue(&before.queue);
            let supervisor_first = queue.is_some_and(|queue| queue.supervisor_approval)
                || (queue.is_some_and(|queue| queue.supervisor.is_some()) && store::tickets::job_done(conn, ticket, "escalation")?);
            let stage = if supervisor_first { ApprovalStage::Supervisor } else { ApprovalStage::Customer };
            columns.resolved_at = Some(Some(&now_text));
            columns.approval_stage = Some(stage.as_str());
        }
        Status::Closed => columns.closed_at = Some(Some(&now_text)),
        _ => {
            columns.resolved_at = Some(None);
            columns.closed_at = Some(None);
        }
    }
    store::tickets::set_status(conn, ticket, to.as_str(), &columns)
}

/// Recomputes the SLA due dates of `current` (as stored) from queue, priority and time
/// on hold, in the store and in `current`.
fn update_sla(conn: &Connection, site: &Site, current: &mut Ticket) -> crate::store::Result<()> {
    let (response, resolution) =
        site.rules.sla_due(&current.queue, current.priority, current.created, Duration::minutes(current.held_minutes));
    let resolution = resolution.map(format_time);
    store::tickets::set_sla_due(conn, current.number, response.map(format_time).as_deref(), resolution.as_deref())?;
    current.due = resolution.as_deref().and_then(crate::clock::parse_time);
    Ok(())
}

/// Writes the letters with their outbox rows, and what was withheld and mailed into the
/// ticket's history.
fn write_letters(
    conn: &Connection,
    plan: &Plan,
    ticket: TicketId,
    letters: Letters,
    from: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<LetterRecord>, Vec<String>)> {
    for reason in &letters.withheld {
        store::tickets::add_history(conn, ticket, now, "reqmail", "mail-skipped", reason, plan.message)?;
    }
    let mut mailed = Vec::new();
    let mut written = Vec::new();
    // The help alias writing to itself would only loop (`ticket update` acts as it).
    for letter in letters.ready.into_iter().filter(|letter| !letter.to.eq_ignore_ascii_case(from)) {
        mailed.push(format!("{} ({})", letter.to, letter.kind));
        written.push(write_letter(conn, letter, from, now)?);
    }
    if !mailed.is_empty() {
        store::tickets::add_history(conn, ticket, now, "reqmail", "mail", &format!("to {}", mailed.join(", ")), plan.message)?;
    }
    Ok((written, letters.withheld))
}

/// One letter and its outbox row.
fn write_letter(conn: &Connection, letter: Composed, from: &str, now: DateTime<Utc>) -> anyhow::Result<LetterRecord> {
    let message = match letter.raw {
        Raw::Ready(raw) => store::messages::insert_outgoing(conn, letter.ticket, &letter.message_id, &letter.to, &letter.subject, &raw, now)?,
        // Built beside the batch, its bytes stored before the batch commits.
        Raw::Later(later) if notify::finisher::active() => {
            let id = store::messages::insert_outgoing_to_fill(conn, letter.ticket, &letter.message_id, &letter.to, &letter.subject, 0, now)?;
            notify::finisher::hand_over(id, &letter.message_id, *later);
            id
        }
        Raw::Later(later) => {
            let raw = notify::compose::compose_as(&later.outgoing(), &letter.message_id)?;
            store::messages::insert_outgoing(conn, letter.ticket, &letter.message_id, &letter.to, &letter.subject, &raw, now)?
        }
    };
    store::outbox::enqueue(conn, message, letter.ticket, from, &letter.to, now)?;
    Ok(LetterRecord { template: letter.template, to: letter.to, role: letter.role.to_string() })
}

/// A short notice to a sender whose message made no ticket (see
/// [`notify::letters::notice`]), written with its outbox row; `None` when none is due.
pub fn notice_without_ticket(conn: &Connection, site: &Site, notice: &SenderNotice<'_>, now: DateTime<Utc>) -> anyhow::Result<Option<LetterRecord>> {
    let letter = notify::letters::notice(conn, site.writer(), notice, now)?;
    Ok(letter.map(|letter| write_letter(conn, letter, &site.config.mail.address, now)).transpose()?)
}
