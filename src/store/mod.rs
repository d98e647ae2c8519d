//! The storage interface: one SQLite file, all SQL of reqmail lives below this module.
//!
//! `open` sets the pragmas (WAL, foreign keys, busy timeout) and applies the numbered
//! migrations in `migrations/` in one transaction; a database written by a newer
//! reqmail is refused, never rewritten. The submodules hold the queries by subject.

pub mod blobs;
pub mod connection;
pub mod checkpointer;
pub mod directory;
pub mod error;
pub mod compression;
pub mod dump;
pub mod fetch_health;
pub mod hosts;
pub mod imap;
pub mod imports;
pub mod intake;
pub mod knowledge;
pub mod monitors;
pub mod messages;
pub mod outbox;
pub mod people;
pub mod postgres;
pub mod quarantine;
pub mod retention;
pub mod ratelimit;
pub mod report;
pub mod search;
pub mod space;
pub mod sounds;
pub mod tickets;
pub mod tutorial;
pub mod undeliverable;
pub mod webhooks;

use std::time::Duration;

use anyhow::Context as _;
pub use connection::{
    params, params_from_iter, Backend, Connection, Error, OptionalExtension, Params, Result, Row, Savepoint, Statement, ToSql,
    Transaction, TransactionBehavior,
};
use rusqlite_migration::{Migrations, M};

use crate::config::StoreConfig;

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/0001_initial.sql")),
    M::up(include_str!("migrations/0002_mail_language.sql")),
    M::up(include_str!("migrations/0003_imap.sql")),
    M::up(include_str!("migrations/0004_safety.sql")),
    M::up(include_str!("migrations/0005_outbox_claims.sql")),
    M::up(include_str!("migrations/0006_operations.sql")),
    M::up(include_str!("migrations/0007_oauth_fetch_health.sql")),
    M::up(include_str!("migrations/0008_reports_search.sql")),
    M::up(include_str!("migrations/0009_decisions.sql")),
    M::up(include_str!("migrations/0010_ticket_links.sql")),
    M::up(include_str!("migrations/0011_webhooks.sql")),
    M::up(include_str!("migrations/0012_performance.sql")),
    M::up(include_str!("migrations/0013_directory.sql")),
    M::up(include_str!("migrations/0014_desk.sql")),
    M::up(include_str!("migrations/0015_knowledge.sql")),
    M::up(include_str!("migrations/0016_queue_order.sql")),
    M::up(include_str!("migrations/0017_lean_storage.sql")),
    M::up(include_str!("migrations/0018_storage_decisions.sql")),
    M::up(include_str!("migrations/0019_storage_search.sql")),
    M::up(include_str!("migrations/0020_scale_listings.sql")),
    M::up(include_str!("migrations/0021_scale_status_order.sql")),
    M::up(include_str!("migrations/0022_storage_notes_keys.sql")),
    M::up(include_str!("migrations/0023_batch_search.sql")),
    M::up(include_str!("migrations/0024_note_function.sql")),
    M::up(include_str!("migrations/0025_gateway_claims.sql")),
    M::up(include_str!("migrations/0026_scale_primary_address.sql")),
    M::up(include_str!("migrations/0027_search_nfc.sql")),
    M::up(include_str!("migrations/0028_scheduler_triggers.sql")),
    M::up(include_str!("migrations/0029_postgres_listing_ties.sql")),
    M::up(include_str!("migrations/0030_admin_index.sql")),
    M::up(include_str!("migrations/0031_ticket_statements_keep_their_facts.sql")),
    M::up(include_str!("migrations/0032_ticket_creation_keeps_its_facts.sql")),
    M::up(include_str!("migrations/0033_history_statements_keep_their_facts.sql")),
    M::up(include_str!("migrations/0034_status_days_by_statement.sql")),
    M::up(include_str!("migrations/0035_keys_before_body_hash.sql")),
    M::up(include_str!("migrations/0036_inbound_found_by_dedupe_key.sql")),
    M::up(include_str!("migrations/0037_subject_sounds_in_fts5.sql")),
];

