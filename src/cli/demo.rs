//! `reqmail demo`: sample mail through the whole flow on this configuration, told step
//! by step, so that a first run shows what reqmail does.
//!
//! The samples live in `samples/demo/` and are built into the binary. Replies are
//! made from the letters reqmail actually wrote (their Reply-To, Message-ID and text),
//! as a mail client would, so every step takes the same path as real mail: into the
//! inbound Maildir, through `fetch`, out as letters.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cli::fetch::Fetch;
use crate::cli::person::PersonCommand;
use crate::cli::ticket::Update;
use crate::cli::{Failure, Setup};
use crate::config::TransportKind;
use crate::store::{self, tickets::TicketFilter};
use crate::ticket::{Role, TicketId};

const REQUEST: &str = include_str!("../../samples/demo/1-request.eml");
const OUT_OF_OFFICE: &str = include_str!("../../samples/demo/1-out-of-office.eml");
const CUSTOMER_REPLY: &str = include_str!("../../samples/demo/3-customer-reply.eml");
const AGENT_RESOLVES: &str = include_str!("../../samples/demo/4-agent-resolves.eml");
const CUSTOMER_APPROVES: &str = include_str!("../../samples/demo/5-customer-approves.eml");

const CUSTOMER: &str = "carol@example.org";
const AGENT: &str = "ann@example.com";

/// Sends sample mail through the whole flow on this configuration and shows what
/// happened: a new request and an out-of-office robot, an assignment, the customer's
/// reply, the agent's answer with a field block that resolves the ticket, and the
/// customer's approval by a marked box. Adds Ann Agent (ann@example.com) as an agent.
#[derive(Debug, clap::Args)]
pub struct Demo {}

impl Demo {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let config = &setup.site.config;
        if config.outbound.transport != TransportKind::Maildir || !config.outbound.deliver_immediately {
            return Err(Failure::Usage(anyhow::anyhow!(
                "the demo reads the letters it answers from the outbound Maildir: run it with `[outbound] transport = \"maildir\"` \
                 and `deliver_immediately = true` (the built-in defaults)"
            )));
        }
        let mut demo = Run::new(setup)?;
        let reqmail = invoked_as();
        println!(
            "reqmail demo: sample mail through the whole flow.\n  database {}\n  mail in   {}/new\n  mail out  {}/new\n",
            config.store.path.display(),
            config.inbound.maildir.display(),
            config.outbound.maildir.display(),
        );

        demo.step("1. A customer writes to the help alias; an out-of-office robot writes too.");
        demo.deliver("request", &fill(REQUEST, &demo.common()))?;
        demo.deliver("out-of-office", &fill(OUT_OF_OFFICE, &demo.common()))?;
        demo.fetch()?;
        let ticket = demo.newest_ticket()?;
        println!("   Ticket {ticket} is open; the robot got no answer (machines are never answered).");
        let receipt = demo.letter_to(CUSTOMER, "the receipt")?;

        demo.step(&format!("2. The desk lead adds Ann as an agent and gives her the ticket: `{reqmail} ticket update {ticket} owner={AGENT}`."));
        PersonCommand::Add { address: AGENT.into(), role: Role::Agent, name: Some("Ann Agent".into()) }.execute(setup)?;
        Update { number: ticket.0, fields: vec![format!("owner={AGENT}")], actor: None, note: None }.execute(setup)?;
        demo.show_new_letters()?;
        demo.letter_to(AGENT, "the assignment")?;

        demo.step("3. The customer answers the receipt with more detail.");
        demo.deliver("customer-reply", &fill(CUSTOMER_REPLY, &demo.reply_to(&receipt)))?;
        demo.fetch()?;
        let told = demo.letter_to(AGENT, "the owner's copy")?;

        demo.step("4. Ann replies with a field block at the top: Priority, Time, Status: resolved.");
        demo.deliver("agent-resolves", &fill(AGENT_RESOLVES, &demo.reply_to(&told)))?;
        demo.fetch()?;
        let resolution = demo.letter_to(CUSTOMER, "the resolution with two check boxes")?;

        demo.step("5. The customer marks [X] Yes in the resolution mail and replies.");
        let mut approval = demo.reply_to(&resolution);
        let marked: String =
            resolution.text.lines().map(|line| format!("> {}\n", line.replacen("[ ] Yes", "[X] Yes", 1))).collect();
        approval.push(("MARKED", marked));
        demo.deliver("customer-approves", &fill(CUSTOMER_APPROVES, &approval))?;
        demo.fetch()?;
        let store = setup.open_store()?;
        let status = store::tickets::get(&store.conn, ticket)?.map(|ticket| ticket.status.to_string()).unwrap_or_default();
        println!("   Ticket {ticket} is now {status}.");

        println!("\nTry next:");
        for (command, why) in [
            (format!("{reqmail} ticket list --all"), "every ticket (without --all: the work still to do, most urgent first)".to_string()),
            (format!("{reqmail} ticket show {ticket}"), "one ticket with its whole history".to_string()),
            (format!("ls {}/new", config.outbound.maildir.display()), "every letter reqmail wrote, one file each".to_string()),
            (format!("{reqmail} fetch"), format!("after putting your own .eml files into {}/new", config.inbound.maildir.display())),
        ] {
            println!("  {command:<40} # {why}");
        }
        Ok(())
    }
}

