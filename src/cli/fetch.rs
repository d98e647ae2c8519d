//! `reqmail fetch`: one pass over the IMAP mailboxes and the inbound Maildir, with the
//! outbox delivered alongside.

use std::sync::PoisonError;

use crate::cli::{deliver_now, letters_written, Failure, Setup};
use crate::pipeline;
use crate::source::maildir::DrainReport;
use crate::source::{imap, maildir, SharedStore};
use crate::store::checkpointer::Checkpointer;
use crate::transport::deliver::{Courier, DeliveryReport};

/// One pass over the configured IMAP mailboxes and the inbound Maildir (and whatever
/// earlier runs left spooled).
#[derive(Debug, clap::Args)]
pub struct Fetch {
    #[command(subcommand)]
    pub what: Option<crate::cli::fetch_status::FetchWhat>,
}

/// What one pass did, for its summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FetchSummary {
    /// Messages that earlier runs had spooled and not processed.
    pub resumed: usize,
    pub inbound: DrainReport,
    pub letters: DeliveryReport,
}

impl FetchSummary {
    /// One line: what was read and what became of it, and the letters written.
    pub fn line(&self, setup: &Setup) -> String {
        let inbound = &self.inbound;
        let resumed = if self.resumed > 0 { format!(" (and {} left from an earlier run)", self.resumed) } else { String::new() };
        format!(
            "fetch: read {}{resumed}: opened {}, threaded {}, ignored {}, quarantined {}, duplicates {}; {}",
            inbound.files,
            inbound.created,
            inbound.updated,
            inbound.ignored,
            inbound.quarantined,
            inbound.duplicates,
            letters_written(&self.letters, &setup.site.config),
        )
    }
}

impl Fetch {
    pub fn execute(&self, setup: &Setup, quiet: bool) -> Result<(), Failure> {
        if let Some(what) = &self.what {
            return what.execute(setup);
        }
        let (summary, result) = self.pass(setup)?;
        if !quiet {
            crate::cli::print_line(&summary.line(setup));
        }
        result
    }

    /// One pass; the IMAP accounts that failed are the second part, after what the
    /// pass did nonetheless.
    pub fn pass(&self, setup: &Setup) -> Result<(FetchSummary, Result<(), Failure>), Failure> {
        let mut summary = FetchSummary::default();
        let store = setup.open_store()?;
        let core = SharedStore::new(setup.site.clone(), store, setup.clock);
        {
            let mut store = core.store.lock().unwrap_or_else(PoisonError::into_inner);
            summary.resumed = pipeline::resume(&setup.site, &mut store, setup.clock.now())?;
        }

        // IMAP: one account after the other; a failing account does not keep the others
        // (or the Maildir) from being read, but the command still reports it.
        let mut failures = Vec::new();
        let accounts = &setup.site.config.inbound.imap;
        if !accounts.is_empty() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| anyhow::anyhow!("cannot start the IMAP runtime: {error}"))?;
            for account in accounts {
                match runtime.block_on(imap::fetch_account(account, &core)) {
                    Ok(report) => {
                        tracing::info!(account = account.account(), ?report, "IMAP account fetched");
                        imap::add(&mut summary.inbound, &report);
                    }
                    Err(error) => {
                        tracing::error!(account = account.account(), "IMAP fetch failed: {error:#}");
                        failures.push(format!("{}: {error:#}", account.account()));
                    }
                }
            }
        }

        let mut store = core.store.lock().unwrap_or_else(PoisonError::into_inner);
        // While the Maildir is processed on this thread, others checkpoint the WAL and
        // deliver the letters each batch claimed in its commit: their disk waits overlap
        // with the work of processing, and none waits for another's write lock.
        let checkpointer = Checkpointer::beside(&store, &setup.site.config.store);
        let now = setup.clock.now();
        let mut courier = match setup.site.config.outbound.deliver_immediately {
            true => Courier::beside(&setup.site.config.store, &setup.site.config.outbound, now),
            false => None,
        };
        let report = maildir::drain(&setup.site, &mut store, &setup.site.config.inbound.maildir, now, courier.as_mut());
        if let Some(courier) = courier {
            summary.letters.add(&courier.finish(&mut store, now));
        }
        if let Some(checkpointer) = checkpointer {
            checkpointer.finish(&store)?;
        }
        let report = report?;
        tracing::info!(?report, "inbound Maildir drained");
        imap::add(&mut summary.inbound, &report);
        summary.letters.add(&deliver_now(setup, &mut store));
        if let Err(error) = store.checkpoint_and_empty_wal() {
            tracing::debug!("WAL left for the next process: {error:#}");
        }
        let result = if failures.is_empty() {
            Ok(())
        } else {
            Err(Failure::Other(anyhow::anyhow!(
                "IMAP fetch failed (what was stored is kept; the next pass goes on from there): {}",
                failures.join("; ")
            )))
        };
        Ok((summary, result))
    }
}

