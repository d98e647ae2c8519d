//! Moving messages from the intake (`store::intake`) into the spool and through the
//! pipeline, in the order serve acknowledged them.
//!
//! In `serve`, a [`Writer`] thread owns the intake's one writing connection: it takes in
//! what the socket's connections hand it (those waiting at the same moment share one
//! flushed commit) and answers each once it is on the disk; [`drain`] reads the rows back
//! on the core's connection, spools and processes them, and tells the writer which rows
//! to forget. Serve drains what a serve before it left behind first, and everything it
//! acknowledged before it stops. [`move_leftovers`] is the same for a process without
//! serve (`ingest` storing mail itself, `tick`), so that a reply never overtakes the
//! request it answers and a serve killed with -9 holds nothing back for long.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch, Notify};

use super::SharedStore;
use crate::pipeline::{self, Incoming};
use crate::site::Site;
use crate::store::intake::{Arrival, Entry, Intake};
use crate::store::Store;
use crate::transport::deliver;

/// Entries moved per spool commit: a burst shares commits, memory stays bounded.
const BATCH: usize = 64;
/// Messages taken in between two checkpoints of the intake's WAL. Once checkpointed, the
/// WAL is written again from its start: a flush of blocks already there is cheaper than
/// one that also grows the file.
const CHECKPOINT_EVERY: usize = 64;
/// How long the drain waits, once a message came in while it was idle or after a commit
/// that took less than a [`BATCH`], for others to join it: the messages of a burst or a
/// steady stream then share one commit, one pass over the database's pages and one
/// delivery, at the price of a receipt going out this much later. The sender's answer
/// does not wait for it.
const GATHER: Duration = Duration::from_millis(50);
/// How long the drain waits after database trouble before it tries again.
const RETRY: Duration = Duration::from_secs(1);

/// Spools `entries` and processes them in arrival order, all in one flushed commit (a
/// run of entries with the same fixed clock and source under a savepoint of its own): the intake
/// keeps them until that commit is on the disk, so the spool needs no commit of its own.
/// Processing that fails rolls back only its savepoint and leaves its messages spooled
/// for the scheduler; only a failed spool is an error. Their letters stay queued for
/// [`deliver_queued`]: claimed in this commit, they would wait out a claim's lease if
/// serve died before sending them.
pub fn move_entries(site: &Site, store: &mut Store, entries: &[Entry], clock_now: DateTime<Utc>) -> anyhow::Result<()> {
    let runs = store.write_flushed(|tx| {
        let mut spooled = Vec::with_capacity(entries.len());
        for entry in entries {
            let arrival = &entry.arrival;
            let incoming = Incoming { raw: &arrival.raw, source: arrival.source, recipient: arrival.recipient.as_deref(), queue: None };
            spooled.push(pipeline::spool_in(tx, &incoming, arrival.received)?);
        }
        let mut runs = Vec::new();
        let mut start = 0;
        while start < entries.len() {
            let first = &entries[start].arrival;
            let same_run = |entry: &Entry| entry.arrival.fixed_now == first.fixed_now && entry.arrival.source == first.source;
            let end = start + entries[start..].iter().take_while(|entry| same_run(entry)).count();
            let now = first.fixed_now.unwrap_or(clock_now);
            runs.push((first.source, pipeline::process_spooled_in(site, tx, &spooled[start..end], now, |_| Ok(()))?));
            start = end;
        }
        Ok(runs)
    })?;
    crate::fault::point("after-spool");
    crate::store::cache_for_batches(&store.conn)?;
    for (source, run) in runs {
        match run {
            Ok((outcomes, ())) => {
                for (id, outcome) in &outcomes {
                    super::log_handled(source, *id, outcome);
                }
            }
            Err(error) => tracing::warn!("message stored; processing postponed: {error:#}"),
        }
    }
    Ok(())
}

