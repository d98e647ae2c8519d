//! The settings of what reqmail tells other systems and hears from them: `[[webhooks]]`,
//! HTTP endpoints that receive a signed JSON event for each ticket change they asked for,
//! `[[monitors]]`, the monitoring systems that open tickets by mail and hear when they
//! end, and `[directory.ldap]`, the site's directory that people are synced from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::ticket::Role;

use super::oauth::Secret;

/// What kind of change a webhook hears of; one per applied change, the most telling
/// (a change that resolves a ticket is `resolved`, not `updated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    Created,
    Updated,
    Resolved,
    Closed,
    Escalated,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 5] =
        [WebhookEvent::Created, WebhookEvent::Updated, WebhookEvent::Resolved, WebhookEvent::Closed, WebhookEvent::Escalated];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Created => "created",
            WebhookEvent::Updated => "updated",
            WebhookEvent::Resolved => "resolved",
            WebhookEvent::Closed => "closed",
            WebhookEvent::Escalated => "escalated",
        }
    }
}

/// One `[[webhooks]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// How history lines and logs name it; the URL when not given. Queued events find
    /// their endpoint by it, so renaming a webhook gives up what is still queued.
    #[serde(default)]
    pub name: Option<String>,
    /// An `http://` or `https://` URL; each event is POSTed to it.
    pub url: String,
    /// Which changes it hears of; all when not given.
    #[serde(default = "all_events")]
    pub events: Vec<WebhookEvent>,
    /// Only tickets in these queues; every queue when empty.
    #[serde(default)]
    pub queues: Vec<String>,
    /// The key of the `X-Reqmail-Signature: sha256=HEX` header, an HMAC-SHA256 of the
    /// body, with which the receiver checks that the event is ours.
    pub secret: Secret,
    /// How long one request may take, connecting included.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn all_events() -> Vec<WebhookEvent> {
    WebhookEvent::ALL.to_vec()
}

fn default_timeout_seconds() -> u64 {
    10
}

impl WebhookConfig {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }

    /// Whether this webhook hears of `event` on a ticket in `queue`.
    pub fn wants(&self, event: WebhookEvent, queue: &str) -> bool {
        self.events.contains(&event) && (self.queues.is_empty() || self.queues.iter().any(|wanted| wanted.eq_ignore_ascii_case(queue)))
    }
}

/// What is wrong with the `[[webhooks]]` tables, each problem naming its key.
pub fn webhook_problems(webhooks: &[WebhookConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, webhook) in webhooks.iter().enumerate() {
        let key = format!("webhooks[{index}] ({:?})", webhook.name());
        let scheme = webhook.url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        let host = webhook.url.split_once("://").map_or("", |(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
        if !matches!(scheme.as_deref(), Some("http" | "https")) || host.is_empty() {
            problems.push(format!("{key}: url = {:?} is not an http:// or https:// URL", webhook.url));
        }
        if webhook.secret.expose().len() < 16 {
            problems.push(format!("{key}: secret must be at least 16 characters long (receivers check the signature with it)"));
        }
        if webhook.events.is_empty() {
            problems.push(format!("{key}: events is empty; leave it out for all of created, updated, resolved, closed, escalated"));
        }
        if webhook.timeout_seconds == 0 {
            problems.push(format!("{key}: timeout_seconds must be 1 or more"));
        }
        if webhooks[..index].iter().any(|earlier| earlier.name() == webhook.name()) {
            problems.push(format!("{key}: another webhook has the same name; give each a name of its own"));
        }
    }
    problems
}

/// One `[[monitors]]` table: a monitoring system whose alerts open tickets. A repeated
/// alert with the same key threads onto the ticket it opened while that is open, and
/// the monitor hears by mail when the ticket is resolved or closed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    pub name: String,
    /// The sender's address; `*` stands for any run of characters: "nagios@*.example.com".
    pub from: String,
    /// A regular expression on the subject; its first group (else the whole match) is the key.
    #[serde(default)]
    pub key: Option<String>,
    /// Field names whose `Name: value` lines in the body make the key, joined with "/".
    #[serde(default)]
    pub key_fields: Vec<String>,
}

/// What is wrong with the `[[monitors]]` tables.
pub fn monitor_problems(monitors: &[MonitorConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, monitor) in monitors.iter().enumerate() {
        let key = format!("monitors[{index}] ({:?})", monitor.name);
        if !monitor.from.contains('@') {
            problems.push(format!("{key}: from = {:?} is not an address pattern like nagios@*.example.com", monitor.from));
        }
        match &monitor.key {
            Some(pattern) => {
                if let Err(error) = regex::Regex::new(pattern) {
                    problems.push(format!("{key}: key = {pattern:?} is not a regular expression: {error}"));
                }
            }
            None if monitor.key_fields.is_empty() => {
                problems.push(format!("{key}: give key (a regular expression on the subject) or key_fields (e.g. [\"Host\", \"Service\"])"))
            }
            None => {}
        }
    }
    problems
}

/// `[directory]`: where people come from besides the configuration and `person import`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    pub ldap: Option<LdapConfig>,
}