/// The page size of a new store. Rows of history and compressed messages run to a few
/// KB: 4 KiB pages (SQLite's default) hold one or two of them and leave the rest empty,
/// or spill a row's tail onto a page of its own. Measured on the benchmark's store of
/// 20,000 tickets: 8 KiB pages take 5.5 % less than 4 KiB, 16 KiB 7 %; per piped message
/// (CPU, paired runs) 8 KiB cost 3.5 % more than 4 KiB (within the noise), 16 KiB 9 %,
/// with four times the bytes written to the WAL per page changed.
pub const PAGE_SIZE: u32 = 8192;

/// The schema version this reqmail writes (`PRAGMA user_version` once migrated).
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The history actions whose detail is the note of the message they name.
macro_rules! note_actions {
    () => {
        "'comment', 'internal-note', 'automatic-comment', 'held-note'"
    };
}
pub(crate) use note_actions;

/// Whether a history entry of `action` holds a message's note.
pub fn is_note_action(action: &str) -> bool {
    note_actions!().split(", ").any(|quoted| quoted.trim_matches('\'') == action)
}

/// Adds the SQL functions that triggers and migrations call, to a connection that opens
/// the store.
pub(crate) fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    sounds::register(conn)?;
    knowledge::register(conn)?;
    compression::register(conn)?;
    messages::register(conn)
}

/// An open database with the schema at the latest version.
pub struct Store {
    pub conn: Connection,
    /// Inside [`Store::unchecked`]: SQLite's foreign-key checks are off.
    unchecked: bool,
}

