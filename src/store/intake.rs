//! The intake: messages `serve` acknowledged to `ingest` but has not yet moved into the
//! spool. A small SQLite file of its own beside the database (`<database>.intake`), so
//! that writing one message there never waits for the main database's write lock, which
//! processing holds. Each row is on the disk before serve answers "stored" (WAL,
//! synchronous FULL); it is deleted only after the spool commit that took it in was
//! flushed. A row moved twice (a crash between the two) is one message: the spool's
//! idempotency key dedupes it.
//!
//! Without serve, the MTA's `reqmail-ingest` writes here too and returns; a process of
//! its own moves the rows (`ingest --drain`). Only serve removes
//! the file, and only while it holds the write lock and the file is empty; a writer that
//! may have written into a removed file writes again ([`take_in`]).
//!
//! The file carries its own schema version (`PRAGMA user_version`, [`SCHEMA_VERSION`]);
//! one written by a newer reqmail is refused, never rewritten.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};

use crate::clock::{format_time, parse_time};

/// The schema version of the intake file this reqmail writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Each version's step from the one before.
const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS intake (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received TEXT NOT NULL,
    recipient TEXT,
    fixed_now TEXT,
    raw BLOB NOT NULL
)",
    // Rows of version 1 came over serve's socket.
    "ALTER TABLE intake ADD COLUMN source TEXT NOT NULL DEFAULT 'socket'",
];

/// How long a connection waits for the other's write lock (a removal, a checkpoint).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often it looks for the lock meanwhile. The other holds it for a removal (tens of
/// microseconds) or a commit (one flush): SQLite's own handler sleeps 1, 2, 5, 10 ms …
/// between looks, which an `ingest` waiting to answer its MTA would add to its time.
const BUSY_LOOK_EVERY: Duration = Duration::from_micros(100);

/// Waits [`BUSY_LOOK_EVERY`] for the lock again, up to [`BUSY_TIMEOUT`] in all.
fn wait_for_the_lock(attempts: i32) -> bool {
    if BUSY_LOOK_EVERY.saturating_mul(u32::try_from(attempts).unwrap_or(u32::MAX)) >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_LOOK_EVERY);
    true
}

/// The intake file of the database at `store_path`.
pub fn path_for(store_path: &Path) -> PathBuf {
    let mut path = store_path.as_os_str().to_owned();
    path.push(".intake");
    path.into()
}

/// A message to take in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub raw: Vec<u8>,
    /// How it came: "socket" (handed to serve) or "pipe" (`reqmail-ingest` without serve).
    pub source: &'static str,
    /// The envelope recipient ingest was given.
    pub recipient: Option<String>,
    /// The time ingest's clock was fixed at (`REQMAIL_NOW`), which processing keeps.
    pub fixed_now: Option<DateTime<Utc>>,
    /// When serve acknowledged it: the spool's `received`.
    pub received: DateTime<Utc>,
}

/// A message waiting in the intake, in arrival order by `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub arrival: Arrival,
}

/// How many messages wait, and since when the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Waiting {
    pub count: i64,
    pub oldest: Option<DateTime<Utc>>,
}

/// An open intake file.
pub struct Intake {
    conn: Connection,
    path: PathBuf,
}

impl Intake {
    /// Opens the intake at `path`, creating it when missing (owner-only, like the socket).
    pub fn open(path: &Path) -> anyhow::Result<Intake> {
        create_if_missing(path)?;
        let conn = Connection::open(path).with_context(|| format!("cannot open the intake {}", path.display()))?;
        Intake::prepare(conn, path)
    }

