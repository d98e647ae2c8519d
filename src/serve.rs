//! The daemon behind `reqmail serve`: in one process, one task per IMAP mailbox (IDLE
//! where the server has it, else polling; reconnecting with backoff when the connection
//! drops; with gateways sharing a PostgreSQL store, only while it holds the mailbox's
//! lease), one task watching the inbound Maildir, and the scheduler (`scheduler::tick`: the timed
//! jobs, resumed spooled mail, the outbox), woken early whenever a source stored something,
//! with `[[webhooks]]` a task that POSTs their events on a connection of its own, and
//! with `[directory.ldap]` one that syncs people from the directory.
//!
//! Signals: SIGTERM or SIGINT stop the tasks at their next waiting point, let work in
//! progress finish (up to `serve.shutdown_grace_seconds`; the socket's task first stores
//! what it acknowledged from its intake) and exit; since no source acknowledges anything
//! before a flushed commit, even an aborted batch loses nothing.
//! SIGHUP reloads the configuration: the tasks stop and start again with the new one;
//! a file with errors is refused and the old configuration kept.
//!
//! Async stays at the network edge: database work goes through [`SharedStore::run`] on the
//! blocking pool. The scheduler has its own database connection, so a slow SMTP server
//! never keeps the sources from storing mail.

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::integrations::LdapConfig;
use crate::config::{Config, ImapConfig, ImapMailbox};
use crate::site::Site;
use crate::source::{imap, intake, maildir, socket, SharedStore};
use crate::store::checkpointer::{Checkpointer, BESIDE_SERVE, CHECKPOINT_PAGES_WITH_CHECKPOINTER};
use crate::store::Store;
use crate::scheduler;
use crate::transport::deliver::DeliveryReport;

/// Why the serving loop ended a round.
enum Next {
    Stop,
    Reload,
}

/// Runs the daemon until SIGTERM or SIGINT. `load` reads the configuration (again on SIGHUP).
pub fn run(load: impl Fn() -> anyhow::Result<Config>, clock: Clock) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the runtime: {error}"))?;
    let result = runtime.block_on(serve(load, clock));
    // Blocking work still running (a batch being stored) is waited for, not cut.
    runtime.shutdown_timeout(Duration::from_secs(60));
    result
}

async fn serve(load: impl Fn() -> anyhow::Result<Config>, clock: Clock) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut config = load()?;
    loop {
        let site = Arc::new(Site::compile(config.clone())?);
        let (stop, stopped) = watch::channel(false);
        // The WAL is copied into the database on a thread of its own, not in the commit
        // of whichever task crossed SQLite's threshold; serve's connections leave it that.
        let checkpointer = tokio::task::block_in_place(|| Checkpointer::start(&config.store, BESIDE_SERVE))?;
        let mut tasks = start(&site, clock, &stopped)?;
        tracing::info!(
            imap_mailboxes = config.inbound.imap.iter().map(|account| account.mailboxes.len()).sum::<usize>(),
            maildir = %config.inbound.maildir.display(),
            socket = config.ingest_socket().map(|path| path.display().to_string()),
            config = config.origin_text(),
            "serving"
        );
        let next = tokio::select! {
            _ = terminate.recv() => Next::Stop,
            _ = interrupt.recv() => Next::Stop,
            _ = hangup.recv() => Next::Reload,
            // A task that ends on its own is a bug; stop rather than run half a daemon.
            Some(ended) = tasks.join_next() => {
                tracing::error!("a serve task ended unexpectedly: {ended:?}");
                Next::Stop
            }
        };
        let _ = stop.send(true);
        let grace = Duration::from_secs(config.serve.shutdown_grace_seconds);
        let finished = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!("work still running after {} seconds; stopping it (nothing unstored was acknowledged)", grace.as_secs());
            tasks.abort_all();
        }
        tokio::task::block_in_place(|| drop(checkpointer));
        match next {
            Next::Stop => {
                tracing::info!("stopped");
                return Ok(());
            }
            Next::Reload => match load().and_then(|new| Site::compile(new.clone()).map(|_| new)) {
                Ok(new) => {
                    tracing::info!(config = new.origin_text(), "configuration reloaded");
                    config = new;
                }
                Err(error) => tracing::error!("configuration not reloaded, keeping the old one: {error:#}"),
            },
        }
    }
}

