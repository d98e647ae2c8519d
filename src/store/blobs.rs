//! Attachment contents, stored once by SHA-256 however often they arrive.

use crate::store::{params, Connection};
use sha2::{Digest, Sha256};

use crate::ticket::SpoolId;

/// Stores `content` once and links it to `message` under `filename`.
pub fn attach(conn: &Connection, message: SpoolId, filename: &str, content_type: &str, content: &[u8]) -> crate::store::Result<String> {
    let sha256 = hex::encode(Sha256::digest(content));
    match conn.as_sqlite() {
        Some(sqlite) => {
            let inserted = conn
                .prepare_cached("INSERT INTO blobs (sha256, size, content) VALUES (?1, ?2, zeroblob(?2)) ON CONFLICT (sha256) DO NOTHING")?
                .execute(params![sha256, content.len() as i64])?;
            if inserted == 1 {
                super::write_blob(sqlite, "blobs", "content", sqlite.last_insert_rowid(), content)?;
            }
        }
        None => {
            conn.prepare_cached("INSERT INTO blobs (sha256, size, content) VALUES (?1, ?2, ?3) ON CONFLICT (sha256) DO NOTHING")?
                .execute(params![sha256, content.len() as i64, content])?;
        }
    }
    conn.prepare_cached("INSERT INTO attachments (message, blob, filename, content_type) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![message.0, sha256, filename, content_type])?;
    Ok(sha256)
}

