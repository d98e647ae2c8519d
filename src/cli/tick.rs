//! `reqmail tick`: one pass of the timed jobs, then the outbox.

use crate::cli::{letters_written, Failure, Setup};
use crate::scheduler::{self, TickReport};

/// One scheduler pass: auto-close, reminders, escalations, hold timeouts, nag mail,
/// surveys, spooled messages, then the outbox and the webhook events. Idempotent; run it every minute.
#[derive(Debug, clap::Args)]
pub struct Tick {}

impl Tick {
    pub fn execute(&self, setup: &Setup, quiet: bool) -> Result<(), Failure> {
        let mut store = setup.open_store()?;
        let report = scheduler::tick(&setup.site, &mut store, setup.clock.now())?;
        tracing::info!(?report, "scheduler pass");
        let webhooks = crate::cli::deliver_webhooks(setup, &store);
        if !quiet {
            let mut line = summary_line(&report, setup);
            if !setup.site.config.webhooks.is_empty() {
                line.push_str(&format!("; webhook events sent {}, to retry {}, given up {}", webhooks.sent, webhooks.deferred, webhooks.failed));
            }
            crate::cli::print_line(&line);
        }
        Ok(())
    }
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