/// Starts every task for one configuration.
fn start(site: &Arc<Site>, clock: Clock, stopped: &watch::Receiver<bool>) -> anyhow::Result<JoinSet<()>> {
    let config = &site.config;
    let wake = Arc::new(Notify::new());
    let sources = SharedStore::new(site.clone(), open_store(&config.store)?, clock);
    let delivery = SharedStore::new(site.clone(), open_store(&config.store)?, clock);
    let mut tasks = JoinSet::new();
    for account in &config.inbound.imap {
        for mailbox in &account.mailboxes {
            tasks.spawn(watch_mailbox(sources.clone(), account.clone(), mailbox.clone(), stopped.clone(), wake.clone()));
        }
    }
    tasks.spawn(watch_maildir(sources, stopped.clone(), wake.clone()));
    if let Some(path) = config.ingest_socket() {
        match socket::bind(&path) {
            Ok(Some(listener)) => match socket::Intakes::open(&config.store.path) {
                Ok(intake) => {
                    let core = SharedStore::new(site.clone(), open_store(&config.store)?, clock);
                    let letters = if config.outbound.deliver_immediately {
                        intake::Letters::DeliveredOn(delivery.clone())
                    } else {
                        intake::Letters::Scheduler(wake.clone())
                    };
                    tasks.spawn(socket::listen(core, letters, intake, listener, path, config.inbound.max_message_bytes, stopped.clone()));
                }
                Err(error) => {
                    tracing::warn!("ingest cannot hand mail to this serve: {error:#}");
                    let _ = std::fs::remove_file(&path);
                }
            },
            Ok(None) => tracing::warn!("another reqmail serve listens on {}; ingest hands its mail to that one", path.display()),
            Err(error) => tracing::warn!("ingest cannot hand mail to this serve: {error:#}"),
        }
    }
    tasks.spawn(run_scheduler(delivery, stopped.clone(), wake));
    if !config.webhooks.is_empty() {
        tasks.spawn(deliver_webhooks(SharedStore::new(site.clone(), open_store(&config.store)?, clock), stopped.clone()));
    }
    if let Some(ldap) = &config.directory.ldap {
        tasks.spawn(sync_directory(SharedStore::new(site.clone(), open_store(&config.store)?, clock), ldap.clone(), stopped.clone()));
    }
    Ok(tasks)
}

/// The store, opened on this runtime's thread: connecting to PostgreSQL blocks on the
/// client's own runtime, which only a thread let out of this one may do. Its WAL is the
/// checkpointer's to copy.
fn open_store(config: &crate::config::StoreConfig) -> anyhow::Result<Store> {
    let store = tokio::task::block_in_place(|| Store::open(config))?;
    store.set_checkpoint_after(CHECKPOINT_PAGES_WITH_CHECKPOINTER)?;
    Ok(store)
}

/// Completes when `stopped` turns true (or its sender is gone).
async fn stop_signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Sleeps `duration` unless stopped first; true when stopped.
async fn sleep_or_stop(duration: Duration, stopped: &watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *stopped.borrow(),
        () = stop_signal(stopped.clone()) => true,
    }
}

