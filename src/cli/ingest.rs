use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::{deliver_claimed, Cli, Failure, Session};
use crate::pipeline::{self, Incoming};

/// Read one message on stdin (MTA pipe). Exit 0: accepted (stored, quarantined or
/// ignored); 75: nothing was stored, the MTA must retry; 64/78: usage/configuration.
#[derive(Debug, clap::Args)]
pub struct Ingest {
    /// The envelope recipient (e.g. Postfix's ${recipient}); used for threading by plus-address.
    #[arg(long, value_name = "ADDRESS")]
    pub recipient: Option<String>,
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
        let session = Session::start(cli)?;
        let raw = crate::source::pipe::read_message(&mut std::io::stdin().lock())
            .map_err(|error| Failure::TryAgain(anyhow::anyhow!("cannot read the message from standard input: {error}")))?;
        let mut store = session.open_store().map_err(Failure::TryAgain)?;
        store.keep_wal_short().map_err(|error| Failure::TryAgain(error.into()))?;
        let recipient = self.recipient.as_deref().and_then(crate::parse::bare_address);
        let incoming = Incoming { raw: &raw, source: "pipe", recipient: recipient.as_deref(), queue: None };
        let now = session.clock.now();
        let stored = pipeline::spool(&mut store, &[incoming], now).map_err(Failure::TryAgain)?;
        spooled.store(true, Ordering::SeqCst);
        crate::fault::point("after-spool");
        // The letters are claimed in the commit that queues them: no commit of their own
        // before they go out.
        let context = &session.context;
        let deliver = context.config.outbound.deliver_immediately;
        let (outcomes, due) = pipeline::process_then(context, &mut store, &pipeline::waiting(&stored), now, |tx| {
            Ok(if deliver { crate::transport::deliver::claim(tx, now)? } else { Vec::new() })
        })?;
        for (id, outcome) in outcomes {
            crate::source::log_handled("pipe", id, &outcome);
        }
        if !due.is_empty() {
            deliver_claimed(&session, &store, due);
        }
        Ok(())
    }
}
