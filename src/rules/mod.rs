//! Step 7: the site's policy, compiled from the configuration when it is loaded:
//! queues with their SLA targets and calendars, the people and organisations the
//! configuration names, the category tree and its checklists. `engine.rs` compiles and
//! evaluates the routing rules, `route.rs` runs them on a message, `rotation.rs` knows
//! who is on duty and `assign.rs` picks the member who takes a ticket.

pub mod assign;
pub mod engine;
pub mod rotation;
pub mod route;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::config::{Config, LevelTargets, QueueConfig};
use crate::interpret::commands::{normalise_category, tidy_category};
use crate::store::people::ConfiguredAddress;
use crate::ticket::sla::{parse_duration, Calendar};
use crate::ticket::{Level, Role};

/// One queue, compiled.
#[derive(Debug, Clone)]
pub struct Queue {
    pub name: String,
    pub calendar: Calendar,
    response: [Option<Duration>; 4],
    resolution: [Option<Duration>; 4],
    pub watchers: Vec<String>,
    pub default_priority: Option<Level>,
    pub fallback_owner: Option<String>,
    pub supervisor: Option<String>,
    /// The supervisor approves a resolution before the customer is asked.
    pub supervisor_approval: bool,
    pub grace: Duration,
    pub follow_up: Duration,
    pub hold_timeout: Option<Duration>,
    pub nag_after: Option<Duration>,
}

/// A person the configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredPerson {
    pub role: Role,
    pub name: Option<String>,
    /// The first address listed: the person's primary address.
    pub primary: String,
}

/// A configured vendor with its response target in working time.
#[derive(Debug, Clone)]
pub struct Vendor {
    pub config: crate::config::desk::VendorConfig,
    pub response: Duration,
}

/// The vendors, their desks known as people with the vendor role (unless the
/// configuration lists that address among `people` already).
fn compile_vendors(config: &Config, calendar: &Calendar, people: &mut HashMap<String, ConfiguredPerson>) -> Result<Vec<Vendor>, String> {
    let mut vendors = Vec::new();
    for (index, vendor) in config.vendors.iter().enumerate() {
        let key = format!("vendors[{index}] ({:?})", vendor.name);
        let response = parse_duration(&vendor.response, calendar.day_length())
            .ok_or_else(|| format!("{key}: response = {:?} is not a duration; write e.g. 4h or 2d", vendor.response))?;
        let address = vendor.address.to_lowercase();
        people.entry(address.clone()).or_insert(ConfiguredPerson { role: Role::Vendor, name: Some(vendor.name.clone()), primary: address });
        vendors.push(Vendor { config: vendor.clone(), response });
    }
    Ok(vendors)
}

/// The compiled policy.
#[derive(Debug, Clone)]
pub struct Rules {
    pub calendar: Calendar,
    queues: HashMap<String, Queue>,
    pub default_queue: String,
    people: HashMap<String, ConfiguredPerson>,
    organisations: HashMap<String, String>,
    /// Normalised (lower case), for matching.
    categories: Vec<String>,
    /// As configured, in the same order, for storing and showing.
    category_paths: Vec<String>,
    checklists: HashMap<String, Vec<String>>,
    pub reminder_thresholds: Vec<f64>,
    pub denial_phrases: Vec<String>,
    pub survey: bool,
    /// The names of the configured canned replies (`Reply: NAME`), sorted.
    pub canned_replies: Vec<String>,
    default_grace: Duration,
    default_follow_up: Duration,
    pub rules: Vec<engine::Rule>,
    rotations: HashMap<String, rotation::Rotation>,
    /// Queue by extra address (`hardware@example.com`).
    queue_addresses: HashMap<String, String>,
    vendors: Vec<Vendor>,
    /// The names of the peer sites (`[[sites]]`), as configured.
    pub peer_sites: Vec<String>,
}

