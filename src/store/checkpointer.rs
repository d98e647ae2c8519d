//! A thread with a connection of its own that copies the WAL into the database file
//! while the other connections write (`serve`'s tasks, a `fetch`), so that no writer's
//! commit stops to do it and the copying overlaps with the work, on the other core.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::config::StoreConfig;
use crate::store::Store;

/// SQLite's own threshold: the commit that leaves the WAL with this many pages
/// checkpoints, unless a checkpointer runs.
const DEFAULT_CHECKPOINT_PAGES: u32 = 1000;
/// While a checkpointer runs, a writer checkpoints by itself only should the WAL grow
/// this far (the thread could not keep up, or a long read held it back).
pub const CHECKPOINT_PAGES_WITH_CHECKPOINTER: u32 = 10_000;

/// How often the thread beside a batch (`fetch`, a long `tick`) looks: a look at a WAL
/// with nothing new costs microseconds, and a busy writer adds a few hundred pages
/// meanwhile.
const BESIDE_A_BATCH: Duration = Duration::from_millis(20);
/// How often serve's thread looks. Each checkpoint ends in a flush of the database file,
/// and an `ingest` whose flush into the intake comes meanwhile waits behind it on the
/// disk: once a second instead of after each of the core's commits, fewer answers wait
/// (the hand-off's p95 some 1.5 ms shorter in the ingest bench). A burst that adds
/// [`CHECKPOINT_PAGES_WITH_CHECKPOINTER`] pages sooner is checkpointed by its writer.
pub const BESIDE_SERVE: Duration = Duration::from_secs(1);

/// Stops and joins its thread when dropped.
pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts a checkpointer for the store that `writer` has open and leaves the writer's
    /// checkpoints to it. Without one (PostgreSQL, or it could not start: logged), the
    /// writer checkpoints as before.
    pub fn beside(writer: &Store, config: &StoreConfig) -> Option<Checkpointer> {
        let started = Checkpointer::start(config, BESIDE_A_BATCH).and_then(|checkpointer| {
            if checkpointer.is_some() {
                writer.set_checkpoint_after(CHECKPOINT_PAGES_WITH_CHECKPOINTER)?;
            }
            Ok(checkpointer)
        });
        started.unwrap_or_else(|error| {
            tracing::warn!("the writer checkpoints by itself: {error:#}");
            None
        })
    }

    /// Stops the thread and gives `writer` its own checkpoints back.
    pub fn finish(self, writer: &Store) -> crate::store::Result<()> {
        drop(self);
        writer.set_checkpoint_after(DEFAULT_CHECKPOINT_PAGES)
    }

    /// Starts the thread on the store of `config`, looking `every` so often; none for
    /// PostgreSQL, whose server checkpoints by itself. Writers should raise their own
    /// threshold ([`Store::set_checkpoint_after`]) to [`CHECKPOINT_PAGES_WITH_CHECKPOINTER`].
    pub fn start(config: &StoreConfig, every: Duration) -> anyhow::Result<Option<Checkpointer>> {
        if config.url.is_some() {
            return Ok(None);
        }
        let store = Store::open(config)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("checkpointer".into()).spawn(move || {
            let (lock, wake) = &*stopped;
            loop {
                // PASSIVE: as far as readers allow, without waiting for anyone; a writer
                // goes on appending meanwhile.
                if let Err(error) = store.checkpoint() {
                    tracing::debug!("checkpoint postponed: {error:#}");
                }
                let stop = lock.lock().unwrap_or_else(PoisonError::into_inner);
                let (stop, _) = wake.wait_timeout_while(stop, every, |stop| !*stop).unwrap_or_else(PoisonError::into_inner);
                if *stop {
                    return;
                }
            }
        })?;
        Ok(Some(Checkpointer { stop, thread: Some(thread) }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_pages_setting(store: &Store) -> i64 {
        store.conn.query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0)).unwrap()
    }

    /// The writer's commits stay below its raised threshold, so only the thread can have
    /// copied the pages into the database file.
    #[test]
    fn the_thread_copies_what_the_writer_commits_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig { path: dir.path().join("db"), ..StoreConfig::default() };
        let mut writer = Store::open(&config).unwrap();
        let file_size = || std::fs::metadata(&config.path).unwrap().len();
        let before = file_size();
        let checkpointer = Checkpointer::beside(&writer, &config).expect("a SQLite store has a checkpointer");
        assert_eq!(wal_pages_setting(&writer), i64::from(CHECKPOINT_PAGES_WITH_CHECKPOINTER));
        for index in 0..50 {
            let tx = writer.write().unwrap();
            crate::store::set_setting(&tx, &format!("filler {index}"), &"x".repeat(20_000)).unwrap();
            tx.commit().unwrap();
        }
        let waited = std::time::Instant::now();
        while file_size() < before + 1_000_000 && waited.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(file_size() >= before + 1_000_000, "the database file is still {} bytes", file_size());
        checkpointer.finish(&writer).unwrap();
        assert_eq!(wal_pages_setting(&writer), i64::from(DEFAULT_CHECKPOINT_PAGES));
    }
}
