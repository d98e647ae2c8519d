//! Messages in and out. Inbound rows are the spool.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rusqlite::functions::FunctionFlags;
use crate::store::{params, params_from_iter, Connection, OptionalExtension, Row};
use sha2::{Digest as _, Sha256};

use crate::clock::format_time;
use crate::ticket::{SpoolId, TicketId};

/// Raw messages are stored zstd-compressed in `message_raw` (`store::compression`).
/// Rows written before keep their bytes in `messages.raw`, verbatim (`raw_zstd = 0`) or
/// compressed, and stay readable.
/// The columns [`stored_raw`] reads, from `messages AS m` joined with [`RAW_JOIN`].
pub(crate) const RAW_COLUMNS: &str = "r.zstd, m.raw, m.raw_zstd";
/// Joins each `messages AS m` row with its bytes, when they are kept apart.
pub(crate) const RAW_JOIN: &str = "LEFT JOIN message_raw r ON r.message = m.id";

/// Stores the raw bytes of message `id` where no later update of its row rewrites them.
fn store_raw(conn: &Connection, id: i64, direction: &str, raw: &[u8]) -> crate::store::Result<()> {
    let compressed = super::compression::compress(conn, direction, id, raw)?;
    store_compressed(conn, id, &compressed)
}

/// Stores the bytes of message `id` as compressed already.
fn store_compressed(conn: &Connection, id: i64, compressed: &[u8]) -> crate::store::Result<()> {
    if let Some(sqlite) = conn.as_sqlite().filter(|_| compressed.len() > super::LARGE_MESSAGE_BYTES) {
        // Bound as a parameter, the bytes would be copied twice more (the binding, then
        // the record); blob I/O writes them from this one copy into the pages.
        conn.prepare_cached("INSERT INTO message_raw (message, zstd) VALUES (?1, zeroblob(?2))")?
            .execute(params![id, compressed.len() as i64])?;
        return super::write_blob(sqlite, "message_raw", "zstd", id, compressed);
    }
    conn.prepare_cached("INSERT INTO message_raw (message, zstd) VALUES (?1, ?2)")?.execute(params![id, compressed])?;
    Ok(())
}

/// The message bytes of a row that selected [`RAW_COLUMNS`] from column `first` on.
/// The stored bytes are read in place, so that a large message is in memory once
/// compressed (SQLite's copy) and once as it came.
pub(crate) fn stored_raw(conn: &Connection, row: &Row<'_>, first: usize) -> crate::store::Result<Vec<u8>> {
    let (stored, compressed, column) = match row.get_ref(first)?.as_blob_or_null()? {
        Some(apart) => (apart, true, first),
        None => (row.get_ref(first + 1)?.as_blob()?, row.get::<_, bool>(first + 2)?, first + 1),
    };
    if !compressed {
        return Ok(stored.to_vec());
    }
    super::compression::decompress(conn, stored, column)
}

/// What `spool` did with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spooled {
    /// Newly stored; processing is due.
    New(SpoolId),
    /// Seen before (same Message-ID or the same bytes); `processed` tells whether it still waits.
    Known { id: SpoolId, processed: bool },
}

/// Facts about an inbound message known before parsing.
#[derive(Debug, Clone)]
pub struct Arrival<'a> {
    pub raw: &'a [u8],
    pub dedupe_key: &'a str,
    pub source: &'a str,
    pub recipient: Option<&'a str>,
    /// The queue a new ticket lands in, when the source ties one to it.
    pub queue: Option<&'a str>,
    pub received: DateTime<Utc>,
}

/// How a dedupe key is kept. A key with a Message-ID (`id:… body:…`): a `~`, then 96
/// bits of the Message-ID's SHA-256 and 96 bits of the whole key's, in base64, so that
/// the unique index of the keys also finds inbound mail by its Message-ID (a range of
/// keys, [`message_id_keys`]): inbound mail needs no second index keyed at random, which
/// at a million messages cost a page written for nearly every message (migration 0036).
/// Other keys, and every key kept before: [`digest_key`]. Two messages would have to
/// collide in 96 bits of both, or 128 bits, to be taken for one.
pub fn stored_key(dedupe_key: &str) -> String {
    match message_id_of_key(dedupe_key) {
        Some(message_id) => format!("{}{}", message_id_keys(message_id).0, base64_digest(dedupe_key, 12)),
        None => digest_key(dedupe_key),
    }
}

/// The Message-ID of an `id:… body:…` key (a Message-ID holds no space).
fn message_id_of_key(dedupe_key: &str) -> Option<&str> {
    dedupe_key.strip_prefix("id:")?.rsplit_once(" body:").map(|(message_id, _)| message_id)
}

/// The first 128 bits of the key's SHA-256 in base64, 22 characters where the key itself
/// (a Message-ID with a body hash) takes 80 or more, in the row and again in its index.
pub fn digest_key(dedupe_key: &str) -> String {
    base64_digest(dedupe_key, 16)
}

fn base64_digest(text: &str, bytes: usize) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(&Sha256::digest(text.as_bytes())[..bytes])
}