/// One demo run: its unique suffix for Message-IDs, and the letters seen so far.
struct Run<'a> {
    setup: &'a Setup,
    run: String,
    seen: BTreeSet<PathBuf>,
    fresh: Vec<Letter>,
}

/// A letter reqmail wrote, as the demo's mail client reads it.
struct Letter {
    to: String,
    subject: String,
    message_id: String,
    reply_to: String,
    text: String,
}

impl<'a> Run<'a> {
    fn new(setup: &'a Setup) -> anyhow::Result<Run<'a>> {
        // Unique per run, so that running the demo again opens a new ticket instead of
        // being recognised as the same mail delivered twice.
        let run = setup.clock.now().format("%Y%m%d%H%M%S%f").to_string();
        let mut demo = Run { setup, run, seen: BTreeSet::new(), fresh: Vec::new() };
        demo.seen = demo.outbox_files()?.into_iter().collect();
        Ok(demo)
    }

    fn step(&self, title: &str) {
        println!("{title}");
    }

    fn common(&self) -> Vec<(&'static str, String)> {
        vec![("RUN", self.run.clone()), ("DATE", self.setup.clock.now().to_rfc2822())]
    }

    fn reply_to(&self, letter: &Letter) -> Vec<(&'static str, String)> {
        let quoted: String = letter.text.lines().map(|line| format!("> {line}\n")).collect();
        let mut values = self.common();
        values.extend([
            ("TO", letter.reply_to.clone()),
            ("SUBJECT", letter.subject.trim_start_matches("Re: ").to_string()),
            ("IN_REPLY_TO", letter.message_id.clone()),
            ("QUOTED", quoted),
        ]);
        values
    }

    /// Puts one message into the inbound Maildir as a deliverer would (tmp, then new).
    fn deliver(&self, name: &str, message: &str) -> anyhow::Result<()> {
        let root = &self.setup.site.config.inbound.maildir;
        crate::transport::maildir::ensure_maildir(root)?;
        let file = format!("{}.demo-{name}", self.run);
        let tmp = root.join("tmp").join(&file);
        std::fs::write(&tmp, message.replace('\n', "\r\n")).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, root.join("new").join(&file)).with_context(|| format!("cannot move {} into new/", tmp.display()))?;
        Ok(())
    }

    /// `reqmail fetch`, with its summary line, then the letters it wrote.
    fn fetch(&mut self) -> Result<(), Failure> {
        let (summary, result) = Fetch { what: None }.pass(self.setup)?;
        result?;
        println!("   {}", summary.line(self.setup));
        self.show_new_letters()?;
        Ok(())
    }

    fn show_new_letters(&mut self) -> anyhow::Result<()> {
        for path in self.outbox_files()? {
            if self.seen.insert(path.clone()) {
                let letter = read_letter(&path)?;
                println!("   letter to {:<22} {:<60} {}", letter.to, format!("\"{}\"", letter.subject), path.display());
                self.fresh.push(letter);
            }
        }
        Ok(())
    }

    /// The newest letter to `address` written since the last step.
    fn letter_to(&mut self, address: &str, what: &str) -> anyhow::Result<Letter> {
        let position = self.fresh.iter().rposition(|letter| letter.to.eq_ignore_ascii_case(address)).with_context(|| {
            format!("the demo expected {what} to {address} in the outbox, and reqmail wrote none; `reqmail quarantine list` may say why")
        })?;
        let letter = self.fresh.remove(position);
        self.fresh.clear();
        Ok(letter)
    }

    fn newest_ticket(&self) -> anyhow::Result<TicketId> {
        let store = self.setup.open_store()?;
        let filter = TicketFilter { requester: Some(CUSTOMER.into()), ..TicketFilter::default() };
        let tickets = store::tickets::list(&store.conn, &filter)?;
        tickets.iter().map(|ticket| ticket.number).max().context("the demo's request opened no ticket; `reqmail quarantine list` may say why")
    }

    fn outbox_files(&self) -> anyhow::Result<Vec<PathBuf>> {
        let new = self.setup.site.config.outbound.maildir.join("new");
        let mut files = match std::fs::read_dir(&new) {
            Ok(entries) => entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error).with_context(|| format!("cannot list {}", new.display())),
        };
        files.sort();
        Ok(files)
    }
}

fn read_letter(path: &Path) -> anyhow::Result<Letter> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let message = mail_parser::MessageParser::default().parse(&raw).with_context(|| format!("{} is not a message", path.display()))?;
    let first_address = |address: Option<&mail_parser::Address>| {
        address.and_then(|address| address.first()).and_then(|address| address.address()).unwrap_or_default().to_string()
    };
    Ok(Letter {
        to: first_address(message.to()),
        subject: message.subject().unwrap_or_default().to_string(),
        message_id: message.message_id().unwrap_or_default().to_string(),
        reply_to: first_address(message.reply_to().or(message.from())),
        text: message.body_text(0).map(|text| text.into_owned()).unwrap_or_default(),
    })
}

/// The program as the person started it (`target/debug/reqmail` after `cargo run`), so
/// that the commands suggested can be pasted as they are.
fn invoked_as() -> String {
    let Some(program) = std::env::args().next().filter(|program| program.contains('/')) else { return "reqmail".to_string() };
    let here = std::env::current_dir().unwrap_or_default();
    match Path::new(&program).strip_prefix(&here) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => program,
    }
}

/// `template` with each `{{NAME}}` replaced by its value.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(template.to_string(), |text, (name, value)| text.replace(&format!("{{{{{name}}}}}"), value))
}
