use crate::cli::{Failure, Session};
use crate::scheduler;

/// One scheduler pass: auto-close, reminders, escalations, hold timeouts, nag mail,
/// surveys, spooled messages, then the outbox. Idempotent; run it every minute.
#[derive(Debug, clap::Args)]
pub struct Tick {}

impl Tick {
    pub fn execute(&self, session: &Session) -> Result<(), Failure> {
        let mut store = session.open_store()?;
        let report = scheduler::tick(&session.context, &mut store, session.clock.now())?;
        tracing::info!(?report, "scheduler pass");
        Ok(())
    }
}