/// The stored keys of inbound mail with `message_id` lie in `start..end` ([`stored_key`]):
/// base64 sorts below `~`.
pub fn message_id_keys(message_id: &str) -> (String, String) {
    let start = format!("{KEY_WITH_MESSAGE_ID}{}", base64_digest(message_id, 12));
    let end = format!("{start}{KEY_WITH_MESSAGE_ID}");
    (start, end)
}

/// Starts the stored key of a message with a Message-ID; every other key sorts below it.
const KEY_WITH_MESSAGE_ID: char = '~';

/// Adds `reqmail_dedupe_digest(key)` to `conn`: [`digest_key`], for the migration that
/// turned the stored keys into digests.
pub fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("reqmail_dedupe_digest", 1, flags, |context| {
        Ok(context.get::<Option<String>>(0)?.map(|key| digest_key(&key)))
    })
}

pub fn spool(conn: &Connection, arrival: &Arrival<'_>) -> crate::store::Result<Spooled> {
    spool_compressed(conn, arrival, None)
}

/// [`spool`], with the bytes compressed ahead (`compression::Compressor`) when `compressed`.
pub fn spool_compressed(conn: &Connection, arrival: &Arrival<'_>, compressed: Option<&[u8]>) -> crate::store::Result<Spooled> {
    let dedupe_key = stored_key(arrival.dedupe_key);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO messages (direction, state, dedupe_key, source, recipient, received, size, raw, queue)
             VALUES ('in', 'spooled', ?1, ?2, ?3, ?4, ?5, X'', ?6)
             ON CONFLICT (dedupe_key) WHERE direction = 'in' DO NOTHING",
        )?
        .execute(params![
            dedupe_key,
            arrival.source,
            arrival.recipient,
            format_time(arrival.received),
            arrival.raw.len() as i64,
            arrival.queue
        ])?;
    if inserted == 1 {
        let id = conn.last_insert_rowid()?;
        match compressed {
            Some(compressed) => {
                super::compression::train_if_due(conn, "in", id)?;
                store_compressed(conn, id, compressed)?;
            }
            None => store_raw(conn, id, "in", arrival.raw)?,
        }
        return Ok(Spooled::New(SpoolId(id)));
    }
    inbound_by_stored_key(conn, &dedupe_key)?.ok_or(crate::store::Error::NoRows)
}

fn inbound_by_stored_key(conn: &Connection, stored: &str) -> crate::store::Result<Option<Spooled>> {
    conn.prepare_cached("SELECT id, state FROM messages WHERE direction = 'in' AND dedupe_key = ?1")?
        .query_row([stored], |row| {
            let state: String = row.get(1)?;
            Ok(Spooled::Known { id: SpoolId(row.get(0)?), processed: state != "spooled" })
        })
        .optional()
}

/// The inbound message spooled under `dedupe_key` as the key was kept before migration
/// 0036 ([`digest_key`]), where that differs from how it is kept now.
pub fn inbound_by_digest(conn: &Connection, dedupe_key: &str) -> crate::store::Result<Option<Spooled>> {
    match message_id_of_key(dedupe_key) {
        Some(_) => inbound_by_stored_key(conn, &digest_key(dedupe_key)),
        None => Ok(None),
    }
}

/// Which keys of earlier versions a store may hold mail under: each is set by the
/// migration that changed the key if the store held mail then, and costs a look-up more
/// for every message spooled. A store begun since holds neither.
#[derive(Debug, Clone, Copy, Default)]
pub struct EarlierKeys {
    /// The Message-ID alone, before the key held a hash of the body (migration 0035).
    pub message_id_alone: bool,
    /// [`digest_key`] of every key, before a key began with its Message-ID's (0036).
    pub digests: bool,
}

pub fn earlier_keys(conn: &Connection) -> crate::store::Result<EarlierKeys> {
    let marks: Vec<String> = conn
        .prepare_cached("SELECT name FROM settings WHERE name IN ('keys_before_body_hash', 'keys_before_message_id_prefix')")?
        .query_map([], |row| row.get(0))?
        .collect::<crate::store::Result<_>>()?;
    let marked = |name: &str| marks.iter().any(|mark| mark == name);
    Ok(EarlierKeys { message_id_alone: marked("keys_before_body_hash"), digests: marked("keys_before_message_id_prefix") })
}

/// The inbound message stored under `dedupe_key`, with its raw bytes.
pub fn inbound_by_key(conn: &Connection, dedupe_key: &str) -> crate::store::Result<Option<(Spooled, Vec<u8>)>> {
    conn.prepare_cached(&format!("SELECT m.id, m.state, {RAW_COLUMNS} FROM messages m {RAW_JOIN} WHERE m.direction = 'in' AND m.dedupe_key = ?1"))?
        .query_row([stored_key(dedupe_key)], |row| {
            let state: String = row.get(1)?;
            Ok((Spooled::Known { id: SpoolId(row.get(0)?), processed: state != "spooled" }, stored_raw(conn, row, 2)?))
        })
        .optional()
}