/// Delivers every letter due (unless `outbound.deliver_immediately` is off: then the
/// scheduler does).
fn deliver_queued(site: &Site, store: &Store, now: DateTime<Utc>) -> anyhow::Result<()> {
    let outbound = &site.config.outbound;
    if outbound.deliver_immediately {
        let mut transport = crate::transport::from_config(outbound)?;
        deliver::deliver_due(store, transport.as_mut(), outbound, now)?;
    }
    Ok(())
}

/// Moves whatever waits in the intake beside the database (a serve that was killed, or
/// one that is busy) and delivers its letters; the number of messages moved. Costs one
/// `stat` when there is no intake.
pub fn move_leftovers(site: &Site, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let path = crate::store::intake::path_for(&site.config.store.path);
    let Some(mut intake) = Intake::open_existing(&path)? else { return Ok(0) };
    let mut after = 0;
    let mut count = 0;
    loop {
        let entries = intake.after(after, BATCH)?;
        let Some(last) = entries.last() else { break };
        after = last.id;
        move_entries(site, store, &entries, now)?;
        let ids: Vec<i64> = entries.iter().map(|entry| entry.id).collect();
        intake.remove(&ids)?;
        count += ids.len();
    }
    if count > 0 {
        if let Err(error) = deliver_queued(site, store, now) {
            tracing::warn!("delivery postponed: {error:#}");
        }
    }
    Ok(count)
}

enum Request {
    Take(Arrival, oneshot::Sender<Result<(), String>>),
    Forget(Vec<i64>),
}

/// The intake's writing side in serve: a thread of its own, so that taking a message in
/// waits neither for the core nor for tokio's blocking pool.
pub struct Writer {
    requests: mpsc::Sender<Request>,
    thread: std::thread::JoinHandle<()>,
}

/// Hands messages to a [`Writer`] and tells it which rows were moved.
#[derive(Clone)]
pub struct Taker {
    requests: mpsc::Sender<Request>,
}

impl Taker {
    /// Takes `arrival` in; `Ok` once it is on the disk.
    pub async fn take(&self, arrival: Arrival) -> Result<(), String> {
        let (answer, answered) = oneshot::channel();
        self.requests.send(Request::Take(arrival, answer)).map_err(|_| "serve is stopping".to_string())?;
        answered.await.unwrap_or_else(|_| Err("serve failed before the message was stored".to_string()))
    }

    /// Forgets rows whose spool commit is on the disk.
    fn forget(&self, ids: Vec<i64>) {
        // A row not forgotten (serve is stopping) is moved again by the next serve, and
        // the spool dedupes it.
        let _ = self.requests.send(Request::Forget(ids));
    }
}

impl Writer {
    /// Starts the thread; `arrived` is woken after each commit that took messages in.
    pub fn start(intake: Intake, arrived: Arc<Notify>) -> std::io::Result<Writer> {
        let (requests, received) = mpsc::channel();
        let thread = std::thread::Builder::new().name("intake".into()).spawn(move || write(intake, &received, &arrived))?;
        Ok(Writer { requests, thread })
    }

    pub fn taker(&self) -> Taker {
        Taker { requests: self.requests.clone() }
    }

    /// Waits for the thread, which removes the intake file when nothing waits in it.
    pub fn stop(self) {
        drop(self.requests);
        let _ = self.thread.join();
    }
}

