//! Field lines become typed [`Command`]s, or [`Refusal`]s that tell the sender why not.
//!
//! Whether a field may be used depends on the sender's role (DESIGN §2 table) and on
//! authenticity (DESIGN §4). Interpreting never fails: a value we cannot read is a
//! refusal with the reason, never an error.

use chrono::{DateTime, Utc};

use super::dates::parse_due;
use super::fields::{FieldLine, FieldName};
use crate::ticket::sla::{parse_duration, Calendar};
use crate::ticket::{Level, Role, SpoolId, Status, TicketId};

/// One change a sender asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Queue(String),
    Importance(Level),
    Priority(Level),
    RequestedDue(DateTime<Utc>),
    CommittedDue(DateTime<Utc>),
    Host(String),
    Category(String),
    Cc(Vec<CcChange>),
    Status(Status),
    /// An address, a person's name, or `nobody`.
    Owner(String),
    TimeMinutes(i64),
    Check(Vec<u32>),
    Merge(TicketId),
    Internal(bool),
    /// Relay the note of this inbound message, held back for agents, to the ticket's readers.
    Publish(SpoolId),
    Preferences(Vec<Preference>),
    /// Open a ticket of its own from this comment (a history entry id) of the ticket.
    Split(i64),
    /// The next action to take on the ticket; `None` clears it.
    Next(Option<String>),
    /// Answer with the configured canned reply of this name.
    Reply(String),
    /// The vendor to work on the ticket, by name; `None` takes it off.
    Vendor(Option<String>),
    /// The vendor's own number for the ticket.
    VendorTicket(String),
    /// Hand the ticket to the peer site of this name.
    Transfer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcChange {
    Add(String),
    Remove(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preference {
    Brief(bool),
    Language(String),
    NotifyOwnActions(bool),
}

/// A field that was not applied, and why; sent back to the sender in one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub value: String,
    pub reason: String,
}

/// What the sender's situation allows.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    pub role: Role,
    pub authentic: bool,
    /// The message opens a new ticket for its sender.
    pub new_ticket: bool,
}

/// Languages the templates come in.
pub const LANGUAGES: &[&str] = &["en", "de"];

/// Turns `fields` into commands and refusals.
pub fn interpret(fields: &[FieldLine], standing: Standing, now: DateTime<Utc>, calendar: &Calendar) -> (Vec<Command>, Vec<Refusal>) {
    let mut commands = Vec::new();
    let mut refusals = Vec::new();
    for field in fields {
        let refuse = |reason: String| Refusal { field: field.name.as_str().to_string(), value: field.value.clone(), reason };
        if let Err(reason) = permitted(field.name, standing) {
            refusals.push(refuse(reason));
            continue;
        }
        match read_value(field, standing, now, calendar) {
            Ok(command) => commands.push(command),
            Err(reason) => refusals.push(refuse(reason)),
        }
    }
    (commands, refusals)
}

/// The role table of DESIGN §2, and the authenticity rule of §4: an unverified sender may
/// describe their own new request, nothing more.
fn permitted(name: FieldName, standing: Standing) -> Result<(), String> {
    use FieldName::*;
    let staff = matches!(standing.role, Role::Agent | Role::Admin);
    if !standing.authentic {
        let describes_own_new_request =
            standing.new_ticket && standing.role == Role::Customer && matches!(name, Queue | Importance | Due | Host);
        if !describes_own_new_request {
            return Err("your message could not be verified as coming from you; reply to a message from us \
                        (its Reply-To address proves who you are) to use this field"
                .into());
        }
    }
    let allowed = match standing.role {
        Role::Agent | Role::Admin => true,
        Role::Vendor => matches!(name, Host | Status | Time | Preferences | Next | VendorTicket),
        Role::Customer => match name {
            Queue => standing.new_ticket,
            Importance | Due | Host | Cc | Preferences => true,
            _ => false,
        },
    };
    if allowed || staff {
        Ok(())
    } else if name == Queue {
        Err("the queue can only be chosen when a request is opened".into())
    } else {
        Err(format!("{}s may not set {}", standing.role, name.as_str()))
    }
}

