//! The site: the configuration and everything compiled from it once, when it is loaded
//! (DESIGN §5 "compile when loading"): the threading addresses and subject tag, the
//! templates, and the rules. Every step gets what it needs from here; nothing is compiled
//! again while mail is processed.

use crate::store::Connection;

use crate::config::Config;
use crate::identify::monitor::Monitors;
use crate::identify::sender::{self, Configured, Sender};
use crate::identify::thread::Threading;
use crate::interpret::commands::LANGUAGES;
use crate::knowledge::Knowledge;
use crate::notify::letters::Writer;
use crate::notify::render::Templates;
use crate::parse::{Mail, Mailbox};
use crate::rules::Rules;

/// The configuration and what is compiled from it.
pub struct Site {
    pub config: Config,
    pub threading: Threading,
    pub templates: Templates,
    pub rules: Rules,
    pub monitors: Monitors,
    /// The articles the receipts suggest, read once.
    pub knowledge: Knowledge,
}

impl Site {
    /// Compiles `config`; an error names the configuration key (exit 78 at the binary).
    pub fn compile(config: Config) -> anyhow::Result<Site> {
        let templates = load_templates(&config)?;
        let threading = Threading::new(&config.mail, &config.vendors);
        let rules = Rules::compile(&config).map_err(|error| anyhow::anyhow!("{}: {error}", config.origin_text()))?;
        for (index, rule) in rules.rules.iter().enumerate() {
            if let Some(template) = rule.then.template.as_deref().filter(|template| !templates.has(template)) {
                anyhow::bail!(
                    "{}: rules[{index}] ({:?}).then.template = {template:?}: no such template; put en/{template}.hbs into templates.dir",
                    config.origin_text(),
                    rule.name
                );
            }
        }
        let monitors = Monitors::compile(&config.monitors).map_err(|error| anyhow::anyhow!("{}: {error}", config.origin_text()))?;
        let knowledge = Knowledge::load(&config.knowledge).map_err(|error| anyhow::anyhow!("{}: {error:#}", config.origin_text()))?;
        Ok(Site { config, threading, templates, rules, monitors, knowledge })
    }

    /// What letters are written with.
    pub fn writer(&self) -> Writer<'_> {
        Writer { config: &self.config, rules: &self.rules, threading: &self.threading, templates: &self.templates, knowledge: &self.knowledge }
    }

    /// Step 5: who sent `mail`, with the role the configuration gives them (see
    /// [`sender::identify`]).
    pub fn identify_sender(&self, conn: &Connection, mail: &Mail) -> crate::store::Result<Option<Sender>> {
        sender::identify(conn, mail, &self.config, &self.threading, |address| self.configured(address))
    }

    /// The author of a message an agent forwarded, as [`sender::forwarded`] sees them.
    pub fn forwarded_sender(&self, conn: &Connection, author: &Mailbox, forwarder: &Sender) -> crate::store::Result<Sender> {
        sender::forwarded(conn, author, forwarder, |address| self.configured(address))
    }

    /// Whether `address` is one of ours: the help alias, a ticket's plus-address, the
    /// comment address.
    pub fn is_our_address(&self, address: &str) -> bool {
        address.eq_ignore_ascii_case(&self.config.mail.address)
            || self.threading.plus_address(address).is_some()
            || self.config.mail.comment_address.as_deref().is_some_and(|comment| address.eq_ignore_ascii_case(comment))
    }

    fn configured(&self, address: &str) -> Option<Configured<'_>> {
        self.rules.configured_person(address).map(|person| Configured { role: person.role, name: person.name.as_deref() })
    }
}

/// The built-in templates, overridden by `templates.dir`, then by each queue's own.
fn load_templates(config: &Config) -> anyhow::Result<Templates> {
    let mut templates = Templates::load(config.templates.dir.as_deref())?;
    for (name, texts) in &config.replies {
        if let Some(language) = texts.keys().find(|language| !LANGUAGES.contains(&language.as_str())) {
            anyhow::bail!("{}: replies.{name}.{language}: not a language reqmail writes ({})", config.origin_text(), LANGUAGES.join(", "));
        }
    }
    templates.add_replies(&config.replies).map_err(|error| anyhow::anyhow!("{}: {error:#}", config.origin_text()))?;
    for (queue, queue_config) in &config.queues {
        if let Some(dir) = &queue_config.templates_dir {
            templates.add_queue_templates(&queue.to_lowercase(), dir)?;
        }
    }
    Ok(templates)
}
