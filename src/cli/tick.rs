//! `reqmail tick`: one pass of the scheduler, then the outbox.

use crate::cli::{Failure, Setup};
use crate::scheduler;

/// One scheduler pass: auto-close, reminders, escalations, hold timeouts, nag mail,
/// surveys, spooled messages, then the outbox. Idempotent; run it every minute.
#[derive(Debug, clap::Args)]
pub struct Tick {}

impl Tick {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let mut store = setup.open_store()?;
        let report = scheduler::tick(&setup.site, &mut store, setup.clock.now())?;
        tracing::info!(?report, "scheduler pass");
        Ok(())
    }
}
