//! `reqmail doctor`: the configuration checked against the machine it runs on. Each
//! check gives one line; a problem line says what is wrong and how to fix it. Nothing is
//! changed: the database is opened without migrating it, mailboxes are only examined.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use crate::clock::format_time;
use crate::config::{Config, ImapConfig, SmtpSecurity, TransportKind};

/// How far ahead certificates must stay valid.
pub const CERTIFICATE_MARGIN_DAYS: u64 = 21;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Ok(String),
    /// Worth knowing, not wrong (the last fetch of a mailbox).
    Note(String),
    Problem { what: String, fix: String },
}

impl Finding {
    fn problem(what: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding::Problem { what: what.into(), fix: fix.into() }
    }

    pub fn is_problem(&self) -> bool {
        matches!(self, Finding::Problem { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Ok(text) => write!(formatter, "ok       {text}"),
            Finding::Note(text) => write!(formatter, "note     {text}"),
            Finding::Problem { what, fix } => write!(formatter, "PROBLEM  {what}; fix: {fix}"),
        }
    }
}

/// Where to look besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Postfix's configuration folder (`postconf -c`); `None`: Postfix's default.
    pub postfix_config: Option<PathBuf>,
}

/// Every check, in the order an admin fixes things.
pub fn examine(config_file: Option<&Path>, options: &DoctorOptions, now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let config = match Config::load(config_file) {
        Ok(config) => {
            findings.push(Finding::Ok(format!("configuration {}", config.origin_text())));
            config
        }
        Err(error) => {
            findings.push(Finding::problem(
                format!("configuration: {error}"),
                "correct the named key (every key is explained in deploy/reqmail.example.toml)",
            ));
            return findings;
        }
    };
    check_rules_and_templates(&config, &mut findings);
    check_store(&config, &mut findings);
    check_intake(&config, now, &mut findings);
    check_maildir("inbound.maildir", &config.inbound.maildir, &mut findings);
    if config.outbound.transport == TransportKind::Maildir {
        let outbox = &config.outbound.maildir;
        // The first delivery creates the outgoing Maildir.
        if outbox.exists() || !outbox.parent().is_some_and(writable) {
            check_maildir("outbound.maildir", outbox, &mut findings);
        } else {
            findings.push(Finding::Ok(format!("outbound.maildir {}: not created yet; the first delivery will create it", outbox.display())));
        }
    }
    for account in &config.inbound.imap {
        check_imap(account, &mut findings);
    }
    check_outbound(&config, &mut findings);
    check_postfix(&config, options, &mut findings);
    report_fetches(&config, now, &mut findings);
    check_directory(&config, &mut findings);
    findings
}