/// One IMAP mailbox: take its lease, connect, fetch, then IDLE or poll; reconnect with
/// backoff. A gateway that finds the lease held by another stands by, asking again every
/// `poll_seconds` (at most a minute), and takes over once that one is gone.
async fn watch_mailbox(shared: SharedStore, account: ImapConfig, mailbox: ImapMailbox, stopped: watch::Receiver<bool>, wake: Arc<Notify>) {
    let serve = shared.site.config.serve.clone();
    let mut backoff = Duration::from_secs(serve.reconnect_initial_seconds);
    let max_backoff = Duration::from_secs(serve.reconnect_max_seconds.max(serve.reconnect_initial_seconds));
    let standby = Duration::from_secs(account.poll_seconds.clamp(1, 60));
    let name = format!("{} {:?}", account.account(), mailbox.name);
    let mut standing_by = false;
    loop {
        if *stopped.borrow() {
            return;
        }
        let lease = match imap::try_lease(&shared, &account, &mailbox.name).await {
            Ok(Some(lease)) => Arc::new(std::sync::Mutex::new(lease)),
            Ok(None) => {
                if !standing_by {
                    tracing::info!(mailbox = name, "another gateway fetches this mailbox; standing by");
                    standing_by = true;
                }
                if sleep_or_stop(standby, &stopped).await {
                    return;
                }
                continue;
            }
            Err(error) => {
                tracing::warn!(mailbox = name, "cannot take the mailbox's lease: {error:#}; trying again in {} seconds", backoff.as_secs());
                if sleep_or_stop(backoff, &stopped).await {
                    return;
                }
                backoff = (backoff * 2).min(max_backoff);
                continue;
            }
        };
        if standing_by {
            tracing::info!(mailbox = name, "taking over the mailbox");
            standing_by = false;
        }
        loop {
            if *stopped.borrow() {
                return;
            }
            match mailbox_session(&shared, &account, &mailbox, &lease, &stopped, &wake, &mut backoff).await {
                Ok(Ended::Stopped) => return,
                Ok(Ended::LeaseLost) => {
                    tracing::warn!(mailbox = name, "lost the mailbox's lease (its database connection ended)");
                    break;
                }
                Err(error) => {
                    tracing::warn!(mailbox = name, "IMAP: {error:#}; reconnecting in {} seconds", backoff.as_secs());
                    crate::source::health::record_failure(&shared, &account, &mailbox.name, &error).await;
                    if sleep_or_stop(backoff, &stopped).await {
                        return;
                    }
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }
    }
}

/// Why a mailbox's session ended without an error.
enum Ended {
    Stopped,
    LeaseLost,
}

/// One connection's life; `Err` when the connection failed.
async fn mailbox_session(
    shared: &SharedStore,
    account: &ImapConfig,
    mailbox: &ImapMailbox,
    lease: &Arc<std::sync::Mutex<crate::store::imap::MailboxLease>>,
    stopped: &watch::Receiver<bool>,
    wake: &Notify,
    backoff: &mut Duration,
) -> anyhow::Result<Ended> {
    let mut connection = imap::connect(account).await?;
    *backoff = Duration::from_secs(shared.site.config.serve.reconnect_initial_seconds);
    let use_idle = account.idle && connection.has_idle;
    tracing::info!(account = account.account(), mailbox = mailbox.name, idle = use_idle, "IMAP connected");
    loop {
        if !imap::lease_held(lease).await {
            connection.logout().await;
            return Ok(Ended::LeaseLost);
        }
        let report = imap::fetch_mailbox(&mut connection, account, mailbox, shared, &|| *stopped.borrow()).await?;
        if report.files > 0 {
            wake.notify_one();
        }
        if *stopped.borrow() {
            connection.logout().await;
            return Ok(Ended::Stopped);
        }
        if use_idle {
            let (back, woken) = connection.idle(Duration::from_secs(10 * 60), stop_signal(stopped.clone())).await?;
            connection = back;
            if woken == imap::Woken::Stopped {
                connection.logout().await;
                return Ok(Ended::Stopped);
            }
        } else if sleep_or_stop(Duration::from_secs(account.poll_seconds), stopped).await {
            connection.logout().await;
            return Ok(Ended::Stopped);
        }
    }
}

/// The inbound Maildir: drained whenever a file arrives in `new/` (inotify), and every
/// `serve.maildir_poll_seconds` only where it cannot be watched.
async fn watch_maildir(shared: SharedStore, stopped: watch::Receiver<bool>, wake: Arc<Notify>) {
    use futures_util::StreamExt as _;
    let every = Duration::from_secs(shared.site.config.serve.maildir_poll_seconds);
    let new_files = shared.site.config.inbound.maildir.join("new");
    // Watched from after the first pass, which makes the folders; a file that came
    // in between is found by the pass that follows.
    let mut arrivals = None;
    let mut can_watch = true;
    loop {
        let result = shared.run(|site, store, now| maildir::drain(site, store, &site.config.inbound.maildir, now, None)).await;
        match result {
            Ok(report) if report.files > 0 => wake.notify_one(),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!("inbound Maildir: {error:#}; trying again in {} seconds", every.as_secs());
                if sleep_or_stop(every, &stopped).await {
                    return;
                }
                continue;
            }
        }
        if can_watch && arrivals.is_none() {
            match arrivals_in(&new_files) {
                Ok(watch) => {
                    arrivals = Some(watch);
                    continue;
                }
                Err(error) => {
                    tracing::warn!("inbound Maildir: cannot watch {} ({error}); looking every {} seconds", new_files.display(), every.as_secs());
                    can_watch = false;
                }
            }
        }
        let Some(events) = arrivals.as_mut() else {
            if sleep_or_stop(every, &stopped).await {
                return;
            }
            continue;
        };
        let lost = tokio::select! {
            event = events.next() => match event {
                Some(Ok(_)) => None,
                Some(Err(error)) => Some(error.to_string()),
                None => Some("the watch ended".to_string()),
            },
            () = stop_signal(stopped.clone()) => return,
        };
        if let Some(reason) = lost {
            tracing::warn!("inbound Maildir: {reason}; looking every {} seconds from now on", every.as_secs());
            arrivals = None;
            can_watch = false;
        }
    }
}

/// Files moved or written into `new/`, as a stream (a Maildir delivery renames a file
/// from `tmp/`; a plain copy writes one).
#[cfg(target_os = "linux")]
fn arrivals_in(new_files: &std::path::Path) -> std::io::Result<inotify::EventStream<Vec<u8>>> {
    use inotify::{Inotify, WatchMask};
    let inotify = Inotify::init()?;
    inotify.watches().add(new_files, WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE)?;
    inotify.into_event_stream(vec![0; 4096])
}

#[cfg(not(target_os = "linux"))]
fn arrivals_in(_: &std::path::Path) -> std::io::Result<futures_util::stream::Pending<std::io::Result<()>>> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "inotify is Linux only"))
}

