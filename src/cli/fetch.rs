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
        pipeline::resume(&session.context, &mut store, now)?;
        let report = maildir::drain(&session.context, &mut store, &session.context.config.inbound.maildir, now)?;
        tracing::info!(?report, "inbound Maildir drained");
        deliver_now(session, &mut store);
        Ok(())
    }
}