fn check_rules_and_templates(config: &Config, findings: &mut Vec<Finding>) {
    let site = match crate::site::Site::compile(config.clone()) {
        Ok(site) => site,
        Err(error) => {
            findings.push(Finding::problem(format!("rules and templates: {error:#}"), "correct it; `reqmail rules check` names the line"));
            return;
        }
    };
    findings.push(Finding::Ok(format!(
        "rules: {} rules, {} queues, {} rotations valid",
        site.rules.rules.len(),
        site.rules.queue_names().len(),
        site.rules.rotations().len()
    )));
    if let Some(queue) = &config.tutorial.queue {
        if !site.rules.queue_names().iter().any(|known| known.eq_ignore_ascii_case(queue)) {
            findings.push(Finding::problem(
                format!("tutorial.queue {queue:?} is not a queue, so no ticket can reach the robot"),
                format!("add [queues.{queue}] to the configuration"),
            ));
        }
    }
    let mut languages: Vec<String> = crate::notify::render::built_in_templates().map(|(language, _)| language.to_string()).collect();
    let mut names: Vec<String> = crate::notify::render::built_in_templates().map(|(_, name)| name.to_string()).collect();
    let mut folders: Vec<&Path> = config.templates.dir.iter().map(PathBuf::as_path).collect();
    folders.extend(config.queues.values().filter_map(|queue| queue.templates_dir.as_deref()));
    for folder in folders {
        for language in std::fs::read_dir(folder).into_iter().flatten().flatten().filter(|entry| entry.path().is_dir()) {
            languages.push(language.file_name().to_string_lossy().into_owned());
            for file in std::fs::read_dir(language.path()).into_iter().flatten().flatten() {
                if let Some(name) = file.file_name().to_str().and_then(|name| name.strip_suffix(".hbs")) {
                    names.push(name.to_string());
                }
            }
        }
    }
    languages.sort();
    languages.dedup();
    names.sort();
    names.dedup();
    let mut queues: Vec<String> = site.rules.queue_names().into_iter().map(|queue| queue.to_lowercase()).collect();
    queues.sort();
    queues.dedup();
    let sample = serde_json::json!({
        "number": 1, "subject": "Printer on fire", "status": "open", "queue": "general",
        "requester": "customer@example.org", "note": "It smokes.", "reasons": ["example"],
    });
    let mut rendered = 0;
    let mut broken = 0;
    for queue in &queues {
        for language in &languages {
            for name in &names {
                match site.templates.render(queue, language, name, &sample) {
                    Ok(_) => rendered += 1,
                    Err(error) => {
                        broken += 1;
                        findings.push(Finding::problem(
                            format!("template {name} ({language}, queue {queue}): {error:#}"),
                            "correct the template file named above (handlebars syntax, helpers)",
                        ));
                    }
                }
            }
        }
    }
    if broken == 0 {
        findings.push(Finding::Ok(format!("templates: {rendered} renderings ({} languages, {} queues) all succeed", languages.len(), queues.len())));
    }
}

fn check_store(config: &Config, findings: &mut Vec<Finding>) {
    if let Some(url) = &config.store.url {
        return check_postgres_store(url, config.store.busy_timeout_ms, findings);
    }
    let path = &config.store.path;
    let folder = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !path.exists() {
        if writable(folder) {
            findings.push(Finding::Ok(format!("store {}: not created yet; the first command will create it", path.display())));
        } else {
            findings.push(Finding::problem(
                format!("store {}: does not exist and its folder {} is not writable", path.display(), folder.display()),
                format!("create {} owned by the user reqmail runs as (INSTALL.md §1)", folder.display()),
            ));
        }
        return;
    }
    if !writable(folder) {
        findings.push(Finding::problem(
            format!("store {}: the folder {} is not writable (SQLite creates its -wal and -shm files there)", path.display(), folder.display()),
            format!("chown the folder to the user reqmail runs as: chown reqmail: {}", folder.display()),
        ));
    }
    let connection = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX) {
        Ok(connection) => connection,
        Err(error) => {
            findings.push(Finding::problem(
                format!("store {}: cannot open for writing: {error}", path.display()),
                "chown the file and its folder to the user reqmail runs as",
            ));
            return;
        }
    };
    let _ = connection.busy_timeout(Duration::from_millis(config.store.busy_timeout_ms));
    let version: i64 = match crate::store::version_of(&connection) {
        Ok(version) => version,
        Err(error) => {
            findings.push(Finding::problem(
                format!("store {}: not a readable SQLite database: {error}", path.display()),
                "restore the latest backup (`reqmail restore FILE`)",
            ));
            return;
        }
    };
    let latest = crate::store::schema_version();
    if version > latest {
        findings.push(Finding::problem(
            format!("store {}: schema {version} was written by a newer reqmail (this one knows {latest})", path.display()),
            "install that newer reqmail again, or restore a backup made by this one",
        ));
        return;
    }
    let write_test = crate::store::can_write(&connection);
    match write_test {
        Ok(()) if version < latest => findings.push(Finding::problem(
            format!("store {}: schema {version}, this reqmail writes {latest}", path.display()),
            "run any command that opens the store (`reqmail tick`) to apply the migrations; make a backup first",
        )),
        Ok(()) => findings.push(Finding::Ok(format!("store {}: writable, schema {version} is current", path.display()))),
        Err(error) => findings.push(Finding::problem(
            format!("store {}: cannot take the write lock: {error}", path.display()),
            "make the file writable for the user reqmail runs as, and look for a process holding a long transaction",
        )),
    }
    check_store_pages(path, &crate::store::Connection::Sqlite(connection), findings);
}

