//! Raw messages compressed with zstd, with dictionaries trained on the site's own mail.
//!
//! A message of a few KB compresses poorly on its own: what it shares with the mail
//! before it (header names, the templates of our letters, the customers' domains and
//! signatures) is new to the compressor every time. A dictionary trained on earlier
//! messages of the same direction supplies it; on the benchmark's mail it takes letters
//! to a fifth and requests to about half of what they take alone. The first dictionary
//! of a direction is trained once the store holds [`FIRST_TRAINING`] messages, a new one
//! whenever it has grown tenfold since; dictionaries are never changed or deleted. A
//! frame names its dictionary by zstd's dictionary id (a hash of the dictionary), so a
//! frame without one, or a row from before compression, reads as it always did.
//!
//! Besides the two directions of mail, a third kind, 'decision', compresses the
//! pipeline's decision records (`messages.decision_zstd`): JSON that differs little from
//! one message to the next, which a dictionary takes to an eighth. A fourth, 'note',
//! compresses the notes in history (`history.detail_zstd`), only once its dictionary is
//! trained: a note of a few hundred bytes gains nothing from zstd alone. SQL reads a
//! note with `reqmail_note(detail, detail_zstd)` ([`register`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::Type;
use rusqlite::OptionalExtension as _;
use crate::store::{params, Backend, Connection, OptionalExtension};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// Without a dictionary, zstd's level 3 costs some 20 µs for a typical message.
const LEVEL: i32 = 3;
/// A dictionary is first prepared for level 1: its tables are a few dozen KB, where level
/// 3's are half a megabyte, which a process that stores one message (`ingest` without
/// `serve`) would pay to build and clear for each kind it compresses.
const QUICK_DICTIONARY_LEVEL: i32 = 1;
/// A process that keeps compressing with a dictionary (`serve`, `fetch`, `import`)
/// prepares it for level 3 after [`QUICK_COMPRESSIONS`]: frames 8–11 % smaller than at
/// level 1 on the benchmark's notes and mail, for a few µs more per message.
const STRONG_DICTIONARY_LEVEL: i32 = 3;
const QUICK_COMPRESSIONS: u32 = 8;
/// Messages in the store (by row id, both directions) before the first dictionary.
const FIRST_TRAINING: i64 = 1_000;
/// The newest messages of a direction that a dictionary is trained on, and how many
/// at least (fewer teach it little: training is tried again later).
const SAMPLES: i64 = 2_000;
const FEWEST_SAMPLES: usize = 200;
/// Larger messages are mostly attachments, which teach nothing about the next message.
const LARGEST_SAMPLE: i64 = 64 << 10;
/// A few dozen KB capture what small messages share; larger ones cost more to prepare
/// in every process that compresses.
const DICTIONARY_BYTES: usize = 32 << 10;
/// Decision records share their keys and phrases; a larger dictionary adds nothing
/// measurable (on the benchmark's records: 8 KiB 11.7 %, 32 KiB 11.8 % of the JSON).
/// Notes share their words: on the benchmark's, 8 KiB takes them to 35.9 % at level 1
/// (32 KiB: 36.9 %) and 34.8 % at level 3 (33.3 %), and its tables cost a one-message
/// process a quarter of a 32 KiB dictionary's (0.7 million instructions).
const SMALL_DICTIONARY_BYTES: usize = 8 << 10;

/// A dictionary, prepared for each way when first needed: preparing costs more than
/// compressing a message, and most processes go only one way.
struct Prepared {
    dictionary: Vec<u8>,
    compressions: AtomicU32,
    quick: OnceLock<EncoderDictionary<'static>>,
    strong: OnceLock<EncoderDictionary<'static>>,
    decoder: OnceLock<DecoderDictionary<'static>>,
}