    /// Opens the intake at `path` if there is one; `None` when no serve ever wrote it.
    pub fn open_existing(path: &Path) -> anyhow::Result<Option<Intake>> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        match Connection::open_with_flags(path, flags) {
            Ok(conn) => Ok(Some(Intake::prepare(conn, path)?)),
            Err(_) if !path.exists() => Ok(None),
            Err(error) => Err(anyhow::Error::new(error).context(format!("cannot open the intake {}", path.display()))),
        }
    }

    fn prepare(mut conn: Connection, path: &Path) -> anyhow::Result<Intake> {
        let within = |error: rusqlite::Error| anyhow::Error::new(error).context(format!("intake {}", path.display()));
        conn.busy_handler(Some(wait_for_the_lock)).map_err(within)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)).map_err(within)?;
        conn.execute_batch("PRAGMA synchronous = FULL").map_err(within)?;
        // Rows live for milliseconds; checkpoints run when serve has a moment
        // ([`Intake::checkpoint`]), not inside the commit an ingest waits for.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(within)?;
        // Nor when a connection closes: the last one would copy the WAL into the file and
        // delete it, two more flushes, and the next writer would flush a new WAL's header
        // and its folder. A drain empties it as it ends ([`Intake::empty_wal`]).
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(within)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(within)?;
        if version > SCHEMA_VERSION {
            anyhow::bail!(
                "the intake {} was written by a newer reqmail (schema {version}, this one knows {SCHEMA_VERSION}); run that reqmail's serve until it is empty, or upgrade",
                path.display()
            );
        }
        if version < SCHEMA_VERSION {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(within)?;
            // Another process may have brought it up to date since the version was read.
            let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(within)?;
            for step in &SCHEMA[version.clamp(0, SCHEMA_VERSION) as usize..] {
                tx.execute_batch(step).map_err(within)?;
            }
            tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(within)?;
            tx.commit().map_err(within)?;
        }
        Ok(Intake { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes in `arrivals` and forgets `moved`, in one commit that is on the disk when
    /// this returns; the new rows' ids, in the order of `arrivals`.
    pub fn add(&mut self, arrivals: &[Arrival], moved: &[i64]) -> anyhow::Result<Vec<i64>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        remove_in(&tx, moved)?;
        let mut ids = Vec::with_capacity(arrivals.len());
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO intake (received, recipient, fixed_now, raw, source) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for arrival in arrivals {
                let fixed_now = arrival.fixed_now.map(format_time);
                insert.execute(params![format_time(arrival.received), arrival.recipient, fixed_now, arrival.raw, arrival.source])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit().with_context(|| format!("cannot write to the intake {}", self.path.display()))?;
        Ok(ids)
    }

    /// Forgets `moved`, whose spool commit is on the disk. Not flushed itself: a removal
    /// lost in a power cut only moves a row once more, and the spool dedupes it.
    pub fn remove(&mut self, moved: &[i64]) -> anyhow::Result<()> {
        self.conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        let removed = (|| {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            remove_in(&tx, moved)?;
            tx.commit()
        })();
        self.conn.execute_batch("PRAGMA synchronous = FULL")?;
        removed.with_context(|| format!("cannot update the intake {}", self.path.display()))
    }

    /// Up to `limit` entries with an id above `after`, oldest first.
    pub fn after(&self, after: i64, limit: usize) -> anyhow::Result<Vec<Entry>> {
        let mut select = self
            .conn
            .prepare_cached("SELECT id, received, recipient, fixed_now, raw, source FROM intake WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let rows = select.query_map(params![after, limit as i64], |row| {
            let received: String = row.get(1)?;
            let fixed_now: Option<String> = row.get(3)?;
            let source = match row.get_ref(5)?.as_str()? {
                "pipe" => "pipe",
                _ => "socket",
            };
            Ok((row.get(0)?, received, row.get(2)?, fixed_now, row.get(4)?, source))
        })?;
        let mut entries = Vec::new();
        for row in rows {
            let (id, received, recipient, fixed_now, raw, source) = row?;
            let time = |text: &str| {
                parse_time(text).with_context(|| format!("intake {} row {id}: bad time {text:?}", self.path.display()))
            };
            let received = time(&received)?;
            let fixed_now = fixed_now.as_deref().map(time).transpose()?;
            entries.push(Entry { id, arrival: Arrival { raw, source, recipient, fixed_now, received } });
        }
        Ok(entries)
    }

    /// How many messages wait, and the oldest's arrival.
    pub fn waiting(&self) -> anyhow::Result<Waiting> {
        let (count, oldest): (i64, Option<String>) =
            self.conn.query_row("SELECT COUNT(*), MIN(received) FROM intake", [], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(Waiting { count, oldest: oldest.as_deref().and_then(parse_time) })
    }

    /// Copies the WAL into the file as far as readers allow, so that it does not grow.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Copies the WAL into the file and empties it, keeping the file: a process that
    /// opens the intake while no other has it open reads the whole WAL back first (a
    /// millisecond for a few dozen messages), where an empty one costs the next writer
    /// one flush of its header.
    pub fn empty_wal(&self) -> anyhow::Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Closes the intake and removes its files when nothing waits in it; true when removed.
    /// Only the serve that owns the socket may call this: its writer thread would write
    /// into a file about to disappear. The files go while this holds the write lock, so a
    /// row committed by another process is either counted here or written after the
    /// removal, which [`take_in`] notices.
    pub fn close_and_remove_if_empty(mut self) -> anyhow::Result<bool> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let waiting: i64 = tx.query_row("SELECT COUNT(*) FROM intake", [], |row| row.get(0))?;
        if waiting > 0 {
            return Ok(false);
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error).with_context(|| format!("cannot remove {}", Path::new(&file).display())),
            }
        }
        drop(tx);
        self.conn.close().map_err(|(_, error)| error)?;
        Ok(true)
    }
}

