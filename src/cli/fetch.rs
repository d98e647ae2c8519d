use crate::cli::{deliver_now, Failure, Session};
use crate::pipeline;
use crate::source::maildir;

/// One pass over the inbound Maildir (and whatever earlier runs left spooled).
#[derive(Debug, clap::Args)]
pub struct Fetch {}

impl Fetch {
    pub fn execute(&self, session: &Session) -> Result<(), Failure> {
        let mut store = session.open_store()?;
        let now = session.clock.now();
        resume_spooled(session, &mut store)?;
        let report = maildir::drain(&session.context, &mut store, &session.context.config.inbound.maildir, now)?;
        tracing::info!(?report, "inbound Maildir drained");
        deliver_now(session, &mut store);
        Ok(())
    }
}

/// Processes messages stored by an earlier run that stopped before processing them.
pub fn resume_spooled(session: &Session, store: &mut crate::store::Store) -> Result<(), Failure> {
    loop {
        let pending = crate::store::messages::pending(&store.conn, 500)?;
        if pending.is_empty() {
            return Ok(());
        }
        pipeline::process(&session.context, store, &pending, session.clock.now())?;
    }
}
