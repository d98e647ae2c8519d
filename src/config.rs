//! Configuration: one `Config` tree, read from TOML, with every default in code.
//!
//! Load order (DESIGN §5): `--config FILE`, else `$REQMAIL_CONFIG`, else `./reqmail.toml`
//! when it exists, else the built-in defaults. Unknown keys and bad values are errors
//! that name the key and the file; the binary turns them into exit status 78.
//! Relative paths in a file are taken relative to that file's folder.

pub mod desk;
pub mod integrations;
pub mod oauth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The environment variable naming the configuration file.
pub const CONFIG_VARIABLE: &str = "REQMAIL_CONFIG";
/// The file looked for in the working directory when nothing else names one.
pub const DEFAULT_CONFIG_FILE: &str = "reqmail.toml";

/// A configuration problem; always names where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not `source`: the reason is in the message already, and a source would repeat it
    // in every chained report.
    #[error("cannot read configuration file {path}: {reason}")]
    Read { path: PathBuf, reason: std::io::Error },
    #[error("configuration file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub mail: MailConfig,
    pub store: StoreConfig,
    pub inbound: InboundConfig,
    pub outbound: OutboundConfig,
    pub templates: TemplatesConfig,
    pub identify: IdentifyConfig,
    pub calendar: CalendarConfig,
    pub approval: ApprovalConfig,
    pub scheduler: SchedulerConfig,
    /// Queues by name; `mail.default_queue` exists even when not listed.
    pub queues: BTreeMap<String, QueueConfig>,
    /// People known from the configuration (they may also be added with `reqmail person add`).
    pub people: Vec<PersonConfig>,
    /// Organisations, recognised by the domains of their people's addresses.
    pub organisations: Vec<OrganisationConfig>,
    /// The root-cause category tree, as full paths: "E-Mail / MTA Problem".
    pub categories: Vec<String>,
    /// Checklists by category path; every item must be ticked before the ticket is resolved.
    pub checklists: BTreeMap<String, Vec<String>>,
    /// Routing rules, tried in order on new tickets (and on updates where a rule says so).
    pub rules: Vec<RuleConfig>,
    /// Duty rotations by name; `Owner: NAME` or a rule's `owner = NAME` assigns through them.
    pub rotations: BTreeMap<String, RotationConfig>,
    pub limits: LimitsConfig,
    pub serve: ServeConfig,
    pub retention: RetentionConfig,
    pub tutorial: TutorialConfig,
    /// OAuth2 clients by name (`[oauth.NAME]`), for servers with `auth = "xoauth2"` or
    /// `"oauthbearer"`; `reqmail oauth login NAME` approves one.
    pub oauth: BTreeMap<String, OAuthConfig>,
    pub reports: ReportsConfig,
    pub knowledge: KnowledgeConfig,
    /// HTTP endpoints told of ticket changes (`[[webhooks]]`).
    pub webhooks: Vec<integrations::WebhookConfig>,
    /// Monitoring systems whose alerts open tickets and hear when they end (`[[monitors]]`).
    pub monitors: Vec<integrations::MonitorConfig>,
    /// Where people are synced from (`[directory.ldap]`).
    pub directory: integrations::DirectoryConfig,
    /// Canned replies by name (`[replies.NAME]`), each a handlebars text per language
    /// (`en` required); an agent's `Reply: NAME` answers with it.
    pub replies: BTreeMap<String, BTreeMap<String, String>>,
    /// Vendors with ticket numbers of their own (`[[vendors]]`); `Vendor: NAME` assigns one.
    pub vendors: Vec<desk::VendorConfig>,
    /// Peer reqmail installations tickets are transferred to (`[[sites]]`); `Transfer: NAME`.
    pub sites: Vec<desk::SiteConfig>,
    /// Where the configuration came from, for messages; not a key.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The help alias; plus-addresses (`help+123@…`) derive from it.
    pub address: String,
    /// Display name on outgoing mail.
    pub name: String,
    /// The word in the subject tag, `[REQ #123]`.
    pub subject_tag: String,
    /// The queue new tickets land in.
    pub default_queue: String,
    /// A second address for internal notes (RT's comment address); mail to it is never shown to customers.
    pub comment_address: Option<String>,
    /// Secret key of the reply tokens (DESIGN §4); when unset, one is generated once
    /// and kept in the database's `settings` table.
    pub secret: Option<String>,
    /// The authserv-id (RFC 8601) of our own receiving MTA: only its
    /// Authentication-Results header is believed. Unset: none is believed.
    pub trusted_authserv_id: Option<String>,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            address: "help@example.com".into(),
            name: "Help Desk".into(),
            subject_tag: "REQ".into(),
            default_queue: "general".into(),
            comment_address: None,
            secret: None,
            trusted_authserv_id: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// `postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=…&sslrootcert=FILE]`: the
    /// store on a PostgreSQL server instead of the SQLite file at `path`.
    pub url: Option<String>,
    /// The number the first ticket gets; numbers are sequential and never reused.
    pub first_ticket_number: i64,
    /// How long a writer waits for a lock before `ingest` answers "try again" (75).
    pub busy_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { path: "reqmail.db".into(), url: None, first_ticket_number: 1, busy_timeout_ms: 10_000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Maildir drained by `fetch` and watched by `serve`.
    pub maildir: PathBuf,
    /// Messages larger than this are quarantined unread.
    pub max_message_bytes: usize,
    /// How many Maildir files one transaction takes in a batch pass, at most: the first
    /// ones take fewer, so that processing starts before a whole batch is read.
    pub batch_size: usize,
    /// IMAP accounts read by `fetch` and `serve` (`[[inbound.imap]]`); none by default.
    pub imap: Vec<ImapConfig>,
    /// A mailbox that cannot be fetched for this long mails the admins (once, and once
    /// more when it recovers).
    pub alert_after_failing_seconds: u64,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            maildir: "mail/inbox".into(),
            max_message_bytes: 64 << 20,
            batch_size: 500,
            imap: Vec::new(),
            alert_after_failing_seconds: 1800,
        }
    }
}

