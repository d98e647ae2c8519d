use crate::cli::fetch::resume_spooled;
use crate::cli::{Failure, Session};
use crate::transport;

/// One scheduler pass: resume spooled messages, retry the outbox. Idempotent.
#[derive(Debug, clap::Args)]
pub struct Tick {}

impl Tick {
    pub fn execute(&self, session: &Session) -> Result<(), Failure> {
        let mut store = session.open_store()?;
        resume_spooled(session, &mut store)?;
        let outbound = &session.context.config.outbound;
        let mut transport = transport::from_config(outbound)?;
        let report = transport::deliver::deliver_due(&store, transport.as_mut(), outbound, session.clock.now())?;
        tracing::info!(?report, "outbox pass");
        Ok(())
    }
}