/// Makes the intake file at `path`, owner-only, unless there is one: an empty file is an
/// empty database, and SQLite's -wal and -shm files take its mode. It keeps no descriptor
/// open: closing one would drop this process's POSIX locks on the file, SQLite's included.
fn create_if_missing(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => {
            // The new file's name must survive a power cut as its rows do.
            if let Some(folder) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                std::fs::File::open(folder)
                    .and_then(|folder| folder.sync_all())
                    .with_context(|| format!("cannot flush the folder {}", folder.display()))?;
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot create the intake {}", path.display())),
    }
}

/// Takes `arrival` in at `path` (made if missing), on the disk when this returns. The
/// file is checked after the commit: when serve removed it meanwhile (it was empty when
/// serve looked), the row went with it, and it is written again into a new file.
pub fn take_in(path: &Path, arrival: &Arrival) -> anyhow::Result<()> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        create_if_missing(path)?;
        // Opened before SQLite opens the name: should the name pass to another file in
        // between, this one is gone, and the check below fails. Closed only after the
        // connection, whose POSIX locks its closing would drop; this process has no other.
        let opened = match std::fs::File::open(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            opened => opened.with_context(|| format!("cannot open the intake {}", path.display()))?,
        };
        let conn = Connection::open(path).with_context(|| format!("cannot open the intake {}", path.display()))?;
        let mut intake = Intake::prepare(conn, path)?;
        intake.add(std::slice::from_ref(arrival), &[])?;
        drop(intake);
        if still_named(&opened, path)? {
            return Ok(());
        }
        tracing::debug!("the intake {} was removed while a message was written to it; writing it again", path.display());
    }
    anyhow::bail!("the intake {} was removed {ATTEMPTS} times while a message was written to it", path.display())
}

/// Whether `file` is still the file at `path`.
fn still_named(file: &std::fs::File, path: &Path) -> anyhow::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let open = file.metadata()?;
    Ok(match std::fs::metadata(path) {
        Ok(named) => open.nlink() > 0 && named.dev() == open.dev() && named.ino() == open.ino(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(error) => return Err(error).with_context(|| format!("cannot look at the intake {}", path.display())),
    })
}

