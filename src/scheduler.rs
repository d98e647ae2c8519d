//! The scheduler pass behind `reqmail tick` and `reqmail serve`: work that is due
//! because time passed or an earlier pass stopped short. Idempotent: running it twice
//! at the same `now` does nothing the second time.
//!
//! Today it resumes messages left spooled (a crash or a locked database between the
//! spool commit and processing) and delivers the outbox rows that are due. Later jobs
//! (auto-close, reminders, escalations, hold timeouts) belong here too, each going
//! through `plan` and `apply` like mail does.

use chrono::{DateTime, Utc};

use crate::pipeline::{self, Context};
use crate::store::{self, Store};
use crate::transport::{self, deliver::DeliveryReport};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    /// Spooled messages processed.
    pub resumed: usize,
    pub delivery: DeliveryReport,
}

/// One scheduler pass at `now`.
pub fn tick(context: &Context, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<TickReport> {
    let resumed = resume_spooled(context, store, now)?;
    let outbound = &context.config.outbound;
    let mut transport = transport::from_config(outbound)?;
    let delivery = transport::deliver::deliver_due(store, transport.as_mut(), outbound, now)?;
    Ok(TickReport { resumed, delivery })
}

/// Processes messages stored by an earlier run that stopped before processing them.
pub fn resume_spooled(context: &Context, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut resumed = 0;
    loop {
        let pending = store::messages::pending(&store.conn, 500)?;
        if pending.is_empty() {
            return Ok(resumed);
        }
        resumed += pipeline::process(context, store, &pending, now)?.len();
    }
}
