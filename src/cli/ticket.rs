//! `reqmail ticket`: show, list and update tickets without mail.

use serde::Serialize;
use serde_json::{json, Value};

use crate::ops::backup::ticket_text;
use crate::cli::{Failure, Setup};
use crate::clock::format_time;
use crate::store::{self, tickets::TicketFilter};
use crate::identify::sender::{Sender, Trust};
use crate::ticket::{HistoryEvent, Role, Status, Ticket, TicketId};

/// Look at tickets without mail.
#[derive(Debug, clap::Subcommand)]
pub enum TicketCommand {
    /// One ticket with its history.
    Show {
        number: i64,
        /// Print JSON (DESIGN §5) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Tickets, oldest first.
    List {
        #[arg(long)]
        status: Option<Status>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long, value_name = "ADDRESS")]
        requester: Option<String>,
        #[arg(long, value_name = "ADDRESS")]
        owner: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Change a ticket as the mail language would (for scripts and monitoring tools).
    Update(Update),
}

impl TicketCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        match self {
            TicketCommand::Update(update) => update.execute(setup)?,
            TicketCommand::Show { number, json } => {
                let store = setup.open_store()?;
                let ticket = store::tickets::get(&store.conn, TicketId(*number))?
                    .ok_or_else(|| anyhow::anyhow!("there is no ticket {number}; `reqmail ticket list` shows the tickets"))?;
                let history = store::tickets::history(&store.conn, ticket.number)?;
                let host = ticket.host.as_deref().map(|host| store::hosts::get(&store.conn, host)).transpose()?.flatten();
                if *json {
                    let mut object = ticket_json(&ticket);
                    object["host_details"] = host.map_or(Value::Null, |host| json!({"location": host.location, "owner": host.owner, "description": host.description}));
                    object["history"] = history.iter().map(history_json).collect();
                    println!("{}", serde_json::to_string_pretty(&object).expect("JSON values serialise"));
                } else {
                    print!("{}", ticket_text(&ticket, host.as_ref(), &history));
                }
            }
            TicketCommand::List { status, queue, requester, owner, limit, json } => {
                let filter = TicketFilter {
                    status: *status,
                    queue: queue.clone(),
                    requester: requester.clone(),
                    owner: owner.clone(),
                    limit: *limit,
                };
                let tickets = store::tickets::list(&setup.open_store()?.conn, &filter)?;
                if *json {
                    let list: Vec<Value> = tickets.iter().map(ticket_json).collect();
                    println!("{}", serde_json::to_string_pretty(&list).expect("JSON values serialise"));
                } else {
                    for ticket in &tickets {
                        println!(
                            "{:>6}  {:<8}  {:<8}  {:<12}  {:<28}  {}",
                            ticket.number, ticket.status, ticket.priority, ticket.queue, ticket.requester, ticket.subject
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// The ticket object of DESIGN §5, without history.
pub fn ticket_json(ticket: &Ticket) -> Value {
    let time = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(format_time);
    json!({
        "number": ticket.number.0,
        "subject": ticket.subject,
        "status": ticket.status.as_str(),
        "queue": ticket.queue,
        "importance": ticket.importance.as_str(),
        "priority": ticket.priority.as_str(),
        "owner": ticket.owner,
        "requester": ticket.requester,
        "cc": ticket.cc,
        "category": ticket.category,
        "host": ticket.host,
        "due": time(ticket.due),
        "requested_due": time(ticket.requested_due),
        "committed_due": time(ticket.committed_due),
        "created": format_time(ticket.created),
        "updated": format_time(ticket.updated),
        "time_spent_minutes": ticket.time_spent_minutes,
    })
}

fn history_json(event: &HistoryEvent) -> Value {
    #[derive(Serialize)]
    struct Entry<'a> {
        at: String,
        actor: &'a str,
        action: &'a str,
        detail: &'a str,
    }
    serde_json::to_value(Entry { at: format_time(event.at), actor: &event.actor, action: &event.action, detail: &event.detail })
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
        use crate::interpret::fields::FieldName;
        let site = &setup.site;
        let mut lines = Vec::new();
        for field in &self.fields {
            let Some((name, value)) = field.split_once('=') else {
                return Err(Failure::Usage(anyhow::anyhow!("{field:?} is not FIELD=VALUE, e.g. priority=high")));
            };
            let Some(name) = FieldName::from_name(name) else {
                return Err(Failure::Usage(anyhow::anyhow!("{name:?} is not a field; see DESIGN §2 (Queue, Priority, Status, Owner, …)")));
            };
            lines.push(format!("{}: {}", name.as_str(), value.trim()));
        }
        let text = format!("{}\n\n{}", lines.join("\n"), self.note.as_deref().unwrap_or(""));
        let mut store = setup.open_store()?;
        let now = setup.clock.now();
        let tx = store.write()?;
        store::people::sync_configured(&tx, &site.rules.configured_addresses(), now)?;
        let ticket = store::tickets::resolve_merged(&tx, TicketId(self.number))?
            .and_then(|number| store::tickets::get(&tx, number).transpose())
            .transpose()?
            .ok_or_else(|| anyhow::anyhow!("there is no ticket {}; `reqmail ticket list` shows the tickets", self.number))?;
        let sender = match &self.actor {
            Some(address) => {
                let address = crate::parse::bare_address(address)
                    .ok_or_else(|| Failure::Usage(anyhow::anyhow!("--as {address:?} is not an address")))?;
                let known = store::people::find_by_address(&tx, &address)?;
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
        };
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
        if plan.refusals.is_empty() {
            return Ok(());
        }
        let refused: Vec<String> = plan.refusals.iter().map(|refusal| format!("{}: {} ({})", refusal.field, refusal.value, refusal.reason)).collect();
        Err(Failure::Other(anyhow::anyhow!("not applied: {}", refused.join("; "))))
    }
}