/// A store on PostgreSQL: the server takes a login, the schema is this reqmail's, and a
/// write goes through (the gateways' write lock taken, a row written and rolled back).
fn check_postgres_store(url: &str, busy_timeout_ms: u64, findings: &mut Vec<Finding>) {
    use crate::store::postgres;
    let shown = postgres::without_password(url);
    let client = postgres::Url::parse(url).and_then(|url| url.connect());
    let mut client = match client {
        Ok(client) => client,
        Err(error) => {
            findings.push(Finding::problem(
                format!("store {shown}: {error:#}"),
                "check the URL's host, port, database, user and password, and that the server lets this machine in (pg_hba.conf)",
            ));
            return;
        }
    };
    let checked = postgres::check_writable(&mut client, busy_timeout_ms);
    let latest = crate::store::schema_version();
    match checked {
        Ok(None) => findings.push(Finding::Ok(format!("store {shown}: no reqmail schema yet; the first command will create it"))),
        Ok(Some(version)) if version > latest => findings.push(Finding::problem(
            format!("store {shown}: schema {version} was written by a newer reqmail (this one knows {latest})"),
            "install that newer reqmail again",
        )),
        Ok(Some(version)) if version < latest => findings.push(Finding::problem(
            format!("store {shown}: schema {version}, this reqmail writes {latest}"),
            "run any command that opens the store (`reqmail tick`) to apply the migrations; make a backup first",
        )),
        Ok(Some(version)) => findings.push(Finding::Ok(format!("store {shown}: writable, schema {version} is current"))),
        Err(error) => findings.push(Finding::problem(
            format!("store {shown}: cannot write: {}", describe_postgres(&error)),
            "grant the URL's user the right to write reqmail's tables, and look for a session holding a long transaction",
        )),
    }
}

/// An error from PostgreSQL with the server's own words.
fn describe_postgres(error: &anyhow::Error) -> String {
    match error.downcast_ref::<::postgres::Error>() {
        Some(error) => crate::store::postgres::describe(error),
        None => format!("{error:#}"),
    }
}

/// Messages acknowledged by serve (or taken in by the MTA's `reqmail-ingest` without
/// serve) wait in the intake for milliseconds; more than a few minutes means that serve
/// or the drain is stuck, or gone without moving them.
const INTAKE_STUCK_MINUTES: i64 = 5;

fn check_intake(config: &Config, now: DateTime<Utc>, findings: &mut Vec<Finding>) {
    let path = crate::store::intake::path_for(&config.store.path);
    let waiting = match crate::store::intake::Intake::open_existing(&path) {
        Ok(None) => return,
        Ok(Some(intake)) => intake.waiting(),
        Err(error) => Err(error),
    };
    let waiting = match waiting {
        Ok(waiting) => waiting,
        Err(error) => {
            findings.push(Finding::problem(
                format!("intake {}: {error:#}", path.display()),
                "it holds mail serve acknowledged: chown it to the user reqmail runs as and start reqmail serve; never delete it",
            ));
            return;
        }
    };
    let served = config.ingest_socket().is_some_and(|socket| crate::source::socket::serve_listens(&socket));
    let drained = crate::source::pipe::drain_runs(&config.store.path);
    let stuck = waiting.oldest.is_some_and(|oldest| now - oldest > chrono::Duration::minutes(INTAKE_STUCK_MINUTES));
    match (waiting.count, served) {
        (0, _) => findings.push(Finding::Ok(format!("intake {}: empty", path.display()))),
        (count, false) if !drained || stuck => findings.push(Finding::problem(
            format!("intake {}: {count} messages acknowledged wait to be stored (since {})", path.display(), waiting.oldest.map(format_time).unwrap_or_default()),
            "start reqmail serve, or run reqmail tick: either moves them into the store, or says why it cannot",
        )),
        (count, false) => findings.push(Finding::Ok(format!("intake {}: {count} messages being stored by a drain", path.display()))),
        (count, true) if stuck => findings.push(Finding::problem(
            format!("intake {}: {count} messages wait, the oldest since {}", path.display(), waiting.oldest.map(format_time).unwrap_or_default()),
            "serve cannot store them: read its log (database locked or full?), and see whether other work keeps every CPU busy (serve processes mail only with CPU nothing else wants)",
        )),
        (count, true) => findings.push(Finding::Ok(format!("intake {}: {count} messages being stored by serve", path.display()))),
    }
}