impl Prepared {
    fn encoder(&self) -> &EncoderDictionary<'static> {
        match self.compressions.fetch_add(1, Ordering::Relaxed) < QUICK_COMPRESSIONS {
            true => self.quick.get_or_init(|| EncoderDictionary::copy(&self.dictionary, QUICK_DICTIONARY_LEVEL)),
            false => self.strong.get_or_init(|| EncoderDictionary::copy(&self.dictionary, STRONG_DICTIONARY_LEVEL)),
        }
    }

    fn decoder(&self) -> &DecoderDictionary<'static> {
        self.decoder.get_or_init(|| DecoderDictionary::copy(&self.dictionary))
    }
}

/// Prepared dictionaries by id. The id is a hash of the dictionary, so the same id in
/// two stores is the same dictionary.
static PREPARED: LazyLock<Mutex<HashMap<u32, Arc<Prepared>>>> = LazyLock::new(Default::default);

/// Compresses `raw`, the message with row id `id` going `direction` ('in' or 'out'; or
/// 'decision' for its decision record), with the newest dictionary of that kind; trains
/// one first when it is due.
pub fn compress(conn: &Connection, direction: &str, id: i64, raw: &[u8]) -> crate::store::Result<Vec<u8>> {
    match compress_if_trained(conn, direction, id, raw)? {
        Some(compressed) => Ok(compressed),
        None => Ok(zstd::bulk::compress(raw, LEVEL).map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?),
    }
}

/// Like [`compress`], but only with a dictionary: `None` while the kind has none yet.
fn compress_if_trained(conn: &Connection, direction: &str, id: i64, raw: &[u8]) -> crate::store::Result<Option<Vec<u8>>> {
    train_if_due(conn, direction, id)?;
    let Compressor(Some(prepared)) = compressor(conn, direction)? else { return Ok(None) };
    Ok(compress_with(raw, prepared.encoder()).map(Some).map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?)
}

/// The writer keeps a copy of a note compressed ahead to compare; a note larger than this
/// (rare: most of a large message is its attachments) is compressed by the writer alone.
const LARGEST_NOTE_AHEAD: usize = 64 << 10;

/// Compresses as [`compress`] does with the dictionary it had when made, on any thread:
/// a source compresses what it read on its reading thread, before the writer stores it.
#[derive(Clone)]
pub struct Compressor(Option<Arc<Prepared>>);

/// The [`Compressor`] of `direction`'s newest dictionary.
pub fn compressor(conn: &Connection, direction: &str) -> crate::store::Result<Compressor> {
    let newest: Option<u32> = conn
        .prepare_cached("SELECT dict_id FROM zstd_dictionaries WHERE direction = ?1 ORDER BY id DESC LIMIT 1")?
        .query_row([direction], |row| row.get(0))
        .optional()?;
    let load = |dict_id: u32| conn.prepare_cached(DICTIONARY)?.query_row([dict_id], |row| row.get(0)).optional();
    Ok(Compressor(newest.map(|dict_id| prepared(dict_id, || load(dict_id))).transpose()?))
}

impl Compressor {
    pub fn compress(&self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        match &self.0 {
            Some(prepared) => compress_with(raw, prepared.encoder()),
            None => zstd::bulk::compress(raw, LEVEL),
        }
    }

    /// A history note compressed as [`compress_note`] would, ahead, on the thread that
    /// read its message: `None` without a dictionary, when that would not make it
    /// smaller, or for a note larger than [`LARGEST_NOTE_AHEAD`]. The writer takes it
    /// through [`note_compressed_ahead`].
    pub fn compress_note(&self, note: &str) -> Option<Vec<u8>> {
        let prepared = self.0.as_ref().filter(|_| note.len() <= LARGEST_NOTE_AHEAD)?;
        compress_with(note.as_bytes(), prepared.encoder()).ok().filter(|compressed| compressed.len() < note.len())
    }
}

thread_local! {
    /// Creating a context costs more than compressing or decompressing a typical message
    /// with it (a third of a deliverer's time went into making one per letter): each
    /// thread keeps one of each.
    static CONTEXT: RefCell<zstd::zstd_safe::CCtx<'static>> = RefCell::new(zstd::zstd_safe::CCtx::create());
    static DECOMPRESSION: RefCell<zstd::zstd_safe::DCtx<'static>> = RefCell::new(zstd::zstd_safe::DCtx::create());
}

