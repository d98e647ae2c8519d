//! The command line: one file per command, each a clap struct whose `///` is its help.
//!
//! Commands print data on stdout and logs on stderr; `ingest` prints nothing on success.

pub mod fetch;
pub mod ingest;
pub mod person;
pub mod quarantine;
pub mod report;
pub mod rotation;
pub mod rules;
pub mod serve;
pub mod ticket;
pub mod tick;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::clock::Clock;
use crate::config::Config;
use crate::pipeline::Context;
use crate::store::Store;

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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Ingest(ingest::Ingest),
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
    Rules(rules::RulesCommand),
    #[command(subcommand)]
    Report(report::ReportCommand),
    #[command(subcommand)]
    Rotation(rotation::RotationCommand),
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

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Failure {
        Failure::Other(error.into())
    }
}

/// What every command starts from.
pub struct Session {
    /// Shared, so that `fetch` and `serve` can hand it to async sources.
    pub context: std::sync::Arc<Context>,
    pub clock: Clock,
}

impl Session {
    pub fn start(cli: &Cli) -> Result<Session, Failure> {
        let config = Config::load(cli.config.as_deref()).map_err(|error| Failure::Config(error.into()))?;
        let context = Context::new(config).map_err(Failure::Config)?;
        let clock = Clock::from_env().map_err(Failure::Config)?;
        Ok(Session { context: std::sync::Arc::new(context), clock })
    }

    pub fn open_store(&self) -> anyhow::Result<Store> {
        Store::open(&self.context.config.store)
    }
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Ingest(command) => command.execute(&cli),
        Command::Fetch(command) => command.execute(&Session::start(&cli)?),
        Command::Serve(command) => command.execute(&cli),
        Command::Tick(command) => command.execute(&Session::start(&cli)?),
        Command::Ticket(command) => command.execute(&Session::start(&cli)?),
        Command::Quarantine(command) => command.execute(&Session::start(&cli)?),
        Command::Person(command) => command.execute(&Session::start(&cli)?),
        Command::Rules(command) => command.execute(&cli),
        Command::Report(command) => command.execute(&Session::start(&cli)?),
        Command::Rotation(command) => command.execute(&Session::start(&cli)?),
    }
}

/// Delivers what is due, when the configuration asks commands to do so; a failure is
/// logged and left to the next pass, never lost.
pub fn deliver_now(session: &Session, store: &mut Store) {
    let outbound = &session.context.config.outbound;
    if !outbound.deliver_immediately {
        return;
    }
    let result = crate::transport::from_config(outbound)
        .and_then(|mut transport| crate::transport::deliver::deliver_due(store, transport.as_mut(), outbound, session.clock.now()));
    if let Err(error) = result {
        tracing::warn!("delivery postponed: {error:#}");
    }
}