fn read_value(field: &FieldLine, standing: Standing, now: DateTime<Utc>, calendar: &Calendar) -> Result<Command, String> {
    let value = field.value.trim();
    if value.is_empty() {
        return Err("no value given".into());
    }
    let staff = matches!(standing.role, Role::Agent | Role::Admin);
    Ok(match field.name {
        FieldName::Queue => Command::Queue(value.to_lowercase()),
        FieldName::Importance => Command::Importance(value.parse()?),
        FieldName::Priority => Command::Priority(value.parse()?),
        FieldName::Due => {
            let at = parse_due(value, now, calendar).ok_or_else(|| {
                "not a date we understand; write e.g. friday, friday 17:00, tomorrow noon, Dec 7, 2026-12-07 12:00 or in 3 days".to_string()
            })?;
            if staff { Command::CommittedDue(at) } else { Command::RequestedDue(at) }
        }
        FieldName::Host => Command::Host(crate::parse::one_line(value)),
        FieldName::Category => Command::Category(tidy_category(value)),
        FieldName::Cc => Command::Cc(read_cc(value)?),
        FieldName::Status => {
            let status: Status = value.parse()?;
            if standing.role == Role::Vendor && status != Status::Hold {
                return Err("vendors may only set Status: hold".into());
            }
            Command::Status(status)
        }
        FieldName::Owner => Command::Owner(value.to_string()),
        FieldName::Time => {
            let amount = parse_duration(value, chrono::Duration::hours(8))
                .ok_or_else(|| "not a duration; write e.g. 45m, 1h30m or 2h".to_string())?;
            Command::TimeMinutes(amount.num_minutes())
        }
        FieldName::Check => {
            let items: Result<Vec<u32>, _> =
                value.split([',', ' ']).filter(|item| !item.is_empty()).map(|item| item.trim().parse::<u32>()).collect();
            match items {
                Ok(items) if !items.is_empty() && items.iter().all(|item| (1..=1000).contains(item)) => Command::Check(items),
                _ => return Err("write the numbers of the checklist items, e.g. 1, 3".into()),
            }
        }
        FieldName::Merge => {
            let number = value.trim_start_matches('#').trim();
            let number: i64 = number.parse().map_err(|_| "write the number of the ticket to merge into, e.g. 123".to_string())?;
            Command::Merge(TicketId(number))
        }
        FieldName::Visibility => match value.to_lowercase().as_str() {
            "internal" | "private" => Command::Internal(true),
            "public" | "external" => Command::Internal(false),
            _ => return Err("write internal or public".into()),
        },
        FieldName::Publish => {
            let number = value.trim_start_matches('#').trim();
            let number: i64 = number.parse().map_err(|_| "write the message number the held-back note names, e.g. 42".to_string())?;
            Command::Publish(SpoolId(number))
        }
        FieldName::Preferences => Command::Preferences(read_preferences(value)?),
        FieldName::Split => {
            let entry = value.trim_start_matches(['#', '[']).trim_end_matches(']').trim();
            let entry: i64 = entry.parse().map_err(|_| {
                "write the number of the comment to split off, as `reqmail ticket show` lists it in [brackets], e.g. 42".to_string()
            })?;
            Command::Split(entry)
        }
        FieldName::Next => match value.to_lowercase().as_str() {
            "-" | "none" | "nothing" | "done" => Command::Next(None),
            _ => Command::Next(Some(crate::parse::one_line(value))),
        },
        FieldName::Reply => Command::Reply(value.to_lowercase()),
        FieldName::Vendor => match value.to_lowercase().as_str() {
            "-" | "none" | "nobody" => Command::Vendor(None),
            _ => Command::Vendor(Some(value.to_string())),
        },
        FieldName::VendorTicket => Command::VendorTicket(crate::parse::one_line(value)),
        FieldName::Transfer => Command::Transfer(value.to_string()),
    })
}

/// "E-Mail/MTA problem" and "e-mail / mta problem" name the same category.
pub fn normalise_category(text: &str) -> String {
    tidy_category(text).to_lowercase()
}

/// A category path with its parts separated by " / " and spaces tidied, as written.
pub fn tidy_category(text: &str) -> String {
    text.split('/').map(crate::parse::one_line).collect::<Vec<_>>().join(" / ")
}

fn read_cc(value: &str) -> Result<Vec<CcChange>, String> {
    let mut changes = Vec::new();
    for word in value.split([',', ';', ' ']).filter(|word| !word.is_empty()) {
        let (remove, address) = match word.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, word.strip_prefix('+').unwrap_or(word)),
        };
        let address =
            crate::parse::bare_address(address).ok_or_else(|| format!("{address:?} is not an address like ann@example.com"))?;
        changes.push(if remove { CcChange::Remove(address) } else { CcChange::Add(address) });
    }
    if changes.is_empty() {
        return Err("write addresses to add (+a@example.com) or remove (-b@example.com)".into());
    }
    Ok(changes)
}