/// `raw` compressed with a prepared dictionary, in this thread's context.
fn compress_with(raw: &[u8], dictionary: &EncoderDictionary<'_>) -> std::io::Result<Vec<u8>> {
    CONTEXT.with_borrow_mut(|context| {
        let mut compressed = Vec::with_capacity(zstd::zstd_safe::compress_bound(raw.len()));
        context.compress_using_cdict(&mut compressed, raw, dictionary.as_cdict()).map_err(|code| std::io::Error::other(zstd::zstd_safe::get_error_name(code)))?;
        Ok(compressed)
    })
}

thread_local! {
    /// The note this thread compressed last, and its text: the trigger that indexes a new
    /// note reads it back at once, and need not decompress it (nor prepare the decoder).
    static LAST_NOTE: RefCell<(Vec<u8>, String)> = RefCell::default();
    /// The note of the message this thread processes, with its text compressed ahead
    /// ([`Compressor::compress_note`]).
    static NOTE_AHEAD: RefCell<Option<(String, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Offers the writer's next [`compress_note`] of exactly `note` the frame another thread
/// made of it: compressing notes was a twentieth of a batch writer's time.
pub fn note_compressed_ahead(note: &str, compressed: Vec<u8>) {
    NOTE_AHEAD.with_borrow_mut(|ahead| *ahead = Some((note.to_string(), compressed)));
}

/// `note`, for history entry `id`, compressed with the newest note dictionary; `None`
/// on PostgreSQL, while there is none, or when that would not make it smaller.
pub fn compress_note(conn: &Connection, id: i64, note: &str) -> crate::store::Result<Option<Vec<u8>>> {
    // PostgreSQL's reqmail_note reads `detail` only (its migration 0024).
    if conn.backend() == Backend::Postgres {
        return Ok(None);
    }
    let ahead = NOTE_AHEAD.with_borrow_mut(|ahead| ahead.take_if(|(text, _)| text == note)).map(|(_, compressed)| compressed);
    let compressed = match ahead {
        Some(compressed) => {
            train_if_due(conn, "note", id)?;
            Some(compressed)
        }
        None => compress_if_trained(conn, "note", id, note.as_bytes())?.filter(|compressed| compressed.len() < note.len()),
    };
    if let Some(compressed) = &compressed {
        LAST_NOTE.with_borrow_mut(|(last, text)| {
            last.clone_from(compressed);
            note.clone_into(text);
        });
    }
    Ok(compressed)
}

/// The bytes `stored` was compressed from; `column` names it in an error.
pub fn decompress(conn: &Connection, stored: &[u8], column: usize) -> crate::store::Result<Vec<u8>> {
    decompress_with(stored, column, |dict_id| prepared(dict_id, || conn.prepare_cached(DICTIONARY)?.query_row([dict_id], |row| row.get(0)).optional()))
}

const DICTIONARY: &str = "SELECT dictionary FROM zstd_dictionaries WHERE dict_id = ?1";

/// [`decompress`] with the dictionaries `dictionary` gives.
fn decompress_with(
    stored: &[u8],
    column: usize,
    dictionary: impl FnOnce(u32) -> crate::store::Result<Arc<Prepared>>,
) -> crate::store::Result<Vec<u8>> {
    let failed = |error: std::io::Error| rusqlite::Error::FromSqlConversionFailure(column, Type::Blob, Box::new(error));
    // Our frames record their size: one allocation of exactly that.
    let size = zstd::bulk::Decompressor::upper_bound(stored)
        .ok_or_else(|| failed(std::io::Error::other("a compressed message without its size")))?;
    let prepared = match zstd::zstd_safe::get_dict_id_from_frame(stored) {
        Some(dict_id) => Some(dictionary(dict_id.get())?),
        None => None,
    };
    let mut raw = Vec::with_capacity(size);
    DECOMPRESSION.with_borrow_mut(|context| match &prepared {
        Some(prepared) => context.decompress_using_ddict(&mut raw, stored, prepared.decoder().as_ddict()),
        None => context.decompress(&mut raw, stored),
    })
    .map_err(|code| failed(std::io::Error::other(zstd::zstd_safe::get_error_name(code))))?;
    Ok(raw)
}

/// Adds `reqmail_note(detail, detail_zstd)` to `conn`: a history entry's note as text,
/// `detail` unless it was compressed. Triggers and queries read notes with it.
pub fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("reqmail_note", 2, flags, |context| {
        let Some(compressed) = context.get_raw(1).as_blob_or_null().map_err(|error| rusqlite::Error::UserFunctionError(error.into()))? else {
            return context.get::<Option<String>>(0);
        };
        if let Some(text) = LAST_NOTE.with_borrow(|(last, text)| (last.as_slice() == compressed).then(|| text.clone())) {
            return Ok(Some(text));
        }
        // SAFETY: the connection is the one running this statement, used only on this
        // thread and only until the function returns.
        let conn = unsafe { context.get_connection() }?;
        let load = |dict_id: u32| Ok(conn.prepare_cached(DICTIONARY)?.query_row([dict_id], |row| row.get(0)).optional()?);
        let text = decompress_with(compressed, 1, |dict_id| prepared(dict_id, || load(dict_id)))
            .map_err(|error| rusqlite::Error::UserFunctionError(error.into()))?;
        String::from_utf8(text).map(Some).map_err(|error| rusqlite::Error::UserFunctionError(error.into()))
    })
}

/// The prepared dictionary `dict_id`, read by `load` the first time.
fn prepared(dict_id: u32, load: impl FnOnce() -> crate::store::Result<Option<Vec<u8>>>) -> crate::store::Result<Arc<Prepared>> {
    if let Some(prepared) = PREPARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&dict_id) {
        return Ok(prepared.clone());
    }
    let dictionary: Vec<u8> = load()?
        .ok_or_else(|| {
            let missing = std::io::Error::other(format!(
                "the compression dictionary {dict_id} is not in zstd_dictionaries (restore the store from a backup that has it)"
            ));
            rusqlite::Error::FromSqlConversionFailure(0, Type::Blob, Box::new(missing))
        })?;
    let prepared = Arc::new(Prepared {
        dictionary,
        compressions: AtomicU32::new(0),
        quick: OnceLock::new(),
        strong: OnceLock::new(),
        decoder: OnceLock::new(),
    });
    PREPARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(dict_id, prepared.clone());
    Ok(prepared)
}