/// How the connection to a mail server is protected; shared by IMAP and SMTP.
pub type Security = SmtpSecurity;

/// How reqmail proves who it is to an IMAP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapAuth {
    /// The LOGIN command (RFC 3501 §6.2.3); every server has it.
    #[serde(alias = "password")]
    Login,
    /// AUTHENTICATE PLAIN (RFC 4616).
    Plain,
    /// AUTHENTICATE XOAUTH2 (Google's and Microsoft's SASL for OAuth2 bearer tokens).
    Xoauth2,
    /// AUTHENTICATE OAUTHBEARER (RFC 7628).
    Oauthbearer,
}

impl ImapAuth {
    /// The SASL mechanism that carries an OAuth2 token, if this is one.
    pub fn oauth_mechanism(self) -> Option<oauth::Mechanism> {
        match self {
            ImapAuth::Login | ImapAuth::Plain => None,
            ImapAuth::Xoauth2 => Some(oauth::Mechanism::Xoauth2),
            ImapAuth::Oauthbearer => Some(oauth::Mechanism::Oauthbearer),
        }
    }
}

/// One IMAP account (`[[inbound.imap]]`) and the mailboxes reqmail reads there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    /// Default: 993 for `tls`, else 143.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_imap_security")]
    pub security: Security,
    /// Who logs in: the account whose password, or whose OAuth2 consent, is used.
    pub username: String,
    /// For `auth = "login"` or `"plain"`.
    #[serde(default)]
    pub password: String,
    #[serde(default = "default_imap_auth")]
    pub auth: ImapAuth,
    /// The `[oauth.NAME]` client whose tokens `xoauth2`/`oauthbearer` use.
    #[serde(default)]
    pub oauth: Option<String>,
    /// Whose mailbox is read, when not the login's own: a shared mailbox opened through a
    /// delegated login (Microsoft 365: the shared mailbox's address as the SASL user).
    #[serde(default)]
    pub mailbox_owner: Option<String>,
    /// The `[oauth.NAME]` settings, linked when the configuration is loaded.
    #[serde(skip)]
    pub oauth_client: Option<OAuthConfig>,
    /// PEM file with CA certificates to trust instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The mailboxes to read, each optionally tied to the queue its new tickets land in.
    #[serde(default = "default_imap_mailboxes")]
    pub mailboxes: Vec<ImapMailbox>,
    /// The flag set on a message once it is stored, unless `move_to` is given.
    #[serde(default = "default_imap_flag")]
    pub flag: String,
    /// Move stored messages to this mailbox instead of flagging them.
    #[serde(default)]
    pub move_to: Option<String>,
    /// Messages downloaded and stored per round trip and transaction.
    #[serde(default = "default_imap_batch_size")]
    pub batch_size: usize,
    /// How often `serve` looks for new mail when the server has no IDLE (seconds).
    #[serde(default = "default_imap_poll_seconds")]
    pub poll_seconds: u64,
    /// Use IDLE (RFC 2177) in `serve` when the server offers it.
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Seconds an IMAP command (a whole batch download included) may take before the
    /// connection counts as dropped.
    #[serde(default = "default_imap_timeout_seconds")]
    pub timeout_seconds: u64,
}

/// One mailbox of an IMAP account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapMailbox {
    pub name: String,
    /// The queue new tickets from this mailbox land in; else `mail.default_queue`.
    #[serde(default)]
    pub queue: Option<String>,
}

fn default_imap_security() -> Security {
    SmtpSecurity::Tls
}
fn default_imap_auth() -> ImapAuth {
    ImapAuth::Login
}
fn default_imap_mailboxes() -> Vec<ImapMailbox> {
    vec![ImapMailbox { name: "INBOX".into(), queue: None }]
}
fn default_imap_flag() -> String {
    "\\Seen".into()
}
fn default_imap_batch_size() -> usize {
    200
}
fn default_imap_poll_seconds() -> u64 {
    60
}
fn default_true() -> bool {
    true
}
fn default_imap_timeout_seconds() -> u64 {
    60
}

