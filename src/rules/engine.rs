//! Routing rules: ordered conditions and actions from the configuration, compiled when
//! it is loaded (regexes included) and evaluated against the facts of one message.
//!
//! A condition is a tree: `{ all = [...] }`, `{ any = [...] }`, `{ not = {...} }`, or a
//! test `{ field = "subject", matches = "(?i)printer" }` with `matches`, `contains`,
//! `equals` or `in`. A field with several values (recipients, headers, attachments)
//! passes when any value does. Evaluation is pure.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use regex::Regex;

use crate::config::{RuleActions, RuleConfig};
use crate::interpret::fields::{FieldLine, FieldName};
use crate::ticket::{Role, Ticket};

/// When a rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Create,
    Update,
    Always,
}

/// A field of the message or ticket that a test reads.
#[derive(Debug, Clone, PartialEq)]
enum Fact {
    Sender,
    SenderDomain,
    SenderRole,
    SenderOrganisation,
    Recipients,
    Subject,
    Body,
    Header(String),
    AttachmentName,
    AttachmentType,
    Field(FieldName),
    TicketStatus,
    TicketQueue,
    TicketPriority,
    Hour,
    Weekday,
}

#[derive(Debug, Clone)]
enum Test {
    Matches(Regex),
    Contains(String),
    Equals(String),
    In(Vec<String>),
}

#[derive(Debug, Clone)]
enum Condition {
    Always,
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Test { fact: Fact, test: Test },
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub on: On,
    when: Condition,
    pub then: RuleActions,
}

/// What a rule sees.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub sender: &'a str,
    pub sender_role: Role,
    pub organisation: Option<&'a str>,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    pub headers: &'a [(String, String)],
    pub attachments: Vec<(&'a str, &'a str)>,
    pub fields: &'a [FieldLine],
    pub ticket: Option<&'a Ticket>,
    pub now: DateTime<Utc>,
    pub zone: Tz,
}

impl<'a> Facts<'a> {
    /// The facts of `mail` from `sender`, with the field lines already read from it.
    pub fn of_mail(
        mail: &'a crate::parse::Mail,
        sender: &'a crate::identify::sender::Sender,
        rules: &'a super::Rules,
        fields: &'a [FieldLine],
        ticket: Option<&'a Ticket>,
        now: DateTime<Utc>,
    ) -> Facts<'a> {
        Facts {
            sender: &sender.address,
            sender_role: sender.role,
            organisation: rules.organisation_of(&sender.address),
            recipients: &mail.recipients,
            subject: &mail.subject,
            body: &mail.text,
            headers: &mail.headers,
            attachments: mail.attachments.iter().map(|attachment| (attachment.filename.as_str(), attachment.content_type.as_str())).collect(),
            fields,
            ticket,
            now,
            zone: rules.calendar.zone,
        }
    }
}

/// The field lines of `mail`: the subject's `[name=value]` block and the body's block.
pub fn field_lines(mail: &crate::parse::Mail) -> Vec<FieldLine> {
    let (mut fields, _) = crate::interpret::fields::split_subject_fields(&mail.subject);
    fields.extend(crate::interpret::fields::split_field_block(&mail.text).0);
    fields
}

/// Longest body text a rule looks at; rules route, they do not read novels.
const MAX_BODY_FOR_RULES: usize = 64 * 1024;

impl Rule {
    pub fn compile(index: usize, config: &RuleConfig) -> Result<Rule, String> {
        let key = format!("rules[{index}] ({:?})", config.name);
        let on = match config.on.as_str() {
            "create" => On::Create,
            "update" => On::Update,
            "always" => On::Always,
            other => return Err(format!("{key}.on = {other:?}: use create, update or always")),
        };
        let when = match &config.when {
            Some(value) => compile_condition(value).map_err(|error| format!("{key}.when: {error}"))?,
            None => Condition::Always,
        };
        Ok(Rule { name: config.name.clone(), on, when, then: config.then.clone() })
    }

    /// Whether this rule runs for a new ticket (`creating`) or an update, and matches.
    pub fn matches(&self, facts: &Facts<'_>, creating: bool) -> bool {
        let runs = match self.on {
            On::Create => creating,
            On::Update => !creating,
            On::Always => true,
        };
        runs && evaluate(&self.when, facts)
    }
}

/// The rules that fire, in order, up to the first with `stop`.
pub fn fire<'r>(rules: &'r [Rule], facts: &Facts<'_>, creating: bool) -> Vec<&'r Rule> {
    let mut fired = Vec::new();
    for rule in rules {
        if rule.matches(facts, creating) {
            fired.push(rule);
            if rule.then.stop || rule.then.junk {
                break;
            }
        }
    }
    fired
}

