//! The command line: one file per command, each a clap struct whose `///` is its help.
//!
//! Commands print data on stdout and logs on stderr; `ingest` prints nothing on success.

pub mod backup;
pub mod demo;
pub mod doctor;
pub mod fetch;
pub mod import;
pub mod fetch_status;
pub mod host;
pub mod ingest;
pub mod oauth;
pub mod person;
pub mod quarantine;
pub mod report;
pub mod retention;
pub mod rotation;
pub mod rules;
pub mod search;
pub mod serve;
pub mod store;
pub mod ticket;
pub mod tick;
pub mod trace;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::clock::Clock;
use crate::config::Config;
use crate::site::Site;
use crate::store::Store;
use crate::transport::deliver::DeliveryReport;

/// reqmail: a mail-first trouble-ticket gateway.
#[derive(Debug, Parser)]
#[command(name = "reqmail", version, about)]
pub struct Cli {
    /// Configuration file (else $REQMAIL_CONFIG, else ./reqmail.toml, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output on stderr (-v: decisions, -vv: details); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No summary line from batch commands (for cron); errors are still printed.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Ingest(ingest::Ingest),
    Demo(demo::Demo),
    Fetch(fetch::Fetch),
    Serve(serve::Serve),
    Tick(tick::Tick),
    #[command(subcommand)]
    Ticket(ticket::TicketCommand),
    #[command(subcommand)]
    Quarantine(quarantine::QuarantineCommand),
    #[command(subcommand)]
    Person(person::PersonCommand),
    #[command(subcommand)]
    Host(host::HostCommand),
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    Report(report::Report),
    Search(search::Search),
    #[command(subcommand)]
    Rotation(rotation::RotationCommand),
    Doctor(doctor::Doctor),
    Backup(backup::Backup),
    Export(backup::Export),
    Restore(backup::Restore),
    Purge(retention::Purge),
    Import(import::Import),
    #[command(subcommand)]
    Oauth(oauth::OAuthCommand),
    Trace(trace::Trace),
    #[command(subcommand)]
    Store(store::StoreCommand),
}

impl Cli {
    /// The command line of this process. The MTA pipe starts `ingest` once per message,
    /// and building clap's whole command tree would take about 0.3 ms of each: the forms
    /// a pipe uses (`[--config FILE] [-v] ingest [--recipient ADDRESS]`) are read
    /// directly, everything else (help, errors, other commands) goes to clap.
    pub fn from_process_args() -> Result<Cli, clap::Error> {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        match Cli::pipe_form(&args) {
            Some(cli) => Ok(cli),
            None => Cli::try_parse(),
        }
    }

    /// `args` read as the pipe forms, or `None` for anything else or anything doubtful.
    fn pipe_form(args: &[std::ffi::OsString]) -> Option<Cli> {
        let mut config: Option<PathBuf> = None;
        let mut verbose = 0u8;
        let mut recipient: Option<String> = None;
        let mut ingest = false;
        let mut args = args.iter();
        // A value clap would take: present, UTF-8, not empty, not an option; given once.
        fn value(slot_taken: bool, value: Option<&str>) -> Option<&str> {
            value.filter(|value| !slot_taken && !value.is_empty() && !value.starts_with('-'))
        }
        while let Some(arg) = args.next() {
            let arg = arg.to_str()?;
            if let Some(file) = arg.strip_prefix("--config=") {
                config = Some(value(config.is_some(), Some(file))?.into());
            } else if let Some(address) = arg.strip_prefix("--recipient=").filter(|_| ingest) {
                recipient = Some(value(recipient.is_some(), Some(address))?.to_string());
            } else {
                match arg {
                    "ingest" if !ingest => ingest = true,
                    "--config" => config = Some(value(config.is_some(), args.next().and_then(|next| next.to_str()))?.into()),
                    "--recipient" if ingest => {
                        recipient = Some(value(recipient.is_some(), args.next().and_then(|next| next.to_str()))?.to_string())
                    }
                    "-v" | "--verbose" => verbose = verbose.checked_add(1)?,
                    _ => return None,
                }
            }
        }
        ingest.then_some(Cli { config, verbose, quiet: false, command: Command::Ingest(ingest::Ingest { recipient, drain: false }) })
    }
}

/// How a command ended, for the exit status.
#[derive(Debug)]
pub enum Failure {
    /// The configuration is wrong (exit 78).
    Config(anyhow::Error),
    /// The command line is wrong (exit 64).
    Usage(anyhow::Error),
    /// Nothing durable happened; the caller should try again (exit 75).
    TryAgain(anyhow::Error),
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Other(error)
    }
}

impl From<crate::store::Error> for Failure {
    fn from(error: crate::store::Error) -> Failure {
        Failure::Other(error.into())
    }
}

/// What every command starts from: the compiled site and the clock.
pub struct Setup {
    /// Shared, so that `fetch` and `serve` can hand it to async sources.
    pub site: std::sync::Arc<Site>,
    pub clock: Clock,
}

impl Setup {
    pub fn start(cli: &Cli) -> Result<Setup, Failure> {
        let config = Config::load(cli.config.as_deref()).map_err(|error| Failure::Config(error.into()))?;
        Setup::new(config, Clock::from_env().map_err(Failure::Config)?)
    }

    pub fn new(config: Config, clock: Clock) -> Result<Setup, Failure> {
        let site = Site::compile(config).map_err(Failure::Config)?;
        Ok(Setup { site: std::sync::Arc::new(site), clock })
    }