impl ImapConfig {
    /// The port to connect to: the configured one, else the standard port for `security`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.security == SmtpSecurity::Tls { 993 } else { 143 })
    }

    /// The name this account goes by in logs and in the stored fetch state: the
    /// mailbox read, which is the owner's when a delegate logs in.
    pub fn account(&self) -> String {
        format!("{}@{}:{}", self.mailbox_owner.as_deref().unwrap_or(&self.username), self.host, self.port())
    }
}

/// The daemon (`reqmail serve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// How often the inbound Maildir's `new/` is looked at where inotify cannot watch it (seconds).
    pub maildir_poll_seconds: u64,
    /// How often the scheduler runs when nothing wakes it (seconds).
    pub tick_seconds: u64,
    /// First wait before reconnecting to a server that dropped (seconds); doubles each try.
    pub reconnect_initial_seconds: u64,
    /// Longest wait between two reconnection attempts (seconds).
    pub reconnect_max_seconds: u64,
    /// On SIGTERM, how long running work may take to finish before the process exits (seconds).
    pub shutdown_grace_seconds: u64,
    /// The Unix socket `serve` listens on for `ingest` (see [`Config::ingest_socket`]).
    pub socket: Option<PathBuf>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            maildir_poll_seconds: 5,
            tick_seconds: 60,
            reconnect_initial_seconds: 1,
            reconnect_max_seconds: 300,
            shutdown_grace_seconds: 30,
            socket: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    Maildir,
    Smtp,
    Sendmail,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    pub transport: TransportKind,
    /// Outgoing mail, one file per message, when `transport = "maildir"`.
    pub maildir: PathBuf,
    /// Deliver the mail a command produced before it exits (else `tick`/`serve` do).
    pub deliver_immediately: bool,
    /// First retry delay after a transient failure; doubles each attempt.
    pub retry_initial_seconds: u64,
    /// Longest delay between two attempts.
    pub retry_max_seconds: u64,
    /// After this many failed attempts the message is given up and the ticket says so.
    pub max_attempts: u32,
    pub smtp: SmtpConfig,
    pub sendmail: SendmailConfig,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            transport: TransportKind::Maildir,
            maildir: "mail/outbox".into(),
            deliver_immediately: true,
            retry_initial_seconds: 60,
            retry_max_seconds: 3600,
            max_attempts: 30,
            smtp: SmtpConfig::default(),
            sendmail: SendmailConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    Starttls,
    /// No encryption: only for a relay on the same machine.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Who logs in (with `password`, or with the OAuth2 consent of `oauth`).
    pub username: Option<String>,
    pub password: Option<String>,
    /// `password` (AUTH PLAIN or LOGIN), `xoauth2` or `oauthbearer` (RFC 7628).
    pub auth: SmtpAuth,
    /// The `[oauth.NAME]` client whose tokens `xoauth2`/`oauthbearer` use.
    pub oauth: Option<String>,
    /// The `[oauth.NAME]` settings, linked when the configuration is loaded.
    #[serde(skip)]
    pub oauth_client: Option<OAuthConfig>,
    /// PEM file with extra CA certificates to trust (for a private relay).
    pub ca_file: Option<PathBuf>,
    pub timeout_seconds: u64,
}

/// How reqmail proves who it is to the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpAuth {
    Password,
    Xoauth2,
    Oauthbearer,
}

impl SmtpAuth {
    /// The SASL mechanism that carries an OAuth2 token, if this is one.
    pub fn oauth_mechanism(self) -> Option<oauth::Mechanism> {
        match self {
            SmtpAuth::Password => None,
            SmtpAuth::Xoauth2 => Some(oauth::Mechanism::Xoauth2),
            SmtpAuth::Oauthbearer => Some(oauth::Mechanism::Oauthbearer),
        }
    }
}

/// Whose endpoints an OAuth2 client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthProvider {
    /// Microsoft 365 (Entra ID): device grant, IMAP and SMTP scopes, `offline_access`.
    Microsoft,
    /// Google Workspace and Gmail.
    Google,
    /// Any other provider: `device_authorization_url`, `token_url` and `scopes` given.
    Generic,
}

/// One OAuth2 client (`[oauth.NAME]`): the application registered with the provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub provider: OAuthProvider,
    /// The application (client) id from the provider's app registration.
    pub client_id: String,
    /// Only for providers that want one for installed apps (Google does).
    #[serde(default)]
    pub client_secret: Option<oauth::Secret>,
    /// Microsoft: the directory (tenant id or domain); default "organizations".
    #[serde(default)]
    pub tenant: Option<String>,
    /// Overrides the preset's device authorization endpoint (RFC 8628 §3.1).
    #[serde(default)]
    pub device_authorization_url: Option<String>,
    /// A browser approval's authorization endpoint, for a provider without a device
    /// grant for mail (instead of `device_authorization_url`).
    #[serde(default)]
    pub authorization_url: Option<String>,
    /// Overrides the preset's token endpoint.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Overrides the preset's scopes.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Where the refresh token is kept (mode 0600); default `oauth/NAME.json` beside
    /// the database.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// An access token this close to its expiry is refreshed before use (seconds).
    #[serde(default = "default_oauth_refresh_before_seconds")]
    pub refresh_before_seconds: u64,
    /// Seconds a request to the provider may take.
    #[serde(default = "default_oauth_timeout_seconds")]
    pub timeout_seconds: u64,
    /// The key's NAME, filled in when loaded.
    #[serde(skip)]
    pub name: String,
    /// The configuration file it came from, for the `reqmail oauth login` advice.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

