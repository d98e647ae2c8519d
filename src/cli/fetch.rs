use std::sync::PoisonError;

use crate::cli::{deliver_now, Failure, Session};
use crate::pipeline;
use crate::source::{imap, maildir, Core};

/// One pass over the configured IMAP mailboxes and the inbound Maildir (and whatever
/// earlier runs left spooled).
#[derive(Debug, clap::Args)]
pub struct Fetch {}

impl Fetch {
    pub fn execute(&self, session: &Session) -> Result<(), Failure> {
        let store = session.open_store()?;
        let core = Core::new(session.context.clone(), store, session.clock);
        {
            let mut store = core.store.lock().unwrap_or_else(PoisonError::into_inner);
            pipeline::resume(&session.context, &mut store, session.clock.now())?;
        }

        // IMAP: one account after the other; a failing account does not keep the others
        // (or the Maildir) from being read, but the command still reports it.
        let mut failures = Vec::new();
        let accounts = &session.context.config.inbound.imap;
        if !accounts.is_empty() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| anyhow::anyhow!("cannot start the IMAP runtime: {error}"))?;
            for account in accounts {
                match runtime.block_on(imap::fetch_account(account, &core)) {
                    Ok(report) => tracing::info!(account = account.account(), ?report, "IMAP account fetched"),
                    Err(error) => {
                        tracing::error!(account = account.account(), "IMAP fetch failed: {error:#}");
                        failures.push(format!("{}: {error:#}", account.account()));
                    }
                }
            }
        }

        let mut store = core.store.lock().unwrap_or_else(PoisonError::into_inner);
        let report = maildir::drain(&session.context, &mut store, &session.context.config.inbound.maildir, session.clock.now())?;
        tracing::info!(?report, "inbound Maildir drained");
        deliver_now(session, &mut store);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Failure::Other(anyhow::anyhow!(
                "IMAP fetch failed (what was stored is kept; the next pass goes on from there): {}",
                failures.join("; ")
            )))
        }
    }
}