fn read_preferences(value: &str) -> Result<Vec<Preference>, String> {
    let mut preferences = Vec::new();
    for word in value.split([',', ';', ' ']).map(|word| word.trim().to_lowercase()).filter(|word| !word.is_empty()) {
        preferences.push(match word.as_str() {
            "brief" => Preference::Brief(true),
            "full" => Preference::Brief(false),
            "own" | "own-actions" => Preference::NotifyOwnActions(true),
            "no-own" | "no-own-actions" => Preference::NotifyOwnActions(false),
            language if LANGUAGES.contains(&language) => Preference::Language(language.to_string()),
            other => {
                return Err(format!(
                    "{other:?} is not a preference; use brief or full, a language ({}), own or no-own",
                    LANGUAGES.join(", ")
                ))
            }
        });
    }
    Ok(preferences)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[(FieldName, &str)], role: Role, authentic: bool, new_ticket: bool) -> (Vec<Command>, Vec<Refusal>) {
        let fields: Vec<FieldLine> = lines.iter().map(|(name, value)| FieldLine { name: *name, value: value.to_string() }).collect();
        let now = DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z").unwrap().with_timezone(&Utc);
        interpret(&fields, Standing { role, authentic, new_ticket }, now, &Calendar::always())
    }

    #[test]
    fn role_table() {
        use FieldName::*;
        let (commands, refusals) = run(&[(Priority, "high"), (Importance, "urgent")], Role::Customer, true, false);
        assert_eq!(commands, [Command::Importance(Level::Urgent)]);
        assert_eq!(refusals[0].field, "Priority");
        let (commands, refusals) =
            run(&[(Status, "hold"), (Time, "1h30m"), (Owner, "bob"), (Next, "ship the spare part"), (Split, "7")], Role::Vendor, true, false);
        assert_eq!(
            commands,
            [Command::Status(crate::ticket::Status::Hold), Command::TimeMinutes(90), Command::Next(Some("ship the spare part".into()))]
        );
        assert_eq!(refusals.len(), 2);
        let (_, refusals) = run(&[(Next, "call back"), (Reply, "password")], Role::Customer, true, false);
        assert_eq!(refusals.len(), 2, "customers set neither the next action nor canned replies");
        let (commands, refusals) = run(&[(VendorTicket, "CASE-4711"), (Vendor, "other"), (Transfer, "Berlin")], Role::Vendor, true, false);
        assert_eq!(commands, [Command::VendorTicket("CASE-4711".into())]);
        assert_eq!(refusals.iter().map(|refusal| refusal.field.as_str()).collect::<Vec<_>>(), ["Vendor", "Transfer"]);
        let (commands, _) = run(&[(Vendor, "none"), (Transfer, "Berlin")], Role::Agent, true, false);
        assert_eq!(commands, [Command::Vendor(None), Command::Transfer("Berlin".into())]);
        let (_, refusals) = run(&[(Status, "resolved")], Role::Vendor, true, false);
        assert!(refusals[0].reason.contains("hold"));
        let (commands, _) = run(&[(Due, "2026-12-01")], Role::Agent, true, false);
        assert!(matches!(commands[0], Command::CommittedDue(_)));
        let (commands, _) = run(&[(Due, "2026-12-01")], Role::Customer, true, true);
        assert!(matches!(commands[0], Command::RequestedDue(_)));
        let (_, refusals) = run(&[(Queue, "hardware")], Role::Customer, true, false);
        assert!(refusals[0].reason.contains("opened"));
    }

    #[test]
    fn unverified_senders_only_describe_their_new_request() {
        use FieldName::*;
        let (commands, refusals) = run(&[(Importance, "high"), (Cc, "+x@example.org")], Role::Customer, false, true);
        assert_eq!(commands, [Command::Importance(Level::High)]);
        assert!(refusals[0].reason.contains("verified"));
        let (commands, refusals) = run(&[(Status, "closed"), (Priority, "low")], Role::Agent, false, false);
        assert!(commands.is_empty());
        assert_eq!(refusals.len(), 2);
    }

    #[test]
    fn values() {
        use FieldName::*;
        let (commands, refusals) = run(
            &[(Cc, "+a@example.org -B@Example.org"), (Check, "1, 3"), (Merge, "#12"), (Visibility, "internal"), (Preferences, "brief, de, own")],
            Role::Agent,
            true,
            false,
        );
        assert!(refusals.is_empty(), "{refusals:?}");
        assert_eq!(commands[0], Command::Cc(vec![CcChange::Add("a@example.org".into()), CcChange::Remove("b@example.org".into())]));
        assert_eq!(commands[1], Command::Check(vec![1, 3]));
        assert_eq!(commands[2], Command::Merge(TicketId(12)));
        assert_eq!(commands[3], Command::Internal(true));
        assert_eq!(
            commands[4],
            Command::Preferences(vec![Preference::Brief(true), Preference::Language("de".into()), Preference::NotifyOwnActions(true)])
        );
        let (commands, refusals) = run(&[(Split, "[42]"), (Next, "done"), (Reply, "Password-Reset")], Role::Agent, true, false);
        assert!(refusals.is_empty(), "{refusals:?}");
        assert_eq!(commands, [Command::Split(42), Command::Next(None), Command::Reply("password-reset".into())]);
        let (_, refusals) = run(&[(Priority, "asap"), (Time, "lots"), (Due, "whenever"), (Split, "the second part")], Role::Agent, true, false);
        assert_eq!(refusals.len(), 4);
        assert!(refusals[3].reason.contains("[brackets]"), "{:?}", refusals[3]);
        assert!(refusals[0].reason.contains("urgent"), "{:?}", refusals[0]);
        assert_eq!(normalise_category("E-Mail/MTA  Problem"), "e-mail / mta problem");
    }
}