/// A store from before the larger pages, or one with much space left free by deleted
/// rows, shrinks by being rewritten: worth knowing, not wrong.
fn check_store_pages(path: &Path, connection: &crate::store::Connection, findings: &mut Vec<Finding>) {
    use crate::store::{space, PAGE_SIZE};
    let Ok(file) = space::file_usage(connection) else { return };
    let small_pages = file.page_size < i64::from(PAGE_SIZE);
    let mostly_free = file.free_pages * FREE_PAGES_WORTH_COMPACTING.1 > file.pages * FREE_PAGES_WORTH_COMPACTING.0;
    if small_pages || mostly_free {
        findings.push(Finding::Note(format!(
            "store {}: {} pages of {} bytes, {} of them free; `reqmail store compact` (with serve stopped) rewrites it with {PAGE_SIZE}-byte pages and none free, which takes less disk",
            path.display(),
            file.pages,
            file.page_size,
            file.free_pages
        )));
    }
}

/// The share of free pages (numerator, denominator) above which compacting is suggested.
const FREE_PAGES_WORTH_COMPACTING: (i64, i64) = (1, 5);

/// Whether this process may create files in `folder`.
fn writable(folder: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(path) = std::ffi::CString::new(folder.as_os_str().as_bytes()) else { return false };
    // SAFETY: access(2) reads the NUL-terminated path and nothing else.
    unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

fn check_maildir(key: &str, folder: &Path, findings: &mut Vec<Finding>) {
    let missing: Vec<&str> = ["tmp", "new", "cur"].into_iter().filter(|sub| !folder.join(sub).is_dir()).collect();
    if !missing.is_empty() {
        findings.push(Finding::problem(
            format!("{key} {}: no {} folder", folder.display(), missing.join(", ")),
            format!("mkdir -p {0}/tmp {0}/new {0}/cur, owned by the user reqmail runs as", folder.display()),
        ));
        return;
    }
    let unwritable: Vec<&str> = ["tmp", "new", "cur"].into_iter().filter(|sub| !writable(&folder.join(sub))).collect();
    if unwritable.is_empty() {
        findings.push(Finding::Ok(format!("{key} {}: present and writable", folder.display())));
    } else {
        findings.push(Finding::problem(
            format!("{key} {}: {} not writable", folder.display(), unwritable.join(", ")),
            format!("chown -R the Maildir to the user reqmail runs as: chown -R reqmail: {}", folder.display()),
        ));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime starts")
}

fn check_imap(account: &ImapConfig, findings: &mut Vec<Finding>) {
    let name = account.account();
    let result: anyhow::Result<Vec<String>> = runtime().block_on(async {
        let mut connection = crate::source::imap::connect(account).await?;
        if account.move_to.is_some() && !connection.has_move && !connection.has_uidplus {
            let mailboxes: Vec<&str> = account.mailboxes.iter().map(|mailbox| mailbox.name.as_str()).collect();
            let text = crate::source::imap::without_uidplus(&name, &mailboxes.join(", "));
            findings.push(Finding::Note(format!("imap {text}")));
        }
        let mut missing = Vec::new();
        let wanted = account.mailboxes.iter().map(|mailbox| mailbox.name.as_str()).chain(account.move_to.as_deref());
        for mailbox in wanted {
            if connection.session.examine(mailbox).await.is_err() {
                missing.push(mailbox.to_string());
            }
        }
        connection.logout().await;
        Ok(missing)
    });
    match result {
        Ok(missing) if missing.is_empty() => findings.push(Finding::Ok(format!("imap {name}: logged in, mailboxes present"))),
        Ok(missing) => findings.push(Finding::problem(
            format!("imap {name}: no mailbox {}", missing.join(", ")),
            "create it on the server, or correct mailboxes / move_to in [[inbound.imap]]",
        )),
        Err(error) => findings.push(Finding::problem(
            format!("imap {name}: {error:#}"),
            "check host, port, security, username and password in [[inbound.imap]]",
        )),
    }
    if account.security != SmtpSecurity::None {
        let protocol = match account.security {
            SmtpSecurity::Starttls => Some(Protocol::Imap),
            _ => None,
        };
        check_certificate(&format!("imap {name}"), &account.host, account.port(), protocol, account.ca_file.as_deref(), findings);
    }
}

fn check_outbound(config: &Config, findings: &mut Vec<Finding>) {
    let outbound = &config.outbound;
    match outbound.transport {
        TransportKind::Maildir => {}
        TransportKind::Smtp => {
            let smtp = &outbound.smtp;
            let server = format!("smtp {}:{}", smtp.host, smtp.port);
            match crate::transport::smtp::SmtpTransport::new(smtp).map_err(|error| format!("{error:#}")).and_then(|transport| {
                transport.check().map_err(|error| error.message)
            }) {
                Ok(()) => findings.push(Finding::Ok(format!(
                    "{server}: reachable{}",
                    if smtp.username.is_some() { ", login accepted" } else { "" }
                ))),
                Err(error) => findings.push(Finding::problem(
                    format!("{server}: {error}"),
                    "check host, port, security, username and password in [outbound.smtp]",
                )),
            }
            if smtp.security != SmtpSecurity::None {
                let protocol = match smtp.security {
                    SmtpSecurity::Starttls => Some(Protocol::Smtp),
                    _ => None,
                };
                check_certificate(&server, &smtp.host, smtp.port, protocol, smtp.ca_file.as_deref(), findings);
            }
        }
        TransportKind::Sendmail => {
            let command = &outbound.sendmail.command;
            use std::os::unix::fs::PermissionsExt as _;
            match std::fs::metadata(command) {
                Ok(metadata) if metadata.is_file() && metadata.permissions().mode() & 0o111 != 0 => {
                    findings.push(Finding::Ok(format!("sendmail {}: present", command.display())))
                }
                _ => findings.push(Finding::problem(
                    format!("sendmail {}: no such program", command.display()),
                    "install the MTA's sendmail, or set outbound.sendmail.command",
                )),
            }
        }
    }
}

/// The clear-text greeting before TLS, for servers that start with STARTTLS.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Imap,
    Smtp,
}

/// A TLS clock set `CERTIFICATE_MARGIN_DAYS` ahead.
#[derive(Debug)]
struct Ahead;

impl rustls::time_provider::TimeProvider for Ahead {
    fn current_time(&self) -> Option<rustls_pki_types::UnixTime> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(rustls_pki_types::UnixTime::since_unix_epoch(now + Duration::from_secs(CERTIFICATE_MARGIN_DAYS * 86_400)))
    }
}

