//! `reqmail ingest`: one message from an MTA's pipe, handed to a running serve or
//! stored and processed here; the exit status tells the MTA whether to retry.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::{Cli, Failure, Setup};
use crate::clock::Clock;
use crate::config::Config;
use crate::pipeline::Incoming;
use crate::source::pipe::{self, Processed};
use crate::source::socket::{self, NotTaken};
use crate::store::LARGE_MESSAGE_BYTES;
use crate::transport::deliver;

/// Read one message on stdin (MTA pipe); a running `reqmail serve` takes it over its
/// socket, else ingest stores and processes it itself. Exit 0: accepted (stored,
/// quarantined or ignored); 75: nothing was stored, the MTA must retry; 64/78:
/// usage/configuration.
#[derive(Debug, clap::Args)]
pub struct Ingest {
    /// The envelope recipient (e.g. Postfix's ${recipient}); used for threading by plus-address.
    #[arg(long, value_name = "ADDRESS")]
    pub recipient: Option<String>,
    /// Move what waits in the intake through the pipeline, then exit; reads no message.
    /// `reqmail-ingest` starts it after it took a message in while no serve listened.
    #[arg(long, conflicts_with = "recipient")]
    pub drain: bool,
}

impl Ingest {
    pub fn execute(&self, cli: &Cli) -> Result<(), Failure> {
        // Once the bytes are committed, the MTA must hear "accepted" whatever happens next:
        // a panic or an error later leaves the message spooled for the next pass.
        let spooled = AtomicBool::new(false);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(cli, &spooled)));
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Failure::Other(error) | Failure::TryAgain(error))) if spooled.load(Ordering::SeqCst) => {
                tracing::warn!("message stored; processing postponed: {error:#}");
                Ok(())
            }
            Ok(Err(Failure::Other(error))) => Err(Failure::TryAgain(error)),
            Ok(Err(failure)) => Err(failure),
            Err(_) if spooled.load(Ordering::SeqCst) => Ok(()),
            Err(_) => Err(Failure::TryAgain(anyhow::anyhow!("internal error before the message was stored"))),
        }
    }

    fn run(&self, cli: &Cli, spooled: &AtomicBool) -> Result<(), Failure> {
        let config = Config::load(cli.config.as_deref()).map_err(|error| Failure::Config(error.into()))?;
        let clock = Clock::from_env().map_err(Failure::Config)?;
        if self.drain {
            return drain(Setup::new(config, clock)?);
        }
        let raw = pipe::read_message(&mut std::io::stdin().lock())
            .map_err(|error| Failure::TryAgain(anyhow::anyhow!("cannot read the message from standard input: {error}")))?;
        let recipient = self.recipient.as_deref().and_then(crate::parse::bare_address);
        if let Some(path) = config.ingest_socket() {
            let fixed = match clock {
                Clock::Fixed(at) => Some(at),
                Clock::System => None,
            };
            match socket::hand_over(&path, &raw, recipient.as_deref(), fixed) {
                Ok(answer) => {
                    tracing::info!(source = "pipe", "taken by reqmail serve: {answer}");
                    return Ok(());
                }
                Err(NotTaken::NobodyListens) => {}
                Err(reason) => tracing::info!("reqmail serve did not take the message ({reason}); storing it here"),
            }
        }
        let setup = Setup::new(config, clock)?;
        let mut store = setup.open_store().map_err(Failure::TryAgain)?;
        // Mail a serve acknowledged before this one goes first, so that a reply never
        // overtakes its request; if it cannot move now, the next serve or tick does.
        if let Err(error) = crate::source::intake::move_leftovers(&setup.site, &mut store, setup.clock.now()) {
            tracing::warn!("the intake waits for later: {error:#}");
        }
        let incoming = Incoming { raw: &raw, source: "pipe", recipient: recipient.as_deref(), queue: None };
        let now = setup.clock.now();
        let processed = if raw.len() > LARGE_MESSAGE_BYTES {
            let stored = pipe::spool(&mut store, &incoming, now).map_err(Failure::TryAgain)?;
            spooled.store(true, Ordering::SeqCst);
            // Processing reads the message from the spool, as every pass does; a second
            // copy of a large message would double what it costs in memory.
            drop(raw);
            pipe::process(&setup.site, &mut store, &stored, now)
        } else {
            let processed = pipe::spool_and_process(&setup.site, &mut store, &incoming, now).map_err(Failure::TryAgain)?;
            spooled.store(true, Ordering::SeqCst);
            processed
        };
        match processed {
            Processed::Done { outcomes, due } => {
                for (id, outcome) in outcomes {
                    crate::source::log_handled("pipe", id, &outcome);
                }
                if !due.is_empty() {
                    if let Err(error) = deliver::deliver_claimed(&store, &setup.site.config.outbound, now, due) {
                        tracing::warn!("delivery postponed: {error:#}");
                    }
                }
            }
            Processed::Postponed(error) => tracing::warn!("message stored; processing postponed: {error:#}"),
        }
        leave(store);
        Ok(())
    }
}

/// `ingest --drain`: moves the intake, as long as something waits in it.
fn drain(setup: Setup) -> Result<(), Failure> {
    crate::source::process_behind_arrivals();
    let (moved, store) = pipe::drain(&setup.site, || setup.open_store(), || setup.clock.now()).map_err(Failure::TryAgain)?;
    tracing::info!(moved, "intake drained");
    if let Some(store) = store {
        leave(store);
    }
    Ok(())
}

/// Leaves the WAL short for the next process and exits without closing the database:
/// everything is committed, and closing would free its schema, page cache and
/// statements piece by piece (7 % of the instructions of an ingest) and write nothing
/// (no checkpoint on close); the exit releases it all at once.
fn leave(store: crate::store::Store) {
    if let Err(error) = store.leave_wal_short() {
        tracing::debug!("WAL left for the next process: {error:#}");
    }
    std::mem::forget(store);
}
