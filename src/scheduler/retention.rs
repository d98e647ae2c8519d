//! Retention policy: when closed tickets are purged, and forgetting a person, over the
//! SQL in `store::retention`.

use chrono::{DateTime, Duration, Utc};

use crate::config::{Config, RetentionConfig};
use crate::store::retention::{self, Forgotten, Purged};
use crate::store::Store;

/// Tickets purged per write transaction: mail arriving meanwhile waits briefly.
const TICKETS_PER_COMMIT: usize = 100;

/// How often the scheduler looks for tickets to purge.
const PASS_INTERVAL_MINUTES: i64 = 60;

/// The tickets a purge at `now` takes: none when `closed_days` is 0.
pub fn candidates(config: &RetentionConfig, store: &Store, now: DateTime<Utc>) -> anyhow::Result<Vec<i64>> {
    if config.closed_days == 0 {
        return Ok(Vec::new());
    }
    Ok(retention::purge_candidates(&store.conn, now - Duration::days(i64::from(config.closed_days)))?)
}

/// Purges what the policy says, in short transactions.
pub fn purge(config: &RetentionConfig, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<Purged> {
    let doomed = candidates(config, store, now)?;
    let mut total = Purged::default();
    for chunk in doomed.chunks(TICKETS_PER_COMMIT) {
        let tx = store.write()?;
        let purged = retention::purge(&tx, chunk, now)?;
        tx.commit()?;
        total.tickets += purged.tickets;
        total.messages += purged.messages;
        total.attachments += purged.attachments;
        total.blobs += purged.blobs;
    }
    Ok(total)
}

/// The scheduler's share: a purge at most once an hour, when a retention is configured.
pub fn purge_due(config: &RetentionConfig, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    if config.closed_days == 0 {
        return Ok(0);
    }
    let last = retention::last_purge_pass(&store.conn)?.as_deref().and_then(crate::clock::parse_time);
    if last.is_some_and(|last| now - last < Duration::minutes(PASS_INTERVAL_MINUTES) && last <= now) {
        return Ok(0);
    }
    let purged = purge(config, store, now)?;
    retention::set_last_purge_pass(&store.conn, now)?;
    if purged.tickets > 0 {
        tracing::info!(tickets = purged.tickets, messages = purged.messages, "retention purge");
    }
    Ok(purged.tickets)
}

/// Forgets the person with `address`; `None` when nobody has it.
pub fn forget(config: &Config, store: &mut Store, address: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Forgotten>> {
    let tx = store.write()?;
    let forgotten = retention::forget(&tx, address, now)?;
    tx.commit()?;
    if forgotten.is_some() && config.people.iter().any(|person| person.addresses.iter().any(|known| known.eq_ignore_ascii_case(address.trim()))) {
        tracing::warn!("the configuration lists this address under [[people]]: remove it there too, or it comes back at the next start");
    }
    Ok(forgotten)
}