/// Inbound messages stored but not yet processed, oldest first.
pub fn pending(conn: &Connection, limit: i64) -> crate::store::Result<Vec<SpoolId>> {
    conn.prepare_cached("SELECT id FROM messages WHERE state = 'spooled' ORDER BY id LIMIT ?1")?
        .query_map([limit], |row| Ok(SpoolId(row.get(0)?)))?
        .collect()
}

pub fn raw(conn: &Connection, id: SpoolId) -> crate::store::Result<Option<Vec<u8>>> {
    conn.prepare_cached(&format!("SELECT {RAW_COLUMNS} FROM messages m {RAW_JOIN} WHERE m.id = ?1"))?
        .query_row([id.0], |row| stored_raw(conn, row, 0))
        .optional()
}

/// An inbound message still waiting to be processed, as its source stored it.
pub struct Waiting {
    pub raw: Vec<u8>,
    /// The envelope recipient the source gave.
    pub recipient: Option<String>,
    /// The queue the source tied it to (an IMAP mailbox's `queue`).
    pub queue: Option<String>,
}

/// The message `id` if it is inbound and not processed yet.
pub fn waiting(conn: &Connection, id: SpoolId) -> crate::store::Result<Option<Waiting>> {
    let size: Option<i64> = conn
        .prepare_cached("SELECT size FROM messages WHERE id = ?1 AND direction = 'in' AND state = 'spooled'")?
        .query_row([id.0], |row| row.get(0))
        .optional()?;
    let Some(size) = size else { return Ok(None) };
    // Before its pages are read, else a batch-sized cache keeps them.
    super::cache_for_message(conn, usize::try_from(size).unwrap_or(usize::MAX))?;
    conn.prepare_cached(&format!(
        "SELECT {RAW_COLUMNS}, m.recipient, m.queue FROM messages m {RAW_JOIN} WHERE m.id = ?1 AND m.direction = 'in' AND m.state = 'spooled'"
    ))?
    .query_row([id.0], |row| Ok(Waiting { raw: stored_raw(conn, row, 0)?, recipient: row.get(3)?, queue: row.get(4)? }))
        .optional()
}

/// What the source told about an inbound message, besides its bytes.
pub struct SourceFacts {
    /// The envelope recipient the source gave.
    pub recipient: Option<String>,
    /// The queue the source tied it to (an IMAP mailbox's `queue`).
    pub queue: Option<String>,
}

/// What the source told about message `id` if it is inbound and not processed yet, for a
/// caller that still holds its bytes.
pub fn unprocessed(conn: &Connection, id: SpoolId) -> crate::store::Result<Option<SourceFacts>> {
    conn.prepare_cached("SELECT recipient, queue FROM messages WHERE id = ?1 AND direction = 'in' AND state = 'spooled'")?
        .query_row([id.0], |row| Ok(SourceFacts { recipient: row.get(0)?, queue: row.get(1)? }))
        .optional()
}

/// The facts `process` records about an inbound message once it is decided.
#[derive(Debug, Clone, Default)]
pub struct Decided<'a> {
    pub state: &'a str,
    pub ticket: Option<TicketId>,
    pub message_id: Option<&'a str>,
    pub from_address: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub outcome: &'a str,
}

pub fn decide(conn: &Connection, id: SpoolId, decided: &Decided<'_>) -> crate::store::Result<()> {
    // The note the message adds is kept once, in the history entry that records it.
    conn.prepare_cached(
        "UPDATE messages SET state = ?2, ticket = ?3, message_id = ?4, from_address = ?5, subject = ?6, outcome = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        id.0,
        decided.state,
        decided.ticket.map(|ticket| ticket.0),
        decided.message_id,
        decided.from_address,
        decided.subject,
        decided.outcome
    ])?;
    Ok(())
}

/// The note (the sender's new words) of a stored message.
pub fn note(conn: &Connection, id: SpoolId) -> crate::store::Result<Option<String>> {
    conn.prepare_cached(&format!("SELECT {NOTE_OF_M} FROM messages m WHERE m.id = ?1"))?
        .query_row([id.0], |row| row.get(0))
        .optional()
        .map(Option::flatten)
}


/// The note of `messages AS m`: in its history entry, or in `m.note` for rows written
/// before notes were kept once. Found through the ticket's history, which is indexed.
pub(crate) const NOTE_OF_M: &str = concat!(
    "COALESCE(m.note, (SELECT reqmail_note(h.detail, h.detail_zstd) FROM history h WHERE h.ticket = m.ticket AND h.message = m.id AND h.action IN (",
    super::note_actions!(),
    ") ORDER BY h.id LIMIT 1))"
);

/// Keeps the decision record (compact JSON) with the inbound message it is about,
/// compressed (`store::compression`, kind 'decision').
pub fn record_decision(conn: &Connection, id: SpoolId, decision_json: &str) -> crate::store::Result<()> {
    let compressed = super::compression::compress(conn, "decision", id.0, decision_json.as_bytes())?;
    store_decision(conn, id.0, &compressed)
}

