//! The inbound Maildir. Files in `new/` are spooled in batches; once a batch is on
//! the disk each file is moved to `cur/` with the Maildir "seen" flag (`:2,S`), or
//! `:2,FS` ("flagged") when it went to quarantine. Files in `tmp/` are still being
//! written by their deliverer and are never read.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::pipeline::{self, Incoming, Outcome};
use crate::site::Site;
use crate::store::messages::Spooled;
use crate::store::Store;
use crate::transport::deliver::Courier;
use crate::transport::maildir::ensure_maildir;
use super::Compressors;

/// What one pass over the Maildir did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    pub files: usize,
    pub created: usize,
    pub updated: usize,
    pub quarantined: usize,
    pub ignored: usize,
    pub duplicates: usize,
}

impl DrainReport {
    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Applied { created: true, .. } => self.created += 1,
            Outcome::Applied { created: false, .. } => self.updated += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
            Outcome::Ignored { .. } => self.ignored += 1,
            Outcome::Duplicate => self.duplicates += 1,
        }
    }
}

/// The files waiting in `root/new`, oldest name first.
pub fn waiting_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let new = root.join("new");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&new).with_context(|| format!("cannot list the inbound Maildir {}", new.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        files.push(entry.path());
    }
    files.sort();
    Ok(files)
}

/// Spools and processes every file in `root/new`, at most `batch_size` files per
/// transaction ([`ramped`]).
/// Another thread reads and parses the next batch's files meanwhile; a file is moved to
/// `cur/` only after the transaction that processed it has committed. With a `courier`,
/// each batch's commit also claims the letters due, which it delivers meanwhile.
pub fn drain(site: &Site, store: &mut Store, root: &Path, now: DateTime<Utc>, mut courier: Option<&mut Courier>) -> anyhow::Result<DrainReport> {
    ensure_maildir(root)?;
    let files = waiting_files(root)?;
    let mut compressors = Compressors::of(store)?;
    std::thread::scope(|scope| {
        // One batch read ahead: enough to keep this thread busy, and the memory of two.
        let (sender, batches) = std::sync::mpsc::sync_channel(1);
        // The compressor after each batch: a dictionary trained meanwhile is used from then on.
        let (fresh, newer_compressors) = std::sync::mpsc::channel();
        scope.spawn(move || {
            // With batches to read ahead, the receipts' suggestions are looked up here too,
            // on a connection of this thread's own.
            let looker = if files.len() > site.config.inbound.batch_size { open_looker(site) } else { None };
            for batch in ramped(&files, site.config.inbound.batch_size) {
                while let Ok(newer) = newer_compressors.try_recv() {
                    compressors = newer;
                }
                let read = read_batch(site, &compressors, looker.as_ref(), batch);
                let failed = read.is_err();
                // A closed channel: the writer stopped on an error, which it reports.
                if sender.send(read).is_err() || failed {
                    return;
                }
            }
        });
        store.unchecked(|store| {
            let mut report = DrainReport::default();
            for read in batches {
                store_batch(site, store, root, read?, now, &mut report, courier.as_deref_mut())?;
                // The reader may have finished already.
                let _ = fresh.send(Compressors::of(store)?);
            }
            Ok(report)
        })
    })
}

/// `files` in batches of `batch_size`, the first ones smaller: the writer waits for the
/// first batch to be read and parsed (some 60 ms for 500 messages) with nothing to do,
/// so it begins with a small one and each next grows by a quarter, about as much more as
/// the reader reads while the writer stores the one before.
fn ramped(files: &[PathBuf], batch_size: usize) -> impl Iterator<Item = &[PathBuf]> {
    const FIRST: usize = 64;
    let mut size = FIRST.min(batch_size).max(1);
    let mut rest = files;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (batch, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        size = (size + size / 4).min(batch_size).max(1);
        Some(batch)
    })
}

/// The reader's own connection, for the suggestions it looks up ahead.
fn open_looker(site: &Site) -> Option<Store> {
    Store::open(&site.config.store).map_err(|error| tracing::debug!("suggestions left to the receipts: {error:#}")).ok()
}

/// A file of the inbound Maildir, read, prepared for the spool and parsed.
struct ReadFile {
    path: PathBuf,
    raw: Vec<u8>,
    prepared: pipeline::Prepared,
    ahead: pipeline::ReadAhead,
}