fn write(mut intake: Intake, received: &mpsc::Receiver<Request>, arrived: &Notify) {
    let mut forget = Vec::new();
    let mut since_checkpoint = 0;
    while let Ok(first) = received.recv() {
        let mut takes = Vec::new();
        for request in std::iter::once(first).chain(received.try_iter()) {
            match request {
                Request::Take(arrival, answer) => takes.push((arrival, answer)),
                Request::Forget(ids) => forget.extend(ids),
            }
        }
        if takes.is_empty() {
            match intake.remove(&forget) {
                Ok(()) => forget.clear(),
                Err(error) => tracing::warn!("{error:#}"),
            }
            if since_checkpoint >= CHECKPOINT_EVERY {
                since_checkpoint = 0;
                if let Err(error) = intake.checkpoint() {
                    tracing::warn!("intake checkpoint: {error:#}");
                }
            }
            continue;
        }
        let (arrivals, answers): (Vec<Arrival>, Vec<_>) = takes.into_iter().unzip();
        let result = match intake.add(&arrivals, &forget) {
            Ok(_) => {
                forget.clear();
                since_checkpoint += arrivals.len();
                arrived.notify_one();
                Ok(())
            }
            Err(error) => Err(format!("{error:#}").replace(['\r', '\n'], " ")),
        };
        for answer in answers {
            let _ = answer.send(result.clone());
        }
    }
    if !forget.is_empty() {
        if let Err(error) = intake.remove(&forget) {
            tracing::warn!("{error:#}");
        }
    }
    if let Err(error) = intake.close_and_remove_if_empty() {
        tracing::warn!("intake: {error:#}");
    }
}

/// Who sends the letters of the drain's commits.
pub enum Letters {
    /// A delivery pass on this connection of their own after each commit, so that a slow
    /// transport holds up no processing (`outbound.deliver_immediately`).
    DeliveredOn(SharedStore),
    /// The scheduler's pass, woken after each commit as the other sources wake it.
    Scheduler(Arc<Notify>),
}

/// Moves what the writer took in, oldest first, until `finishing` turns true and nothing
/// is left; `reader` is a second connection to the intake.
pub async fn drain(
    core: SharedStore,
    letters: Letters,
    reader: Intake,
    writer: Taker,
    arrived: Arc<Notify>,
    mut finishing: watch::Receiver<bool>,
) {
    let reader = Arc::new(Mutex::new(reader));
    let (committed, commits) = tokio::sync::mpsc::channel(1);
    let deliverer = tokio::spawn(send_after_commits(letters, commits));
    let mut after = 0;
    loop {
        let reader = reader.clone();
        let moved = core
            .run(move |site, store, now| {
                let entries = reader.lock().unwrap_or_else(PoisonError::into_inner).after(after, BATCH)?;
                if entries.is_empty() {
                    return Ok(None);
                }
                move_entries(site, store, &entries, now)?;
                Ok(Some(entries.iter().map(|entry| entry.id).collect::<Vec<i64>>()))
            })
            .await;
        match moved {
            Ok(Some(ids)) => {
                let full = ids.len() == BATCH;
                after = ids.last().copied().unwrap_or(after);
                writer.forget(ids);
                // When a pass is already waiting, these letters go with it.
                let _ = committed.try_send(());
                // Under a steady stream too: fewer commits, fewer flushes of the database
                // for the answers to wait behind on the disk.
                if !full {
                    tokio::select! {
                        () = tokio::time::sleep(GATHER) => {}
                        _ = finishing.changed() => {}
                    }
                }
            }
            Ok(None) if *finishing.borrow() => {
                drop(committed);
                let _ = deliverer.await;
                return;
            }
            Ok(None) => {
                tokio::select! {
                    () = arrived.notified() => {}
                    _ = finishing.changed() => continue,
                }
                // Messages that come in meanwhile share the commit and the delivery pass.
                tokio::select! {
                    () = tokio::time::sleep(GATHER) => {}
                    _ = finishing.changed() => {}
                }
            }
            Err(error) => {
                tracing::warn!("socket: {error:#}; trying again in {} second", RETRY.as_secs());
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Sends the letters of the drain's commits; commits made while a pass runs share the
/// next one.
async fn send_after_commits(letters: Letters, mut commits: tokio::sync::mpsc::Receiver<()>) {
    while commits.recv().await.is_some() {
        match &letters {
            Letters::DeliveredOn(delivery) => {
                if let Err(error) = delivery.run(|site, store, now| deliver_queued(site, store, now)).await {
                    tracing::warn!("delivery postponed: {error:#}");
                }
            }
            Letters::Scheduler(wake) => wake.notify_one(),
        }
    }
}
