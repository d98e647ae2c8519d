//! One message on standard input, as an MTA's pipe transport delivers it, and what is
//! done with it: by `ingest` itself, or by a running `serve` it was handed to.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::{DateTime, Utc};

use crate::pipeline::{self, Incoming, Outcome};
use crate::site::Site;
use crate::store::messages::Spooled;
use crate::store::outbox::Letter;
use crate::store::Store;
use crate::ticket::SpoolId;

/// Reads the whole message. Nothing is cut: an oversized message is still kept, and
/// quarantined by the pipeline.
pub fn read_message(input: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(16 * 1024);
    input.read_to_end(&mut raw)?;
    Ok(raw)
}

/// Stores the message; it is on the disk when this returns `Ok`, and the MTA may hear
/// "accepted".
pub fn spool(store: &mut Store, incoming: &Incoming<'_>, now: DateTime<Utc>) -> anyhow::Result<Vec<Spooled>> {
    let stored = pipeline::spool(store, std::slice::from_ref(incoming), now)?;
    crate::fault::point("after-spool");
    Ok(stored)
}

/// How processing a stored message ended.
pub enum Processed {
    /// `due`: the letters claimed for delivery right away.
    Done { outcomes: Vec<(SpoolId, Outcome)>, due: Vec<Letter> },
    /// Processing failed; the message stays spooled for the next pass (`tick`, `serve`).
    Postponed(anyhow::Error),
}

/// Processes what [`spool`] stored and claims the letters to deliver, in one commit: no
/// commit of their own before they go out.
pub fn process(site: &Site, store: &mut Store, stored: &[Spooled], now: DateTime<Utc>) -> Processed {
    let processed = catch_unwind(AssertUnwindSafe(|| {
        pipeline::process_then(site, store, &pipeline::waiting(stored), now, |tx| claim_due(site, tx, now))
    }));
    match processed {
        Ok(Ok((outcomes, due))) => Processed::Done { outcomes, due },
        Ok(Err(error)) => Processed::Postponed(error),
        Err(_) => Processed::Postponed(anyhow::anyhow!("internal error while processing")),
    }
}

/// [`spool`] and [`process`] in a single commit, the one flush a process that handles
/// one message needs. `Err`: nothing was stored, the MTA must try again; a processing
/// that failed leaves the message stored and spooled for the next pass.
pub fn spool_and_process(site: &Site, store: &mut Store, incoming: &Incoming<'_>, now: DateTime<Utc>) -> anyhow::Result<Processed> {
    let stored = pipeline::spool_and_process_then(site, store, incoming, now, |tx| {
        crate::fault::panic_point("processing-panics");
        claim_due(site, tx, now)
    })?;
    Ok(match stored {
        Ok((outcomes, due)) => Processed::Done { outcomes, due },
        Err(error) => Processed::Postponed(error),
    })
}

/// The letters to deliver at once, claimed in the processing transaction.
fn claim_due(site: &Site, tx: &crate::store::Connection, now: DateTime<Utc>) -> anyhow::Result<Vec<Letter>> {
    Ok(if site.config.outbound.deliver_immediately { crate::transport::deliver::claim(tx, now)? } else { Vec::new() })
}