fn compile_condition(value: &toml::Value) -> Result<Condition, String> {
    let table = value.as_table().ok_or("a condition is a table, e.g. { field = \"subject\", contains = \"printer\" }")?;
    let list = |name: &str| -> Result<Vec<Condition>, String> {
        let items = table[name].as_array().ok_or(format!("`{name}` takes a list of conditions"))?;
        items.iter().map(compile_condition).collect()
    };
    if table.len() == 1 {
        if table.contains_key("all") {
            return Ok(Condition::All(list("all")?));
        }
        if table.contains_key("any") {
            return Ok(Condition::Any(list("any")?));
        }
        if let Some(inner) = table.get("not") {
            return Ok(Condition::Not(Box::new(compile_condition(inner)?)));
        }
    }
    let field = table.get("field").and_then(|field| field.as_str()).ok_or("a test needs `field`, or use all/any/not")?;
    let fact = compile_fact(field)?;
    let text = |name: &str| table.get(name).and_then(|value| value.as_str()).map(str::to_string);
    let tests: Vec<&str> = ["matches", "contains", "equals", "in"].into_iter().filter(|name| table.contains_key(*name)).collect();
    if tests.len() != 1 || table.len() != 2 {
        let keys: Vec<&String> = table.keys().collect();
        return Err(format!("a test has `field` and exactly one of matches, contains, equals, in; found {keys:?}"));
    }
    let test = match tests[0] {
        "matches" => {
            let pattern = text("matches").ok_or("`matches` takes a string")?;
            Test::Matches(Regex::new(&pattern).map_err(|error| format!("`matches` {pattern:?} is not a valid regex: {error}"))?)
        }
        "contains" => Test::Contains(text("contains").ok_or("`contains` takes a string")?.to_lowercase()),
        "equals" => Test::Equals(text("equals").ok_or("`equals` takes a string")?.to_lowercase()),
        _ => {
            let values = table["in"].as_array().ok_or("`in` takes a list of strings")?;
            Test::In(
                values
                    .iter()
                    .map(|value| value.as_str().map(str::to_lowercase).ok_or("`in` takes a list of strings"))
                    .collect::<Result<_, _>>()?,
            )
        }
    };
    Ok(Condition::Test { fact, test })
}

fn compile_fact(field: &str) -> Result<Fact, String> {
    let lower = field.to_lowercase();
    Ok(match lower.as_str() {
        "sender" | "from" => Fact::Sender,
        "sender.domain" => Fact::SenderDomain,
        "sender.role" => Fact::SenderRole,
        "sender.organisation" | "sender.organization" => Fact::SenderOrganisation,
        "recipients" | "to" => Fact::Recipients,
        "subject" => Fact::Subject,
        "body" => Fact::Body,
        "attachment.name" => Fact::AttachmentName,
        "attachment.type" => Fact::AttachmentType,
        "ticket.status" => Fact::TicketStatus,
        "ticket.queue" => Fact::TicketQueue,
        "ticket.priority" => Fact::TicketPriority,
        "time.hour" => Fact::Hour,
        "time.weekday" => Fact::Weekday,
        _ => {
            if let Some(header) = lower.strip_prefix("header.") {
                Fact::Header(header.to_string())
            } else if let Some(name) = lower.strip_prefix("field.") {
                Fact::Field(FieldName::from_name(name).ok_or(format!("{field:?}: no such field of the mail language"))?)
            } else {
                return Err(format!(
                    "{field:?} is not a fact; use sender, sender.domain, sender.role, sender.organisation, recipients, subject, body, \
                     header.NAME, attachment.name, attachment.type, field.NAME, ticket.status, ticket.queue, ticket.priority, \
                     time.hour or time.weekday"
                ));
            }
        }
    })
}

fn values(fact: &Fact, facts: &Facts<'_>) -> Vec<String> {
    let local = facts.now.with_timezone(&facts.zone);
    match fact {
        Fact::Sender => vec![facts.sender.to_string()],
        Fact::SenderDomain => vec![facts.sender.rsplit_once('@').map_or("", |(_, domain)| domain).to_string()],
        Fact::SenderRole => vec![facts.sender_role.to_string()],
        Fact::SenderOrganisation => facts.organisation.map(str::to_string).into_iter().collect(),
        Fact::Recipients => facts.recipients.to_vec(),
        Fact::Subject => vec![facts.subject.to_string()],
        Fact::Body => {
            let end = (0..=facts.body.len().min(MAX_BODY_FOR_RULES)).rev().find(|end| facts.body.is_char_boundary(*end)).unwrap_or(0);
            vec![facts.body[..end].to_string()]
        }
        Fact::Header(name) => facts.headers.iter().filter(|(header, _)| header == name).map(|(_, value)| value.clone()).collect(),
        Fact::AttachmentName => facts.attachments.iter().map(|(name, _)| name.to_string()).collect(),
        Fact::AttachmentType => facts.attachments.iter().map(|(_, kind)| kind.to_string()).collect(),
        Fact::Field(name) => facts.fields.iter().filter(|field| field.name == *name).map(|field| field.value.clone()).collect(),
        Fact::TicketStatus => facts.ticket.map(|ticket| ticket.status.to_string()).into_iter().collect(),
        Fact::TicketQueue => facts.ticket.map(|ticket| ticket.queue.clone()).into_iter().collect(),
        Fact::TicketPriority => facts.ticket.map(|ticket| ticket.priority.to_string()).into_iter().collect(),
        Fact::Hour => vec![local.hour().to_string()],
        Fact::Weekday => vec![local.weekday().to_string().to_lowercase()],
    }
}

