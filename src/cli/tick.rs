//! `reqmail tick`: one pass of the timed jobs, then the outbox.

use crate::cli::{letters_written, Failure, Setup};
use crate::scheduler::{self, TickReport};
use crate::store::checkpointer::Checkpointer;

/// One scheduler pass: auto-close, reminders, escalations, hold timeouts, nag mail,
/// surveys, spooled messages, then the outbox and the webhook events. Idempotent; run it every minute.
#[derive(Debug, clap::Args)]
pub struct Tick {}

impl Tick {
    pub fn execute(&self, setup: &Setup, quiet: bool) -> Result<(), Failure> {
        let mut store = setup.open_store()?;
        let moved = move_intake_unless_served(setup, &mut store);
        let now = setup.clock.now();
        let checkpointer = if scheduler::is_long_pass(&store, now)? { Checkpointer::beside(&store, &setup.site.config.store) } else { None };
        let report = scheduler::tick(&setup.site, &mut store, now);
        if let Some(checkpointer) = checkpointer {
            checkpointer.finish(&store)?;
        }
        let report = report?;
        tracing::info!(?report, "scheduler pass");
        let webhooks = crate::cli::deliver_webhooks(setup, &store);
        let directory = sync_directory_if_due(setup, &mut store)?;
        if !quiet {
            let mut line = summary_line(&report, setup);
            if moved > 0 {
                line.push_str(&format!("; moved from the intake {moved}"));
            }
            if let Some(directory) = directory {
                line.push_str(&format!("; directory: {directory}"));
            }
            if !setup.site.config.webhooks.is_empty() {
                line.push_str(&format!("; webhook events sent {}, to retry {}, given up {}", webhooks.sent, webhooks.deferred, webhooks.failed));
            }
            crate::cli::print_line(&line);
        }
        Ok(())
    }
}

/// What waits in the intake (a serve killed or stopped before it moved it, a drain that
/// failed) joins the spool first, unless a serve listens or a drain runs, which moves it
/// itself. Never fails the tick: what stays is moved by the next serve, drain or tick.
fn move_intake_unless_served(setup: &Setup, store: &mut crate::store::Store) -> usize {
    let config = &setup.site.config;
    if config.ingest_socket().is_some_and(|path| crate::source::socket::serve_listens(&path)) || crate::source::pipe::drain_runs(&config.store.path) {
        return 0;
    }
    crate::source::intake::move_leftovers(&setup.site, store, setup.clock.now()).unwrap_or_else(|error| {
        tracing::warn!("the intake waits for later: {error:#}");
        0
    })
}

/// The directory sync when one is due: its summary, or why it failed. A directory that
/// is down fails no tick: the people stay as they were, and `doctor` tells.
fn sync_directory_if_due(setup: &Setup, store: &mut crate::store::Store) -> Result<Option<String>, Failure> {
    let Some(ldap) = &setup.site.config.directory.ldap else { return Ok(None) };
    if !crate::ops::ldap::is_due(&store.conn, ldap, setup.clock.now())? {
        return Ok(None);
    }
    Ok(Some(match crate::ops::ldap::sync_blocking(ldap, store, || setup.clock.now()) {
        Ok(synced) => synced.summary(),
        Err(error) => format!("not synced ({error:#})"),
    }))
}

fn summary_line(report: &TickReport, setup: &Setup) -> String {
    format!(
        "tick: resumed {}, auto-closed {}, reminders {}, escalations {}, hold timeouts {}, nags {}, surveys {}, purged {}; {}",
        report.resumed,
        report.auto_closed,
        report.reminders,
        report.escalations,
        report.hold_timeouts,
        report.nags,
        report.surveys,
        report.purged,
        letters_written(&report.delivery, &setup.site.config),
    )
}
