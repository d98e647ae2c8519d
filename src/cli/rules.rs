//! `reqmail rules`: check the routing rules of a configuration, or try a message against them.

use std::io::Read as _;

use crate::cli::{Cli, Failure, Setup};
use crate::config::Config;
use crate::site::Site;
use crate::rules::engine::{self, Facts};

/// Routing rules: check the configuration, or try a message against them.
#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Validate the configuration: rules, queues, rotations, templates.
    Check,
    /// Show which rules a message on stdin matches and what they would do; changes nothing.
    Test,
}

impl RulesCommand {
    pub fn execute(&self, cli: &Cli) -> Result<(), Failure> {
        match self {
            RulesCommand::Check => check(cli),
            RulesCommand::Test => test(&Setup::start(cli)?),
        }
    }
}

fn check(cli: &Cli) -> Result<(), Failure> {
    let config = Config::load(cli.config.as_deref()).map_err(|error| Failure::Config(error.into()))?;
    let origin = config.origin.clone();
    match Site::compile(config) {
        Ok(site) => {
            let rules = &site.rules;
            println!(
                "{}: {} rules, {} queues, {} rotations: all valid",
                site.config.origin_text(),
                rules.rules.len(),
                rules.queue_names().len(),
                rules.rotations().len()
            );
            for doubt in crate::oauth::identity::check(&site.config) {
                println!("warning: {doubt}");
            }
            Ok(())
        }
        Err(error) => {
            let text = format!("{error:#}");
            let line = rule_line(origin.as_deref(), &text);
            let at = line.map(|line| format!(" (line {line})")).unwrap_or_default();
            Err(Failure::Config(anyhow::anyhow!("{text}{at}")))
        }
    }
}

/// The line of the rule an error names (`rules[N] ("NAME")`), found by its `name = "NAME"`.
fn rule_line(path: Option<&std::path::Path>, error: &str) -> Option<usize> {
    let start = error.find("rules[")?;
    let name = error[start..].split('"').nth(1)?;
    let text = std::fs::read_to_string(path?).ok()?;
    text.lines().position(|line| {
        let line = line.trim();
        line.starts_with("name") && line.contains(&format!("\"{name}\""))
    })
    .map(|index| index + 1)
}

fn test(setup: &Setup) -> Result<(), Failure> {
    let site = &setup.site;
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw).map_err(anyhow::Error::from)?;
    let mail = crate::parse::parse(&raw, &site.config.limits).map_err(|error| Failure::Other(anyhow::anyhow!("the message on stdin: {error}")))?;
    let store = setup.open_store()?;
    let sender = site.identify_sender(&store.conn, &mail)?
        .ok_or_else(|| anyhow::anyhow!("the message has no usable From address"))?;
    let current = match site.threading.thread(&store.conn, &mail)? {
        crate::identify::thread::TicketMatch::Existing { ticket, .. } => crate::store::tickets::get(&store.conn, ticket)?,
        crate::identify::thread::TicketMatch::New => None,
    };
    let fields = engine::field_lines(&mail);
    let now = setup.clock.now();
    let facts = Facts::of_mail(&mail, &sender, &site.rules, &fields, current.as_ref(), now);
    let creating = current.is_none();
    match &current {
        Some(ticket) => println!("continues ticket #{} (rules with on = \"update\" or \"always\" run)", ticket.number),
        None => println!("opens a new ticket (rules with on = \"create\" or \"always\" run)"),
    }
    let fired = engine::fire(&site.rules.rules, &facts, creating);
    for rule in &site.rules.rules {
        let verdict = if fired.iter().any(|fired| std::ptr::eq(*fired, rule)) {
            "matches"
        } else if rule.matches(&facts, creating) {
            "matches, but an earlier rule stopped"
        } else {
            "no match"
        };
        println!("rule {:?}: {verdict}", rule.name);
    }
    for rule in fired {
        let then = &rule.then;
        let mut actions = Vec::new();
        if then.junk {
            actions.push("junk: no ticket".to_string());
        }
        if let Some(queue) = &then.queue {
            actions.push(format!("queue {queue}"));
        }
        if let Some(level) = then.importance {
            actions.push(format!("importance {level}"));
        }
        if let Some(level) = then.priority {
            actions.push(format!("priority {level}"));
        }
        if let Some(category) = &then.category {
            actions.push(format!("category {category}"));
        }
        if let Some(owner) = &then.owner {
            match site.rules.rotation(owner) {
                Some(rotation) => {
                    let on_duty = rotation.on_duty(now, &site.rules.calendar);
                    actions.push(format!("owner from rotation {owner} (on duty: {})", if on_duty.is_empty() { "nobody".to_string() } else { on_duty.join(", ") }));
                }
                None => actions.push(format!("owner {owner}")),
            }
        }
        for cc in &then.cc {
            actions.push(format!("cc +{cc}"));
        }
        if let Some(note) = &then.note {
            actions.push(format!("internal note {note:?}"));
        }
        if let Some(template) = &then.template {
            actions.push(format!("send template {template}"));
        }
        if then.stop {
            actions.push("stop".into());
        }
        println!("  {} would: {}", rule.name, actions.join("; "));
    }
    Ok(())
}