/// The queues by lower-case name, with SLA targets and calendars; the default queue and
/// the queues IMAP mailboxes feed exist even when not listed.
fn compile_queues(config: &Config, calendar: &Calendar) -> Result<HashMap<String, Queue>, String> {
    let mut queues = HashMap::new();
    let mut queue_configs: Vec<(&String, &QueueConfig)> = config.queues.iter().collect();
    // The default queue and the queues IMAP mailboxes feed exist even when not listed.
    let default_queue_config = QueueConfig::default();
    let implicit = std::iter::once(&config.mail.default_queue)
        .chain(config.inbound.imap.iter().flat_map(|account| account.mailboxes.iter().filter_map(|mailbox| mailbox.queue.as_ref())));
    for name in implicit {
        if !config.queues.contains_key(name) && !queue_configs.iter().any(|(known, _)| *known == name) {
            queue_configs.push((name, &default_queue_config));
        }
    }
    for (name, queue) in queue_configs {
        let key = format!("queues.{name}");
        let queue_calendar = match (&queue.business_hours, &queue.holidays) {
            (None, None) => calendar.clone(),
            (hours, holidays) => Calendar::parse(
                &config.calendar.timezone,
                hours.as_deref().unwrap_or(&config.calendar.business_hours),
                holidays.as_deref().unwrap_or(&config.calendar.holidays),
            )
            .map_err(|error| format!("{key}: {error}"))?,
        };
        let day = queue_calendar.day_length();
        let targets = |targets: &LevelTargets, what: &str| -> Result<[Option<Duration>; 4], String> {
            let mut compiled = [None; 4];
            for (index, (level, text)) in
                [("urgent", &targets.urgent), ("high", &targets.high), ("medium", &targets.medium), ("low", &targets.low)]
                    .into_iter()
                    .enumerate()
            {
                if let Some(text) = text {
                    compiled[index] = Some(parse_duration(text, day).ok_or_else(|| {
                        format!("{key}.{what}.{level} = {text:?} is not a duration like \"4h\", \"2d\" or \"1h30m\"")
                    })?);
                }
            }
            Ok(compiled)
        };
        let watchers = queue
            .watchers
            .iter()
            .map(|address| {
                crate::parse::bare_address(address).ok_or_else(|| format!("{key}.watchers: {address:?} is not an address"))
            })
            .collect::<Result<_, _>>()?;
        let supervisor = match &queue.supervisor {
            Some(address) => Some(
                crate::parse::bare_address(address).ok_or_else(|| format!("{key}.supervisor: {address:?} is not an address"))?,
            ),
            None => None,
        };
        if queue.supervisor_approval && supervisor.is_none() {
            return Err(format!("{key}.supervisor_approval needs {key}.supervisor"));
        }
        let days = |days: Option<u32>| days.map(|days| Duration::days(days as i64));
        queues.insert(
            name.to_lowercase(),
            Queue {
                name: name.to_lowercase(),
                calendar: queue_calendar,
                response: targets(&queue.response, "response")?,
                resolution: targets(&queue.resolution, "resolution")?,
                watchers,
                default_priority: queue.default_priority,
                fallback_owner: match &queue.fallback_owner {
                    Some(owner) => Some(
                        crate::parse::bare_address(owner).ok_or_else(|| format!("{key}.fallback_owner: {owner:?} is not an address"))?,
                    ),
                    None => None,
                },
                supervisor,
                supervisor_approval: queue.supervisor_approval,
                grace: Duration::days(queue.grace_days.unwrap_or(config.approval.grace_days) as i64),
                follow_up: Duration::days(queue.follow_up_days.unwrap_or(config.approval.follow_up_days) as i64),
                hold_timeout: days(queue.hold_timeout_days),
                nag_after: days(queue.nag_after_days),
            },
        );
    }
    Ok(queues)
}

/// The people the configuration names, by each of their addresses.
fn compile_people(config: &Config) -> Result<HashMap<String, ConfiguredPerson>, String> {
    let mut people = HashMap::new();
    for (index, person) in config.people.iter().enumerate() {
        let mut addresses = Vec::new();
        for address in &person.addresses {
            addresses.push(
                crate::parse::bare_address(address)
                    .ok_or_else(|| format!("people[{index}].addresses: {address:?} is not an address"))?,
            );
        }
        let primary = addresses.first().cloned().ok_or_else(|| format!("people[{index}] has no address"))?;
        for address in addresses {
            let configured = ConfiguredPerson { role: person.role, name: person.name.clone(), primary: primary.clone() };
            if people.insert(address.clone(), configured).is_some() {
                return Err(format!("people: {address} is listed twice"));
            }
        }
    }
    Ok(people)
}

/// The checklists by normalised category path; each category must exist.
fn compile_checklists(config: &Config, categories: &[String]) -> Result<HashMap<String, Vec<String>>, String> {
    let mut checklists = HashMap::new();
    for (category, items) in &config.checklists {
        let normalised = normalise_category(category);
        if !categories.contains(&normalised) {
            return Err(format!("checklists.{category:?}: no such category in `categories`"));
        }
        checklists.insert(normalised, items.clone());
    }
    Ok(checklists)
}

