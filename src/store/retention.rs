//! Retention: closed tickets purged with their mail and attachments, and people
//! forgotten (GDPR-style erasure). Both are written to `retention_log` without naming
//! an address.
//!
//! Rows that refer to a purged ticket or message are found through SQLite's foreign-key
//! list, not a fixed table list, so tables added later are covered: a reference that may
//! be empty is emptied, any other makes its row go too. The foreign-key check at the end
//! refuses to commit anything left dangling.

use chrono::{DateTime, Utc};
use crate::store::{params, Backend, Connection, OptionalExtension, Transaction};

use crate::clock::format_time;

/// What a purge removed (or would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub tickets: usize,
    pub messages: usize,
    pub attachments: usize,
    pub blobs: usize,
}

/// Closed and rejected tickets last changed before `cutoff`, and the tickets merged into
/// them (which go with them), lowest first.
pub fn purge_candidates(conn: &Connection, cutoff: DateTime<Utc>) -> crate::store::Result<Vec<i64>> {
    conn.prepare(
        "WITH RECURSIVE doomed(number) AS (
             SELECT number FROM tickets
              WHERE status IN ('closed', 'rejected') AND updated < ?1
             UNION
             SELECT t.number FROM tickets t JOIN doomed d ON t.merged_into = d.number WHERE t.status = 'merged'
         )
         SELECT number FROM doomed ORDER BY number",
    )?
    .query_map([format_time(cutoff)], |row| row.get(0))?
    .collect()
}

/// (table, column, may be NULL) of every foreign key that refers to `target`.
fn references_to(conn: &Connection, target: &str) -> crate::store::Result<Vec<(String, String, bool)>> {
    conn.prepare(
        "SELECT m.name, f.\"from\", i.\"notnull\" = 0
           FROM sqlite_schema m
           JOIN pragma_foreign_key_list(m.name) f
           JOIN pragma_table_info(m.name) i ON i.name = f.\"from\"
          WHERE m.type = 'table' AND f.\"table\" = ?1",
    )?
    .query_map([target], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
    .collect()
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Removes the references to the rows of `target` listed in the temporary table `doomed`
/// (column `key`), except from `target` itself and the tables in `skip`.
fn detach(conn: &Connection, target: &str, doomed: &str, skip: &[&str]) -> crate::store::Result<usize> {
    let mut removed = 0;
    for (table, column, nullable) in references_to(conn, target)? {
        if skip.contains(&table.as_str()) {
            continue;
        }
        let (table, column) = (quoted(&table), quoted(&column));
        removed += if nullable {
            conn.execute(&format!("UPDATE {table} SET {column} = NULL WHERE {column} IN (SELECT key FROM {doomed})"), [])?
        } else {
            conn.execute(&format!("DELETE FROM {table} WHERE {column} IN (SELECT key FROM {doomed})"), [])?
        };
    }
    Ok(removed)
}

/// Deletes `tickets` with their messages (raw mail), attachments, history, outbox rows
/// and everything else that refers to them, then the attachment contents no remaining
/// message uses; records the purge. Runs in the caller's transaction.
pub fn purge(tx: &Transaction<'_>, tickets: &[i64], now: DateTime<Utc>) -> anyhow::Result<Purged> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS purge_tickets (key INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS purge_messages (key INTEGER PRIMARY KEY);
         DELETE FROM purge_tickets; DELETE FROM purge_messages;",
    )?;
    {
        let mut insert = tx.prepare("INSERT OR IGNORE INTO purge_tickets (key) VALUES (?1)")?;
        for number in tickets {
            insert.execute([number])?;
        }
    }
    tx.execute("INSERT INTO purge_messages (key) SELECT id FROM messages WHERE ticket IN (SELECT key FROM purge_tickets)", [])?;
    let attachments = tx.execute("DELETE FROM attachments WHERE message IN (SELECT key FROM purge_messages)", [])?;
    detach(tx, "messages", "purge_messages", &["attachments"])?;
    let messages = tx.execute("DELETE FROM messages WHERE id IN (SELECT key FROM purge_messages)", [])?;
    detach(tx, "tickets", "purge_tickets", &[])?;
    let purged_tickets = tx.execute("DELETE FROM tickets WHERE number IN (SELECT key FROM purge_tickets)", [])?;
    let blobs = tx.execute("DELETE FROM blobs WHERE sha256 NOT IN (SELECT blob FROM attachments)", [])?;
    let dangling: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| row.get(0))?;
    anyhow::ensure!(dangling == 0, "purging would leave {dangling} rows referring to deleted ones; nothing was purged");
    let purged = Purged { tickets: purged_tickets, messages, attachments, blobs };
    if purged.tickets > 0 {
        let first = tickets.iter().min().copied().unwrap_or_default();
        let last = tickets.iter().max().copied().unwrap_or_default();
        record(
            tx,
            "purge",
            &format!("{} tickets (#{first} to #{last}), {} messages, {} attachments", purged.tickets, purged.messages, purged.attachments),
            now,
        )?;
    }
    Ok(purged)
}

