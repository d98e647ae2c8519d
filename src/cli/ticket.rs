//! `reqmail ticket`: show, list and update tickets without mail.

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use crate::store::Connection;
use serde::Serialize;
use serde_json::{json, Value};

use crate::notify::view::ticket_json;
use crate::cli::{print_line, Failure, Setup};
use crate::clock::format_time;
use crate::identify::sender::{Sender, Trust};
use crate::ops::backup::ticket_text;
use crate::store::{self, tickets::{TicketFilter, TicketOrder}};
use crate::ticket::{time_left, HistoryEvent, Role, Status, Ticket, TicketId};

/// Look at tickets without mail.
#[derive(Debug, clap::Subcommand)]
pub enum TicketCommand {
    /// One ticket with its due dates, links and history.
    Show {
        number: i64,
        /// Print the ticket as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The queue: tickets that take work, the most urgent first.
    List(List),
    /// Change a ticket as the mail language would (for scripts and monitoring tools).
    Update(Update),
    /// Open a ticket without mail: the request text on stdin, the requester gets a receipt.
    Create(Create),
    /// Make one comment of a ticket a ticket of its own, linked both ways.
    Split(Split),
}

/// `ticket list`: by default the tickets still taking work (new, open, hold), sorted by
/// the time left to their SLA due date, the latest-overdue first.
#[derive(Debug, clap::Args)]
pub struct List {
    /// Only tickets in this status (any status, also resolved or closed).
    #[arg(long)]
    status: Option<Status>,
    /// Every status, not only the tickets that take work.
    #[arg(long, conflicts_with = "status")]
    all: bool,
    #[arg(long)]
    queue: Option<String>,
    #[arg(long, value_name = "ADDRESS")]
    requester: Option<String>,
    #[arg(long, value_name = "ADDRESS")]
    owner: Option<String>,
    #[arg(long)]
    host: Option<String>,
    /// A category and everything below it, e.g. "Hardware / Printer".
    #[arg(long, value_name = "PATH")]
    category: Option<String>,
    /// Only new and open tickets past their SLA due date.
    #[arg(long)]
    late: bool,
    #[arg(long, value_enum, default_value = "due")]
    sort: TicketOrder,
    /// Keep the first N in the chosen order (the most urgent by default).
    #[arg(long, value_name = "N")]
    limit: Option<i64>,
    #[arg(long)]
    json: bool,
}

impl TicketCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        match self {
            TicketCommand::Update(update) => update.execute(setup)?,
            TicketCommand::List(list) => list.execute(setup)?,
            TicketCommand::Create(create) => create.execute(setup)?,
            TicketCommand::Split(split) => split.execute(setup)?,
            TicketCommand::Show { number, json } => {
                let store = setup.open_store()?;
                let ticket = store::tickets::get(&store.conn, TicketId(*number))?
                    .ok_or_else(|| anyhow::anyhow!("there is no ticket {number}; `reqmail ticket list` shows the tickets"))?;
                let history = store::tickets::history(&store.conn, ticket.number)?;
                let links = store::tickets::links(&store.conn, ticket.number)?;
                let host = ticket.host.as_deref().map(|host| store::hosts::get(&store.conn, host)).transpose()?.flatten();
                if *json {
                    let mut object = ticket_json(&ticket, &links);
                    object["host_details"] = host.map_or(Value::Null, |host| json!({"location": host.location, "owner": host.owner, "description": host.description}));
                    object["history"] = history.iter().map(history_json).collect();
                    print_line(&serde_json::to_string_pretty(&object).expect("JSON values serialise"));
                } else {
                    print_line(ticket_text(&ticket, host.as_ref(), &history, &links, Some(setup.clock.now())).trim_end());
                }
            }
        }
        Ok(())
    }
}