/// [`record_decision`] with the record compressed elsewhere (`notify::finisher`), with
/// the `compressor(conn, "decision")` of the batch.
pub fn fill_decision(conn: &Connection, id: i64, compressed: &[u8]) -> crate::store::Result<()> {
    super::compression::train_if_due(conn, "decision", id)?;
    store_decision(conn, id, compressed)
}

fn store_decision(conn: &Connection, id: i64, compressed: &[u8]) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE messages SET decision = NULL, decision_zstd = ?2 WHERE id = ?1")?.execute(params![id, compressed])?;
    Ok(())
}

/// Compresses the decision records kept as text from before decisions were compressed,
/// a few thousand at a time (for `store compact`); returns how many.
pub fn compress_old_decisions(conn: &Connection) -> crate::store::Result<usize> {
    const CHUNK: i64 = 5_000;
    let mut done = 0;
    let mut after = 0;
    loop {
        let old: Vec<(i64, String)> = conn
            .prepare_cached("SELECT id, decision FROM messages WHERE decision IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2")?
            .query_map([after, CHUNK], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<crate::store::Result<_>>()?;
        let Some((last, _)) = old.last() else { return Ok(done) };
        after = *last;
        for (id, json) in &old {
            record_decision(conn, SpoolId(*id), json)?;
        }
        done += old.len();
    }
}

/// The decision record of a row that selected `decision_zstd, decision` from column
/// `first` on: compressed, or text from before decisions were compressed.
fn stored_decision(conn: &Connection, row: &Row<'_>, first: usize) -> crate::store::Result<Option<String>> {
    let Some(compressed) = row.get_ref(first)?.as_blob_or_null()? else { return row.get(first + 1) };
    let json = super::compression::decompress(conn, compressed, first)?;
    Ok(String::from_utf8(json).map(Some).map_err(|error| rusqlite::Error::FromSqlConversionFailure(first, rusqlite::types::Type::Blob, Box::new(error)))?)
}

/// Replaces each of `names` with `to` in every decision record, for a person forgotten
/// (their addresses, as stored: lower case); returns how many records changed. One pass
/// over the records, each decompressed once.
pub fn replace_in_decisions(conn: &Connection, names: &[String], to: &str) -> crate::store::Result<usize> {
    let mut changed = Vec::new();
    {
        let mut statement = conn.prepare("SELECT id, decision_zstd, decision FROM messages WHERE decision_zstd IS NOT NULL OR decision IS NOT NULL")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let Some(json) = stored_decision(conn, &row, 1)? else { continue };
            if names.iter().any(|name| json.contains(name.as_str())) {
                let replaced = names.iter().fold(json, |json, name| json.replace(name.as_str(), to));
                changed.push((SpoolId(row.get(0)?), replaced));
            }
        }
    }
    for (id, json) in &changed {
        record_decision(conn, *id, json)?;
    }
    Ok(changed.len())
}

/// An inbound message as `reqmail trace` introduces it.
#[derive(Debug, Clone)]
pub struct Traced {
    pub id: SpoolId,
    pub message_id: Option<String>,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub received: String,
    pub state: String,
    pub ticket: Option<TicketId>,
    /// `None` for messages processed before decisions were kept, or still spooled.
    pub decision_json: Option<String>,
}

/// Which inbound message to trace.
#[derive(Debug, Clone)]
pub enum TraceTarget {
    Spool(SpoolId),
    MessageId(String),
    /// The ticket's latest inbound message.
    Ticket(TicketId),
}

pub fn traced(conn: &Connection, target: &TraceTarget) -> crate::store::Result<Option<Traced>> {
    const COLUMNS: &str = "id, message_id, from_address, subject, received, state, ticket, decision_zstd, decision";
    let (sql, keys): (String, Vec<rusqlite::types::Value>) = match target {
        TraceTarget::Spool(id) => (format!("SELECT {COLUMNS} FROM messages WHERE id = ?1 AND direction = 'in'"), vec![id.0.into()]),
        TraceTarget::MessageId(message_id) => (
            format!("SELECT {COLUMNS} FROM {} ORDER BY id DESC LIMIT 1", with_message_id(conn, true, COLUMNS)),
            message_id_params(conn, message_id).into_iter().map(Into::into).collect(),
        ),
        TraceTarget::Ticket(ticket) => (
            format!("SELECT {COLUMNS} FROM messages WHERE ticket = ?1 AND direction = 'in' ORDER BY id DESC LIMIT 1"),
            vec![ticket.0.into()],
        ),
    };
    conn.prepare(&sql)?
        .query_row(params_from_iter(keys), |row| {
            Ok(Traced {
                id: SpoolId(row.get(0)?),
                message_id: row.get(1)?,
                from_address: row.get(2)?,
                subject: row.get(3)?,
                received: row.get(4)?,
                state: row.get(5)?,
                ticket: row.get::<_, Option<i64>>(6)?.map(TicketId),
                decision_json: stored_decision(conn, row, 7)?,
            })
        })
        .optional()
}