/// What is compressed, each with dictionaries of its own.
const DIRECTIONS: [&str; 4] = ["in", "out", "note", "decision"];

thread_local! {
    /// The id at which each direction's next training is due, as committed when a batch
    /// began ([`hold_thresholds`]).
    static HELD: RefCell<Option<[i64; DIRECTIONS.len()]>> = const { RefCell::new(None) };
}

/// Keeps each direction's training threshold until dropped, read once for a batch where
/// every message, note, letter and decision record would read its own (a tenth of a
/// batch's statements). A threshold only grows, so an id below the one committed when the
/// batch began is below the one stored now; read before the batch's transaction, it is
/// never one that transaction wrote and may roll back.
pub fn hold_thresholds(conn: &Connection) -> crate::store::Result<HeldThresholds> {
    let mut held = [FIRST_TRAINING; DIRECTIONS.len()];
    for (due, direction) in held.iter_mut().zip(DIRECTIONS) {
        *due = due_at(conn, direction)?;
    }
    HELD.set(Some(held));
    Ok(HeldThresholds(()))
}

/// Held training thresholds ([`hold_thresholds`]).
pub struct HeldThresholds(());

impl Drop for HeldThresholds {
    fn drop(&mut self) {
        HELD.set(None);
    }
}

/// The setting that keeps the id at which `direction`'s next training is due.
fn threshold_setting(direction: &str) -> String {
    format!("zstd_next_training_{direction}")
}

fn due_at(conn: &Connection, direction: &str) -> crate::store::Result<i64> {
    Ok(super::setting(conn, &threshold_setting(direction))?.and_then(|value| value.parse().ok()).unwrap_or(FIRST_TRAINING))
}