fn default_oauth_refresh_before_seconds() -> u64 {
    300
}
fn default_oauth_timeout_seconds() -> u64 {
    30
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "localhost".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            auth: SmtpAuth::Password,
            oauth: None,
            oauth_client: None,
            ca_file: None,
            timeout_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendmailConfig {
    pub command: PathBuf,
}

impl Default for SendmailConfig {
    fn default() -> Self {
        SendmailConfig { command: "/usr/sbin/sendmail".into() }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// A folder whose `*.hbs` files replace the built-in templates of the same name.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSenders {
    /// Unknown senders become customers.
    Customer,
    /// Unknown senders get one polite reply and no ticket.
    Reject,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentifyConfig {
    pub unknown_senders: UnknownSenders,
    /// Believe the From header without a reply token or authentication results. Only for
    /// a gateway whose receiving MTA already rejects forged senders (an internal relay).
    pub trust_from_header: bool,
    /// Web-form mailers (lower case) that send in the customer's name: their mail is the
    /// customer's named in Reply-To, unverified.
    pub form_relays: Vec<String>,
}

impl Default for IdentifyConfig {
    fn default() -> Self {
        IdentifyConfig { unknown_senders: UnknownSenders::Customer, trust_from_header: false, form_relays: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// Days a resolved ticket waits for the customer's answer before it closes by itself.
    pub grace_days: u32,
    /// Days after closing in which a reply reopens the ticket; later replies open a new one.
    pub follow_up_days: u32,
    /// Phrases (any language, lower case) that, without a marked box, mean "not solved".
    pub denial_phrases: Vec<String>,
    /// Send a one-question satisfaction survey (1–5) after closing.
    pub survey: bool,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            grace_days: 5,
            follow_up_days: 14,
            denial_phrases: [
                "not solved",
                "not fixed",
                "still broken",
                "still not working",
                "doesn't work",
                "does not work",
                "nicht gelöst",
                "funktioniert nicht",
                "geht immer noch nicht",
                "pas résolu",
                "no está resuelto",
            ]
            .iter()
            .map(|phrase| phrase.to_string())
            .collect(),
            survey: false,
        }
    }
}

/// Bounds on hostile or runaway mail (issue 7): sizes checked before expensive
/// The tutorial queue (`[tutorial]`): a robot agent works its tickets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TutorialConfig {
    /// The queue whose tickets the robot works (it must be one of `[queues]`); none by default.
    pub queue: Option<String>,
    /// Minutes a tutorial ticket stays quiet before the robot's next step.
    pub step_minutes: u32,
    /// The robot's address; default `tutorial-robot@` the help domain.
    pub robot: Option<String>,
}

impl Default for TutorialConfig {
    fn default() -> Self {
        TutorialConfig { queue: None, step_minutes: 5, robot: None }
    }
}

/// How long closed tickets are kept (`[retention]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Closed and rejected tickets whose last change is older than this many days are
    /// purged with their mail and attachments by `tick`, `serve` and `reqmail purge`;
    /// 0 keeps everything.
    pub closed_days: u32,
}

/// work, and the rate of automatic mail to any one address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Most MIME parts in one message.
    pub max_parts: usize,
    /// Deepest nesting of multiparts and attached messages.
    pub max_depth: usize,
    /// Largest header block, in bytes.
    pub max_header_bytes: usize,
    /// Longest line, in bytes (RFC 5322 allows 998; real mail is sloppier).
    pub max_line_bytes: usize,
    /// Most `Received` headers before a message counts as looping (RFC 5321 §6.3).
    pub max_received_hops: usize,
    /// How often our help address may appear in `Delivered-To` before it counts as a loop.
    pub max_delivered_to_ours: usize,
    /// Length of the sliding window for automatic mail, in seconds.
    pub auto_mail_window_seconds: u64,
    /// Automatic letters to one address about one ticket per window.
    pub auto_mail_per_ticket: u32,
    /// Automatic letters to one address about all tickets per window.
    pub auto_mail_per_address: u32,
    /// Automatic letters to all addresses together per window.
    pub auto_mail_global: u32,
    /// How long an address that bounced permanently gets no mail, in days.
    pub undeliverable_days: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_parts: 1000,
            max_depth: 30,
            max_header_bytes: 1 << 20,
            max_line_bytes: 4 << 20,
            max_received_hops: 50,
            max_delivered_to_ours: 2,
            auto_mail_window_seconds: 3600,
            auto_mail_per_ticket: 5,
            auto_mail_per_address: 20,
            auto_mail_global: 2000,
            undeliverable_days: 7,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Remind the owner when this share of the SLA time is used (each once).
    pub reminder_thresholds: Vec<f64>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { reminder_thresholds: vec![0.75] }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarConfig {
    /// IANA time zone for dates written in mail, business hours and holidays.
    pub timezone: String,
    /// Working time for SLA clocks, e.g. "Mon-Fri 08:00-18:00"; "always" counts every hour.
    pub business_hours: String,
    /// Days without working time (YYYY-MM-DD).
    pub holidays: Vec<String>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        CalendarConfig { timezone: "UTC".into(), business_hours: "always".into(), holidays: Vec::new() }
    }
}