fn remove_in(conn: &Connection, moved: &[i64]) -> rusqlite::Result<()> {
    let mut delete = conn.prepare_cached("DELETE FROM intake WHERE id = ?1")?;
    for id in moved {
        delete.execute([id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(text: &str) -> Arrival {
        Arrival {
            raw: text.as_bytes().to_vec(),
            source: "socket",
            recipient: Some("help+1@example.com".into()),
            fixed_now: None,
            received: parse_time("2026-11-21T09:00:00Z").unwrap(),
        }
    }

    #[test]
    fn entries_come_back_in_arrival_order_and_go_once_moved() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("reqmail.db"));
        let mut intake = Intake::open(&path).unwrap();
        let mut fixed = arrival("third");
        fixed.fixed_now = parse_time("2026-01-02T03:04:05Z");
        fixed.recipient = None;
        let ids = intake.add(&[arrival("first"), arrival("second"), fixed.clone()], &[]).unwrap();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
        let entries = intake.after(0, 10).unwrap();
        assert_eq!(entries.iter().map(|entry| entry.id).collect::<Vec<_>>(), ids);
        assert_eq!(entries[0].arrival, arrival("first"));
        assert_eq!(entries[2].arrival, fixed);
        assert_eq!(intake.after(ids[0], 1).unwrap()[0].arrival.raw, b"second");
        assert_eq!(intake.waiting().unwrap(), Waiting { count: 3, oldest: parse_time("2026-11-21T09:00:00Z") });

        // A removal rides on the next arrival's commit, or goes on its own.
        let later = intake.add(&[arrival("fourth")], &ids[..2]).unwrap();
        intake.remove(&ids[2..]).unwrap();
        let left = intake.after(0, 10).unwrap();
        assert_eq!(left.iter().map(|entry| entry.id).collect::<Vec<_>>(), later);
        // Ids never come back, even once the file was emptied.
        intake.remove(&later).unwrap();
        assert!(intake.add(&[arrival("fifth")], &[]).unwrap()[0] > later[0]);
    }

    #[test]
    fn a_writer_waits_for_the_lock_another_connection_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("reqmail.db"));
        let mut taker = Intake::open(&path).unwrap();
        let holder = Intake::open(&path).unwrap();
        let (held, lock_held) = std::sync::mpsc::channel();
        let holding = std::thread::spawn(move || {
            holder.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            held.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            holder.conn.execute_batch("COMMIT").unwrap();
        });
        lock_held.recv().unwrap();
        let ids = taker.add(&[arrival("waited")], &[]).expect("the add waits for the lock instead of failing");
        holding.join().unwrap();
        assert_eq!(taker.after(0, 10).unwrap().iter().map(|entry| entry.id).collect::<Vec<_>>(), ids);
        // It gives up after the whole timeout's worth of looks, not before.
        assert!(wait_for_the_lock(0));
        let looks = i32::try_from(BUSY_TIMEOUT.as_micros() / BUSY_LOOK_EVERY.as_micros()).unwrap();
        assert!(wait_for_the_lock(looks - 1));
        assert!(!wait_for_the_lock(looks));
    }

    #[test]
    fn what_was_added_survives_reopening_and_another_connection_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("reqmail.db"));
        assert!(Intake::open_existing(&path).unwrap().is_none(), "no file is made by a reader");
        assert!(!path.exists());
        let mut writer = Intake::open(&path).unwrap();
        let reader = Intake::open_existing(&path).unwrap().expect("the file exists now");
        writer.add(&[arrival("one")], &[]).unwrap();
        assert_eq!(reader.after(0, 10).unwrap().len(), 1);
        use std::os::unix::fs::PermissionsExt as _;
        for suffix in ["", "-wal"] {
            let file = format!("{}{suffix}", path.display());
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "{file}");
        }
        writer.checkpoint().unwrap();
        drop(writer);
        drop(reader);
        let reopened = Intake::open(&path).unwrap();
        assert_eq!(reopened.after(0, 10).unwrap()[0].arrival, arrival("one"));
        assert!(!reopened.close_and_remove_if_empty().unwrap(), "a file with messages in it stays");
        assert!(path.exists());
    }

    #[test]
    fn an_empty_intake_is_removed_with_its_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("reqmail.db"));
        let mut intake = Intake::open(&path).unwrap();
        let ids = intake.add(&[arrival("one")], &[]).unwrap();
        intake.remove(&ids).unwrap();
        assert!(intake.close_and_remove_if_empty().unwrap());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn an_intake_from_a_newer_reqmail_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("reqmail.db"));
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("{}; INSERT INTO intake (received, raw) VALUES ('x', X'00'); PRAGMA user_version = 9;", SCHEMA[0])).unwrap();
        drop(conn);
        let error = Intake::open(&path).err().expect("refused");
        assert!(format!("{error:#}").contains("newer reqmail"), "{error:#}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(conn.query_row("SELECT COUNT(*) FROM intake", [], |row| row.get::<_, i64>(0)).unwrap(), 1);
    }

    #[test]
    fn rows_of_the_first_version_are_kept_as_handed_to_serve() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("reqmail.db"));
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("{}; INSERT INTO intake (received, raw) VALUES ('2026-11-21T09:00:00Z', X'41'); PRAGMA user_version = 1;", SCHEMA[0]))
            .unwrap();
        drop(conn);
        let mut intake = Intake::open(&path).unwrap();
        intake.add(&[Arrival { source: "pipe", ..arrival("piped") }], &[]).unwrap();
        let sources: Vec<&str> = intake.after(0, 10).unwrap().iter().map(|entry| entry.arrival.source).collect();
        assert_eq!(sources, ["socket", "pipe"]);
    }

    #[test]
    fn a_message_written_into_a_removed_intake_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("reqmail.db"));
        // A writer opens serve's intake, empty; serve removes it before the writer commits.
        let serve = Intake::open(&path).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut writer = Intake::prepare(Connection::open(&path).unwrap(), &path).unwrap();
        assert!(serve.close_and_remove_if_empty().unwrap());
        writer.add(&[arrival("late")], &[]).unwrap();
        assert!(!still_named(&file, &path).unwrap(), "the row went into the removed file");
        take_in(&path, &arrival("again")).unwrap();
        let entries = Intake::open_existing(&path).unwrap().expect("a new file").after(0, 10).unwrap();
        assert_eq!(entries.iter().map(|entry| entry.arrival.raw.as_slice()).collect::<Vec<_>>(), [b"again".as_slice()]);
    }
}