/// The scheduler: every `serve.tick_seconds`, or at once when a source stored mail.
async fn run_scheduler(shared: SharedStore, stopped: watch::Receiver<bool>, wake: Arc<Notify>) {
    let every = Duration::from_secs(shared.site.config.serve.tick_seconds);
    loop {
        match shared.run(scheduler::tick).await {
            Ok(report) if report != scheduler::TickReport::default() => tracing::info!(?report, "scheduler pass"),
            Ok(_) => {}
            Err(error) => tracing::warn!("scheduler: {error:#}; trying again in {} seconds", every.as_secs()),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = wake.notified() => {}
            () = stop_signal(stopped.clone()) => return,
        }
    }
}

/// Webhook events, on a connection of their own so that a slow endpoint holds up
/// neither mail nor the scheduler; looks every few seconds (a read while nothing is due).
async fn deliver_webhooks(shared: SharedStore, stopped: watch::Receiver<bool>) {
    const EVERY: Duration = Duration::from_secs(2);
    loop {
        match shared.run(|site, store, now| crate::transport::webhook::deliver_due(store, &site.config, now)).await {
            Ok(report) if report != DeliveryReport::default() => tracing::info!(?report, "webhook events"),
            Ok(_) => {}
            Err(error) => tracing::warn!("webhooks: {error:#}; trying again in {} seconds", EVERY.as_secs()),
        }
        if sleep_or_stop(EVERY, &stopped).await {
            return;
        }
    }
}

/// The directory sync, whenever it is due (looked at every minute). The directory is
/// read here, outside any transaction, so a slow or silent directory holds up nothing;
/// what it listed is applied on the blocking pool.
async fn sync_directory(shared: SharedStore, ldap: LdapConfig, stopped: watch::Receiver<bool>) {
    const EVERY: Duration = Duration::from_secs(60);
    loop {
        let asked = ldap.clone();
        match shared.run(move |_, store, now| Ok(crate::ops::ldap::is_due(&store.conn, &asked, now)?)).await {
            Ok(true) => {
                let listing = tokio::select! {
                    listing = crate::ops::ldap::read(&ldap) => listing,
                    () = stop_signal(stopped.clone()) => return,
                };
                let config = ldap.clone();
                // A failure is logged and recorded by `record`.
                let _ = shared.run(move |_, store, now| crate::ops::ldap::record(store, &config, listing, now)).await;
            }
            Ok(false) => {}
            Err(error) => tracing::warn!("directory: {error:#}; trying again in {} seconds", EVERY.as_secs()),
        }
        if sleep_or_stop(EVERY, &stopped).await {
            return;
        }
    }
}