/// Targets per level, as durations like "4h", "2d", "1h30m" (working time).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LevelTargets {
    pub urgent: Option<String>,
    pub high: Option<String>,
    pub medium: Option<String>,
    pub low: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Time to first answer, by priority.
    pub response: LevelTargets,
    /// Time to resolution, by priority: the ticket's `due`.
    pub resolution: LevelTargets,
    /// Replaces `calendar.business_hours` for this queue.
    pub business_hours: Option<String>,
    /// Replaces `calendar.holidays` for this queue.
    pub holidays: Option<Vec<String>>,
    /// Addresses told about every change in this queue.
    pub watchers: Vec<String>,
    /// Who hears of escalations, and approves resolutions first when `supervisor_approval` is on.
    pub supervisor: Option<String>,
    pub supervisor_approval: bool,
    /// Replaces `approval.grace_days` for this queue.
    pub grace_days: Option<u32>,
    /// Replaces `approval.follow_up_days` for this queue.
    pub follow_up_days: Option<u32>,
    /// A ticket on hold longer than this goes back to open and its owner is told.
    pub hold_timeout_days: Option<u32>,
    /// Owners get a reminder when a ticket was not touched for this many days.
    pub nag_after_days: Option<u32>,
    /// More addresses of this queue: mail to them (or to help+QUEUE@…) opens tickets here.
    pub addresses: Vec<String>,
    /// Priority of new tickets here when neither a rule nor the sender sets one.
    pub default_priority: Option<crate::ticket::Level>,
    /// Who gets a ticket assigned to a rotation when nobody is on duty.
    pub fallback_owner: Option<String>,
    /// A folder of LANG/NAME.hbs templates that replace the global ones for this queue.
    pub templates_dir: Option<PathBuf>,
}

/// One routing rule: conditions and actions.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// When the rule runs: "create" (new tickets, default), "update" or "always".
    #[serde(default = "default_rule_on")]
    pub on: String,
    /// The condition; a rule without one always matches.
    #[serde(default)]
    pub when: Option<toml::Value>,
    pub then: RuleActions,
}

fn default_rule_on() -> String {
    "create".into()
}

/// What a matching rule does.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleActions {
    pub queue: Option<String>,
    pub importance: Option<crate::ticket::Level>,
    pub priority: Option<crate::ticket::Level>,
    pub category: Option<String>,
    /// An agent's address, or the name of a rotation.
    pub owner: Option<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    /// An internal note added to the ticket.
    pub note: Option<String>,
    /// A template (templates.dir/LANG/NAME.hbs) sent to the requester.
    pub template: Option<String>,
    /// Not a request: no ticket, logged with the rule's name.
    #[serde(default)]
    pub junk: bool,
    /// No later rule runs.
    #[serde(default)]
    pub stop: bool,
}

/// A duty rotation: who is on duty when.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    /// Members in rotation order (weekly rotation) or the pool the slots draw from.
    pub members: Vec<String>,
    /// How many members are on duty each week, taking turns down the list.
    pub per_week: usize,
    /// The Monday the weekly rotation starts from (YYYY-MM-DD), in calendar.timezone.
    pub start: Option<String>,
    /// Explicit duty slots; when present they replace the weekly rotation.
    pub slots: Vec<SlotConfig>,
    /// Times a member is away.
    pub absences: Vec<AbsenceConfig>,
    /// Who takes the ticket when nobody is on duty (else the queue's fallback owner).
    pub fallback: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlotConfig {
    pub members: Vec<String>,
    /// Local date-times "YYYY-MM-DD HH:MM" in calendar.timezone; `to` is exclusive.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AbsenceConfig {
    pub who: String,
    /// First and last day away (YYYY-MM-DD), inclusive.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    pub addresses: Vec<String>,
    pub role: crate::ticket::Role,
    #[serde(default)]
    pub name: Option<String>,
}

/// Reports sent by mail.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Who gets last week's report each Monday (the first `tick` or `serve` pass of the
    /// week, UTC); nobody when empty.
    pub weekly_to: Vec<String>,
    /// Where agents mail `Report:`, `List:` and `Search:` requests and get the answer
    /// back; default the help address with `+report` (`help+report@example.com`).
    pub request_address: Option<String>,
}

/// What the receipt of a new ticket suggests: resolved tickets and articles like it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// A folder of Markdown articles (`*.md`: the first `# ` heading is the title, the
    /// first paragraph the summary); none when unset.
    pub articles: Option<PathBuf>,
    /// Whether receipts name resolved tickets (subject and resolution) that match.
    pub tickets: bool,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig { articles: None, tickets: true }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrganisationConfig {
    pub name: String,
    pub domains: Vec<String>,
}