impl Store {
    pub fn open(config: &StoreConfig) -> anyhow::Result<Store> {
        if let Some(url) = &config.url {
            return Store::open_postgres(url, config.busy_timeout_ms);
        }
        if let Some(parent) = config.path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the folder {} for the database", parent.display()))?;
        }
        let conn = rusqlite::Connection::open(&config.path)
            .with_context(|| format!("cannot open the database {}", config.path.display()))?;
        Store::prepare(conn, config).with_context(|| format!("database {}", config.path.display()))
    }

    /// A private in-memory database, for unit tests and `rules test`-style dry runs.
    pub fn open_in_memory(config: &StoreConfig) -> anyhow::Result<Store> {
        Store::prepare(rusqlite::Connection::open_in_memory()?, config)
    }

    /// The store on a PostgreSQL server, its schema brought up to date.
    fn open_postgres(url: &str, busy_timeout_ms: u64) -> anyhow::Result<Store> {
        let url = postgres::Url::parse(url)?;
        let mut client = url.connect()?;
        // As SQLite's busy timeout: a writer waits this long for the gateways' write lock
        // (or a row another holds), then fails with lock_not_available, which passes.
        // No JIT: reqmail's statements are short, and a listing over a large store is
        // estimated costly enough to be compiled first, which took 0.49 of its 0.61 s.
        client.batch_execute(&format!("SET lock_timeout = {busy_timeout_ms}; SET jit = off"))?;
        postgres::migrate(&mut client).with_context(|| format!("database {}", url.shown))?;
        Ok(Store { conn: Connection::Postgres(postgres::session::Session::new(client)), unchecked: false })
    }

    fn prepare(mut conn: rusqlite::Connection, config: &StoreConfig) -> anyhow::Result<Store> {
        conn.busy_timeout(Duration::from_millis(config.busy_timeout_ms))?;
        // Only an empty file takes a page size (and only before it leaves rollback mode);
        // an existing store keeps its own until `compact`.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        // journal_mode answers with a row, so it is read, not executed. Switching a new
        // file to WAL can meet another process doing the same: retry while busy.
        retry_busy(|| Ok(conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0))?))?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;")?;
        conn.pragma_update(None, "cache_size", -BATCH_CACHE_KIB)?;
        // Every query is prepared once per connection (the default cache of 16 thrashes).
        conn.set_prepared_statement_cache_capacity(256);
        // A short-lived `ingest` would otherwise checkpoint (and fsync) at every exit;
        // the write that fills the WAL checkpoints instead. Durability is the same.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        register_functions(&conn)?;
        let migrations = Migrations::from_slice(MIGRATIONS);
        let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if current != MIGRATIONS.len() as i64 {
            // Two processes may start on a new file at once. rusqlite_migration reads the
            // version before its own transaction, so the one that loses the race fails
            // ("table exists", or busy) after the winner committed; the version then
            // shows that, and another try is a no-op.
            let mut seen = current;
            retry_busy(|| match migrations.to_latest(&mut conn) {
                Ok(()) => Ok(()),
                Err(error) => {
                    let now: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
                    let error = anyhow::Error::new(error);
                    if now != seen {
                        seen = now;
                        return Err(error.context(Busy));
                    }
                    Err(error.context(
                        "cannot bring the schema up to date (a database from a newer reqmail is refused; restore a backup or upgrade reqmail)",
                    ))
                }
            })?;
        }
        let mut conn = Connection::Sqlite(conn);
        // A migration that rebuilt the search index leaves it to be filled here, once.
        if search::reindex_due(&conn)? {
            retry_busy(|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if search::reindex_due(&tx)? {
                    search::reindex(&tx)?;
                }
                Ok(tx.commit()?)
            })?;
        }
        Ok(Store { conn, unchecked: false })
    }

    /// For a process that handles one message and exits (the MTA pipe), as it leaves:
    /// a WAL of [`SHORT_WAL_PAGES`] or more is copied into the database file and
    /// emptied, unless another connection is using it (then it stays for the next
    /// process). SQLite replays the WAL whenever the first connection opens the file, so
    /// each such process pays for what the one before it left there; and it starts a
    /// checkpointed WAL over only at a later write of the process that checkpointed it,
    /// so a series of processes that wrote once each, checkpointing at commit, read and
    /// copied a WAL that only grew.
    pub fn leave_wal_short(&self) -> Result<()> {
        let Some(conn) = self.conn.as_sqlite() else { return Ok(()) };
        let Some(path) = conn.path().filter(|path| !path.is_empty()) else { return Ok(()) };
        let wal_bytes = std::fs::metadata(format!("{path}-wal")).map(|wal| wal.len()).unwrap_or(0);
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        // A frame is a page and its 24-byte header.
        if wal_bytes < SHORT_WAL_PAGES * (page_size + 24) {
            return Ok(());
        }
        let busy_timeout: u64 = conn.query_row("PRAGMA busy_timeout", [], |row| row.get(0))?;
        conn.busy_timeout(Duration::ZERO)?;
        let emptied = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        conn.busy_timeout(Duration::from_millis(busy_timeout))?;
        Ok(emptied?)
    }

    /// Checkpoint at the commit that leaves the WAL with `pages` or more (0: never);
    /// raised for a writer whose checkpoints another connection runs ([`Store::checkpoint`]).
    /// The WAL is SQLite's: these do nothing on PostgreSQL.
    pub fn set_checkpoint_after(&self, pages: u32) -> Result<()> {
        match self.conn.as_sqlite() {
            Some(conn) => Ok(conn.pragma_update(None, "wal_autocheckpoint", pages)?),
            None => Ok(()),
        }
    }

    /// Copies what the WAL holds into the database file, as far as readers allow,
    /// without waiting for anyone.
    pub fn checkpoint(&self) -> Result<()> {
        self.sqlite_pragma("PRAGMA wal_checkpoint(PASSIVE)")
    }

    /// Copies the whole WAL into the database file and empties it, waiting for readers
    /// (up to the busy timeout): after a long pass, so that the next process to open the
    /// file has nothing to replay.
    pub fn checkpoint_and_empty_wal(&self) -> Result<()> {
        self.sqlite_pragma("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Runs a pragma that answers with a row, on SQLite.
    fn sqlite_pragma(&self, pragma: &str) -> Result<()> {
        match self.conn.as_sqlite() {
            Some(conn) => Ok(conn.query_row(pragma, [], |_| Ok(()))?),
            None => Ok(()),
        }
    }

    /// Runs a pragma that answers nothing, on SQLite.
    fn sqlite_batch(&self, pragma: &str) -> Result<()> {
        match self.conn.as_sqlite() {
            Some(conn) => Ok(conn.execute_batch(pragma)?),
            None => Ok(()),
        }
    }

    /// Runs `work`, the processing of mail, without SQLite's foreign-key checks: each looks
    /// up the row referred to (the ticket of a history entry, a letter's message, a
    /// ticket's requester), a row the writer has just read or written in the same
    /// transaction, and together they took 7 % of a batch's writer. Everywhere else
    /// (commands, the scheduler, retention) they stay on, and backups and
    /// purges check the whole store for rows that refer to nothing
    /// (`pragma_foreign_key_check`). PostgreSQL checks every key itself.
    ///
    /// Nested, it only runs `work`: switching the checks expires every prepared statement
    /// (SQLite's flag pragmas do), so a drain that processes batch after batch switches
    /// them off once, not once a batch.
    pub fn unchecked<T>(&mut self, work: impl FnOnce(&mut Store) -> anyhow::Result<T>) -> anyhow::Result<T> {
        if self.unchecked {
            return work(self);
        }
        // A no-op inside a transaction, so set between them.
        self.sqlite_batch("PRAGMA foreign_keys = OFF")?;
        self.unchecked = true;
        let result = work(self);
        self.unchecked = false;
        self.sqlite_batch("PRAGMA foreign_keys = ON")?;
        result
    }

    /// Starts a write transaction that holds the write lock from its first statement,
    /// so that what it reads cannot change before it commits.
    pub fn write(&mut self) -> Result<Transaction<'_>> {
        self.conn.transaction_with_behavior(TransactionBehavior::Immediate)
    }

    /// Runs `work` in a write transaction whose commit waits until the data is on the
    /// disk: used for the spool, before a source is acknowledged.
    pub fn write_flushed<T>(
        &mut self,
        work: impl FnOnce(&mut Transaction<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        // A PostgreSQL commit waits for its WAL to be flushed already.
        self.sqlite_batch("PRAGMA synchronous = FULL")?;
        let result = (|| {
            let mut tx = self.write()?;
            let value = work(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })();
        self.sqlite_batch("PRAGMA synchronous = NORMAL")?;
        result
    }

    /// As [`Store::write_flushed`], but the commit does not wait for the disk: the returned
    /// [`Flush`] puts it there beside the caller, which goes on (a batch source processes
    /// what it spooled) and waits for it before it acknowledges its source. Syncing the
    /// write-ahead log file after the commit is what a synchronous commit does in it, and
    /// a checkpoint syncs that file before it reuses it.
    pub fn write_flushing<T>(&mut self, work: impl FnOnce(&mut Transaction<'_>) -> anyhow::Result<T>) -> anyhow::Result<(T, Flush)> {
        let wal = match self.conn.as_sqlite().and_then(rusqlite::Connection::path).filter(|path| !path.is_empty()) {
            Some(path) => std::path::PathBuf::from(format!("{path}-wal")),
            // In memory there is no disk; PostgreSQL's commit waits for its WAL already.
            None => return Ok((self.write_flushed(work)?, Flush(None))),
        };
        // A store that cannot keep a write-ahead log (some network file systems) commits
        // as before.
        let Ok(file) = std::fs::File::options().write(true).open(&wal) else { return Ok((self.write_flushed(work)?, Flush(None))) };
        let value = {
            let mut tx = self.write()?;
            let value = work(&mut tx)?;
            tx.commit()?;
            value
        };
        // SQLite names its files by their whole path.
        let folder = wal.parent().map(std::path::Path::to_path_buf);
        let flush = std::thread::Builder::new().name("flush".into()).spawn(move || {
            file.sync_data()?;
            // The log's name in its folder, should this commit have been its first.
            folder.map_or(Ok(()), |folder| std::fs::File::open(folder)?.sync_all())
        })?;
        Ok((value, Flush(Some(flush))))
    }
}

/// Puts what a store committed before it began on the disk, on a thread of its own:
/// [`Store::write_flushing`].
#[must_use = "a source acknowledges its messages only after the flush is waited for"]
pub struct Flush(Option<std::thread::JoinHandle<std::io::Result<()>>>);

impl Flush {
    /// Waits until the flush is done.
    pub fn wait(self) -> anyhow::Result<()> {
        let Some(thread) = self.0 else { return Ok(()) };
        thread.join().map_err(|_| anyhow::anyhow!("the thread flushing the store to the disk panicked"))?.context("cannot flush the store to the disk")
    }
}

/// Whether `error` is database trouble that another try may not have (busy, locked,
/// full, unwritable): the one place that decides whether mail stays spooled for the
/// next pass or is quarantined.
pub fn is_transient(error: &anyhow::Error) -> bool {
    use rusqlite::ErrorCode::*;
    error.chain().any(|cause| {
        if let Some(code) = sqlite_code(cause) {
            return matches!(
                code,
                DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | ReadOnly | CannotOpen | OutOfMemory | FileLockingProtocolFailed
            );
        }
        cause.downcast_ref::<Error>().is_some_and(|error| {
            // Class 40: a serialization failure or deadlock, the transaction rolled back;
            // 08: the connection; 53: out of resources; 57P0x: the server shutting down;
            // 55P03: a lock not had within the busy timeout.
            error.postgres_connection_lost()
                || error.postgres_code().is_some_and(|code| {
                    let code = code.code();
                    code.starts_with("40") || code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0") || code == "55P03"
                })
        })
    })
}

/// SQLite's error code in one link of an error chain, whichever layer wrapped it.
fn sqlite_code(cause: &(dyn std::error::Error + 'static)) -> Option<rusqlite::ErrorCode> {
    match cause.downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(failure, _)) => return Some(failure.code),
        Some(_) => return None,
        None => {}
    }
    if let Some(error) = cause.downcast_ref::<Error>() {
        return error.sqlite_code();
    }
    match cause.downcast_ref::<rusqlite_migration::Error>() {
        Some(rusqlite_migration::Error::RusqliteError { err: rusqlite::Error::SqliteFailure(failure, _), .. }) => Some(failure.code),
        _ => None,
    }
}

/// Marks an error as "another process is in the way; try again".
#[derive(Debug)]
struct Busy;

impl std::fmt::Display for Busy {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("another process changed the database meanwhile")
    }
}

/// Runs `work` again (up to about two seconds) while SQLite answers busy or locked
/// without waiting (lock upgrades, WAL switch), or `work` says [`Busy`].
fn retry_busy<T>(mut work: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut attempt = 0;
    loop {
        match work() {
            Ok(value) => return Ok(value),
            Err(error) if attempt < 100 && is_busy(&error) => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => return Err(error),
        }
    }
}

fn is_busy(error: &anyhow::Error) -> bool {
    // anyhow finds a context value by downcasting the whole error.
    error.downcast_ref::<Busy>().is_some()
        || error.chain().any(|cause| {
            matches!(sqlite_code(cause), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
        })
}

/// The schema version written in a database file, without migrating it.
pub fn version_of(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Whether this connection can take the write lock (and gives it back at once).
pub fn can_write(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
}

/// Leaves the file without a WAL beside it, as one file to copy or move into place; the
/// next `Store::open` switches it back.
pub fn as_single_file(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
}

/// WAL pages that a process handling one message leaves behind at most, when no other
/// connection is using the WAL ([`Store::leave_wal_short`]): some seven messages.
const SHORT_WAL_PAGES: u64 = 200;

/// The page cache of a batch pass, in KiB. Half as much spares the page faults of a
/// growing cache, but on a disk a 10,000-message fetch into a million tickets then spent
/// twice the system CPU reading back from the OS the pages it had let go.
const BATCH_CACHE_KIB: i64 = 64 << 10;
/// The page cache while a large message is stored or processed, in KiB.
const LARGE_MESSAGE_CACHE_KIB: i64 = 4 << 10;
/// A message above this many bytes is large.
pub const LARGE_MESSAGE_BYTES: usize = 1 << 20;

/// The pages of a large message are read once; kept in a batch-sized cache they would
/// add up to the cache's size to what the message costs in memory. Until
/// [`cache_for_batches`], the cache stays small (and gives back what it held).
pub fn cache_for_message(conn: &Connection, size: usize) -> Result<()> {
    if size > LARGE_MESSAGE_BYTES {
        set_cache(conn, LARGE_MESSAGE_CACHE_KIB)?;
    }
    Ok(())
}

/// A listing reads each page about once: a small cache keeps its memory flat however
/// many rows it goes through.
pub fn cache_for_scan(conn: &Connection) -> Result<()> {
    set_cache(conn, LARGE_MESSAGE_CACHE_KIB)
}

/// The cache grows only as pages are read; a batch pass over a large database reads the
/// same index pages again and again, and 2 MiB (the default) keeps few of them.
pub fn cache_for_batches(conn: &Connection) -> Result<()> {
    set_cache(conn, BATCH_CACHE_KIB)
}

/// SQLite's page cache of this connection; PostgreSQL's cache is the server's.
fn set_cache(conn: &Connection, kib: i64) -> Result<()> {
    match conn.as_sqlite() {
        Some(conn) => Ok(conn.pragma_update(None, "cache_size", -kib)?),
        None => Ok(()),
    }
}

/// Fills the zeroblob that row `rowid` of `table` holds in `column` with `bytes`.
/// Bound as a parameter, a blob is copied by SQLite before it is written; through the
/// incremental blob I/O it goes from our one copy into the pages.
pub fn write_blob(conn: &rusqlite::Connection, table: &str, column: &str, rowid: i64, bytes: &[u8]) -> Result<()> {
    let mut blob = conn.blob_open(rusqlite::MAIN_DB, table, column, rowid, false)?;
    blob.write_at(bytes, 0)?;
    Ok(())
}

/// The steps of SQLite's plan for `sql` with `params`: tests say which index a
/// statement reads by.
#[cfg(test)]
pub(crate) fn query_plan(conn: &Connection, sql: &str, params: impl Params) -> Vec<String> {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap().query_map(params, |row| row.get(3)).unwrap().collect::<Result<_>>().unwrap()
}

pub fn setting(conn: &Connection, name: &str) -> Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM settings WHERE name = ?1")?.query_row([name], |row| row.get(0)).optional()
}

/// Stores `value` under `name` unless a value is there already; returns the one kept.
/// Two processes may race on a fresh database: the first one wins for both.
pub fn setting_or_insert(conn: &Connection, name: &str, value: &str) -> Result<String> {
    conn.prepare_cached("INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)")?.execute([name, value])?;
    Ok(setting(conn, name)?.unwrap_or_else(|| value.to_string()))
}

pub fn set_setting(conn: &Connection, name: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")?
        .execute([name, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_flushed_beside_the_caller_is_committed_and_flushed_once_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig { path: dir.path().join("db"), ..StoreConfig::default() };
        let mut store = Store::open(&config).unwrap();
        let (value, flush) = store.write_flushing(|tx| Ok(set_setting(tx, "spooled", "yes").map(|()| 7)?)).unwrap();
        assert_eq!(value, 7);
        assert!(flush.0.is_some(), "a store in a file flushes its log on a thread");
        flush.wait().unwrap();
        assert_eq!(setting(&Store::open(&config).unwrap().conn, "spooled").unwrap().as_deref(), Some("yes"));
        // Work that fails commits nothing and leaves nothing to flush.
        assert!(store.write_flushing(|tx| -> anyhow::Result<()> { set_setting(tx, "spooled", "no")?; anyhow::bail!("refused") }).is_err());
        assert_eq!(setting(&store.conn, "spooled").unwrap().as_deref(), Some("yes"));
        let mut memory = Store::open_in_memory(&StoreConfig::default()).unwrap();
        let ((), flush) = memory.write_flushing(|_| Ok(())).unwrap();
        assert!(flush.0.is_none(), "nothing to flush in memory");
    }

    #[test]
    fn checks_switched_off_around_a_drain_stay_off_through_its_batches() {
        let mut store = Store::open_in_memory(&StoreConfig::default()).unwrap();
        let checked = |store: &Store| store.conn.query_row("PRAGMA foreign_keys", (), |row| row.get::<_, i64>(0)).unwrap() == 1;
        // A statement each batch runs, counting how often SQLite prepared it again.
        let batch = |store: &Store| {
            let mut statement = store.conn.as_sqlite().unwrap().prepare_cached("SELECT value FROM settings WHERE name = 'x'").unwrap();
            statement.exists(()).unwrap();
            statement.get_status(rusqlite::StatementStatus::RePrepare)
        };
        store
            .unchecked(|store| {
                let before = batch(store);
                for _ in 0..3 {
                    store.unchecked(|store| Ok(batch(store)))?;
                    assert!(!checked(store), "a batch inside turned the checks back on");
                }
                assert_eq!(batch(store), before, "the batches prepared the statement again");
                Ok(())
            })
            .unwrap();
        assert!(checked(&store));
    }
}
