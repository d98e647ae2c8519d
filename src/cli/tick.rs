use crate::cli::{Failure, Session};
use crate::{scheduler, transport};

/// One scheduler pass: auto-close, reminders, escalations, hold timeouts, nag mail,
/// surveys, spooled messages, then the outbox. Idempotent; run it every minute.
#[derive(Debug, clap::Args)]
pub struct Tick {}

impl Tick {
    pub fn execute(&self, session: &Session) -> Result<(), Failure> {
        let mut store = session.open_store()?;
        let now = session.clock.now();
        let report = scheduler::tick(&session.context, &mut store, now)?;
        tracing::info!(?report, "scheduler pass");
        let outbound = &session.context.config.outbound;
        let mut transport = transport::from_config(outbound)?;
        let delivery = transport::deliver::deliver_due(&store, transport.as_mut(), outbound, now)?;
        tracing::info!(?delivery, "outbox pass");
        Ok(())
    }
}