/// Checks the server's certificate now (the connection checks above do too, with their
/// own wording) and as of `CERTIFICATE_MARGIN_DAYS` ahead, to warn before it expires.
fn check_certificate(what: &str, host: &str, port: u16, protocol: Option<Protocol>, ca_file: Option<&Path>, findings: &mut Vec<Finding>) {
    let handshake = |clock: Arc<dyn rustls::time_provider::TimeProvider>| -> anyhow::Result<()> {
        let tls = crate::tls::client_config_at(ca_file, "ca_file", clock)?;
        runtime().block_on(async {
            let timeout = Duration::from_secs(15);
            let work = async {
                let mut tcp = tokio::net::TcpStream::connect((host, port)).await?;
                if let Some(protocol) = protocol {
                    start_tls_in_clear(&mut tcp, protocol).await?;
                }
                crate::tls::connect(tls, host, tcp).await.map(drop)
            };
            tokio::time::timeout(timeout, work).await.map_err(|_| anyhow::anyhow!("no answer within 15 seconds"))?
        })
    };
    if let Err(error) = handshake(Arc::new(rustls::time_provider::DefaultTimeProvider)) {
        findings.push(Finding::problem(
            format!("{what}: TLS certificate: {error:#}"),
            "renew the server's certificate, or name the CA that signed it in ca_file",
        ));
        return;
    }
    match handshake(Arc::new(Ahead)) {
        Ok(()) => findings.push(Finding::Ok(format!("{what}: TLS certificate valid for {CERTIFICATE_MARGIN_DAYS} days or more"))),
        Err(error) => findings.push(Finding::problem(
            format!("{what}: TLS certificate expires within {CERTIFICATE_MARGIN_DAYS} days ({error:#})"),
            "renew the server's certificate",
        )),
    }
}

