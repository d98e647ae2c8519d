//! Letters composed and compressed on a thread beside a batch's writer. Inside a batch
//! ([`Batch`]), a letter is decided, its addresses checked, and its Message-ID and row
//! written on the writer as always; building its bytes with lettre and compressing them
//! (a tenth of the writer's time in a batch) happen on this thread meanwhile, and the
//! batch stores them before it commits ([`Batch::settle`]). A letter whose message was
//! rolled back meanwhile is left out then: its row is gone, or is another letter's.

use std::cell::RefCell;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::notify::compose::{compose_as, Letter};
use crate::store::compression::Compressor;
use crate::store::{self, Connection};

/// Letters handed over together: the thread is woken once for so many, not each time.
const HANDED_TOGETHER: usize = 32;

struct Job {
    id: i64,
    message_id: String,
    letter: Letter,
}

struct Finished {
    id: i64,
    message_id: String,
    size: usize,
    compressed: Vec<u8>,
}

struct Beside {
    waiting: Vec<Job>,
    jobs: mpsc::Sender<Vec<Job>>,
}

thread_local! {
    static BESIDE: RefCell<Option<Beside>> = const { RefCell::new(None) };
}

/// Whether this thread's letters are finished beside it now.
pub fn active() -> bool {
    BESIDE.with_borrow(Option::is_some)
}

/// Hands over `letter`, whose row is `id`, to be finished, while [`active`].
pub fn hand_over(id: i64, message_id: &str, letter: Letter) {
    BESIDE.with_borrow_mut(|beside| {
        let beside = beside.as_mut().expect("letters are handed over only while a batch finishes them");
        beside.waiting.push(Job { id, message_id: message_id.to_string(), letter });
        if beside.waiting.len() >= HANDED_TOGETHER {
            // A thread that is gone has failed; `settle` says why.
            let _ = beside.jobs.send(std::mem::take(&mut beside.waiting));
        }
    })
}

/// The letters of one batch, finished on a thread of their own from [`Batch::start`]
/// until [`Batch::settle`]. Dropped unsettled, the letters are given up with the batch.
pub struct Batch(Option<JoinHandle<anyhow::Result<Vec<Finished>>>>);

impl Batch {
    /// Finishes this thread's letters beside it, compressing with `compressor` (the
    /// outgoing mail's, `store::compression::compressor`).
    pub fn start(compressor: Compressor) -> anyhow::Result<Batch> {
        let (jobs, handed) = mpsc::channel::<Vec<Job>>();
        let thread = std::thread::Builder::new().name("letters".into()).spawn(move || {
            let mut finished = Vec::new();
            for job in handed.into_iter().flatten() {
                let raw = compose_as(&job.letter.outgoing(), &job.message_id)?;
                let compressed = compressor.compress(&raw)?;
                finished.push(Finished { id: job.id, message_id: job.message_id, size: raw.len(), compressed });
            }
            Ok(finished)
        })?;
        BESIDE.with_borrow_mut(|beside| *beside = Some(Beside { waiting: Vec::new(), jobs }));
        Ok(Batch(Some(thread)))
    }

    /// Waits for the letters handed over and stores their bytes in `conn`'s transaction.
    pub fn settle(mut self, conn: &Connection) -> anyhow::Result<()> {
        if let Some(Beside { waiting, jobs }) = BESIDE.take() {
            let _ = jobs.send(waiting);
        }
        let thread = self.0.take().expect("a batch is settled once");
        let finished = thread.join().map_err(|_| anyhow::anyhow!("the thread composing the batch's letters panicked"))??;
        for letter in finished {
            store::messages::fill_outgoing(conn, letter.id, &letter.message_id, letter.size, &letter.compressed)?;
        }
        Ok(())
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // Closing the channel ends the thread.
        BESIDE.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::compose::{compose, AutoSubmitted, Outgoing};
    use crate::store::messages::{insert_outgoing, insert_outgoing_to_fill, raw};
    use crate::ticket::SpoolId;

    fn outgoing<'a>(to: &'a str, body: &'a str) -> Outgoing<'a> {
        Outgoing {
            ticket: None,
            from_name: "Help Desk",
            from_address: "help@example.com",
            reply_to: "help@example.com",
            to_address: to,
            to_name: None,
            subject: "Your request",
            body,
            in_reply_to: None,
            references: &[],
            auto_submitted: AutoSubmitted::AutoReplied,
            date: crate::clock::parse_time("2026-12-01T09:00:00Z").unwrap(),
            cause: 7,
            sequence: 0,
        }
    }

    #[test]
    fn letters_finished_beside_are_stored_as_composed_unless_rolled_back() {
        let mut store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let now = crate::clock::parse_time("2026-12-01T09:00:00Z").unwrap();
        let kept = outgoing("ann@example.com", "Thank you.\n");
        let dropped = outgoing("bob@example.com", "Gone with its message.\n");
        let mut tx = store.write().unwrap();
        assert!(!active());
        let batch = Batch::start(crate::store::compression::compressor(&tx, "out").unwrap()).unwrap();
        assert!(active());
        let kept_id = insert_outgoing_to_fill(&tx, None, &message_id(&kept), "ann@example.com", "s", 0, now).unwrap();
        hand_over(kept_id, &message_id(&kept), Letter::of(&kept));
        let dropped_id = {
            let rolled_back = tx.savepoint().unwrap();
            let id = insert_outgoing_to_fill(&rolled_back, None, &message_id(&dropped), "bob@example.com", "s", 0, now).unwrap();
            hand_over(id, &message_id(&dropped), Letter::of(&dropped));
            id
        };
        // The rolled-back letter's row id, taken again by another letter.
        let other = insert_outgoing(&tx, None, "other@example.com", "carol@example.com", "s", b"other bytes", now).unwrap();
        assert_eq!(other, dropped_id);
        batch.settle(&tx).unwrap();
        assert!(!active(), "settled, letters are composed at once again");
        assert_eq!(raw(&tx, SpoolId(kept_id)).unwrap(), Some(compose(&kept).unwrap().1));
        assert_eq!(raw(&tx, SpoolId(other)).unwrap().as_deref(), Some(&b"other bytes"[..]), "not the rolled-back letter's");
    }

    fn message_id(outgoing: &Outgoing<'_>) -> String {
        crate::notify::compose::message_id(outgoing)
    }
}