fn record(conn: &Connection, action: &str, detail: &str, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.execute("INSERT INTO retention_log (at, action, detail) VALUES (?1, ?2, ?3)", params![format_time(now), action, detail])?;
    Ok(())
}

/// One `retention_log` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub at: String,
    pub action: String,
    pub detail: String,
}

pub fn log(conn: &Connection) -> crate::store::Result<Vec<LogEntry>> {
    conn.prepare("SELECT at, action, detail FROM retention_log ORDER BY id")?
        .query_map([], |row| Ok(LogEntry { at: row.get(0)?, action: row.get(1)?, detail: row.get(2)? }))?
        .collect()
}

/// When the scheduler last looked for tickets to purge.
pub fn last_purge_pass(conn: &Connection) -> crate::store::Result<Option<String>> {
    super::setting(conn, "retention_last_pass")
}

pub fn set_last_purge_pass(conn: &Connection, now: DateTime<Utc>) -> crate::store::Result<()> {
    super::set_setting(conn, "retention_last_pass", &format_time(now))
}

/// What forgetting a person changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    pub person: i64,
    pub addresses: usize,
    pub messages: usize,
    pub history: usize,
    pub letters: usize,
}

/// Text that replaces what a forgotten person wrote or was called.
pub const FORGOTTEN: &str = "[forgotten]";