impl List {
    fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let category = match &self.category {
            Some(path) => Some(setup.site.rules.category(path).ok_or_else(|| {
                let known = setup.site.rules.category_names().join("\", \"");
                Failure::Usage(anyhow::anyhow!("--category {path:?} is not a configured category; the categories are \"{known}\""))
            })?),
            None => None,
        };
        let now = setup.clock.now();
        let filter = TicketFilter {
            status: self.status,
            active: !self.all,
            queue: self.queue.clone(),
            requester: self.requester.clone(),
            owner: self.owner.clone(),
            host: self.host.clone(),
            category,
            late_at: self.late.then_some(now),
            order: self.sort,
            limit: self.limit,
        };
        let store = setup.open_store()?;
        if self.json {
            return Ok(print_json_list(&store.conn, &filter)?);
        }
        let tickets = store::tickets::list(&store.conn, &filter)?;
        for line in queue_lines(&tickets, now) {
            print_line(&line);
        }
        Ok(())
    }
}

/// The listing as one JSON array, each ticket written as soon as it is read: a list of a
/// million tickets takes the memory of one. A reader that went away ends it quietly, as
/// with [`print_line`].
fn print_json_list(conn: &Connection, filter: &TicketFilter) -> anyhow::Result<()> {
    use serde::ser::{SerializeSeq as _, Serializer as _};
    use std::io::Write as _;
    store::cache_for_scan(conn)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::new());
    let Ok(mut array) = serializer.serialize_seq(None) else { return Ok(()) };
    let mut reader_left = false;
    store::tickets::each_linked(conn, filter, |ticket, links| -> anyhow::Result<ControlFlow<()>> {
        let object = ticket_json(&ticket, &links);
        reader_left = array.serialize_element(&object).is_err();
        Ok(if reader_left { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
    })?;
    if !reader_left && array.end().is_ok() {
        let _ = writeln!(out).and_then(|()| out.flush());
    }
    Ok(())
}

/// The queue as aligned columns under a header line; the subject last, so that a long
/// one only runs off the end.
fn queue_lines(tickets: &[Ticket], now: DateTime<Utc>) -> Vec<String> {
    let header = ["#", "STATUS", "PRIORITY", "DUE", "OWNER", "REQUESTER", "NEXT", "SUBJECT"].map(String::from);
    let mut rows = vec![header];
    for ticket in tickets {
        let due = match ticket.due {
            Some(due) if matches!(ticket.status, Status::New | Status::Open) => time_left(due, now),
            Some(_) if ticket.status == Status::Hold => "on hold".into(),
            _ => "-".into(),
        };
        rows.push([
            ticket.number.to_string(),
            ticket.status.to_string(),
            ticket.priority.to_string(),
            due,
            ticket.owner.clone().unwrap_or_else(|| "-".into()),
            ticket.requester.clone(),
            ticket.next_action.as_deref().map_or_else(|| "-".to_string(), shortened),
            ticket.subject.clone(),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = format!("{:>w$}", row[0], w = widths[0]);
            for (cell, width) in row[1..7].iter().zip(&widths[1..]) {
                line.push_str(&format!("  {cell:<width$}"));
            }
            line.push_str("  ");
            line.push_str(&row[7]);
            line
        })
        .collect()
}

/// A next action as the queue's column shows it: at most [`NEXT_COLUMN_CHARS`]
/// characters, so that one long plan does not push every subject off the screen.
fn shortened(next: &str) -> String {
    if next.chars().count() <= NEXT_COLUMN_CHARS {
        return next.to_string();
    }
    let mut short: String = next.chars().take(NEXT_COLUMN_CHARS - 1).collect();
    short.push('…');
    short
}

const NEXT_COLUMN_CHARS: usize = 30;

fn history_json(event: &HistoryEvent) -> Value {
    #[derive(Serialize)]
    struct Entry<'a> {
        id: i64,
        at: String,
        actor: &'a str,
        action: &'a str,
        detail: &'a str,
    }
    serde_json::to_value(Entry { id: event.id, at: format_time(event.at), actor: &event.actor, action: &event.action, detail: &event.detail })
        .expect("history entries serialise")
}

/// `ticket update N FIELD=VALUE…`: the mail language without mail.
#[derive(Debug, clap::Args)]
pub struct Update {
    pub number: i64,
    /// Fields as in mail, e.g. priority=high status=resolved "owner=Ann Agent".
    #[arg(value_name = "FIELD=VALUE")]
    pub fields: Vec<String>,
    /// Act as this person (their role decides what is allowed); default: an administrator.
    #[arg(long = "as", value_name = "ADDRESS")]
    pub actor: Option<String>,
    /// A note to add, as if written in the mail's body.
    #[arg(long)]
    pub note: Option<String>,
}

impl Update {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let site = &setup.site;
        let text = format!("{}\n\n{}", field_lines(&self.fields)?.join("\n"), self.note.as_deref().unwrap_or(""));
        let mut store = setup.open_store()?;
        let now = setup.clock.now();
        let tx = store.write()?;
        store::people::sync_configured(&tx, &site.rules.configured_addresses(), now)?;
        let ticket = store::tickets::resolve_merged(&tx, TicketId(self.number))?
            .and_then(|number| store::tickets::get(&tx, number).transpose())
            .transpose()?
            .ok_or_else(|| anyhow::anyhow!("there is no ticket {}; `reqmail ticket list` shows the tickets", self.number))?;
        let sender = command_line_actor(site, &tx, self.actor.as_deref())?;
        let plan = crate::plan::plan(crate::plan::PlanInput {
            rules: &site.rules,
            tag: &site.threading.tag,
            lookup: &crate::plan::StoreLookup { conn: &tx, rules: &site.rules, now },
            inbound: crate::plan::Inbound { text, ..Default::default() },
            class: &crate::classify::Class::Person,
            sender,
            current: Some(&ticket),
            matched_by: None,
            follow_up_of: None,
            routing: Default::default(),
            now,
        })?;
        crate::apply::apply(&tx, site, &plan, now)?;
        tx.commit()?;
        crate::cli::deliver_now(setup, &mut store);
        refused_failure(&plan)
    }
}

