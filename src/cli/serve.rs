//! `reqmail serve`: the daemon (see `crate::serve`).

use crate::cli::{Cli, Failure};
use crate::clock::Clock;
use crate::config::Config;

/// Run as a daemon: IMAP (IDLE, else polling), the inbound Maildir, outbox delivery and
/// the scheduler in one process. SIGTERM stops it cleanly; SIGHUP reloads the configuration.
#[derive(Debug, clap::Args)]
pub struct Serve {}

impl Serve {
    pub fn execute(&self, cli: &Cli) -> Result<(), Failure> {
        let load = || Config::load(cli.config.as_deref()).map_err(anyhow::Error::from);
        // Refuse a broken configuration at start with the configuration exit status.
        load().map_err(Failure::Config)?;
        let clock = Clock::from_env().map_err(Failure::Config)?;
        crate::serve::run(load, clock).map_err(Failure::Other)
    }
}