fn evaluate(condition: &Condition, facts: &Facts<'_>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::All(items) => items.iter().all(|item| evaluate(item, facts)),
        Condition::Any(items) => items.iter().any(|item| evaluate(item, facts)),
        Condition::Not(inner) => !evaluate(inner, facts),
        Condition::Test { fact, test } => values(fact, facts).iter().any(|value| {
            let lower = value.to_lowercase();
            match test {
                Test::Matches(pattern) => pattern.is_match(value),
                Test::Contains(needle) => lower.contains(needle.as_str()),
                Test::Equals(expected) => lower == *expected,
                Test::In(options) => options.contains(&lower),
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> Result<Rule, String> {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            rules: Vec<RuleConfig>,
        }
        let wrapper: Wrapper = toml::from_str(toml_text).map_err(|error| error.to_string())?;
        Rule::compile(0, &wrapper.rules[0])
    }

    fn facts<'a>(subject: &'a str, headers: &'a [(String, String)], fields: &'a [FieldLine]) -> Facts<'a> {
        Facts {
            sender: "ann@vip.example",
            sender_role: Role::Customer,
            organisation: Some("VIP Corp"),
            recipients: &[],
            subject,
            body: "The toner is empty",
            headers,
            attachments: vec![("log.txt", "text/plain")],
            fields,
            ticket: None,
            now: DateTime::parse_from_rfc3339("2026-11-23T20:30:00Z").unwrap().with_timezone(&Utc),
            zone: "Europe/Berlin".parse().unwrap(),
        }
    }

    #[test]
    fn conditions() {
        let headers = vec![("x-priority".to_string(), "1 (Highest)".to_string())];
        let fields = vec![FieldLine { name: FieldName::Host, value: "prn-04".into() }];
        let check = |when: &str, expected: bool| {
            let rule = rule(&format!("[[rules]]\nname = \"t\"\nwhen = {when}\nthen = {{ stop = true }}\n")).unwrap();
            assert_eq!(rule.matches(&facts("Printer on fire", &headers, &fields), true), expected, "{when}");
        };
        check(r#"{ field = "subject", matches = "(?i)printer" }"#, true);
        check(r#"{ field = "subject", contains = "FIRE" }"#, true);
        check(r#"{ field = "sender.domain", equals = "vip.example" }"#, true);
        check(r#"{ field = "sender.organisation", in = ["vip corp", "other"] }"#, true);
        check(r#"{ field = "sender.role", equals = "agent" }"#, false);
        check(r#"{ field = "header.X-Priority", matches = "^1" }"#, true);
        check(r#"{ field = "attachment.name", matches = "\\.txt$" }"#, true);
        check(r#"{ field = "field.host", equals = "prn-04" }"#, true);
        check(r#"{ field = "body", contains = "toner" }"#, true);
        check(r#"{ field = "time.hour", equals = "21" }"#, true);
        check(r#"{ field = "time.weekday", equals = "mon" }"#, true);
        check(r#"{ all = [{ field = "subject", contains = "printer" }, { not = { field = "body", contains = "paper" } }] }"#, true);
        check(r#"{ any = [{ field = "subject", contains = "vpn" }, { field = "subject", contains = "mail" }] }"#, false);
        check(r#"{ field = "ticket.status", equals = "open" }"#, false);
    }

    #[test]
    fn bad_rules_are_named() {
        let error = rule("[[rules]]\nname = \"broken\"\nwhen = { field = \"subject\", matches = \"(\" }\nthen = {}\n").unwrap_err();
        assert!(error.contains("broken") && error.contains("regex"), "{error}");
        let error = rule("[[rules]]\nname = \"odd\"\nwhen = { field = \"colour\", equals = \"red\" }\nthen = {}\n").unwrap_err();
        assert!(error.contains("colour"), "{error}");
        let error = rule("[[rules]]\nname = \"x\"\non = \"sometimes\"\nthen = {}\n").unwrap_err();
        assert!(error.contains("sometimes"), "{error}");
    }
}