/// Trains the direction's next dictionary when the store has reached the size for it.
/// Runs in the caller's transaction, once per tenfold growth: some 100 ms then.
pub(crate) fn train_if_due(conn: &Connection, direction: &str, id: i64) -> crate::store::Result<()> {
    let below_held = HELD.with_borrow(|held| {
        let index = DIRECTIONS.iter().position(|known| *known == direction);
        held.zip(index).is_some_and(|(held, index)| id < held[index])
    });
    if below_held || id < due_at(conn, direction)? {
        return Ok(());
    }
    let setting = threshold_setting(direction);
    let samples = samples(conn, direction)?;
    let size = if matches!(direction, "decision" | "note") { SMALL_DICTIONARY_BYTES } else { DICTIONARY_BYTES };
    let trained = (samples.len() >= FEWEST_SAMPLES).then(|| zstd::dict::from_samples(&samples, size).ok()).flatten();
    let Some(dictionary) = trained else {
        // Too little of this direction yet (or nothing zstd could learn): later.
        return super::set_setting(conn, &setting, &(id * 2).to_string());
    };
    if let Some(dict_id) = zstd::zstd_safe::get_dict_id_from_dict(&dictionary) {
        conn.prepare_cached(
            "INSERT INTO zstd_dictionaries (dict_id, direction, trained_at, dictionary) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (dict_id) DO NOTHING",
        )?
        .execute(params![dict_id.get(), direction, id, dictionary])?;
    }
    super::set_setting(conn, &setting, &(id * 10).to_string())
}

/// The newest messages of `direction` of a sample's size, as they came (or the newest
/// decision records or notes, compressed or from before).
fn samples(conn: &Connection, direction: &str) -> crate::store::Result<Vec<Vec<u8>>> {
    let mut decisions;
    let mut notes;
    let mut messages;
    let mut rows = if direction == "decision" {
        decisions = conn.prepare(
            "SELECT decision_zstd, decision FROM messages
              WHERE direction = 'in' AND (decision_zstd IS NOT NULL OR decision IS NOT NULL) ORDER BY id DESC LIMIT ?1",
        )?;
        decisions.query([SAMPLES])?
    } else if direction == "note" {
        notes = conn.prepare(concat!(
            "SELECT detail_zstd, detail FROM history WHERE action IN (",
            super::note_actions!(),
            ") AND (detail_zstd IS NOT NULL OR detail <> '') ORDER BY id DESC LIMIT ?1"
        ))?;
        notes.query([SAMPLES])?
    } else {
        messages = conn.prepare(
            "SELECT r.zstd, NULL FROM messages m JOIN message_raw r ON r.message = m.id
              WHERE m.direction = ?1 AND m.size BETWEEN 1 AND ?2 ORDER BY m.id DESC LIMIT ?3",
        )?;
        messages.query(params![direction, LARGEST_SAMPLE, SAMPLES])?
    };
    let mut samples = Vec::new();
    while let Some(row) = rows.next()? {
        match row.get_ref(0)?.as_blob_or_null()? {
            Some(compressed) => samples.push(decompress(conn, compressed, 0)?),
            None => samples.push(row.get_ref(1)?.as_bytes()?.to_vec()),
        }
    }
    Ok(samples)
}