/// Erases a person: their addresses become one `forgotten-ID@invalid`, their name goes,
/// the messages from and to them lose their raw bytes, text, subject and attachments,
/// their addresses and name are replaced in history, queued letters to them are
/// cancelled, and the other tables that keep an address (rate limits, notices, bounces)
/// forget it. The tickets stay, requested by the anonymous person. `None`: no such
/// person.
pub fn forget(tx: &Transaction<'_>, address: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Forgotten>> {
    let address = address.trim().to_lowercase();
    let Some(person): Option<i64> =
        tx.query_row("SELECT person FROM addresses WHERE address = ?1", [&address], |row| row.get(0)).optional()?
    else {
        return Ok(None);
    };
    let addresses: Vec<String> =
        tx.prepare("SELECT address FROM addresses WHERE person = ?1")?.query_map([person], |row| row.get(0))?.collect::<crate::store::Result<_>>()?;
    let name: Option<String> = tx.query_row("SELECT name FROM people WHERE id = ?1", [person], |row| row.get(0))?;
    let placeholder = format!("forgotten-{person}@invalid");
    tx.execute_batch("CREATE TEMP TABLE IF NOT EXISTS forget_addresses (address TEXT PRIMARY KEY); DELETE FROM forget_addresses;")?;
    for known in &addresses {
        tx.execute("INSERT OR IGNORE INTO forget_addresses (address) VALUES (?1)", [known])?;
    }

    // Their messages, in and out: nothing of the mail is kept but that it existed.
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS forget_messages (key INTEGER PRIMARY KEY); DELETE FROM forget_messages;
         INSERT INTO forget_messages (key) SELECT id FROM messages
          WHERE lower(from_address) IN (SELECT address FROM forget_addresses)
             OR lower(recipient) IN (SELECT address FROM forget_addresses);",
    )?;
    // Our own letters to others that quote them or name their address (notices to agents).
    for id in crate::store::messages::outgoing_containing(tx, &addresses)? {
        tx.execute("INSERT OR IGNORE INTO forget_messages (key) VALUES (?1)", [id])?;
    }
    tx.execute("DELETE FROM attachments WHERE message IN (SELECT key FROM forget_messages)", [])?;
    tx.execute("DELETE FROM blobs WHERE sha256 NOT IN (SELECT blob FROM attachments)", [])?;
    tx.execute("DELETE FROM message_raw WHERE message IN (SELECT key FROM forget_messages)", [])?;
    let messages = tx.execute(
        "UPDATE messages SET raw = X'', raw_zstd = 0, size = 0, note = ?1, decision = NULL, decision_zstd = NULL, subject = ?1, message_id = NULL,
                from_address = CASE WHEN from_address IS NULL THEN NULL ELSE ?2 END,
                recipient = CASE WHEN lower(recipient) IN (SELECT address FROM forget_addresses) THEN ?2 ELSE recipient END
          WHERE id IN (SELECT key FROM forget_messages)",
        params![FORGOTTEN, placeholder],
    )?;

    // History: what their messages said, then every mention of an address or the name.
    let mut history = tx.execute(
        concat!(
            "UPDATE history SET detail = ?1, detail_zstd = NULL WHERE message IN (SELECT key FROM forget_messages) AND action IN ('create', 'note', ",
            crate::store::note_actions!(),
            ")"
        ),
        [FORGOTTEN],
    )?;
    let mut mentions: Vec<String> = addresses.clone();
    mentions.extend(name.filter(|name| name.trim().chars().count() >= 3));
    for mention in &mentions {
        history += tx.execute(
            "UPDATE history SET actor = replace(actor, ?1, ?2), detail = replace(reqmail_note(detail, detail_zstd), ?1, ?2), detail_zstd = NULL
              WHERE instr(lower(actor), lower(?1)) > 0 OR instr(lower(reqmail_note(detail, detail_zstd)), lower(?1)) > 0",
            params![mention, placeholder],
        )?;
    }

    // PostgreSQL has no trigger that can find a rewritten request's words (its 0015).
    if tx.backend() == Backend::Postgres {
        let rewritten: Vec<i64> = tx
            .prepare(
                "SELECT t.number FROM tickets t WHERE t.status IN ('resolved', 'closed') AND EXISTS (
                     SELECT 1 FROM history h WHERE h.ticket = t.number AND h.action = 'comment'
                        AND (h.message IN (SELECT key FROM forget_messages) OR instr(h.detail, ?1) > 0))",
            )?
            .query_map([&placeholder], |row| row.get(0))?
            .collect::<crate::store::Result<_>>()?;
        for ticket in rewritten {
            crate::store::knowledge::relearn(tx, ticket)?;
        }
    }

    // The decision records of other messages name them as a reader or a Cc.
    crate::store::messages::replace_in_decisions(tx, &addresses, &placeholder)?;

    // Letters not yet sent to them are never sent; the others keep no address.
    let letters = tx.execute(
        "UPDATE outbox SET status = CASE WHEN status = 'queued' THEN 'failed' ELSE status END,
                last_error = CASE WHEN status = 'queued' THEN 'recipient forgotten' ELSE last_error END,
                recipient = ?1
          WHERE lower(recipient) IN (SELECT address FROM forget_addresses)",
        [&placeholder],
    )?;
    for table in ["auto_mail", "notices_sent", "undeliverable"] {
        tx.execute(&format!("DELETE FROM {table} WHERE lower(address) IN (SELECT address FROM forget_addresses)"), [])?;
    }
    tx.execute("DELETE FROM ticket_cc WHERE person = ?1", [person])?;
    tx.execute("DELETE FROM addresses WHERE person = ?1", [person])?;
    tx.execute("INSERT INTO addresses (address, person, is_primary) VALUES (?1, ?2, 1)", params![placeholder, person])?;
    tx.execute("UPDATE people SET name = NULL, organisation = NULL WHERE id = ?1", [person])?;
    let forgotten = Forgotten { person, addresses: addresses.len(), messages, history, letters };
    record(
        tx,
        "forget",
        &format!(
            "person #{person}: {} addresses, {} messages, {} history entries, {} letters anonymised",
            forgotten.addresses, forgotten.messages, forgotten.history, forgotten.letters
        ),
        now,
    )?;
    Ok(Some(forgotten))
}