/// The ticket a stored message (ours or theirs) belongs to.
pub fn ticket_of_message_id(conn: &Connection, message_id: &str) -> crate::store::Result<Option<TicketId>> {
    let sql = format!("SELECT ticket FROM {} WHERE ticket IS NOT NULL ORDER BY id LIMIT 1", with_message_id(conn, false, "id, ticket"));
    conn.prepare_cached(&sql)?.query_row(params_from_iter(message_id_params(conn, message_id)), |row| Ok(TicketId(row.get(0)?))).optional()
}

/// The messages (inbound only, or ours too) whose Message-ID is `?1`, as a subquery of
/// `columns`, bound to [`message_id_params`]. On SQLite inbound mail is found through its
/// dedupe key, and through the Message-ID index where it was kept before (migration
/// 0036, whose partial index the middle branch names word for word); PostgreSQL indexes
/// every Message-ID. The third branch's bounds are expressions, not bare parameters: SQLite
/// compares a bare one with the value in the partial index's `dedupe_key < '~'` to see
/// whether that index applies, and then prepares the statement anew at every binding (a
/// twentieth of the writer's time in a fetch, for the look-up of each reply's ticket).
fn with_message_id(conn: &Connection, inbound_only: bool, columns: &str) -> String {
    if conn.backend() == crate::store::Backend::Postgres {
        let inbound = if inbound_only { " AND direction = 'in'" } else { "" };
        return format!("(SELECT {columns} FROM messages WHERE message_id = ?1{inbound})");
    }
    let ours = format!("SELECT {columns} FROM messages WHERE direction = 'out' AND message_id = ?1 UNION ALL ");
    format!(
        "({}SELECT {columns} FROM messages WHERE direction = 'in' AND dedupe_key < '{KEY_WITH_MESSAGE_ID}' AND message_id = ?1
          UNION ALL SELECT {columns} FROM messages WHERE direction = 'in' AND dedupe_key >= CAST(?2 AS TEXT) AND dedupe_key < CAST(?3 AS TEXT) AND message_id = ?1)",
        if inbound_only { "" } else { &ours }
    )
}

/// The parameters of [`with_message_id`]: the Message-ID, and on SQLite the range of
/// dedupe keys that begin with its digest.
fn message_id_params(conn: &Connection, message_id: &str) -> Vec<String> {
    match conn.backend() {
        crate::store::Backend::Postgres => vec![message_id.to_string()],
        crate::store::Backend::Sqlite => {
            let (start, end) = message_id_keys(message_id);
            vec![message_id.to_string(), start, end]
        }
    }
}

/// Our letters on `ticket` to any address of the person who has `reader`, newest first
/// (at most `limit`): their row and Message-ID.
pub fn letters_to_reader(conn: &Connection, ticket: TicketId, reader: &str, limit: i64) -> crate::store::Result<Vec<(SpoolId, String)>> {
    conn.prepare_cached(
        "SELECT id, message_id FROM messages
         WHERE direction = 'out' AND ticket = ?1
           AND lower(recipient) IN (SELECT ?2 UNION SELECT mine.address FROM addresses AS given
                                    JOIN addresses AS mine ON mine.person = given.person WHERE given.address = ?2)
         ORDER BY id DESC LIMIT ?3",
    )?
    .query_map(params![ticket.0, reader.to_lowercase(), limit], |row| Ok((SpoolId(row.get(0)?), row.get(1)?)))?
    .collect()
}

/// Stores one composed outgoing message.
pub fn insert_outgoing(
    conn: &Connection,
    ticket: Option<TicketId>,
    message_id: &str,
    recipient: &str,
    subject: &str,
    raw: &[u8],
    now: DateTime<Utc>,
) -> crate::store::Result<i64> {
    let id = insert_outgoing_to_fill(conn, ticket, message_id, recipient, subject, raw.len(), now)?;
    store_raw(conn, id, "out", raw)?;
    Ok(id)
}

/// The row of a letter whose bytes [`fill_outgoing`] stores later in the transaction,
/// of `size` until then.
pub fn insert_outgoing_to_fill(
    conn: &Connection,
    ticket: Option<TicketId>,
    message_id: &str,
    recipient: &str,
    subject: &str,
    size: usize,
    now: DateTime<Utc>,
) -> crate::store::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO messages (direction, state, message_id, ticket, source, recipient, subject, received, size, raw)
         VALUES ('out', 'outgoing', ?1, ?2, 'reqmail', ?3, ?4, ?5, ?6, X'')",
    )?
    .execute(params![message_id, ticket.map(|ticket| ticket.0), recipient, subject, format_time(now), size as i64])?;
    conn.last_insert_rowid()
}