/// The configuration file [`Config::load`] reads: `explicit`, else `$REQMAIL_CONFIG`, else
/// `./reqmail.toml` when it exists; `None`: the built-in defaults.
fn config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    let from_env = std::env::var_os(CONFIG_VARIABLE).filter(|value| !value.is_empty()).map(PathBuf::from);
    match (explicit, from_env) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, Some(path)) => Some(path),
        (None, None) => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|path| path.exists()),
    }
}

/// `socket`, else `store_path` with `.sock` appended; `None` when `socket` is empty.
fn socket_beside(socket: Option<&Path>, store_path: &Path) -> Option<PathBuf> {
    match socket {
        Some(path) if path.as_os_str().is_empty() => None,
        Some(path) => Some(path.to_path_buf()),
        None => {
            let mut path = store_path.as_os_str().to_owned();
            path.push(".sock");
            Some(path.into())
        }
    }
}

/// [`Config::ingest_socket`] of the configuration [`Config::load`] would read, from its
/// two keys alone: the MTA pipe's hand-off reads nothing else, and validates nothing (a
/// running serve validated the file when it started). `None` when the file cannot be
/// read or parsed: `reqmail ingest` then says what is wrong.
pub fn ingest_socket_of(explicit: Option<&Path>) -> Option<PathBuf> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct SocketKeys {
        store: StoreKeys,
        serve: ServeKeys,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct StoreKeys {
        path: Option<PathBuf>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct ServeKeys {
        socket: Option<PathBuf>,
    }
    let default_store = StoreConfig::default().path;
    let Some(file) = config_file(explicit) else { return socket_beside(None, &default_store) };
    let keys: SocketKeys = toml::from_str(&std::fs::read_to_string(&file).ok()?).ok()?;
    let mut store_path = keys.store.path.unwrap_or(default_store);
    // As Config::from_file resolves it.
    if let Some(base) = file.parent().filter(|parent| !parent.as_os_str().is_empty() && store_path.is_relative()) {
        store_path = base.join(store_path);
    }
    socket_beside(keys.serve.socket.as_deref(), &store_path)
}

impl Config {
    /// Finds and reads the configuration as DESIGN §5 says.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match config_file(explicit) {
            Some(path) => Config::from_file(&path),
            None => Ok(Config::default()),
        }
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|reason| ConfigError::Read { path: path.to_path_buf(), reason })?;
        let mut config = Config::from_toml(&text).map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        let base = path.parent().filter(|parent| !parent.as_os_str().is_empty());
        if let Some(base) = base {
            config.resolve_paths(base);
        }
        config.origin = Some(path.to_path_buf());
        config.link_oauth();
        Ok(config)
    }

    /// Parses and validates TOML text; the error names the key.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|error| error.to_string().trim_end().to_string())?;
        config.validate()?;
        config.link_oauth();
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if split_address(&self.mail.address).is_none() {
            problems.push(format!("mail.address = {:?} is not an address like help@example.com", self.mail.address));
        }
        if self.mail.address.contains('+') {
            problems.push("mail.address must not contain '+': reqmail adds +NUMBER to it for replies".to_string());
        }
        if self.mail.subject_tag.is_empty() || !self.mail.subject_tag.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            problems.push(format!("mail.subject_tag = {:?} must be a word of letters and digits, e.g. \"REQ\"", self.mail.subject_tag));
        }
        if self.store.first_ticket_number < 1 {
            problems.push("store.first_ticket_number must be 1 or more".to_string());
        }
        // The rest of the URL is read when the store opens; the scheme is all that is
        // named here (not the URL, which may hold a password).
        if self.store.url.as_deref().is_some_and(|url| !url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
            problems.push("store.url is not a PostgreSQL URL: postgresql://USER:PASSWORD@HOST:PORT/DATABASE".to_string());
        }
        if self.inbound.batch_size == 0 {
            problems.push("inbound.batch_size must be 1 or more".to_string());
        }
        if let Some(address) = self.reports.request_address.as_deref().filter(|address| split_address(address).is_none()) {
            problems.push(format!("reports.request_address = {address:?} is not an address like help+report@example.com"));
        }
        for (index, address) in self.reports.weekly_to.iter().enumerate() {
            if split_address(address).is_none() {
                problems.push(format!("reports.weekly_to[{index}] = {address:?} is not an address like lead@example.com"));
            }
        }
        for (index, imap) in self.inbound.imap.iter().enumerate() {
            let key = format!("inbound.imap[{index}] ({})", imap.host);
            if imap.batch_size == 0 {
                problems.push(format!("{key}: batch_size must be 1 or more"));
            }
            if imap.mailboxes.is_empty() {
                problems.push(format!("{key}: mailboxes must name at least one mailbox, e.g. [{{ name = \"INBOX\" }}]"));
            }
            if imap.poll_seconds == 0 || imap.timeout_seconds == 0 {
                problems.push(format!("{key}: poll_seconds and timeout_seconds must be 1 or more"));
            }
            if imap.move_to.as_deref().is_some_and(|target| imap.mailboxes.iter().any(|mailbox| mailbox.name == target)) {
                problems.push(format!("{key}: move_to must not be one of the mailboxes read"));
            }
            if imap.move_to.is_none() && imap.flag.trim().is_empty() {
                problems.push(format!("{key}: flag must not be empty (or give move_to)"));
            }
            problems.extend(self.oauth_problems(&key, imap.auth.oauth_mechanism().is_some(), imap.oauth.as_deref()));
            if imap.auth.oauth_mechanism().is_none() && imap.password.is_empty() {
                problems.push(format!("{key}: password is missing (or set auth = \"xoauth2\" or \"oauthbearer\" with oauth = NAME)"));
            }
            if imap.auth.oauth_mechanism().is_none() && imap.mailbox_owner.is_some() {
                problems.push(format!("{key}: mailbox_owner needs auth = \"xoauth2\" or \"oauthbearer\" (a delegated login)"));
            }
        }
        let smtp = &self.outbound.smtp;
        problems.extend(self.oauth_problems("outbound.smtp", smtp.auth.oauth_mechanism().is_some(), smtp.oauth.as_deref()));
        if smtp.auth.oauth_mechanism().is_some() && smtp.username.is_none() {
            problems.push("outbound.smtp: username (the login identity) is needed with an OAuth2 auth".to_string());
        }
        for (name, oauth) in &self.oauth {
            if let Err(problem) = oauth::endpoints(oauth) {
                problems.push(format!("oauth.{name}: {problem}"));
            }
        }
        if self.serve.maildir_poll_seconds == 0 || self.serve.tick_seconds == 0 || self.serve.reconnect_initial_seconds == 0 {
            problems.push("serve: maildir_poll_seconds, tick_seconds and reconnect_initial_seconds must be 1 or more".to_string());
        }
        if self.outbound.retry_initial_seconds == 0 {
            problems.push("outbound.retry_initial_seconds must be 1 or more".to_string());
        }
        if self.outbound.max_attempts == 0 {
            problems.push("outbound.max_attempts must be 1 or more".to_string());
        }
        if self.mail.secret.as_deref().is_some_and(|secret| secret.len() < 16) {
            problems.push("mail.secret must be at least 16 characters long".to_string());
        }
        problems.extend(integrations::webhook_problems(&self.webhooks));
        problems.extend(integrations::monitor_problems(&self.monitors));
        problems.extend(integrations::directory_problems(&self.directory));
        problems.extend(desk::vendor_problems(&self.vendors));
        problems.extend(desk::site_problems(&self.sites, &self.mail.address));
        for (name, texts) in &self.replies {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                problems.push(format!("replies.{name}: a reply's name is lower-case letters, digits and '-', e.g. password-reset"));
            }
            if !texts.contains_key("en") {
                problems.push(format!("replies.{name}: the English text (en = \"…\") is missing; other languages fall back to it"));
            }
        }
        if self.limits.auto_mail_window_seconds == 0 {
            problems.push("limits.auto_mail_window_seconds must be 1 or more".to_string());
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }

    /// Problems of a server's OAuth2 settings: `uses_oauth` says its `auth` wants a token.
    fn oauth_problems(&self, key: &str, uses_oauth: bool, oauth: Option<&str>) -> Option<String> {
        match (uses_oauth, oauth) {
            (true, None) => Some(format!("{key}: this auth needs oauth = NAME, naming an [oauth.NAME] table")),
            (true, Some(name)) if !self.oauth.contains_key(name) => {
                let known: Vec<&str> = self.oauth.keys().map(String::as_str).collect();
                Some(format!("{key}: oauth = {name:?} names no [oauth.{name}] table (known: {known:?})"))
            }
            (false, Some(_)) => Some(format!("{key}: oauth is only used with auth = \"xoauth2\" or \"oauthbearer\"")),
            _ => None,
        }
    }

    /// Gives each server the settings of the OAuth2 client it names, with the token
    /// file resolved (default: `oauth/NAME.json` beside the database).
    fn link_oauth(&mut self) {
        let database_folder = self.store.path.parent().map(Path::to_path_buf).unwrap_or_default();
        for (name, oauth) in &mut self.oauth {
            oauth.name = name.clone();
            oauth.config_file = self.origin.clone();
            if oauth.token_file.is_none() {
                oauth.token_file = Some(database_folder.join("oauth").join(format!("{name}.json")));
            }
        }
        for imap in &mut self.inbound.imap {
            imap.oauth_client = imap.oauth.as_ref().and_then(|name| self.oauth.get(name)).cloned();
        }
        let smtp = &mut self.outbound.smtp;
        smtp.oauth_client = smtp.oauth.as_ref().and_then(|name| self.oauth.get(name)).cloned();
    }

    fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.store.path, &mut self.inbound.maildir, &mut self.outbound.maildir] {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        if let Some(dir) = self.templates.dir.as_mut().filter(|dir| dir.is_relative()) {
            *dir = base.join(&*dir);
        }
        if let Some(dir) = self.knowledge.articles.as_mut().filter(|dir| dir.is_relative()) {
            *dir = base.join(&*dir);
        }
        for queue in self.queues.values_mut() {
            if let Some(dir) = queue.templates_dir.as_mut().filter(|dir| dir.is_relative()) {
                *dir = base.join(&*dir);
            }
        }
        if let Some(file) = self.outbound.smtp.ca_file.as_mut().filter(|file| file.is_relative()) {
            *file = base.join(&*file);
        }
        for imap in &mut self.inbound.imap {
            if let Some(file) = imap.ca_file.as_mut().filter(|file| file.is_relative()) {
                *file = base.join(&*file);
            }
        }
        if let Some(file) = self.directory.ldap.as_mut().and_then(|ldap| ldap.ca_file.as_mut()).filter(|file| file.is_relative()) {
            *file = base.join(&*file);
        }
        for oauth in self.oauth.values_mut() {
            if let Some(file) = oauth.token_file.as_mut().filter(|file| file.is_relative()) {
                *file = base.join(&*file);
            }
        }
    }

    /// `help` and `example.com` of `help@example.com`.
    pub fn help_address_parts(&self) -> (&str, &str) {
        split_address(&self.mail.address).expect("validated when loaded")
    }

    /// Where agents ask for reports, lists and searches by mail, lower case.
    pub fn request_address(&self) -> String {
        match &self.reports.request_address {
            Some(address) => address.to_lowercase(),
            None => {
                let (local, domain) = self.help_address_parts();
                format!("{local}+report@{domain}").to_lowercase()
            }
        }
    }

    /// Where `serve` takes messages from `ingest`: `serve.socket`, else the database path
    /// with `.sock` appended; `None` when `serve.socket = ""` turns the hand-over off.
    pub fn ingest_socket(&self) -> Option<PathBuf> {
        socket_beside(self.serve.socket.as_deref(), &self.store.path)
    }

    /// Where this configuration came from, for messages.
    pub fn origin_text(&self) -> String {
        match &self.origin {
            Some(path) => path.display().to_string(),
            None => "built-in defaults".to_string(),
        }
    }
}