/// Each file of `batch` that is still there, read, prepared for the spool and parsed;
/// with a `looker`, a new request's suggestions looked up too.
fn read_batch(site: &Site, compressors: &Compressors, looker: Option<&Store>, batch: &[PathBuf]) -> anyhow::Result<Vec<ReadFile>> {
    let mut read = Vec::with_capacity(batch.len());
    for path in batch {
        match std::fs::read(path) {
            Ok(raw) => {
                let (prepared, ahead) = compressors.read_ahead(site, &raw);
                if let Some(looker) = looker {
                    pipeline::look_ahead_suggestions(site, &looker.conn, &ahead);
                }
                read.push(ReadFile { path: path.clone(), raw, prepared, ahead });
            }
            // Another fetcher took it first.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    Ok(read)
}

/// Spools, processes and then acknowledges one batch of read files.
fn store_batch(
    site: &Site,
    store: &mut Store,
    root: &Path,
    read: Vec<ReadFile>,
    now: DateTime<Utc>,
    report: &mut DrainReport,
    mut courier: Option<&mut Courier>,
) -> anyhow::Result<()> {
    let (mut paths, mut raws, mut prepared, mut read_ahead) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for file in read {
        paths.push(file.path);
        raws.push(file.raw);
        prepared.push(file.prepared);
        read_ahead.push(Some(file.ahead));
    }
    let sources: Vec<String> = paths.iter().map(|path| format!("maildir:{}", path.file_name().unwrap_or_default().to_string_lossy())).collect();
    let incoming: Vec<Incoming<'_>> =
        raws.iter().zip(&sources).map(|(raw, source)| Incoming { raw, source, recipient: None, queue: None }).collect();
    let (spooled, flush) = pipeline::spool_prepared(store, &incoming, prepared, now)?;
    drop(incoming);
    drop(raws);
    let waiting = pipeline::waiting_read(&spooled, read_ahead);
    let (outcomes, claimed) = pipeline::process_read(site, store, waiting, now, |tx| match courier.as_deref_mut() {
        Some(courier) => courier.settle(tx, now),
        None => Ok(Vec::new()),
    })?;
    // Processed while the spool went to the disk; acknowledged once it is there.
    flush.wait()?;
    if let Some(courier) = courier {
        courier.hand(claimed);
    }
    for ((path, spooled), source) in paths.iter().zip(&spooled).zip(&sources) {
        let id = match spooled {
            Spooled::New(id) | Spooled::Known { id, .. } => *id,
        };
        let outcome = outcomes.iter().find(|(done, _)| *done == id).map(|(_, outcome)| outcome.clone()).unwrap_or(Outcome::Duplicate);
        report.files += 1;
        report.count(&outcome);
        super::log_handled(source, id, &outcome);
        acknowledge(root, path, matches!(outcome, Outcome::Quarantined { .. }))?;
    }
    Ok(())
}

/// Moves a spooled file from `new/` to `cur/` with the seen flag (and flagged when quarantined).
fn acknowledge(root: &Path, path: &Path, quarantined: bool) -> anyhow::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let base = name.split(":2,").next().unwrap_or(&name);
    let flags = if quarantined { "FS" } else { "S" };
    let target = root.join("cur").join(format!("{base}:2,{flags}"));
    match std::fs::rename(path, &target) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot move {} to {}", path.display(), target.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_begin_small_and_grow_to_the_batch_size() {
        let files: Vec<PathBuf> = (0..5_000).map(|number| PathBuf::from(number.to_string())).collect();
        let sizes: Vec<usize> = ramped(&files, 500).map(<[PathBuf]>::len).collect();
        assert_eq!(&sizes[..6], [64, 80, 100, 125, 156, 195]);
        assert!(sizes.iter().all(|size| *size <= 500) && sizes.contains(&500), "{sizes:?}");
        assert_eq!(ramped(&files, 500).flatten().collect::<Vec<_>>(), files.iter().collect::<Vec<_>>(), "every file once, in order");
        assert_eq!(ramped(&files[..50], 20).map(<[PathBuf]>::len).collect::<Vec<_>>(), [20, 20, 10]);
        assert_eq!(ramped(&files[..3], 1).count(), 3);
        assert_eq!(ramped(&[], 500).count(), 0);
    }
}