async fn start_tls_in_clear(tcp: &mut tokio::net::TcpStream, protocol: Protocol) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    // Reads one reply; SMTP replies continue while the fourth character is '-'.
    async fn reply(reader: &mut BufReader<&mut tokio::net::TcpStream>, line: &mut String, smtp: bool) -> anyhow::Result<String> {
        loop {
            line.clear();
            if reader.read_line(line).await? == 0 {
                anyhow::bail!("the server closed the connection");
            }
            if !smtp || line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line.clone());
            }
        }
    }
    match protocol {
        Protocol::Imap => {
            reply(&mut reader, &mut line, false).await?;
            reader.get_mut().write_all(b"d1 STARTTLS\r\n").await?;
            loop {
                let answer = reply(&mut reader, &mut line, false).await?;
                if answer.starts_with("d1 ") {
                    anyhow::ensure!(answer.starts_with("d1 OK"), "STARTTLS refused: {}", answer.trim());
                    return Ok(());
                }
            }
        }
        Protocol::Smtp => {
            reply(&mut reader, &mut line, true).await?;
            reader.get_mut().write_all(b"EHLO reqmail-doctor\r\n").await?;
            reply(&mut reader, &mut line, true).await?;
            reader.get_mut().write_all(b"STARTTLS\r\n").await?;
            let answer = reply(&mut reader, &mut line, true).await?;
            anyhow::ensure!(answer.starts_with("220"), "STARTTLS refused: {}", answer.trim());
            Ok(())
        }
    }
}

