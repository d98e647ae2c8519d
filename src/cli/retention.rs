//! `reqmail purge` and `person forget`: old tickets and a person's data removed, and the record of it.

use crate::cli::{Failure, Setup};
use crate::scheduler::retention;
use crate::store::Store;

/// Delete closed and rejected tickets older than [retention] closed_days, with their
/// mail and attachments (tick and serve do this once an hour). Recorded.
#[derive(Debug, clap::Args)]
pub struct Purge {
    /// Only show which tickets would go.
    #[arg(long)]
    pub dry_run: bool,
    /// Print what retention did so far (purges, people forgotten).
    #[arg(long, conflicts_with = "dry_run")]
    pub log: bool,
}

impl Purge {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let config = &setup.site.config.retention;
        let mut store = setup.open_store()?;
        let now = setup.clock.now();
        if self.log {
            for entry in crate::store::retention::log(&store.conn)? {
                println!("{}  {:<7} {}", entry.at, entry.action, entry.detail);
            }
            return Ok(());
        }
        if config.closed_days == 0 {
            println!("no purge: [retention] closed_days is 0 (keep everything)");
            return Ok(());
        }
        if self.dry_run {
            let doomed = retention::candidates(config, &store, now)?;
            println!("would purge {} tickets closed more than {} days ago", doomed.len(), config.closed_days);
            for number in doomed {
                println!("  #{number}");
            }
            return Ok(());
        }
        let purged = retention::purge(config, &mut store, now)?;
        println!(
            "purged {} tickets closed more than {} days ago: {} messages, {} attachments, {} attachment contents",
            purged.tickets, config.closed_days, purged.messages, purged.attachments, purged.blobs
        );
        Ok(())
    }
}

/// `reqmail person forget ADDRESS`.
pub fn forget(setup: &Setup, store: &mut Store, address: &str) -> Result<(), Failure> {
    match retention::forget(&setup.site.config, store, address, setup.clock.now())? {
        Some(forgotten) => {
            println!(
                "forgot person #{}: {} addresses, {} messages, {} history entries, {} letters anonymised",
                forgotten.person, forgotten.addresses, forgotten.messages, forgotten.history, forgotten.letters
            );
            Ok(())
        }
        None => Err(Failure::Usage(anyhow::anyhow!("nobody has the address {address:?} (`reqmail person list` shows who is known)"))),
    }
}