    pub fn open_store(&self) -> anyhow::Result<Store> {
        Store::open(&self.site.config.store)
    }
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Ingest(command) => command.execute(&cli),
        Command::Demo(command) => command.execute(&Setup::start(&cli)?),
        Command::Fetch(command) => command.execute(&Setup::start(&cli)?, cli.quiet),
        Command::Serve(command) => command.execute(&cli),
        Command::Tick(command) => command.execute(&Setup::start(&cli)?, cli.quiet),
        Command::Ticket(command) => command.execute(&Setup::start(&cli)?),
        Command::Quarantine(command) => command.execute(&Setup::start(&cli)?),
        Command::Person(command) => command.execute(&Setup::start(&cli)?),
        Command::Host(command) => command.execute(&Setup::start(&cli)?),
        Command::Rules(command) => command.execute(&cli),
        Command::Report(command) => command.execute(&Setup::start(&cli)?),
        Command::Rotation(command) => command.execute(&Setup::start(&cli)?),
        Command::Doctor(command) => command.execute(&cli),
        Command::Backup(command) => command.execute(&cli),
        Command::Export(command) => command.execute(&cli),
        Command::Restore(command) => command.execute(&cli),
        Command::Purge(command) => command.execute(&Setup::start(&cli)?),
        Command::Import(command) => command.execute(&Setup::start(&cli)?),
        Command::Oauth(command) => command.execute(&cli),
        Command::Search(command) => command.execute(&Setup::start(&cli)?),
        Command::Trace(command) => command.execute(&Setup::start(&cli)?),
        Command::Store(command) => command.execute(&Setup::start(&cli)?),
    }
}

/// Delivers what is due, when the configuration asks commands to do so; a failure is
/// logged and left to the next pass, never lost.
pub fn deliver_now(setup: &Setup, store: &mut Store) -> DeliveryReport {
    let outbound = &setup.site.config.outbound;
    if !outbound.deliver_immediately {
        return DeliveryReport::default();
    }
    let result = crate::transport::from_config(outbound)
        .and_then(|mut transport| crate::transport::deliver::deliver_due(store, transport.as_mut(), outbound, setup.clock.now()));
    let report = result.unwrap_or_else(|error| {
        tracing::warn!("delivery postponed: {error:#}");
        DeliveryReport::default()
    });
    deliver_webhooks(setup, store);
    report
}

/// POSTs the webhook events that are due; a failure is logged and left to the next pass.
pub fn deliver_webhooks(setup: &Setup, store: &Store) -> DeliveryReport {
    crate::transport::webhook::deliver_due(store, &setup.site.config, setup.clock.now()).unwrap_or_else(|error| {
        tracing::warn!("webhooks postponed: {error:#}");
        DeliveryReport::default()
    })
}

/// Prints one line on stdout. A reader that went away (`reqmail … | head -1`) is no
/// error of ours: the line is dropped quietly instead of panicking as `println!` would.
pub fn print_line(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// "letters written 3 into mail/outbox (1 to retry, 0 given up)": the delivery part of
/// a batch command's summary line.
pub fn letters_written(delivery: &DeliveryReport, config: &Config) -> String {
    use crate::config::TransportKind;
    let destination = match config.outbound.transport {
        TransportKind::Maildir => format!("into {}", config.outbound.maildir.display()),
        TransportKind::Smtp => "by SMTP".to_string(),
        TransportKind::Sendmail => "by sendmail".to_string(),
    };
    let mut text = format!("letters written {} {destination}", delivery.sent);
    if delivery.deferred + delivery.failed > 0 {
        text.push_str(&format!(" ({} to retry, {} given up)", delivery.deferred, delivery.failed));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_forms_read_as_clap_reads_them_and_the_rest_goes_to_clap() {
        let forms: &[&[&str]] = &[
            &["ingest"],
            &["--config", "/etc/reqmail.toml", "ingest"],
            &["--config=/etc/reqmail.toml", "ingest", "--recipient", "help+12@example.com"],
            &["-v", "ingest", "--recipient=help@example.com"],
            &["ingest", "--config", "x.toml", "--verbose"],
        ];
        for form in forms {
            let args: Vec<std::ffi::OsString> = form.iter().map(Into::into).collect();
            let direct = Cli::pipe_form(&args).unwrap_or_else(|| panic!("{form:?} is a pipe form"));
            let by_clap = Cli::try_parse_from(std::iter::once("reqmail").chain(form.iter().copied())).unwrap();
            assert_eq!(format!("{direct:?}"), format!("{by_clap:?}"), "{form:?}");
        }
        let others: &[&[&str]] = &[
            &[],
            &["fetch"],
            &["ingest", "--help"],
            &["--version"],
            &["ingest", "ingest"],
            &["--config", "a.toml", "--config", "b.toml", "ingest"],
            &["--config", "ingest"],
            &["--config", "", "ingest"],
            &["ingest", "--recipient"],
            &["--recipient", "x@example.com", "ingest"],
            &["-vv", "ingest"],
            &["ingest", "extra"],
            &["ingest", "--drain"],
        ];
        for form in others {
            let args: Vec<std::ffi::OsString> = form.iter().map(Into::into).collect();
            assert!(Cli::pipe_form(&args).is_none(), "{form:?} is left to clap");
        }
        use std::os::unix::ffi::OsStringExt as _;
        let not_utf8 = vec!["--config".into(), std::ffi::OsString::from_vec(vec![0xff, 0xfe]), "ingest".into()];
        assert!(Cli::pipe_form(&not_utf8).is_none(), "a file name that is not UTF-8 is left to clap");
    }
}