/// Stores the bytes of letter `id`, `size` long and `compressed`, unless the row is no
/// longer the letter `message_id` (its message was rolled back) or has its bytes already.
pub fn fill_outgoing(conn: &Connection, id: i64, message_id: &str, size: usize, compressed: &[u8]) -> crate::store::Result<()> {
    let filled = conn
        .prepare_cached("UPDATE messages SET size = ?3 WHERE id = ?1 AND message_id = ?2 AND direction = 'out' AND NOT EXISTS (SELECT 1 FROM message_raw WHERE message = ?1)")?
        .execute(params![id, message_id, size as i64])?;
    if filled == 1 {
        super::compression::train_if_due(conn, "out", id)?;
        store_compressed(conn, id, compressed)?;
    }
    Ok(())
}

/// Marks a decided message as waiting again (quarantine retry).
pub fn respool(conn: &Connection, id: SpoolId) -> crate::store::Result<()> {
    conn.execute("UPDATE messages SET state = 'spooled', outcome = NULL WHERE id = ?1 AND direction = 'in'", [id.0])?;
    Ok(())
}

/// Our letters whose bytes contain any of `needles`.
pub fn outgoing_containing(conn: &Connection, needles: &[String]) -> crate::store::Result<Vec<i64>> {
    let mut found = Vec::new();
    let mut statement = conn.prepare(&format!("SELECT m.id, {RAW_COLUMNS} FROM messages m {RAW_JOIN} WHERE m.direction = 'out'"))?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let raw = stored_raw(conn, &row, 1)?;
        if needles.iter().any(|needle| raw.windows(needle.len().max(1)).any(|window| window == needle.as_bytes())) {
            found.push(row.get(0)?);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message spooled before keys were kept as digests is found by its key after the
    /// upgrade: a second copy of it has no second effect.
    #[test]
    fn keys_of_before_the_digests_still_find_their_message() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::register_functions(&conn).unwrap();
        let before = crate::store::MIGRATIONS.iter().position(|migration| format!("{migration:?}").contains("reqmail_dedupe_digest")).unwrap();
        rusqlite_migration::Migrations::from_slice(&crate::store::MIGRATIONS[..before]).to_latest(&mut conn).unwrap();
        let key = "id:printer-1@example.org body:5ab6df04ae60507835a16cab608e9f22";
        conn.execute(
            "INSERT INTO messages (direction, state, dedupe_key, source, received, size, raw) VALUES ('in', 'spooled', ?1, 'pipe', '2026-11-21T09:00:00Z', 4, CAST('Hi.' AS BLOB))",
            [key],
        )
        .unwrap();
        rusqlite_migration::Migrations::from_slice(crate::store::MIGRATIONS).to_latest(&mut conn).unwrap();
        let conn = crate::store::Connection::Sqlite(conn);
        let stored: String = conn.query_row("SELECT dedupe_key FROM messages", [], |row| row.get(0)).unwrap();
        assert_eq!(stored.len(), 22, "{stored}");
        let received = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let again = Arrival { raw: b"Hi.", dedupe_key: key, source: "pipe", recipient: None, queue: None, received };
        assert!(matches!(spool(&conn, &again).unwrap(), Spooled::New(_)), "keys are kept otherwise since 0036");
        assert_eq!(inbound_by_digest(&conn, key).unwrap(), Some(Spooled::Known { id: SpoolId(1), processed: false }));
        let earlier = earlier_keys(&conn).unwrap();
        assert!(earlier.message_id_alone, "mail from before 0035 may be under the Message-ID alone");
        assert!(earlier.digests, "mail from before 0036 is under the digest of its key");
        let new = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let earlier = earlier_keys(&new.conn).unwrap();
        assert!(!earlier.message_id_alone && !earlier.digests);
    }

    fn traced_id_of(conn: &Connection, message_id: &str) -> Option<SpoolId> {
        traced(conn, &TraceTarget::MessageId(message_id.into())).unwrap().map(|traced| traced.id)
    }

    /// Inbound mail is found by its Message-ID through its dedupe key, ours and the mail
    /// kept before 0036 through the Message-ID index; none of it by reading every row.
    #[test]
    fn mail_is_found_by_message_id_through_an_index() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        let received = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let person = crate::store::people::create(conn, "ann@example.org", None, crate::ticket::Role::Customer, received).unwrap();
        for number in [1, 2] {
            conn.execute(
                "INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated)
                 VALUES (?1, 's', 'open', 'general', 'medium', 'medium', ?2, '2027-01-15T08:00:00Z', '2027-01-15T08:00:00Z')",
                params![number, person.0],
            )
            .unwrap();
        }
        let inbound = |message_id: &str, body: &str, key: String| {
            let arrival = Arrival { raw: body.as_bytes(), dedupe_key: &key, source: "pipe", recipient: None, queue: None, received };
            let Spooled::New(id) = spool(conn, &arrival).unwrap() else { panic!("new") };
            conn.execute("UPDATE messages SET ticket = 1, message_id = ?2 WHERE id = ?1", params![id.0, message_id]).unwrap();
            id
        };
        let mine = inbound("printer@example.org", "on fire", "id:printer@example.org body:1f".into());
        let same_id_other_body = inbound("printer@example.org", "again", "id:printer@example.org body:2e".into());
        let kept_before = inbound("old@example.org", "old", "x".into());
        conn.execute("UPDATE messages SET dedupe_key = ?2 WHERE id = ?1", params![kept_before.0, digest_key("id:old@example.org body:3d")]).unwrap();
        insert_outgoing_to_fill(conn, Some(TicketId(2)), "reqmail.1.2.3@example.com", "ann@example.org", "s", 0, received).unwrap();

        assert_eq!(ticket_of_message_id(conn, "printer@example.org").unwrap(), Some(TicketId(1)));
        assert_eq!(ticket_of_message_id(conn, "old@example.org").unwrap(), Some(TicketId(1)));
        assert_eq!(ticket_of_message_id(conn, "reqmail.1.2.3@example.com").unwrap(), Some(TicketId(2)));
        assert_eq!(ticket_of_message_id(conn, "printer@example.org.evil").unwrap(), None);
        for hostile in ["", "~", "~~~~~~~~~~~~~~~~~~~~", "' OR 1=1 --", "printer@example.org body:1f", &"x".repeat(100_000), "\u{0}\u{feff}<>"] {
            assert_eq!(ticket_of_message_id(conn, hostile).unwrap(), None, "{hostile:.40?}");
            assert_eq!(traced_id_of(conn, hostile), None, "{hostile:.40?}");
        }
        let traced_id = |id: &str| traced_id_of(conn, id);
        assert_eq!(traced_id("printer@example.org"), Some(same_id_other_body), "the latest");
        assert_eq!(traced_id("old@example.org"), Some(kept_before));
        assert_eq!(traced_id("reqmail.1.2.3@example.com"), None, "ours is not inbound");
        assert_ne!(mine, same_id_other_body);

        let sql = format!("EXPLAIN QUERY PLAN SELECT ticket FROM {} ORDER BY id", with_message_id(conn, false, "id, ticket"));
        let plan: Vec<String> = conn
            .prepare(&sql)
            .unwrap()
            .query_map(params_from_iter(message_id_params(conn, "printer@example.org")), |row| row.get(3))
            .unwrap()
            .collect::<crate::store::Result<_>>()
            .unwrap();
        assert!(plan.iter().all(|step| !step.starts_with("SCAN messages")), "{plan:?}");
        for index in ["messages_message_id_out", "messages_message_id_in", "messages_inbound_dedupe"] {
            assert!(plan.iter().any(|step| step.contains(index)), "{index} in {plan:?}");
        }

        // A binding does not make SQLite prepare the look-up anew.
        let sqlite = conn.as_sqlite().unwrap();
        let mut statement = sqlite.prepare(&format!("SELECT ticket FROM {}", with_message_id(conn, false, "id, ticket"))).unwrap();
        for id in ["printer@example.org", "old@example.org", "unknown@example.org"] {
            statement.query(rusqlite::params_from_iter(message_id_params(conn, id))).unwrap().next().unwrap();
        }
        assert_eq!(statement.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn raw_messages_are_stored_compressed_and_verbatim_rows_stay_readable() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        let raw = "From: ann@example.org\r\nSubject: Printer\r\n\r\nIt is on fire.\r\n".repeat(40).into_bytes();
        let received = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let arrival = Arrival { raw: &raw, dedupe_key: "k", source: "pipe", recipient: None, queue: None, received };
        let Spooled::New(id) = spool(conn, &arrival).unwrap() else { panic!("stored") };
        let (stored, size): (Vec<u8>, i64) =
            conn.query_row("SELECT r.zstd, m.size FROM messages m JOIN message_raw r ON r.message = m.id WHERE m.id = ?1", [id.0], |row| Ok((row.get(0)?, row.get(1)?))).unwrap();
        assert!(stored.len() * 4 < raw.len(), "{} bytes for {}", stored.len(), raw.len());
        assert_eq!(size, raw.len() as i64);
        assert_eq!(self::raw(conn, id).unwrap().unwrap(), raw);
        assert_eq!(waiting(conn, id).unwrap().unwrap().raw, raw);
        conn.execute("INSERT INTO messages (id, direction, state, source, received, size, raw) VALUES (99, 'in', 'applied', 'pipe', 'x', 3, X'28B52F')", []).unwrap();
        assert_eq!(self::raw(conn, SpoolId(99)).unwrap().unwrap(), [0x28, 0xb5, 0x2f], "a row from before compression is read verbatim");
        conn.execute(
            "INSERT INTO messages (id, direction, state, source, received, size, raw, raw_zstd) VALUES (100, 'in', 'applied', 'pipe', 'x', 3, ?1, 1)",
            [zstd::bulk::compress(b"old", 3).unwrap()],
        )
        .unwrap();
        assert_eq!(self::raw(conn, SpoolId(100)).unwrap().unwrap(), b"old", "a row compressed in place before the bytes moved is read");
        let letter = insert_outgoing(conn, None, "<m@x>", "bob@example.com", "Re", b"Dear bob@example.com, ...", received).unwrap();
        assert_eq!(outgoing_containing(conn, &["bob@example.com".into()]).unwrap(), [letter]);
        assert!(outgoing_containing(conn, &["carol@example.com".into()]).unwrap().is_empty());
    }

    #[test]
    fn decisions_are_kept_compressed_and_older_text_records_stay_readable_and_forgettable() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        let received = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let decision = |index: usize| {
            format!(
                r#"{{"outcome":"applied","class":"person","sender":{{"address":"customer{index}@example.org","role":"customer","trust":"unverified"}},"ticket":{{"number":{index},"created":true}},"letters":[{{"template":"receipt","to":"customer{index}@example.org"}}]}}"#
            )
        };
        let ids: Vec<SpoolId> = (0..1_200)
            .map(|index| {
                let (raw, key) = (format!("Subject: {index}\r\n\r\nHello\r\n"), format!("k{index}"));
                let arrival = Arrival { raw: raw.as_bytes(), dedupe_key: &key, source: "pipe", recipient: None, queue: None, received };
                let Spooled::New(id) = spool(conn, &arrival).unwrap() else { panic!("stored") };
                record_decision(conn, id, &decision(index)).unwrap();
                id
            })
            .collect();
        let stored = |id: SpoolId| -> (Option<i64>, Option<String>) {
            conn.query_row("SELECT length(decision_zstd), decision FROM messages WHERE id = ?1", [id.0], |row| Ok((row.get(0)?, row.get(1)?))).unwrap()
        };
        let (late_size, late_text) = stored(ids[1_150]);
        assert_eq!(late_text, None);
        assert!(late_size.unwrap() * 3 < decision(1_150).len() as i64, "{late_size:?} bytes for {}", decision(1_150).len());
        for (index, id) in ids.iter().enumerate().step_by(97) {
            assert_eq!(traced(conn, &TraceTarget::Spool(*id)).unwrap().unwrap().decision_json.unwrap(), decision(index));
        }
        // A record from before decisions were compressed.
        conn.execute("UPDATE messages SET decision_zstd = NULL, decision = ?2 WHERE id = ?1", params![ids[7].0, decision(7)]).unwrap();
        assert_eq!(traced(conn, &TraceTarget::Spool(ids[7])).unwrap().unwrap().decision_json.unwrap(), decision(7));

        assert_eq!(replace_in_decisions(conn, &["customer7@example.org".into(), "customer9@example.org".into()], "gone@invalid").unwrap(), 2);
        for index in [7, 9] {
            let json = traced(conn, &TraceTarget::Spool(ids[index])).unwrap().unwrap().decision_json.unwrap();
            assert_eq!(json, decision(index).replace(&format!("customer{index}@example.org"), "gone@invalid"));
        }
        assert_eq!(stored(ids[7]).1, None, "a rewritten record is compressed");
        assert_eq!(traced(conn, &TraceTarget::Spool(ids[8])).unwrap().unwrap().decision_json.unwrap(), decision(8), "others untouched");
    }

    /// A small letter of the kind a help desk sends, different in its details each time.
    fn letter(index: usize) -> Vec<u8> {
        format!(
            "From: \"Help Desk\" <help@example.com>\r\nTo: customer{index}@example.org\r\nSubject: [REQ #{index}] Printer {index} is jammed\r\n\
             Message-ID: <reqmail.{index}.{:016x}@example.com>\r\nAuto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Hello customer {index},\r\n\r\nwe have received your request and opened ticket #{index}:\r\n\r\n    Printer {index} is jammed\r\n\r\n\
             To add information, reply to this message and keep [REQ #{index}] in the subject.\r\n\r\n-- \r\nHelp Desk <help@example.com>\r\n",
            index.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        )
        .into_bytes()
    }

    #[test]
    fn a_dictionary_trained_on_the_stores_own_mail_shrinks_later_letters_and_all_stay_readable() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let stored_size = |id: i64| -> i64 { conn.query_row("SELECT length(zstd) FROM message_raw WHERE message = ?1", [id], |row| row.get(0)).unwrap() };
        let ids: Vec<i64> = (0..1_200)
            .map(|index| insert_outgoing(conn, None, &format!("<m{index}@x>"), "c@example.org", "s", &letter(index), now).unwrap())
            .collect();
        let dictionaries: i64 = conn.query_row("SELECT COUNT(*) FROM zstd_dictionaries WHERE direction = 'out'", [], |row| row.get(0)).unwrap();
        assert_eq!(dictionaries, 1, "trained once the store held 1,000 messages");
        let (before, after) = (stored_size(ids[900]), stored_size(ids[1_100]));
        assert!(after * 2 < before, "a letter takes {after} bytes with the dictionary, {before} without");
        for (index, id) in ids.iter().enumerate() {
            assert_eq!(raw(conn, SpoolId(*id)).unwrap().unwrap(), letter(index), "letter {index}");
        }
        // Letters teach nothing about inbound mail.
        assert_eq!(conn.query_row("SELECT COUNT(*) FROM zstd_dictionaries WHERE direction = 'in'", [], |row| row.get::<_, i64>(0)).unwrap(), 0);
    }
}