/// The fields given as FIELD=VALUE, as the lines of a field block.
fn field_lines(fields: &[String]) -> Result<Vec<String>, Failure> {
    use crate::interpret::fields::FieldName;
    let mut lines = Vec::new();
    for field in fields {
        let Some((name, value)) = field.split_once('=') else {
            return Err(Failure::Usage(anyhow::anyhow!("{field:?} is not FIELD=VALUE, e.g. priority=high")));
        };
        let Some(name) = FieldName::from_name(name) else {
            return Err(Failure::Usage(anyhow::anyhow!("{name:?} is not a field (Queue, Priority, Status, Owner, …)")));
        };
        lines.push(format!("{}: {}", name.as_str(), value.trim()));
    }
    Ok(lines)
}

/// Who acts: the person `--as` names (their role decides what is allowed), else the
/// help desk itself as an administrator.
fn command_line_actor(site: &crate::site::Site, conn: &crate::store::Connection, actor: Option<&str>) -> Result<Sender, Failure> {
    Ok(match actor {
        Some(address) => {
            let address =
                crate::parse::bare_address(address).ok_or_else(|| Failure::Usage(anyhow::anyhow!("--as {address:?} is not an address")))?;
            let known = store::people::find_by_address(conn, &address)?;
            let role = site.rules.configured_person(&address).map(|person| person.role).or(known.map(|(_, role)| role));
            let role = role.ok_or_else(|| anyhow::anyhow!("{address} is not a known person; add them with `reqmail person add`"))?;
            Sender { address, name: None, person: known.map(|(person, _)| person), role, trust: Trust::Authentic { by: "command line".into() } }
        }
        None => Sender {
            address: site.config.mail.address.clone(),
            name: Some(site.config.mail.name.clone()),
            person: None,
            role: Role::Admin,
            trust: Trust::Authentic { by: "command line".into() },
        },
    })
}

