//! Configuration: one `Config` tree, read from TOML, with every default in code.
//!
//! Load order (DESIGN §5): `--config FILE`, else `$REQMAIL_CONFIG`, else `./reqmail.toml`
//! when it exists, else the built-in defaults. Unknown keys and bad values are errors
//! that name the key and the file; the binary turns them into exit status 78.
//! Relative paths in a file are taken relative to that file's folder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The environment variable naming the configuration file.
pub const CONFIG_VARIABLE: &str = "REQMAIL_CONFIG";
/// The file looked for in the working directory when nothing else names one.
pub const DEFAULT_CONFIG_FILE: &str = "reqmail.toml";

/// A configuration problem; always names where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
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
    pub serve: ServeConfig,
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
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            address: "help@example.com".into(),
            name: "Help Desk".into(),
            subject_tag: "REQ".into(),
            default_queue: "general".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// The number the first ticket gets; numbers are sequential and never reused.
    pub first_ticket_number: i64,
    /// How long a writer waits for a lock before `ingest` answers "try again" (75).
    pub busy_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { path: "reqmail.db".into(), first_ticket_number: 1, busy_timeout_ms: 10_000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Maildir drained by `fetch` and watched by `serve`.
    pub maildir: PathBuf,
    /// Messages larger than this are quarantined unread.
    pub max_message_bytes: usize,
    /// How many Maildir files one transaction takes in a batch pass.
    pub batch_size: usize,
    /// IMAP accounts read by `fetch` and `serve` (`[[inbound.imap]]`); none by default.
    pub imap: Vec<ImapConfig>,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig { maildir: "mail/inbox".into(), max_message_bytes: 64 << 20, batch_size: 500, imap: Vec::new() }
    }
}

/// How the connection to a mail server is protected; shared by IMAP and SMTP.
pub type Security = SmtpSecurity;

/// How reqmail proves who it is to an IMAP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapAuth {
    /// The LOGIN command (RFC 3501 §6.2.3); every server has it.
    Login,
    /// AUTHENTICATE PLAIN (RFC 4616).
    Plain,
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
    pub username: String,
    pub password: String,
    #[serde(default = "default_imap_auth")]
    pub auth: ImapAuth,
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

    /// The name this account goes by in logs and in the stored fetch state.
    pub fn account(&self) -> String {
        format!("{}@{}:{}", self.username, self.host, self.port())
    }
}

/// The daemon (`reqmail serve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// How often the inbound Maildir's `new/` is looked at (seconds).
    pub maildir_poll_seconds: u64,
    /// How often the scheduler runs when nothing wakes it (seconds).
    pub tick_seconds: u64,
    /// First wait before reconnecting to a server that dropped (seconds); doubles each try.
    pub reconnect_initial_seconds: u64,
    /// Longest wait between two reconnection attempts (seconds).
    pub reconnect_max_seconds: u64,
    /// On SIGTERM, how long running work may take to finish before the process exits (seconds).
    pub shutdown_grace_seconds: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            maildir_poll_seconds: 5,
            tick_seconds: 60,
            reconnect_initial_seconds: 1,
            reconnect_max_seconds: 300,
            shutdown_grace_seconds: 30,
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
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM file with extra CA certificates to trust (for a private relay).
    pub ca_file: Option<PathBuf>,
    pub timeout_seconds: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "localhost".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: None,
            password: None,
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

impl Config {
    /// Finds and reads the configuration as DESIGN §5 says.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let from_env = std::env::var_os(CONFIG_VARIABLE).filter(|value| !value.is_empty()).map(PathBuf::from);
        let path = match (explicit, from_env) {
            (Some(path), _) => Some(path.to_path_buf()),
            (None, Some(path)) => Some(path),
            (None, None) => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|path| path.exists()),
        };
        match path {
            Some(path) => Config::from_file(&path),
            None => Ok(Config::default()),
        }
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = Config::from_toml(&text).map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        let base = path.parent().filter(|parent| !parent.as_os_str().is_empty());
        if let Some(base) = base {
            config.resolve_paths(base);
        }
        config.origin = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates TOML text; the error names the key.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|error| error.to_string().trim_end().to_string())?;
        config.validate()?;
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
        if self.inbound.batch_size == 0 {
            problems.push("inbound.batch_size must be 1 or more".to_string());
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
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
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
        if let Some(file) = self.outbound.smtp.ca_file.as_mut().filter(|file| file.is_relative()) {
            *file = base.join(&*file);
        }
        for imap in &mut self.inbound.imap {
            if let Some(file) = imap.ca_file.as_mut().filter(|file| file.is_relative()) {
                *file = base.join(&*file);
            }
        }
    }

    /// `help` and `example.com` of `help@example.com`.
    pub fn help_address_parts(&self) -> (&str, &str) {
        split_address(&self.mail.address).expect("validated when loaded")
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
