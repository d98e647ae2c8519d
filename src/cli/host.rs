//! `reqmail host`: the site's hosts, with where they are and who uses them.

use crate::cli::{Failure, Setup};

/// Hosts from the site's inventory; `ticket show` gives them beside a ticket's Host.
#[derive(Debug, clap::Subcommand)]
pub enum HostCommand {
    /// Add or update hosts from a CSV file with a header line: host, location, owner,
    /// description. Malformed rows are reported with their line and skipped.
    Import { file: std::path::PathBuf },
}

impl HostCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        match self {
            HostCommand::Import { file } => {
                let mut store = setup.open_store()?;
                let tx = store.write()?;
                let imported = crate::ops::directory::import_hosts(&tx, file, setup.clock.now()).map_err(Failure::Usage)?;
                tx.commit()?;
                crate::cli::person::print_imported(&imported, "host import");
            }
        }
        Ok(())
    }
}