/// Exit 1 naming what was refused, when anything was.
fn refused_failure(plan: &crate::plan::Plan) -> Result<(), Failure> {
    if plan.refusals.is_empty() {
        return Ok(());
    }
    let refused: Vec<String> = plan.refusals.iter().map(|refusal| format!("{}: {} ({})", refusal.field, refusal.value, refusal.reason)).collect();
    Err(Failure::Other(anyhow::anyhow!("not applied: {}", refused.join("; "))))
}

/// `ticket create`: a request taken without mail (a phone call at the front desk).
#[derive(Debug, clap::Args)]
pub struct Create {
    /// Whose request it is; they get the usual receipt.
    #[arg(long, value_name = "ADDRESS")]
    requester: String,
    #[arg(long)]
    subject: String,
    /// Fields as in mail, e.g. priority=high host=prn-04 "due=friday 17:00".
    #[arg(value_name = "FIELD=VALUE")]
    fields: Vec<String>,
    /// Who takes the request (their role decides which fields apply); default: an administrator.
    #[arg(long = "as", value_name = "ADDRESS")]
    actor: Option<String>,
}

impl Create {
    fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        use std::io::Read as _;
        let site = &setup.site;
        let requester = crate::parse::bare_address(&self.requester)
            .ok_or_else(|| Failure::Usage(anyhow::anyhow!("--requester {:?} is not an address like ann@example.com", self.requester)))?;
        let lines = field_lines(&self.fields)?;
        let mut body = String::new();
        std::io::stdin().read_to_string(&mut body).map_err(|error| Failure::Usage(anyhow::anyhow!("cannot read the request text on stdin: {error}")))?;
        let mut store = setup.open_store()?;
        let now = setup.clock.now();
        let tx = store.write()?;
        store::people::sync_configured(&tx, &site.rules.configured_addresses(), now)?;
        let desk = command_line_actor(site, &tx, self.actor.as_deref())?;
        let text = format!("{}\n\n{}", lines.join("\n"), body.trim());
        let request = crate::apply::DeskRequest { requester: &requester, subject: &self.subject, text, message: None, transferred_from: None };
        let (ticket, plan) = crate::apply::open_for(&tx, site, &desk, request, now)?;
        store::tickets::add_history(&tx, ticket, now, &desk.address, "taken", &format!("taken at the desk for {requester}"), None)?;
        tx.commit()?;
        print_line(&format!("ticket #{ticket} opened for {requester}"));
        crate::cli::deliver_now(setup, &mut store);
        refused_failure(&plan)
    }
}

/// `ticket split N ENTRY`: one comment of ticket N (its history entry id, as `ticket
/// show` lists it) becomes a ticket of its own, its author the requester.
#[derive(Debug, clap::Args)]
pub struct Split {
    number: i64,
    entry: i64,
    #[arg(long = "as", value_name = "ADDRESS")]
    actor: Option<String>,
}

impl Split {
    fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let site = &setup.site;
        let mut store = setup.open_store()?;
        let now = setup.clock.now();
        let tx = store.write()?;
        store::people::sync_configured(&tx, &site.rules.configured_addresses(), now)?;
        let desk = command_line_actor(site, &tx, self.actor.as_deref())?;
        let original = store::tickets::get(&tx, TicketId(self.number))?
            .ok_or_else(|| anyhow::anyhow!("there is no ticket {}; `reqmail ticket list` shows the tickets", self.number))?;
        let comment = crate::plan::comment_to_split(&tx, original.number, self.entry)?.map_err(|reason| Failure::Usage(anyhow::anyhow!(reason)))?;
        let ticket = crate::apply::split(&tx, site, &desk, &original, &comment, now)?;
        tx.commit()?;
        print_line(&format!("ticket #{ticket} opened for {}, split from #{}", comment.author, original.number));
        crate::cli::deliver_now(setup, &mut store);
        Ok(())
    }
}

