//! `reqmail trace ID`: why one inbound message did what it did, step by step, from the
//! decision record kept with it.

use serde_json::{json, Value};

use crate::cli::{print_line, Failure, Setup};
use crate::decision::Decision;
use crate::store::messages::{self, TraceTarget, Traced};
use crate::ticket::{SpoolId, TicketId};

/// Why a message did what it did: class, sender and trust, ticket match, fields
/// applied and refused, rules, letters and rate limits.
#[derive(Debug, clap::Args)]
pub struct Trace {
    /// A spool id (as in logs and `quarantine list`), a Message-ID, or `#N` for the
    /// latest message of ticket N.
    #[arg(value_name = "ID")]
    id: String,
    #[arg(long)]
    json: bool,
}

impl Trace {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let target = target(&self.id)?;
        let store = setup.open_store()?;
        let Some(traced) = messages::traced(&store.conn, &target)? else {
            let hint = match &target {
                TraceTarget::Spool(id) if crate::store::tickets::get(&store.conn, TicketId(id.0))?.is_some() => {
                    format!("; for the latest message of ticket {id}, write #{id}")
                }
                _ => String::new(),
            };
            return Err(Failure::Other(anyhow::anyhow!("there is no inbound message {}{hint}", self.id)));
        };
        let decision: Option<Decision> = match &traced.decision_json {
            Some(text) => Some(serde_json::from_str(text).map_err(|error| anyhow::anyhow!("the record of message {} does not read: {error}", traced.id))?),
            None => None,
        };
        if self.json {
            print_line(&serde_json::to_string_pretty(&trace_json(&traced, decision.as_ref())).expect("JSON values serialise"));
        } else {
            for line in trace_lines(&traced, decision.as_ref()) {
                print_line(&line);
            }
        }
        Ok(())
    }
}

fn target(id: &str) -> Result<TraceTarget, Failure> {
    let id = id.trim();
    if let Some(number) = id.strip_prefix('#').or_else(|| id.strip_prefix("ticket:")) {
        let number = number.trim().parse().map_err(|_| Failure::Usage(anyhow::anyhow!("{id:?} is not a ticket number like #42")))?;
        return Ok(TraceTarget::Ticket(TicketId(number)));
    }
    if let Ok(spool) = id.parse() {
        return Ok(TraceTarget::Spool(SpoolId(spool)));
    }
    match crate::parse::clean_id(id).filter(|message_id| message_id.contains('@')) {
        Some(message_id) => Ok(TraceTarget::MessageId(message_id)),
        None => Err(Failure::Usage(anyhow::anyhow!(
            "{id:?} is neither a spool id (a number), a Message-ID (<…@…>) nor a ticket (#42)"
        ))),
    }
}

/// Why a message has no record.
fn missing_record(traced: &Traced) -> String {
    if traced.state == "spooled" {
        "not processed yet: it waits in the spool for the next pass (`reqmail tick` or `fetch`)".into()
    } else {
        "no record: this message was processed before reqmail kept the reasons for its decisions".into()
    }
}

fn trace_json(traced: &Traced, decision: Option<&Decision>) -> Value {
    json!({
        "message": {
            "id": traced.id.0,
            "message_id": traced.message_id,
            "from": traced.from_address,
            "subject": traced.subject,
            "received": traced.received,
            "state": traced.state,
            "ticket": traced.ticket.map(|ticket| ticket.0),
        },
        "decision": decision,
        "missing": decision.is_none().then(|| missing_record(traced)),
    })
}

fn trace_lines(traced: &Traced, decision: Option<&Decision>) -> Vec<String> {
    let unknown = || "-".to_string();
    let mut lines = vec![
        format!("message      {}  {}", traced.id, traced.message_id.as_ref().map_or_else(unknown, |id| format!("<{id}>"))),
        format!("received     {}", traced.received),
        format!("from         {}", traced.from_address.clone().unwrap_or_else(unknown)),
        format!("subject      {}", traced.subject.clone().unwrap_or_else(unknown)),
    ];
    let Some(decision) = decision else {
        lines.push(format!("state        {}", traced.state));
        lines.push(missing_record(traced));
        return lines;
    };
    let outcome = match &decision.reason {
        Some(reason) => format!("{}: {reason}", decision.outcome),
        None => decision.outcome.clone(),
    };
    lines.push(format!("outcome      {outcome}"));
    lines.push(format!("class        {}", decision.class.clone().unwrap_or_else(|| "- (ended before it was classified)".into())));
    lines.push(match &decision.sender {
        Some(sender) => format!("sender       {} ({}), {}: {}", sender.address, sender.role, sender.trust, sender.trust_why),
        None => "sender       - (not identified)".into(),
    });
    lines.push(match &decision.ticket {
        Some(ticket) if ticket.created => match ticket.follow_up_of {
            Some(earlier) => format!("ticket       #{} opened, a follow-up of closed #{earlier}", ticket.number),
            None => format!("ticket       #{} opened: no reply address, tag or reference matched a ticket", ticket.number),
        },
        Some(ticket) => format!("ticket       #{} matched by {}", ticket.number, ticket.matched_by.as_deref().unwrap_or("-")),
        None => "ticket       - (none)".into(),
    });
    section(&mut lines, "rules", &decision.rules);
    section(&mut lines, "applied", &decision.applied);
    let refused: Vec<String> = decision.refused.iter().map(|refused| format!("{}: {} ({})", refused.field, refused.value, refused.reason)).collect();
    section(&mut lines, "refused", &refused);
    section(&mut lines, "changes", &decision.changes);
    let letters: Vec<String> = decision.letters.iter().map(|letter| format!("{} to {} ({})", letter.template, letter.to, letter.role)).collect();
    section(&mut lines, "letters", &letters);
    section(&mut lines, "withheld", &decision.withheld);
    lines
}

/// A numbered step with one line per item, or "none".
fn section(lines: &mut Vec<String>, title: &str, items: &[String]) {
    match items {
        [] => lines.push(format!("{title:<13}none")),
        [first, rest @ ..] => {
            lines.push(format!("{title:<13}{first}"));
            lines.extend(rest.iter().map(|item| format!("{:<13}{item}", "")));
        }
    }
}