/// Splits `local@domain`; `None` unless both parts are present and plausible.
pub fn split_address(address: &str) -> Option<(&str, &str)> {
    let (local, domain) = address.rsplit_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && !address.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    plausible.then_some((local, domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_off_finds_the_socket_serve_listens_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("reqmail.toml");
        for text in ["", "[store]\npath = \"data/help.db\"\n", "[store]\npath = \"/var/lib/x.db\"\n[serve]\nsocket = \"/run/reqmail.sock\"\n", "[serve]\nsocket = \"\"\n"] {
            std::fs::write(&file, format!("[mail]\naddress = \"help@example.com\"\n{text}")).unwrap();
            assert_eq!(ingest_socket_of(Some(&file)), Config::from_file(&file).unwrap().ingest_socket(), "{text}");
        }
        std::fs::write(&file, "[store\n").unwrap();
        assert_eq!(ingest_socket_of(Some(&file)), None, "unreadable: the full ingest reports it");
        assert_eq!(ingest_socket_of(Some(&dir.path().join("missing.toml"))), None);
    }

    #[test]
    fn the_ingest_socket_sits_next_to_the_database_unless_configured() {
        let socket = |text: &str| Config::from_toml(text).unwrap().ingest_socket();
        assert_eq!(socket(""), Some(PathBuf::from("reqmail.db.sock")));
        assert_eq!(socket("[store]\npath = \"/var/lib/reqmail/tickets.db\"\n"), Some(PathBuf::from("/var/lib/reqmail/tickets.db.sock")));
        assert_eq!(socket("[serve]\nsocket = \"/run/reqmail.sock\"\n"), Some(PathBuf::from("/run/reqmail.sock")));
        assert_eq!(socket("[serve]\nsocket = \"\"\n"), None);
    }

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let example = include_str!("../deploy/reqmail.example.toml");
        let parsed = Config::from_toml(example).unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn imap_accounts_take_defaults_and_refuse_unknown_keys() {
        let config = Config::from_toml(
            "[[inbound.imap]]\nhost = \"imap.example.com\"\nusername = \"help\"\npassword = \"pw\"\nmailboxes = [{ name = \"INBOX\" }, { name = \"Billing\", queue = \"billing\" }]\n",
        )
        .unwrap();
        let imap = &config.inbound.imap[0];
        assert_eq!((imap.port(), imap.security, imap.flag.as_str(), imap.batch_size), (993, SmtpSecurity::Tls, "\\Seen", 200));
        assert_eq!(imap.mailboxes[1].queue.as_deref(), Some("billing"));
        let error = Config::from_toml("[[inbound.imap]]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\nmove = \"x\"\n").unwrap_err();
        assert!(error.contains("move"), "{error}");
    }

    #[test]
    fn unknown_key_is_named() {
        let error = Config::from_toml("[store]\npaht = \"x.db\"\n").unwrap_err();
        assert!(error.contains("paht"), "{error}");
    }

    #[test]
    fn bad_value_is_named() {
        let error = Config::from_toml("[outbound]\ntransport = \"pigeon\"\n").unwrap_err();
        assert!(error.contains("pigeon") && error.contains("transport"), "{error}");
        let error = Config::from_toml("[mail]\naddress = \"nobody\"\n").unwrap_err();
        assert!(error.contains("mail.address"), "{error}");
    }
}
