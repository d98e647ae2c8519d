//! Step 1: where mail comes from. Each source hands raw bytes to `pipeline::spool` and
//! acknowledges them (exit status, Maildir rename, IMAP flag or move) only after the
//! spool commit.

pub mod health;
pub mod imap;
pub mod intake;
pub mod maildir;
pub mod pipe;
pub mod socket;

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::pipeline::Outcome;
use crate::site::Site;
use crate::store::Store;
use crate::ticket::SpoolId;

/// The one log line per message handled: source, ticket, action.
pub fn log_handled(source: &str, id: SpoolId, outcome: &Outcome) {
    match outcome {
        Outcome::Applied { ticket, created } => {
            let action = if *created { "created" } else { "updated" };
            tracing::info!(source, spool = id.0, ticket = ticket.0, action, "message handled");
        }
        Outcome::Quarantined { reason } => tracing::info!(source, spool = id.0, action = "quarantined", reason, "message handled"),
        Outcome::Ignored { reason } => tracing::info!(source, spool = id.0, action = "ignored", reason, "message handled"),
        Outcome::Duplicate => tracing::info!(source, spool = id.0, action = "duplicate", "message handled"),
    }
}

/// The synchronous core as the async sources see it: configuration, the one database
/// connection and the clock. Work on the database runs through [`SharedStore::run`] on tokio's
/// blocking pool, so no runtime worker waits on SQLite and no transaction is held
/// across an `.await`.
#[derive(Clone)]
pub struct SharedStore {
    pub site: Arc<Site>,
    /// A `std::sync::Mutex`, not a tokio one: it is only taken inside blocking work,
    /// never held across an `.await`.
    pub store: Arc<Mutex<Store>>,
    pub clock: Clock,
}

impl SharedStore {
    pub fn new(site: Arc<Site>, store: Store, clock: Clock) -> SharedStore {
        SharedStore { site, store: Arc::new(Mutex::new(store)), clock }
    }

    /// Runs `work` with the store on the blocking pool, at the current time.
    pub async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Site, &mut Store, DateTime<Utc>) -> anyhow::Result<T> + Send + 'static,
    {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in earlier work leaves the connection usable: every transaction
            // rolls back when its guard drops.
            let mut store = shared.store.lock().unwrap_or_else(PoisonError::into_inner);
            work(&shared.site, &mut store, shared.clock.now())
        })
        .await
        .context("database work stopped unexpectedly")?
    }
}