/// What `postconf` says about a parameter, or `None` when Postfix is not visible here.
fn postconf(options: &DoctorOptions, args: &[&str]) -> Option<String> {
    let mut command = Command::new("postconf");
    if let Some(folder) = &options.postfix_config {
        command.arg("-c").arg(folder);
    }
    let output = command.args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn check_postfix(config: &Config, options: &DoctorOptions, findings: &mut Vec<Finding>) {
    let Some(delimiter) = postconf(options, &["-h", "recipient_delimiter"]) else {
        findings.push(Finding::Note("postfix: postconf not found or not readable; its settings were not checked".into()));
        return;
    };
    let Some(pipe) = postconf(options, &["-M", "reqmail/unix"]).filter(|line| !line.is_empty()) else {
        findings.push(Finding::Note("postfix: no reqmail transport in master.cf (fine when mail comes by IMAP or Maildir)".into()));
        return;
    };
    let address = &config.mail.address;
    if delimiter.contains('+') {
        findings.push(Finding::Ok(format!("postfix: recipient_delimiter {delimiter:?} passes {} to reqmail", plus_example(address))));
    } else {
        findings.push(Finding::problem(
            format!("postfix: recipient_delimiter is {delimiter:?}, so replies to {} do not reach reqmail", plus_example(address)),
            "set recipient_delimiter = + in main.cf (deploy/postfix/main.cf) and run postfix reload",
        ));
    }
    if !pipe.contains("${recipient}") {
        findings.push(Finding::problem(
            "postfix: the reqmail pipe in master.cf does not pass ${recipient}, so plus-addresses cannot thread replies",
            "use the argv line of deploy/postfix/master.cf (--recipient ${recipient})",
        ));
    }
    if let Some(origin) = &config.origin {
        if !pipe.contains(&origin.display().to_string()) {
            findings.push(Finding::problem(
                format!("postfix: the reqmail pipe in master.cf does not use this configuration file ({})", origin.display()),
                "give the same file after --config in master.cf's argv, or check that file instead",
            ));
        }
    }
    check_transport_map(options, address, findings);
    let recipient_limit = postconf(options, &["-h", "reqmail_destination_recipient_limit"]).unwrap_or_default();
    if recipient_limit != "1" {
        findings.push(Finding::problem(
            format!("postfix: reqmail_destination_recipient_limit is {recipient_limit:?}: one delivery would carry several recipients"),
            "set reqmail_destination_recipient_limit = 1 in main.cf",
        ));
    }
    if let Some(limit) = postconf(options, &["-h", "message_size_limit"]).and_then(|limit| limit.parse::<usize>().ok()) {
        if limit == 0 || limit > config.inbound.max_message_bytes {
            findings.push(Finding::problem(
                format!(
                    "postfix: message_size_limit {limit} admits mail larger than inbound.max_message_bytes {}, which is quarantined unread",
                    config.inbound.max_message_bytes
                ),
                "lower message_size_limit in main.cf, or raise inbound.max_message_bytes",
            ));
        }
    }
}

/// Whether Postfix's transport_maps send the help address to the reqmail transport.
fn check_transport_map(options: &DoctorOptions, address: &str, findings: &mut Vec<Finding>) {
    let maps = postconf(options, &["-h", "transport_maps"]).unwrap_or_default();
    let routed = maps.split([',', ' ']).filter(|map| !map.is_empty()).find_map(|map| {
        let mut command = Command::new("postmap");
        if let Some(folder) = &options.postfix_config {
            command.arg("-c").arg(folder);
        }
        let output = command.args(["-q", address, map]).output().ok()?;
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
        (output.status.success() && !answer.is_empty()).then_some(answer)
    });
    match routed {
        Some(transport) if transport.starts_with("reqmail:") => {
            findings.push(Finding::Ok(format!("postfix: transport_maps send {address} to {transport}")))
        }
        Some(transport) => findings.push(Finding::problem(
            format!("postfix: transport_maps send {address} to {transport}, not to reqmail:"),
            format!("put \"{address} reqmail:\" into the transport table (deploy/postfix/transport) and run postmap on it"),
        )),
        None => findings.push(Finding::problem(
            format!("postfix: no transport_maps entry for {address} (transport_maps = {maps:?})"),
            format!("put \"{address} reqmail:\" into /etc/postfix/transport, run postmap /etc/postfix/transport, and set transport_maps (deploy/postfix/main.cf)"),
        )),
    }
}

fn plus_example(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{local}+123@{domain}"),
        None => address.to_string(),
    }
}

