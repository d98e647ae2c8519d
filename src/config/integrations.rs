//! The settings of what reqmail tells other systems: `[[webhooks]]`, HTTP endpoints that
//! receive a signed JSON event for each ticket change they asked for, and `[[monitors]]`,
//! the monitoring systems that open tickets by mail and hear when they end.

use serde::Deserialize;

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
