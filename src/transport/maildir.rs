//! Outgoing mail as files in a Maildir (`tmp/`, `new/`, `cur/`): written to `tmp/`,
//! flushed, then renamed into `new/`, so a reader never sees half a message.
//!
//! Delivery is idempotent here: after the rename an empty marker named by the SHA-256
//! of the message goes into `reqmail-sent/` (no leading dot, so Maildir++ readers do not
//! take it for a folder). A crash between hand-over and marking the outbox row sent
//! makes the row due again; the marker turns that second hand-over into a no-op.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;

use super::{Transport, TransportError};

/// Creates `tmp/`, `new/` and `cur/` below `root` when missing.
pub fn ensure_maildir(root: &Path) -> anyhow::Result<()> {
    for sub in ["tmp", "new", "cur"] {
        let dir = root.join(sub);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create Maildir folder {}", dir.display()))?;
    }
    Ok(())
}

/// A unique file name as the Maildir convention asks: time, process, counter, host.
/// Microseconds are zero-padded so that names sort in delivery order (tests rely on it).
pub fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    let host: String = host.trim().chars().map(|c| if c == '/' || c == ':' { '_' } else { c }).collect();
    format!(
        "{}.M{:06}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        host
    )
}

pub struct MaildirTransport {
    root: PathBuf,
}

impl MaildirTransport {
    pub fn new(root: &Path) -> anyhow::Result<MaildirTransport> {
        ensure_maildir(root)?;
        Ok(MaildirTransport { root: root.to_path_buf() })
    }
}

impl Transport for MaildirTransport {
    fn send(&mut self, _sender: &str, _recipient: &str, raw: &[u8]) -> Result<(), TransportError> {
        use sha2::{Digest, Sha256};
        let markers = self.root.join("reqmail-sent");
        let marker = markers.join(hex::encode(Sha256::digest(raw)));
        if marker.exists() {
            return Ok(());
        }
        let name = unique_name();
        let temporary = self.root.join("tmp").join(&name);
        let delivered = self.root.join("new").join(&name);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(raw)?;
            file.sync_data()?;
            std::fs::rename(&temporary, &delivered)?;
            std::fs::create_dir_all(&markers)?;
            std::fs::File::create(&marker).map(drop)
        };
        write().map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            TransportError::transient(format!("cannot write {}: {error}", delivered.display()))
        })
    }
}
