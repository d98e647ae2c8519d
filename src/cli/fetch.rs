//! `reqmail fetch`: one pass over the IMAP mailboxes and the inbound Maildir, with the
//! outbox delivered alongside.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::PoisonError;
use std::time::Duration;

use crate::cli::{deliver_now, Failure, Setup};
use crate::pipeline;
use crate::source::{imap, maildir, SharedStore};

/// One pass over the configured IMAP mailboxes and the inbound Maildir (and whatever
/// earlier runs left spooled).
#[derive(Debug, clap::Args)]
pub struct Fetch {}

impl Fetch {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let store = setup.open_store()?;
        let core = SharedStore::new(setup.site.clone(), store, setup.clock);
        {
            let mut store = core.store.lock().unwrap_or_else(PoisonError::into_inner);
            pipeline::resume(&setup.site, &mut store, setup.clock.now())?;
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
                    Ok(report) => tracing::info!(account = account.account(), ?report, "IMAP account fetched"),
                    Err(error) => {
                        tracing::error!(account = account.account(), "IMAP fetch failed: {error:#}");
                        failures.push(format!("{}: {error:#}", account.account()));
                    }
                }
            }
        }

        let mut store = core.store.lock().unwrap_or_else(PoisonError::into_inner);
        // While the Maildir is processed on this thread, another delivers the mail already
        // committed and checkpoints the WAL: the disk waits of both overlap with the work
        // of processing.
        let alongside = setup.site.config.outbound.deliver_immediately;
        if alongside {
            store.set_checkpoint_after(CHECKPOINT_PAGES_WITHOUT_HELPER)?;
        }
        let stop = AtomicBool::new(false);
        let report = std::thread::scope(|scope| {
            let deliverer = alongside.then(|| scope.spawn(|| deliver_alongside(setup, &stop)));
            let report = maildir::drain(&setup.site, &mut store, &setup.site.config.inbound.maildir, setup.clock.now());
            stop.store(true, Ordering::SeqCst);
            if let Some(deliverer) = deliverer {
                let _ = deliverer.join();
            }
            report
        });
        if alongside {
            store.set_checkpoint_after(DEFAULT_CHECKPOINT_PAGES)?;
        }
        let report = report?;
        tracing::info!(?report, "inbound Maildir drained");
        deliver_now(setup, &mut store);
        if let Err(error) = store.checkpoint_and_empty_wal() {
            tracing::debug!("WAL left for the next process: {error:#}");
        }
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

/// SQLite's own threshold, restored once the helper thread is gone.
const DEFAULT_CHECKPOINT_PAGES: u32 = 1000;
/// While the helper checkpoints, the WAL does not grow near this; should the helper
/// stop early, the processing thread checkpoints here itself.
const CHECKPOINT_PAGES_WITHOUT_HELPER: u32 = 10_000;

/// Delivers due outbox rows and checkpoints on its own connection until `stop` is set
/// and nothing is due. Failures are logged and left to the final pass.
fn deliver_alongside(setup: &Setup, stop: &AtomicBool) {
    let outbound = &setup.site.config.outbound;
    let prepared = setup.open_store().and_then(|store| Ok((store, crate::transport::from_config(outbound)?)));
    let (store, mut transport) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return tracing::warn!("delivery during fetch postponed: {error:#}"),
    };
    loop {
        if let Err(error) = store.checkpoint() {
            tracing::debug!("checkpoint during fetch postponed: {error:#}");
        }
        match crate::transport::deliver::deliver_due(&store, transport.as_mut(), outbound, setup.clock.now()) {
            Ok(report) if report.sent + report.deferred + report.failed > 0 => {}
            Ok(_) if stop.load(Ordering::SeqCst) => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => return tracing::warn!("delivery during fetch postponed: {error:#}"),
        }
    }
}
