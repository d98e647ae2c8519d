//! One message on standard input, as an MTA's pipe transport delivers it, and what is
//! done with it: by `ingest` itself, by a running `serve` it was handed to, or, when the
//! MTA's `reqmail-ingest` took it into the intake because no serve listened, by a drain
//! process (`ingest --drain`).

use std::fs::{File, TryLockError};
use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::pipeline::{self, Incoming, Outcome};
use crate::site::Site;
use crate::store::intake::Intake;
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

/// The lock a drain holds while it moves the intake: a file beside the database, made
/// when missing. Read-only is enough to lock it, so whoever made it, every user who runs
/// reqmail can take it.
fn drain_lock(store_path: &Path) -> anyhow::Result<File> {
    let path = drain_lock_path(store_path);
    match File::open(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => File::options().write(true).create(true).truncate(false).open(&path),
        opened => opened,
    }
    .with_context(|| format!("cannot open {}", path.display()))
}

fn drain_lock_path(store_path: &Path) -> PathBuf {
    let mut path = store_path.as_os_str().to_owned();
    path.push(".drain-lock");
    path.into()
}

/// Whether a drain is moving the intake of the database at `store_path` now.
pub fn drain_runs(store_path: &Path) -> bool {
    File::open(drain_lock_path(store_path)).is_ok_and(|lock| matches!(lock.try_lock(), Err(TryLockError::WouldBlock)))
}

/// Whether `lock` was free and is now held by this process.
fn acquire(lock: &File) -> anyhow::Result<bool> {
    match lock.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(error)) => Err(error).context("cannot lock the drain lock"),
    }
}

/// Starts `program [--config FILE] ingest --drain` in a process group of its own, its
/// standard streams closed, unless a drain runs: that one looks at the intake once more
/// after it lets go of the lock, so a message taken in before that is not left behind.
/// For `reqmail-ingest`, which took a message into the intake (`store::intake::take_in`)
/// because no serve listened.
pub fn start_drain(store_path: &Path, program: impl FnOnce() -> PathBuf, config: Option<&Path>) -> anyhow::Result<()> {
    if !acquire(&drain_lock(store_path)?)? {
        return Ok(());
    }
    // The lock is let go here (its file closes): the drain takes it itself, and of two
    // drains started at once the second finds it taken and ends.
    let program = program();
    let mut command = Command::new(&program);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.args(["ingest", "--drain"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    command.spawn().with_context(|| format!("cannot start {} ingest --drain", program.display()))?;
    Ok(())
}

/// How often a drain looks for messages taken in since its last look, and how long it
/// waits for more before it ends: the messages of a burst or a steady stream share its
/// commits, flushes and delivery passes (as in serve, a receipt goes out this much later;
/// the sender's answer does not wait for it), and while its connection is open a writer
/// does not read the intake's WAL back before it writes.
const LOOK_EVERY: Duration = Duration::from_millis(50);
const LINGER: Duration = Duration::from_millis(500);

/// Moves what waits in the intake into the spool and through the pipeline, delivering
/// the letters, until nothing came in for a moment; returns at once when another drain
/// runs. The store is opened (by `open`) only once this drain holds the lock and a
/// message waits; it is handed back, if opened, with the number of messages moved.
pub fn drain(
    site: &Site,
    open: impl Fn() -> anyhow::Result<Store>,
    now: impl Fn() -> DateTime<Utc>,
) -> anyhow::Result<(usize, Option<Store>)> {
    let store_path = &site.config.store.path;
    let intake_path = crate::store::intake::path_for(store_path);
    let mut store: Option<Store> = None;
    let mut moved = 0;
    loop {
        let Some(intake) = Intake::open_existing(&intake_path)? else { return Ok((moved, store)) };
        let lock = drain_lock(store_path)?;
        if !acquire(&lock)? {
            return Ok((moved, store));
        }
        let mut last_moved = Instant::now();
        while last_moved.elapsed() < LINGER {
            if intake.waiting()?.count > 0 {
                let store = match &mut store {
                    Some(store) => store,
                    None => store.insert(open()?),
                };
                moved += crate::source::intake::move_leftovers(site, store, now())?;
                last_moved = Instant::now();
            }
            std::thread::sleep(LOOK_EVERY);
        }
        intake.empty_wal()?;
        drop(lock);
        // A message taken in after the last look found the lock taken and started no
        // drain: it is this drain's. Looked for by the name, in case a serve that ran
        // meanwhile removed the file this drain had open and a writer made a new one.
        let left = Intake::open_existing(&intake_path)?.map(|intake| intake.waiting()).transpose()?;
        if left.is_none_or(|left| left.count == 0) {
            return Ok((moved, store));
        }
    }
}