/// The directory now, and how its last sync went.
fn check_directory(config: &Config, findings: &mut Vec<Finding>) {
    let Some(ldap) = &config.directory.ldap else { return };
    let name = format!("directory {}", ldap.url);
    match runtime().block_on(crate::ops::ldap::read(ldap)) {
        Ok(listing) if listing.skipped.is_empty() => findings.push(Finding::Ok(format!("{name}: {} people listed", listing.entries.len()))),
        Ok(listing) => findings.push(Finding::problem(
            format!("{name}: {} people listed, {} entries unusable (first: {})", listing.entries.len(), listing.skipped.len(), listing.skipped[0]),
            "give those entries the attributes named in [directory.ldap.attributes], or narrow filter",
        )),
        Err(error) => findings.push(Finding::problem(
            format!("{name}: {error:#}"),
            "check url, bind_dn, password, base and filter in [directory.ldap]; until it answers, the last known people are kept",
        )),
    }
    let Some(connection) = store_to_read(config) else { return };
    let at = |time: DateTime<Utc>| crate::clock::format_time(time);
    match crate::store::directory::sync_state(&connection, crate::ops::ldap::DIRECTORY) {
        Ok(Some(state)) => match (&state.last_error, state.last_success) {
            (None, _) => findings.push(Finding::Note(format!("{name}: last sync {}, {} people", at(state.last_attempt), state.people))),
            (Some(error), last_success) => {
                let kept = match last_success {
                    Some(success) => format!("the {} people of the sync at {} are kept", state.people, at(success)),
                    None => "no sync has worked yet".to_string(),
                };
                findings.push(Finding::problem(
                    format!("{name}: the last sync ({}) failed: {error}; {kept}", at(state.last_attempt)),
                    "make the directory reachable, then run `reqmail person sync`",
                ));
            }
        },
        Ok(None) => findings.push(Finding::Note(format!("{name}: never synced; `reqmail person sync` runs it now, `tick` and `serve` every {} minutes", ldap.interval_minutes))),
        // A database older than the directory tables has never synced either.
        Err(_) => {}
    }
}

/// The store as it is, to read what it recorded, without creating or migrating it;
/// `None` when there is none yet (or it cannot be reached: `check_store` says so).
fn store_to_read(config: &Config) -> Option<crate::store::Connection> {
    match &config.store.url {
        Some(url) => crate::store::postgres::open_existing(url).ok(),
        None => {
            let connection = Connection::open_with_flags(&config.store.path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
            Some(crate::store::Connection::Sqlite(connection))
        }
    }
}

/// The last successful fetch of every configured IMAP mailbox, and whether fetching it
/// fails, as the store recorded them.
fn report_fetches(config: &Config, now: DateTime<Utc>, findings: &mut Vec<Finding>) {
    if config.inbound.imap.is_empty() {
        return;
    }
    let Some(connection) = store_to_read(config) else { return };
    for account in &config.inbound.imap {
        for mailbox in &account.mailboxes {
            let updated = crate::store::imap::last_stored(&connection, &account.account(), &mailbox.name).ok().flatten();
            let text = match updated.as_deref().and_then(crate::clock::parse_time) {
                Some(at) => format!("{} ({} minutes ago)", crate::clock::format_time(at), (now - at).num_minutes()),
                None => "never (no message stored from it yet)".to_string(),
            };
            findings.push(Finding::Note(format!("imap {} {}: last fetch that stored mail: {text}", account.account(), mailbox.name)));
            // What `serve` saw matters beside doctor's own attempt: a mailbox can fail for
            // the daemon (an expired consent, a full quota) while a fresh login still works.
            let health = crate::store::fetch_health::get(&connection, &account.account(), &mailbox.name).ok().flatten();
            if let Some(health) = health.filter(|health| health.failing_since.is_some()) {
                let since = health.failing_since.map(crate::clock::format_time).unwrap_or_default();
                let error = health.last_error.unwrap_or_default();
                let fix = health.remedy.unwrap_or_else(|| "see `reqmail fetch status`".to_string());
                findings.push(Finding::problem(format!("imap {} {}: fetching fails since {since}: {error}", account.account(), mailbox.name), fix));
            }
        }
    }
}