/// `[directory.ldap]`: people synced from an LDAP directory every `interval_minutes` by
/// `tick` and `serve`, and by `reqmail person sync`. People the directory lists are
/// added and updated; those who left it are retired.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// PEM file with the CA certificates for TLS; the system's when not given.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The DN to bind as, with `password`; an anonymous bind when not given.
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Where the people are: "ou=people,dc=example,dc=com"; the whole subtree is searched.
    pub base: String,
    #[serde(default = "default_ldap_filter")]
    pub filter: String,
    #[serde(default = "default_ldap_interval_minutes")]
    pub interval_minutes: u64,
    /// For connecting and for each request.
    #[serde(default = "default_ldap_timeout_seconds")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub attributes: LdapAttributes,
    /// Values of the `role` attribute and the role each gives ("cn=helpdesk,ou=groups,…"
    /// = "agent"); a value that is itself a role name gives that role. With several
    /// values, the strongest role wins (admin, agent, vendor, customer).
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    /// The role of a person none of whose values gives one.
    #[serde(default = "default_ldap_role")]
    pub default_role: Role,
}

/// Which attribute holds what.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapAttributes {
    /// The entry's stable identity, kept across renames ("entryUUID"; "objectGUID" in
    /// Active Directory).
    pub id: String,
    /// The person's address; further values are other addresses.
    pub address: String,
    pub name: String,
    /// Roles come from the directory only when this is set ("employeeType", "memberOf").
    pub role: Option<String>,
    pub organisation: Option<String>,
    /// More addresses of the same person ("mailAlternateAddress", "proxyAddresses").
    pub other_addresses: Option<String>,
}

impl Default for LdapAttributes {
    fn default() -> LdapAttributes {
        LdapAttributes {
            id: "entryUUID".to_string(),
            address: "mail".to_string(),
            name: "cn".to_string(),
            role: None,
            organisation: Some("o".to_string()),
            other_addresses: None,
        }
    }
}

fn default_ldap_filter() -> String {
    "(objectClass=person)".to_string()
}

fn default_ldap_interval_minutes() -> u64 {
    60
}

fn default_ldap_timeout_seconds() -> u64 {
    30
}

fn default_ldap_role() -> Role {
    Role::Customer
}

/// What is wrong with `[directory.ldap]`.
pub fn directory_problems(directory: &DirectoryConfig) -> Vec<String> {
    let Some(ldap) = &directory.ldap else { return Vec::new() };
    let mut problems = Vec::new();
    let key = "directory.ldap";
    let scheme = ldap.url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    let host = ldap.url.split_once("://").map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
    match scheme.as_deref() {
        Some("ldap" | "ldaps") if !host.is_empty() => {}
        _ => problems.push(format!("{key}: url = {:?} is not an ldap:// or ldaps:// URL with a host", ldap.url)),
    }
    if ldap.starttls && scheme.as_deref() == Some("ldaps") {
        problems.push(format!("{key}: starttls is for ldap:// URLs; ldaps:// is TLS from the start"));
    }
    if ldap.bind_dn.is_some() != ldap.password.is_some() {
        problems.push(format!("{key}: bind_dn and password go together (leave both out for an anonymous bind)"));
    }
    if ldap.base.trim().is_empty() {
        problems.push(format!("{key}: base must name where the people are, e.g. \"ou=people,dc=example,dc=com\""));
    }
    if !(ldap.filter.starts_with('(') && ldap.filter.ends_with(')')) {
        problems.push(format!("{key}: filter = {:?} is not an LDAP filter like \"(objectClass=person)\"", ldap.filter));
    }
    if ldap.interval_minutes == 0 || ldap.timeout_seconds == 0 {
        problems.push(format!("{key}: interval_minutes and timeout_seconds must be 1 or more"));
    }
    let attributes = &ldap.attributes;
    for (name, value) in [("id", &attributes.id), ("address", &attributes.address), ("name", &attributes.name)] {
        if value.trim().is_empty() {
            problems.push(format!("{key}.attributes: {name} must name an attribute"));
        }
    }
    if !ldap.roles.is_empty() && attributes.role.is_none() {
        problems.push(format!("{key}: roles needs attributes.role, the attribute whose values they name"));
    }
    problems
}
