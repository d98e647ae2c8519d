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
use crate::pipeline::{self, Outcome, Prepared, ReadAhead};
use crate::site::Site;
use crate::store::compression::{self, Compressor};
use crate::store::Store;
use crate::ticket::SpoolId;

/// What a source's reading thread compresses with, made by the writer after each batch
/// (a dictionary trained meanwhile is used from then on): raw messages and their notes.
#[derive(Clone)]
pub struct Compressors {
    messages: Compressor,
    notes: Compressor,
}

impl Compressors {
    pub fn of(store: &Store) -> crate::store::Result<Compressors> {
        Ok(Compressors { messages: compression::compressor(&store.conn, "in")?, notes: compression::compressor(&store.conn, "note")? })
    }

    /// What the reading thread makes of `raw` before the writer takes it: its spool key
    /// and compressed bytes, and the message parsed with its note compressed.
    pub fn read_ahead(&self, site: &Site, raw: &[u8]) -> (Prepared, ReadAhead) {
        let prepared = pipeline::prepare(&self.messages, raw);
        let mut ahead = pipeline::read_ahead(site, raw);
        pipeline::compress_note_ahead(&mut ahead, &self.notes);
        (prepared, ahead)
    }
}

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

/// How far behind taking mail in (a hand-off's answer, `reqmail-ingest` storing into
/// the intake) the processing of what was taken in runs where idle scheduling is missing:
/// with both at work on two cores, an answer waits for processing only a tenth of the
/// time it would at equal priority.
const PROCESSING_NICENESS: i32 = 10;

/// Puts the calling thread (and the threads it starts later) behind everything else:
/// serve's core and the intake's drain call it, never the code that answers a hand-off.
/// Once per thread; a thread cannot raise itself back.
///
/// On Linux the thread is scheduled as idle (`SCHED_IDLE`): a nicer thread still holds
/// its CPU until the scheduler's next tick (4 ms at 250 Hz), and a thread woken to answer
/// an `ingest` (the intake's flush done, the answer to write) is queued behind it even
/// while the other CPU idles, where an idle-class thread gives way at once and its CPU
/// counts as free. The mail is on the disk in the intake by then; processing takes what
/// CPU nothing else wants.
pub fn process_behind_arrivals() {
    thread_local! {
        static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if LOWERED.with(|lowered| lowered.replace(true)) {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler reads the parameter struct we pass; 0 is this thread.
    // getpriority and setpriority only read their integer arguments.
    let lowered = unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 || {
            // On Linux a niceness belongs to a thread: `who` 0 is this one. Relative to
            // where it started (under `nice`, say), at most 19, the lowest.
            let started = libc::getpriority(libc::PRIO_PROCESS, 0);
            libc::setpriority(libc::PRIO_PROCESS, 0, (started + PROCESSING_NICENESS).min(19)) == 0
        }
    };
    #[cfg(not(target_os = "linux"))]
    let lowered = true;
    if !lowered {
        tracing::debug!("processing runs at the priority of taking mail in: {}", std::io::Error::last_os_error());
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
            process_behind_arrivals();
            // A panic in earlier work leaves the connection usable: every transaction
            // rolls back when its guard drops.
            let mut store = shared.store.lock().unwrap_or_else(PoisonError::into_inner);
            work(&shared.site, &mut store, shared.clock.now())
        })
        .await
        .context("database work stopped unexpectedly")?
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The thread's policy and niceness.
    fn priority() -> (i32, i32) {
        // SAFETY: sched_getscheduler and getpriority only read their integer arguments.
        unsafe { (libc::sched_getscheduler(0), libc::getpriority(libc::PRIO_PROCESS, 0)) }
    }

    #[test]
    fn processing_lowers_its_own_thread_once_and_no_other() {
        let before = priority();
        let (lowered, started_after, again) = std::thread::spawn(|| {
            process_behind_arrivals();
            let lowered = priority();
            let started_after = std::thread::spawn(priority).join().unwrap();
            process_behind_arrivals();
            (lowered, started_after, priority())
        })
        .join()
        .unwrap();
        // Linux lets any thread make itself idle-class; its niceness stays as it was.
        assert_eq!(lowered, (libc::SCHED_IDLE, before.1));
        assert_eq!(started_after, lowered, "a thread it starts inherits it");
        assert_eq!(again, lowered, "lowered once, not again on each call");
        assert_eq!(priority(), before, "the calling thread is left alone");
    }
}
