//! Outgoing mail as files in a Maildir (`tmp/`, `new/`, `cur/`): written to `tmp/`,
//! flushed, then renamed into `new/`, so a reader never sees half a message.
//!
//! Delivery is idempotent here: each file name carries its outbox row. A deliverer that
//! dies between hand-over and marking the row sent leaves the row claimed; the pass
//! that claims it again looks for that file before writing another.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{Transport, TransportError};
use crate::store::outbox::Letter;

/// Creates `tmp/`, `new/` and `cur/` below `root` when missing.
pub fn ensure_maildir(root: &Path) -> anyhow::Result<()> {
    for sub in ["tmp", "new", "cur"] {
        let dir = root.join(sub);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create Maildir folder {}", dir.display()))?;
    }
    Ok(())
}

/// A unique file name as the Maildir convention asks: time, process, delivery, host.
/// The delivery part is the outbox row (`R42`), by which a later pass recognises the
/// letter. Microseconds are zero-padded so that names sort in delivery order.
fn unique_name(outbox_row: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}.M{:06}P{}R{outbox_row}.{}", now.as_secs(), now.subsec_micros(), std::process::id(), host_name())
}

fn host_name() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
        host.trim().chars().map(|c| if c == '/' || c == ':' { '_' } else { c }).collect()
    })
}

/// The outbox row a file name of ours carries: `1795249179.M324026P30093R42.host`.
fn outbox_row_of(file_name: &str) -> Option<i64> {
    let unique = file_name.split('.').nth(1)?;
    let (_, row) = unique.rsplit_once('R')?;
    row.parse().ok()
}

/// The files in `new/` and `cur/` (a reader may have moved them there and added flags),
/// by the outbox row their name carries.
fn files_by_outbox_row(root: &Path) -> std::io::Result<HashMap<i64, Vec<PathBuf>>> {
    let mut files: HashMap<i64, Vec<PathBuf>> = HashMap::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(root.join(sub))? {
            let entry = entry?;
            if let Some(row) = entry.file_name().to_str().and_then(outbox_row_of) {
                files.entry(row).or_default().push(entry.path());
            }
        }
    }
    Ok(files)
}

pub struct MaildirTransport {
    root: PathBuf,
    /// Read once per pass, when the first letter comes whose deliverer died.
    delivered: Option<HashMap<i64, Vec<PathBuf>>>,
}

impl MaildirTransport {
    pub fn new(root: &Path) -> anyhow::Result<MaildirTransport> {
        ensure_maildir(root)?;
        Ok(MaildirTransport { root: root.to_path_buf(), delivered: None })
    }

    /// Whether a file of `letter`'s outbox row with exactly its bytes is there.
    fn already_delivered(&mut self, letter: &Letter) -> std::io::Result<bool> {
        if self.delivered.is_none() {
            self.delivered = Some(files_by_outbox_row(&self.root)?);
        }
        let candidates = self.delivered.as_ref().and_then(|files| files.get(&letter.id));
        Ok(candidates.into_iter().flatten().any(|path| std::fs::read(path).is_ok_and(|content| content == letter.raw)))
    }
}

impl Transport for MaildirTransport {
    fn send(&mut self, letter: &Letter) -> Result<(), TransportError> {
        self.send_all(&[letter]).pop().unwrap_or(Ok(()))
    }

    /// Writes every letter into `tmp/`, flushes them to the disk together (one
    /// `fdatasync` for a single letter, one `syncfs` for more on Linux), then renames
    /// each into `new/`: one wait for the disk per batch instead of one per letter.
    fn send_all(&mut self, letters: &[&Letter]) -> Vec<Result<(), TransportError>> {
        let mut results: Vec<Result<(), TransportError>> = Vec::with_capacity(letters.len());
        let mut written = Vec::new();
        for (index, letter) in letters.iter().enumerate() {
            let name = unique_name(letter.id);
            let temporary = self.root.join("tmp").join(&name);
            let delivered = self.root.join("new").join(&name);
            // Only after a deliverer died: the common path never reads the folders.
            let result = match letter.maybe_handed_over.then(|| self.already_delivered(letter)) {
                Some(Ok(true)) => Ok(()),
                Some(Err(error)) => Err(error),
                Some(Ok(false)) | None => write_file(&temporary, &letter.raw).map(|()| written.push((index, temporary, delivered))),
            };
            results.push(result.map_err(|error| TransportError::transient(format!("cannot write into {}: {error}", self.root.display()))));
        }
        let flushed = match written.as_slice() {
            [] => Ok(()),
            [(_, temporary, _)] => std::fs::File::open(temporary).and_then(|file| file.sync_data()),
            _ => sync_written(&self.root.join("tmp"), written.iter().map(|(_, temporary, _)| temporary.as_path())),
        }
        .map_err(|error| format!("cannot flush to the disk: {error}"));
        for (index, temporary, delivered) in written {
            let handed_over = match &flushed {
                Ok(()) => std::fs::rename(&temporary, &delivered).map_err(|error| error.to_string()),
                Err(reason) => Err(reason.clone()),
            };
            if let Err(error) = handed_over {
                let _ = std::fs::remove_file(&temporary);
                results[index] = Err(TransportError::transient(format!("cannot write {}: {error}", delivered.display())));
            }
        }
        results
    }
}

