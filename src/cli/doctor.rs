//! `reqmail doctor`: the configuration checked against the machine, one line per problem with its fix.

use std::path::PathBuf;

use crate::cli::{Cli, Failure};
use crate::ops::doctor::{self, DoctorOptions};

/// Check the configuration against this machine: the store, Maildirs, IMAP and SMTP
/// servers (login, TLS certificates), templates, rules, Postfix's settings, the last
/// fetch per mailbox. Exit status 0 when all is well, 1 with one line per problem.
/// Run it as the user reqmail runs as.
#[derive(Debug, clap::Args)]
pub struct Doctor {
    /// Postfix's configuration folder, for `postconf -c` (default: Postfix's own).
    #[arg(long, value_name = "DIR")]
    pub postfix_config: Option<PathBuf>,
}

impl Doctor {
    pub fn execute(&self, cli: &Cli) -> Result<(), Failure> {
        let now = crate::clock::Clock::from_env().map_err(Failure::Config)?.now();
        let options = DoctorOptions { postfix_config: self.postfix_config.clone() };
        let findings = doctor::examine(cli.config.as_deref(), &options, now);
        for finding in &findings {
            println!("{finding}");
        }
        match findings.iter().filter(|finding| finding.is_problem()).count() {
            0 => Ok(()),
            1 => Err(Failure::Other(anyhow::anyhow!("1 problem found"))),
            problems => Err(Failure::Other(anyhow::anyhow!("{problems} problems found"))),
        }
    }
}