/// The routing rules in order, each checked against the queues, categories and rotations it names.
fn compile_rules(
    config: &Config,
    queues: &HashMap<String, Queue>,
    categories: &[String],
    rotations: &HashMap<String, rotation::Rotation>,
) -> Result<Vec<engine::Rule>, String> {
    let mut rules = Vec::new();
    for (index, rule_config) in config.rules.iter().enumerate() {
        let rule = engine::Rule::compile(index, rule_config)?;
        let key = format!("rules[{index}] ({:?})", rule.name);
        let then = &rule.then;
        if let Some(queue) = &then.queue {
            if !queues.contains_key(&queue.to_lowercase()) {
                return Err(format!("{key}.then.queue = {queue:?}: no such queue"));
            }
        }
        if let Some(category) = &then.category {
            let wanted = normalise_category(category);
            if !categories.iter().any(|path| *path == wanted || path.starts_with(&format!("{wanted} / "))) {
                return Err(format!("{key}.then.category = {category:?}: no such category"));
            }
        }
        if let Some(owner) = &then.owner {
            if !rotations.contains_key(&owner.to_lowercase()) && crate::parse::bare_address(owner).is_none() {
                return Err(format!("{key}.then.owner = {owner:?}: neither a rotation nor an address"));
            }
        }
        for cc in &then.cc {
            if crate::parse::bare_address(cc).is_none() {
                return Err(format!("{key}.then.cc: {cc:?} is not an address"));
            }
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn level_index(level: Level) -> usize {
    match level {
        Level::Urgent => 0,
        Level::High => 1,
        Level::Medium => 2,
        Level::Low => 3,
    }
}

impl Rules {
    /// Compiles the policy; every error names the configuration key. The parts are
    /// checked in the order the configuration reads, so the first problem is reported.
    pub fn compile(config: &Config) -> Result<Rules, String> {
        let calendar = Calendar::parse(&config.calendar.timezone, &config.calendar.business_hours, &config.calendar.holidays)
            .map_err(|error| format!("calendar: {error}"))?;
        let queues = compile_queues(config, &calendar)?;
        let mut people = compile_people(config)?;
        let vendors = compile_vendors(config, &calendar, &mut people)?;
        let mut organisations = HashMap::new();
        for organisation in &config.organisations {
            for domain in &organisation.domains {
                organisations.insert(domain.trim().trim_start_matches('@').to_lowercase(), organisation.name.clone());
            }
        }
        let category_paths: Vec<String> = config.categories.iter().map(|path| tidy_category(path)).collect();
        let categories: Vec<String> = category_paths.iter().map(|path| path.to_lowercase()).collect();
        let checklists = compile_checklists(config, &categories)?;
        if let Some(comment) = &config.mail.comment_address {
            if crate::config::split_address(comment).is_none() {
                return Err(format!("mail.comment_address = {comment:?} is not an address"));
            }
        }
        for threshold in &config.scheduler.reminder_thresholds {
            if !(0.0..1.0).contains(threshold) {
                return Err(format!("scheduler.reminder_thresholds: {threshold} must be between 0 and 1 (a share of the SLA time)"));
            }
        }
        let mut rotations = HashMap::new();
        for (name, rotation_config) in &config.rotations {
            rotations.insert(name.to_lowercase(), rotation::Rotation::compile(name, rotation_config, &calendar)?);
        }
        let mut queue_addresses = HashMap::new();
        for (name, queue) in &config.queues {
            for address in &queue.addresses {
                let address = crate::parse::bare_address(address)
                    .ok_or_else(|| format!("queues.{name}.addresses: {address:?} is not an address"))?;
                queue_addresses.insert(address, name.to_lowercase());
            }
        }
        let rules = compile_rules(config, &queues, &categories, &rotations)?;
        Ok(Rules {
            rules,
            rotations,
            queue_addresses,
            reminder_thresholds: config.scheduler.reminder_thresholds.clone(),
            denial_phrases: config.approval.denial_phrases.iter().map(|phrase| phrase.to_lowercase()).collect(),
            survey: config.approval.survey,
            canned_replies: config.replies.keys().cloned().collect(),
            vendors,
            peer_sites: config.sites.iter().map(|site| site.name.clone()).collect(),
            default_grace: Duration::days(config.approval.grace_days as i64),
            default_follow_up: Duration::days(config.approval.follow_up_days as i64),
            calendar,
            queues,
            default_queue: config.mail.default_queue.to_lowercase(),
            people,
            organisations,
            categories,
            category_paths,
            checklists,
        })
    }

    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.get(&name.to_lowercase())
    }

    /// The vendor `name` names, in any case.
    pub fn vendor(&self, name: &str) -> Option<&Vendor> {
        self.vendors.iter().find(|vendor| vendor.config.name.eq_ignore_ascii_case(name.trim()))
    }

    pub fn vendor_names(&self) -> Vec<&str> {
        self.vendors.iter().map(|vendor| vendor.config.name.as_str()).collect()
    }

    pub fn queue_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.queues.keys().map(String::as_str).collect();
        names.sort();
        names
    }

    pub fn rotation(&self, name: &str) -> Option<&rotation::Rotation> {
        self.rotations.get(&name.to_lowercase())
    }

    pub fn rotations(&self) -> Vec<&rotation::Rotation> {
        let mut all: Vec<&rotation::Rotation> = self.rotations.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The queue whose address one of `recipients` is: an extra queue address, or `help+QUEUE@`.
    pub fn queue_for_recipients(&self, recipients: &[String], help_local: &str, help_domain: &str) -> Option<String> {
        for recipient in recipients {
            if let Some(queue) = self.queue_addresses.get(recipient) {
                return Some(queue.clone());
            }
            let Some((local, domain)) = recipient.rsplit_once('@') else { continue };
            if !domain.eq_ignore_ascii_case(help_domain) {
                continue;
            }
            if let Some(detail) = local.strip_prefix(&format!("{}+", help_local.to_lowercase())) {
                if let Some(queue) = self.queue(detail) {
                    return Some(queue.name.clone());
                }
            }
        }
        None
    }

    /// How long a resolved ticket in `queue` waits for its customer.
    /// The settings the scheduler's job times follow from, as text that differs when they do.
    pub fn scheduler_fingerprint(&self) -> String {
        let mut queues: Vec<_> = self.queues.values().map(|queue| (&queue.name, queue.grace, queue.hold_timeout, queue.nag_after)).collect();
        queues.sort_by(|a, b| a.0.cmp(b.0));
        format!("{:?}", (queues, self.default_grace, &self.reminder_thresholds, self.survey))
    }

    pub fn grace(&self, queue: &str) -> Duration {
        self.queue(queue).map_or(self.default_grace, |queue| queue.grace)
    }

    /// How long after closing a reply reopens a ticket in `queue`.
    pub fn follow_up(&self, queue: &str) -> Duration {
        self.queue(queue).map_or(self.default_follow_up, |queue| queue.follow_up)
    }

    /// The queue's calendar, or the site calendar for an unknown queue.
    pub fn calendar_of(&self, queue: &str) -> &Calendar {
        self.queue(queue).map_or(&self.calendar, |queue| &queue.calendar)
    }

    pub fn configured_person(&self, address: &str) -> Option<&ConfiguredPerson> {
        self.people.get(address)
    }

    /// Every configured address with its person, in a stable order.
    pub fn configured_addresses(&self) -> Vec<ConfiguredAddress<'_>> {
        let mut all: Vec<ConfiguredAddress<'_>> = self
            .people
            .iter()
            .map(|(address, person)| ConfiguredAddress {
                address,
                primary: &person.primary,
                role: person.role,
                name: person.name.as_deref(),
            })
            .collect();
        all.sort_by(|a, b| (a.primary, a.address).cmp(&(b.primary, b.address)));
        all
    }

    /// The organisation whose domain `address` is in.
    pub fn organisation_of(&self, address: &str) -> Option<&str> {
        let domain = address.rsplit_once('@')?.1;
        self.organisations.get(domain).map(String::as_str)
    }

    /// The category path as configured, if `text` names one (or any prefix of one).
    /// The configured spelling is kept: "hardware/printer" names "Hardware / Printer".
    pub fn category(&self, text: &str) -> Option<String> {
        let wanted = normalise_category(text);
        let index = self.categories.iter().position(|path| *path == wanted || path.starts_with(&format!("{wanted} / ")))?;
        let depth = wanted.split(" / ").count();
        Some(self.category_paths[index].split(" / ").take(depth).collect::<Vec<_>>().join(" / "))
    }

    /// The category paths as configured.
    pub fn category_names(&self) -> &[String] {
        &self.category_paths
    }

    /// The checklist of a category, however its capitals are written.
    pub fn checklist(&self, category: Option<&str>) -> &[String] {
        category.and_then(|category| self.checklists.get(&normalise_category(category))).map_or(&[], Vec::as_slice)
    }

    /// SLA due dates for a ticket: (response, resolution), counting working time from
    /// `created` plus the working time spent on hold.
    pub fn sla_due(
        &self,
        queue: &str,
        priority: Level,
        created: DateTime<Utc>,
        held: Duration,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let Some(queue) = self.queue(queue) else { return (None, None) };
        let index = level_index(priority);
        let due = |target: Option<Duration>| target.map(|target| queue.calendar.add(created, target + held));
        (due(queue.response[index]), due(queue.resolution[index]))
    }
}