fn write_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let written = std::fs::File::create(path).and_then(|mut file| file.write_all(content));
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Flushes the files just written into `dir` to the disk with one call: syncfs(2), which
/// flushes the whole filesystem that holds `dir`.
#[cfg(target_os = "linux")]
fn sync_written<'a>(dir: &Path, _files: impl Iterator<Item = &'a Path>) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let dir = std::fs::File::open(dir)?;
    // SAFETY: syncfs only reads the descriptor, which `dir` keeps open for the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Flushes the files just written into `dir` to the disk where there is no syncfs(2).
#[cfg(not(target_os = "linux"))]
fn sync_written<'a>(dir: &Path, files: impl Iterator<Item = &'a Path>) -> std::io::Result<()> {
    sync_each(dir, files)
}

/// The portable flush: each file's data, then the folder that names them.
#[cfg(any(not(target_os = "linux"), test))]
fn sync_each<'a>(dir: &Path, files: impl Iterator<Item = &'a Path>) -> std::io::Result<()> {
    for file in files {
        std::fs::File::open(file)?.sync_data()?;
    }
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(id: i64, raw: &[u8], maybe_handed_over: bool) -> Letter {
        Letter {
            id,
            ticket: None,
            sender: "help@example.com".into(),
            recipient: "ann@example.org".into(),
            attempts: 0,
            raw: raw.to_vec(),
            maybe_handed_over,
        }
    }

    fn files(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = ["new", "cur"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(root.join(sub)).unwrap())
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_portable_flush_flushes_each_file_and_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..3).map(|index| dir.path().join(format!("letter{index}"))).collect();
        for file in &files {
            write_file(file, b"Subject: s\r\n\r\nx\r\n").unwrap();
        }
        sync_each(dir.path(), files.iter().map(PathBuf::as_path)).unwrap();
        let missing = dir.path().join("never written");
        assert!(sync_each(dir.path(), std::iter::once(missing.as_path())).is_err(), "a file that is not there is an error, not a silent success");
    }

    #[test]
    fn names_carry_the_outbox_row() {
        assert_eq!(outbox_row_of("1795249179.M324026P30093R42.mail.example.com"), Some(42));
        assert_eq!(outbox_row_of("1795249179.M324026P30093R42.host:2,S"), Some(42));
        assert_eq!(outbox_row_of("1795249179.M324026P30093Q0.host"), None);
        assert_eq!(outbox_row_of("garbage"), None);
    }

    #[test]
    fn a_letter_handed_over_before_a_crash_is_not_written_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut transport = MaildirTransport::new(dir.path()).unwrap();
        transport.send(&letter(7, b"Subject: one\r\n\r\nx\r\n", false)).unwrap();
        let first = files(dir.path());
        assert_eq!(first.len(), 1);
        // A reader moved it to cur/ and flagged it seen.
        let moved = format!("{}:2,S", first[0]);
        std::fs::rename(dir.path().join("new").join(&first[0]), dir.path().join("cur").join(&moved)).unwrap();

        let mut after_crash = MaildirTransport::new(dir.path()).unwrap();
        after_crash.send(&letter(7, b"Subject: one\r\n\r\nx\r\n", true)).unwrap();
        assert_eq!(files(dir.path()), vec![moved.clone()], "the same letter again is a no-op");
        // Same row number, other bytes (another database once delivered here): written.
        after_crash.send(&letter(8, b"Subject: two\r\n\r\nx\r\n", true)).unwrap();
        after_crash.send(&letter(7, b"Subject: other\r\n\r\nx\r\n", true)).unwrap();
        assert_eq!(files(dir.path()).len(), 3);
    }

    #[test]
    fn a_batch_is_flushed_once_and_every_letter_lands_in_new() {
        let dir = tempfile::tempdir().unwrap();
        let mut transport = MaildirTransport::new(dir.path()).unwrap();
        let letters: Vec<Letter> = (1..=3).map(|id| letter(id, format!("Subject: {id}\r\n\r\nx\r\n").as_bytes(), false)).collect();
        let results = transport.send_all(&letters.iter().collect::<Vec<_>>());
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let names = files(dir.path());
        assert_eq!(names.iter().filter_map(|name| outbox_row_of(name)).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
