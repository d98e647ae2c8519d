//! Letters and decision records finished on a thread beside a batch's writer. Inside a
//! batch ([`Batch`]), a letter is decided, its addresses checked, and its Message-ID and
//! row written on the writer as always; building its bytes with lettre and compressing
//! them (a tenth of the writer's time in a batch) happen on this thread meanwhile, as
//! does compressing each message's decision record, and the batch stores them before it
//! commits ([`Batch::settle`]). A letter whose message was rolled back meanwhile is left
//! out then: its row is gone, or is another letter's; the decisions of a pass that was
//! rolled back are forgotten ([`forget_decisions`]).

use std::cell::RefCell;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::notify::compose::{compose_as, Letter};
use crate::store::compression::Compressor;
use crate::store::{self, Connection};

/// Jobs handed over together: the thread is woken once for so many, not each time.
const HANDED_TOGETHER: usize = 32;

enum Job {
    Letter { id: i64, message_id: String, letter: Letter },
    Decision { id: i64, json: String, pass: u32 },
}

enum Finished {
    Letter { id: i64, message_id: String, size: usize, compressed: Vec<u8> },
    Decision { id: i64, compressed: Vec<u8>, pass: u32 },
}

struct Beside {
    waiting: Vec<Job>,
    jobs: mpsc::Sender<Vec<Job>>,
    /// The pass over the batch whose decisions count: the last.
    pass: u32,
}

impl Beside {
    fn push(&mut self, job: Job) {
        self.waiting.push(job);
        if self.waiting.len() >= HANDED_TOGETHER {
            // A thread that is gone has failed; `settle` says why.
            let _ = self.jobs.send(std::mem::take(&mut self.waiting));
        }
    }
}

thread_local! {
    static BESIDE: RefCell<Option<Beside>> = const { RefCell::new(None) };
}

/// Whether this thread's letters and decisions are finished beside it now.
pub fn active() -> bool {
    BESIDE.with_borrow(Option::is_some)
}

fn beside<T>(then: impl FnOnce(&mut Beside) -> T) -> T {
    BESIDE.with_borrow_mut(|beside| then(beside.as_mut().expect("handed over only while a batch finishes beside it")))
}

/// Hands over `letter`, whose row is `id`, to be finished, while [`active`].
pub fn hand_over(id: i64, message_id: &str, letter: Letter) {
    beside(|beside| beside.push(Job::Letter { id, message_id: message_id.to_string(), letter }))
}

/// Hands over the decision record (compact JSON) of inbound message `id` to be
/// compressed, while [`active`].
pub fn hand_over_decision(id: i64, json: String) {
    beside(|beside| {
        let pass = beside.pass;
        beside.push(Job::Decision { id, json, pass })
    })
}

/// The pass over the batch was rolled back: the decisions handed over so far are not
/// stored (the next pass records each message again, or finds another process did).
pub fn forget_decisions() {
    BESIDE.with_borrow_mut(|beside| {
        if let Some(beside) = beside {
            beside.pass += 1;
        }
    })
}

/// The letters and decisions of one batch, finished on a thread of their own from
/// [`Batch::start`] until [`Batch::settle`]. Dropped unsettled, they are given up with
/// the batch.
pub struct Batch(Option<JoinHandle<anyhow::Result<Vec<Finished>>>>);

impl Batch {
    /// Finishes this thread's letters and decisions beside it, compressing with
    /// `letters` (the outgoing mail's, `store::compression::compressor`) and `decisions`.
    pub fn start(letters: Compressor, decisions: Compressor) -> anyhow::Result<Batch> {
        let (jobs, handed) = mpsc::channel::<Vec<Job>>();
        let thread = std::thread::Builder::new().name("letters".into()).spawn(move || {
            let mut finished = Vec::new();
            for job in handed.into_iter().flatten() {
                finished.push(match job {
                    Job::Letter { id, message_id, letter } => {
                        let raw = compose_as(&letter.outgoing(), &message_id)?;
                        Finished::Letter { id, message_id, size: raw.len(), compressed: letters.compress(&raw)? }
                    }
                    Job::Decision { id, json, pass } => Finished::Decision { id, compressed: decisions.compress(json.as_bytes())?, pass },
                });
            }
            Ok(finished)
        })?;
        BESIDE.with_borrow_mut(|beside| *beside = Some(Beside { waiting: Vec::new(), jobs, pass: 0 }));
        Ok(Batch(Some(thread)))
    }

    /// Waits for what was handed over and stores it in `conn`'s transaction.
    pub fn settle(mut self, conn: &Connection) -> anyhow::Result<()> {
        let last_pass = match BESIDE.take() {
            Some(Beside { waiting, jobs, pass }) => {
                let _ = jobs.send(waiting);
                pass
            }
            None => 0,
        };
        let thread = self.0.take().expect("a batch is settled once");
        let finished = thread.join().map_err(|_| anyhow::anyhow!("the thread finishing the batch's letters panicked"))??;
        for done in finished {
            match done {
                Finished::Letter { id, message_id, size, compressed } => store::messages::fill_outgoing(conn, id, &message_id, size, &compressed)?,
                Finished::Decision { id, compressed, pass } if pass == last_pass => store::messages::fill_decision(conn, id, &compressed)?,
                Finished::Decision { .. } => {}
            }
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
        let compressor = |kind| crate::store::compression::compressor(&tx, kind).unwrap();
        let batch = Batch::start(compressor("out"), compressor("decision")).unwrap();
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

    #[test]
    fn decisions_compressed_beside_are_stored_from_the_last_pass_only() {
        use crate::store::messages::{spool, traced, Arrival, Spooled, TraceTarget};
        let mut store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let now = crate::clock::parse_time("2026-12-01T09:00:00Z").unwrap();
        let tx = store.write().unwrap();
        let spooled = |key: &str| {
            let arrival = Arrival { raw: b"Subject: hi\r\n\r\nhi\r\n", dedupe_key: key, source: "pipe", recipient: None, queue: None, received: now };
            let Spooled::New(id) = spool(&tx, &arrival).unwrap() else { panic!("new") };
            id
        };
        let (redone, left) = (spooled("a"), spooled("b"));
        let compressor = |kind| crate::store::compression::compressor(&tx, kind).unwrap();
        let batch = Batch::start(compressor("out"), compressor("decision")).unwrap();
        hand_over_decision(redone.0, r#"{"outcome":"first pass"}"#.to_string());
        hand_over_decision(left.0, r#"{"outcome":"first pass"}"#.to_string());
        forget_decisions();
        hand_over_decision(redone.0, r#"{"outcome":"applied"}"#.to_string());
        batch.settle(&tx).unwrap();
        let decision = |id| traced(&tx, &TraceTarget::Spool(id)).unwrap().unwrap().decision_json;
        assert_eq!(decision(redone).as_deref(), Some(r#"{"outcome":"applied"}"#));
        assert_eq!(decision(left), None, "a rolled-back pass's record is not kept");
    }

    fn message_id(outgoing: &Outgoing<'_>) -> String {
        crate::notify::compose::message_id(outgoing)
    }
}