/// Stores `dictionary` as the newest of `direction` for a test; returns its id.
#[cfg(test)]
pub(crate) fn add_dictionary(conn: &Connection, direction: &str, dictionary: &[u8]) -> u32 {
    let dict_id = zstd::zstd_safe::get_dict_id_from_dict(dictionary).unwrap().get();
    conn.execute(
        "INSERT INTO zstd_dictionaries (dict_id, direction, trained_at, dictionary) VALUES (?1, ?2, 1, ?3)",
        params![dict_id, direction, dictionary],
    )
    .unwrap();
    dict_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_compressed_with_the_directions_dictionary_reads_back_and_names_it() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        let samples: Vec<Vec<u8>> = (0..300)
            .map(|index| format!("From: customer{index}@example.org\r\nTo: help@example.com\r\nSubject: Printer {index} jams\r\n\r\nHello, printer {index} jams again.\r\n").into_bytes())
            .collect();
        let dict_id = add_dictionary(conn, "in", &zstd::dict::from_samples(&samples, 4096).unwrap());
        // Again and again: later messages reuse this thread's context, and from the
        // ninth on the dictionary prepared for the stronger level.
        let mut sizes = Vec::new();
        for raw in std::iter::repeat_n(&samples[7], 2 * QUICK_COMPRESSIONS as usize) {
            let compressed = compress(conn, "in", 1, raw).unwrap();
            assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&compressed).map(|id| id.get()), Some(dict_id));
            assert!(compressed.len() < raw.len() / 2, "{} of {}", compressed.len(), raw.len());
            assert_eq!(&decompress(conn, &compressed, 0).unwrap(), raw);
            // The same frame from another thread, as a source's reading thread makes it.
            let ahead = compressor(conn, "in").unwrap();
            assert_eq!(std::thread::scope(|scope| scope.spawn(|| ahead.compress(raw).unwrap()).join().unwrap()), compressed);
            sizes.push(compressed.len());
        }
        assert!(sizes.last() <= sizes.first(), "{sizes:?}");
    }

    #[test]
    fn held_thresholds_spare_the_look_up_below_them_and_still_train_when_due() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        let threshold = || crate::store::setting(conn, "zstd_next_training_in").unwrap();
        crate::store::set_setting(conn, "zstd_next_training_in", "100").unwrap();
        {
            let _held = hold_thresholds(conn).unwrap();
            // Lowered behind the batch's back (a threshold only grows), it is not read
            // below the held one.
            crate::store::set_setting(conn, "zstd_next_training_in", "10").unwrap();
            train_if_due(conn, "in", 50).unwrap();
            assert_eq!(threshold().as_deref(), Some("10"));
            // From the held one on it is read: due, and with nothing to learn from, later.
            train_if_due(conn, "in", 100).unwrap();
            assert_eq!(threshold().as_deref(), Some("200"));
        }
        crate::store::set_setting(conn, "zstd_next_training_in", "10").unwrap();
        train_if_due(conn, "in", 50).unwrap();
        assert_eq!(threshold().as_deref(), Some("100"), "released, every look-up reads the store");
    }

    #[test]
    fn a_note_compressed_ahead_is_taken_for_exactly_its_text_once() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        let note = |index: usize| format!("Hello, the printer on floor {index} jams again when it prints on both sides. Regards, Ann");
        assert_eq!(compressor(conn, "note").unwrap().compress_note(&note(1)), None, "no dictionary yet");
        let samples: Vec<Vec<u8>> = (0..300).map(|index| note(index).into_bytes()).collect();
        add_dictionary(conn, "note", &zstd::dict::from_samples(&samples, 2048).unwrap());
        let reader = compressor(conn, "note").unwrap();
        let ahead = std::thread::scope(|scope| scope.spawn(|| reader.compress_note(&note(7))).join().unwrap()).unwrap();
        assert!(ahead.len() < note(7).len());
        // A frame the writer could not tell from its own (here a marked copy) shows which
        // one it stored.
        let mut marked = ahead.clone();
        marked.extend_from_slice(b"ahead");
        note_compressed_ahead(&note(7), marked.clone());
        assert_eq!(compress_note(conn, 2, &note(8)).unwrap().map(|frame| frame.ends_with(b"ahead")), Some(false), "another text");
        assert_eq!(compress_note(conn, 3, &note(7)).unwrap(), Some(marked));
        let again = compress_note(conn, 4, &note(7)).unwrap().unwrap();
        assert!(!again.ends_with(b"ahead"), "taken once");
        assert_eq!(decompress(conn, &again, 0).unwrap(), note(7).into_bytes());
        assert_eq!(reader.compress_note(&"jams ".repeat(20_000)), None, "a large note is left to the writer");
    }
}
