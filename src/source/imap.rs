//! IMAP in (RFC 3501) with async-imap on tokio: connect with implicit TLS, STARTTLS or
//! plain (rustls, system roots or a configured CA file), log in with LOGIN,
//! AUTHENTICATE PLAIN, or an OAuth2 token (XOAUTH2, OAUTHBEARER), and take each configured mailbox through bounded batches:
//!
//! 1. list the UIDs above the stored cursor with their RFC822.SIZE (nothing downloaded);
//! 2. download a batch of up to `batch_size` messages (`BODY.PEEK[]`, so nothing is
//!    marked by reading); messages over `inbound.max_message_bytes` only by header;
//! 3. spool the batch in one flushed transaction (`pipeline::spool`);
//! 4. only then mark it on the server (flag, or move to `move_to`), and once marked
//!    advance the stored `(uidvalidity, last_uid)` cursor;
//! 5. process the batch (`pipeline::process`) meanwhile: the store works on it while the
//!    connection marks it and downloads the next batch.
//!
//! A crash between 3 and 4 fetches the batch again next time; the spool's dedupe
//! (Message-ID, else content hash) makes that harmless. A changed UIDVALIDITY starts
//! the cursor again from 0 for the same reason. Two fetchers on one mailbox both
//! download, the spool keeps one copy, and the cursor never moves backwards. Gateways
//! sharing a PostgreSQL store do not even overlap: each fetches a mailbox only while it
//! holds that mailbox's lease (`store::imap::MailboxLease`).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::Context as _;
use async_imap::{Client, Session};
use futures_util::TryStreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Compressors, SharedStore};
use crate::config::{ImapAuth, ImapConfig, ImapMailbox, SmtpSecurity};
use crate::pipeline::{self, Incoming, Outcome, Prepared, ReadAhead};
use crate::site::Site;
use crate::store::imap::MailboxLease;
use crate::source::maildir::DrainReport;
use crate::store::imap::Cursor;
use crate::store::messages::Spooled;

/// The connection under an IMAP session: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A logged-in IMAP session and what the server can do.
pub struct Connection {
    pub session: Session<Stream>,
    /// RFC 2177.
    pub has_idle: bool,
    /// RFC 6851.
    pub has_move: bool,
    /// RFC 4315 (UID EXPUNGE).
    pub has_uidplus: bool,
    timeout: Duration,
}

/// Runs `future` with the account's timeout; a silent server is an error naming `what`.
async fn within<T, E>(timeout: Duration, what: impl FnOnce() -> String, future: impl std::future::Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(anyhow::Error::new(error).context(what())),
        Err(_) => Err(anyhow::anyhow!("{}: no answer within {} seconds", what(), timeout.as_secs())),
    }
}

async fn start_tls(config: &ImapConfig, tcp: TcpStream, timeout: Duration) -> anyhow::Result<Stream> {
    let tls = crate::tls::client_config(config.ca_file.as_deref(), "inbound.imap ca_file")?;
    let what = || format!("TLS handshake with IMAP server {}:{}", config.host, config.port());
    match tokio::time::timeout(timeout, crate::tls::connect(tls, &config.host, tcp)).await {
        Ok(Ok(stream)) => Ok(Stream::Tls(Box::new(stream))),
        Ok(Err(error)) => Err(error.context(what())),
        Err(_) => anyhow::bail!("{}: no answer within {} seconds", what(), timeout.as_secs()),
    }
}

/// PLAIN (RFC 4616): authorization identity empty, then user and password.
struct Plain<'a> {
    username: &'a str,
    password: &'a str,
}

impl async_imap::Authenticator for Plain<'_> {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        format!("\0{}\0{}", self.username, self.password).into_bytes()
    }
}

/// XOAUTH2 or OAUTHBEARER: the token in the first message; to the server's error
/// challenge, the acknowledgement that lets it answer NO.
struct OAuthSasl {
    initial: Vec<u8>,
    acknowledgement: &'static [u8],
    sent: bool,
}

impl async_imap::Authenticator for OAuthSasl {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        if std::mem::replace(&mut self.sent, true) { self.acknowledgement.to_vec() } else { std::mem::take(&mut self.initial) }
    }
}

/// Logs in with an OAuth2 token; a refused token is refreshed once and tried again on
/// the same connection (RFC 3501 allows another AUTHENTICATE after NO). The SASL user
/// is the mailbox owner, so that a delegate's token opens a shared mailbox.
async fn oauth_login(
    mut client: Client<Stream>,
    config: &ImapConfig,
    mechanism: crate::oauth::Mechanism,
    timeout: Duration,
) -> anyhow::Result<Session<Stream>> {
    let where_ = format!("IMAP server {}:{}", config.host, config.port());
    let oauth = config.oauth_client.clone().with_context(|| format!("{where_}: no [oauth] client linked"))?;
    let user = config.mailbox_owner.as_deref().unwrap_or(&config.username);
    let mut refused: Option<crate::oauth::Secret> = None;
    loop {
        let token = crate::oauth::tokens::access_token_off_thread(&oauth, refused.as_ref())
            .await
            .context("token refresh stopped unexpectedly")??;
        let sasl = OAuthSasl {
            initial: mechanism.initial_response(user, &config.host, config.port(), &token),
            acknowledgement: mechanism.error_acknowledgement(),
            sent: false,
        };
        match tokio::time::timeout(timeout, client.authenticate(mechanism.name(), sasl)).await {
            Ok(Ok(session)) => return Ok(session),
            Ok(Err((async_imap::error::Error::No(_), back))) if refused.is_none() => {
                tracing::info!(account = config.account(), "IMAP refused the access token; refreshing it once");
                refused = Some(token);
                client = back;
            }
            Ok(Err((error, _))) => anyhow::bail!(
                "{where_} refused the {} login of {user:?} with a token of oauth.{}{}: {error} (does {:?} have access to that mailbox, \
                 and the consent the IMAP scope? `reqmail oauth login {}` approves again)",
                mechanism.name(),
                oauth.name,
                if refused.is_some() { " refreshed just now" } else { "" },
                config.username,
                oauth.name
            ),
            Err(_) => anyhow::bail!("{where_} did not answer the login within {} seconds", timeout.as_secs()),
        }
    }
}

/// Connects and logs in as `config` says.
pub async fn connect(config: &ImapConfig) -> anyhow::Result<Connection> {
    let timeout = Duration::from_secs(config.timeout_seconds);
    let (host, port) = (config.host.as_str(), config.port());
    let where_ = || format!("IMAP server {host}:{port}");
    let tcp = within(timeout, || format!("cannot connect to {}", where_()), TcpStream::connect((host, port))).await?;
    tcp.set_nodelay(true).ok();
    let stream = match config.security {
        SmtpSecurity::Tls => start_tls(config, tcp, timeout).await?,
        SmtpSecurity::Starttls | SmtpSecurity::None => Stream::Plain(tcp),
    };
    let mut client = Client::new(stream);
    let greeting = within(timeout, || format!("greeting of {}", where_()), client.read_response()).await?;
    if greeting.is_none() {
        anyhow::bail!("{} closed the connection before greeting", where_());
    }
    if config.security == SmtpSecurity::Starttls {
        within(timeout, || format!("STARTTLS with {} (set security = \"tls\" or \"none\" if it has none)", where_()), client.run_command_and_check_ok("STARTTLS", None)).await?;
        let Stream::Plain(tcp) = client.into_inner() else { unreachable!("STARTTLS starts on a plain connection") };
        client = Client::new(start_tls(config, tcp, timeout).await?);
    }
    let mut session = match config.auth.oauth_mechanism() {
        Some(mechanism) => oauth_login(client, config, mechanism, timeout).await?,
        None => {
            let login = async {
                match config.auth {
                    ImapAuth::Plain => client.authenticate("PLAIN", Plain { username: &config.username, password: &config.password }).await,
                    _ => client.login(&config.username, &config.password).await,
                }
            };
            match tokio::time::timeout(timeout, login).await {
                Ok(Ok(session)) => session,
                Ok(Err((error, _))) => anyhow::bail!(
                    "{} refused the login of {:?}: {error} (check username, password and auth in [[inbound.imap]])",
                    where_(),
                    config.username
                ),
                Err(_) => anyhow::bail!("{} did not answer the login within {} seconds", where_(), timeout.as_secs()),
            }
        }
    };
    let capabilities = within(timeout, || format!("CAPABILITY of {}", where_()), session.capabilities()).await?;
    Ok(Connection {
        has_idle: capabilities.has_str("IDLE"),
        has_move: capabilities.has_str("MOVE"),
        has_uidplus: capabilities.has_str("UIDPLUS"),
        session,
        timeout,
    })
}

/// `1:3,7,9:10` for sorted UIDs: short commands even for big batches.
pub fn uid_set(uids: &[u32]) -> String {
    let mut set = String::new();
    let mut index = 0;
    while index < uids.len() {
        let start = uids[index];
        let mut end = start;
        while index + 1 < uids.len() && uids[index + 1] == end + 1 {
            index += 1;
            end = uids[index];
        }
        if !set.is_empty() {
            set.push(',');
        }
        if start == end {
            set.push_str(&start.to_string());
        } else {
            set.push_str(&format!("{start}:{end}"));
        }
        index += 1;
    }
    set
}

/// One message taken from the server in a batch.
struct Taken {
    uid: u32,
    raw: Vec<u8>,
    /// Larger than allowed: `raw` holds only the header.
    oversized: Option<u32>,
}

/// One pass over one mailbox: everything above the cursor, in batches. `stopping` is
/// asked between batches (never inside one), so that a daemon can stop promptly.
pub async fn fetch_mailbox(
    connection: &mut Connection,
    config: &ImapConfig,
    mailbox: &ImapMailbox,
    core: &SharedStore,
    stopping: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<DrainReport> {
    let account = config.account();
    let name = mailbox.name.clone();
    let timeout = connection.timeout;
    let what = |action: &str| format!("{action} in mailbox {name:?} of {account}");
    let selected = within(timeout, || what("cannot select"), connection.session.select(&name)).await?;
    let uidvalidity = selected.uid_validity.unwrap_or(0);

    let stored = {
        let (account, name) = (account.clone(), name.clone());
        core.run(move |_, store, _| Ok(crate::store::imap::cursor(&store.conn, &account, &name)?)).await?
    };
    let start = match stored {
        Some(cursor) if cursor.uidvalidity == uidvalidity => cursor.last_uid,
        Some(cursor) => {
            tracing::warn!(account, mailbox = name, old = cursor.uidvalidity, new = uidvalidity, "UIDVALIDITY changed: reading the whole mailbox again");
            0
        }
        None => 0,
    };

    let mut report = DrainReport::default();
    if selected.exists == 0 {
        save_cursor(core, &account, &name, Cursor { uidvalidity, last_uid: start }).await?;
        super::health::record_success(core, config, &name).await;
        return Ok(report);
    }

    // 1. What is there, with sizes; `N:*` also answers the highest message when N is above
    // every UID (RFC 3501 §6.4.8), hence the filter.
    let mut listing: Vec<(u32, u32)> = {
        let fetches = within(timeout, || what("cannot list messages"), async {
            connection.session.uid_fetch(format!("{}:*", start + 1), "(UID RFC822.SIZE)").await?.try_collect::<Vec<_>>().await
        })
        .await?;
        fetches.iter().filter_map(|fetch| Some((fetch.uid?, fetch.size.unwrap_or(0)))).filter(|(uid, _)| *uid > start).collect()
    };
    listing.sort_unstable();
    listing.dedup_by_key(|(uid, _)| *uid);

    let limit = core.site.config.inbound.max_message_bytes;
    let batches = batches(&listing, config.batch_size, limit);
    let stop_here = || {
        let stop = stopping();
        if stop {
            tracing::info!(account, mailbox = name, "stopping between batches; the next pass goes on from here");
        }
        stop
    };
    // 2. Download; a blocking thread parses and prepares each batch for the spool
    // meanwhile. Each following batch is downloaded while the store processes the one
    // before it (step 5): the connection and the store each do one thing at a time.
    let mut compressors = core.run(|_, store, _| Ok(Compressors::of(store)?)).await?;
    let mut downloaded = match batches.first() {
        Some(first) if !stop_here() => Some(read_downloaded(&core.site, &compressors, download(connection, first, limit, &what).await?)),
        _ => None,
    };
    for (index, batch) in batches.iter().enumerate() {
        let Some(Downloaded { taken, reading }) = downloaded.take() else { break };

        // 3. Spool (and quarantine what is too large), durable before any mark.
        let (prepared, read): (Vec<Option<Prepared>>, Vec<Option<ReadAhead>>) =
            reading.await.context("parsing the downloaded messages stopped unexpectedly")?.into_iter().map(Option::unzip).unzip();
        let oversized: Vec<u32> = taken.iter().filter(|message| message.oversized.is_some()).map(|message| message.uid).collect();
        let spooled = spool_batch(core, &name, &account, mailbox.queue.clone(), taken, prepared, limit).await?;
        let spooled_ids: Vec<Spooled> = spooled.iter().map(|(_, spooled)| *spooled).collect();

        // 4. Mark on the server (and download the next batch), while 5. the store
        // processes this one; the cursor advances once the mark is made.
        let all: Vec<u32> = batch.iter().map(|(uid, _)| *uid).collect();
        let processing = async {
            let waiting = pipeline::waiting_read(&spooled_ids, read);
            core.run(move |site, store, now| Ok((pipeline::process_read(site, store, waiting, now, |_| Ok(()))?.0, Compressors::of(store)?))).await
        };
        let marking = async {
            acknowledge(connection, config, &name, &all, &oversized).await?;
            match batches.get(index + 1) {
                Some(following) if !stop_here() => {
                    Ok(Some(read_downloaded(&core.site, &compressors, download(connection, following, limit, &what).await?)))
                }
                _ => Ok(None),
            }
        };
        let (processed, marked): (anyhow::Result<_>, anyhow::Result<_>) = tokio::join!(processing, marking);
        if marked.is_ok() {
            let last_uid = all.last().copied().unwrap_or(start);
            save_cursor(core, &account, &name, Cursor { uidvalidity, last_uid }).await?;
        }
        let outcomes;
        (outcomes, compressors) = processed?;
        for (source, spooled) in &spooled {
            let id = match spooled {
                Spooled::New(id) | Spooled::Known { id, .. } => *id,
            };
            let outcome = outcomes.iter().find(|(done, _)| *done == id).map(|(_, outcome)| outcome.clone());
            let outcome = outcome.unwrap_or(match spooled {
                Spooled::New(_) => Outcome::Quarantined { reason: "too large".into() },
                Spooled::Known { .. } => Outcome::Duplicate,
            });
            report.files += 1;
            report.count(&outcome);
            super::log_handled(source, id, &outcome);
        }
        downloaded = marked?;
    }
    super::health::record_success(core, config, &name).await;
    Ok(report)
}

/// A downloaded batch, and the thread that parses and prepares it meanwhile (`None`
/// for a message of which only the header was downloaded).
struct Downloaded {
    taken: Vec<Taken>,
    reading: tokio::task::JoinHandle<Vec<Option<(Prepared, ReadAhead)>>>,
}

fn read_downloaded(site: &Arc<Site>, compressors: &Compressors, taken: Vec<Taken>) -> Downloaded {
    let readable: Vec<Option<Vec<u8>>> = taken.iter().map(|message| message.oversized.is_none().then(|| message.raw.clone())).collect();
    let (site, compressors) = (site.clone(), compressors.clone());
    let reading = tokio::task::spawn_blocking(move || {
        readable.into_iter().map(|raw| raw.map(|raw| compressors.read_ahead(&site, &raw))).collect()
    });
    Downloaded { taken, reading }
}

/// Downloads `batch`: whole messages, and only the header of those larger than `limit`.
async fn download(connection: &mut Connection, batch: &[(u32, u32)], limit: usize, what: &(dyn Fn(&str) -> String + Sync)) -> anyhow::Result<Vec<Taken>> {
    let uids = |oversized: bool| -> Vec<u32> {
        batch.iter().filter(|(_, size)| (*size as usize > limit) == oversized).map(|(uid, _)| *uid).collect()
    };
    let (small, large) = (uids(false), uids(true));
    let mut taken = Vec::with_capacity(batch.len());
    for (uids, query, oversized) in [(&small, "(UID BODY.PEEK[])", false), (&large, "(UID RFC822.SIZE BODY.PEEK[HEADER])", true)] {
        if uids.is_empty() {
            continue;
        }
        let fetches = within(connection.timeout, || what("cannot download messages"), async {
            connection.session.uid_fetch(uid_set(uids), query).await?.try_collect::<Vec<_>>().await
        })
        .await?;
        for fetch in &fetches {
            let Some(uid) = fetch.uid else { continue };
            let raw = if oversized { fetch.header() } else { fetch.body() };
            // A message expunged meanwhile (by a person or another fetcher) is simply gone.
            let Some(raw) = raw else { continue };
            taken.push(Taken { uid, raw: raw.to_vec(), oversized: oversized.then(|| fetch.size.unwrap_or(0)) });
        }
    }
    taken.sort_by_key(|message| message.uid);
    taken.dedup_by_key(|message| message.uid);
    Ok(taken)
}

async fn save_cursor(core: &SharedStore, account: &str, mailbox: &str, cursor: Cursor) -> anyhow::Result<()> {
    let (account, mailbox) = (account.to_string(), mailbox.to_string());
    core.run(move |_, store, now| Ok(crate::store::imap::advance(&store.conn, &account, &mailbox, cursor, now)?)).await
}

/// Spools a downloaded batch; oversized messages (header only) go straight to quarantine
/// in the same transaction. Returns each message's source name and spool result.
async fn spool_batch(
    core: &SharedStore,
    mailbox: &str,
    account: &str,
    queue: Option<String>,
    taken: Vec<Taken>,
    prepared: Vec<Option<Prepared>>,
    limit: usize,
) -> anyhow::Result<Vec<(String, Spooled)>> {
    let sources: Vec<String> = taken.iter().map(|message| format!("imap:{mailbox}/{}", message.uid)).collect();
    let reasons: Vec<Option<String>> = taken
        .iter()
        .map(|message| {
            message.oversized.map(|size| {
                format!(
                    "message of {size} bytes is larger than inbound.max_message_bytes = {limit}; only its header was downloaded, \
                     the whole message stays in IMAP mailbox {mailbox:?} of {account} (UID {}, flagged \\Flagged)",
                    message.uid
                )
            })
        })
        .collect();
    let raws: Vec<Vec<u8>> = taken.into_iter().map(|message| message.raw).collect();
    let sources_for_work = sources.clone();
    let spooled = core
        .run(move |_, store, now| {
            let incoming: Vec<Incoming<'_>> = raws
                .iter()
                .zip(&sources_for_work)
                .map(|(raw, source)| Incoming { raw, source, recipient: None, queue: queue.as_deref() })
                .collect();
            let _thresholds = crate::store::compression::hold_thresholds(&store.conn)?;
            let old_keys = crate::store::messages::earlier_keys(&store.conn)?;
            store.write_flushed(|tx| {
                let mut spooled = Vec::with_capacity(incoming.len());
                for ((message, reason), prepared) in incoming.iter().zip(&reasons).zip(prepared) {
                    let result = pipeline::spool_prepared_in(tx, message, prepared, old_keys, now)?;
                    if let (Some(reason), Spooled::New(id)) = (reason, result) {
                        pipeline::quarantine(tx, id, reason, now)?;
                    }
                    spooled.push(result);
                }
                Ok(spooled)
            })
        })
        .await?;
    Ok(sources.into_iter().zip(spooled).collect())
}

/// Marks stored messages: `\Flagged` on the oversized ones, then the configured flag,
/// or a move to `move_to` (MOVE, else COPY + `\Deleted` + UID EXPUNGE; without UIDPLUS
/// the copies are left flagged: a plain EXPUNGE would also remove what other clients
/// marked `\Deleted`).
async fn acknowledge(connection: &mut Connection, config: &ImapConfig, mailbox: &str, uids: &[u32], oversized: &[u32]) -> anyhow::Result<()> {
    let timeout = connection.timeout;
    let account = config.account();
    let what = |action: &str| format!("cannot {action} in mailbox {mailbox:?} of {account}");
    let session = &mut connection.session;
    if !oversized.is_empty() {
        within(timeout, || what("flag oversized messages"), async {
            session.uid_store(uid_set(oversized), "+FLAGS.SILENT (\\Flagged)").await?.try_collect::<Vec<_>>().await
        })
        .await?;
    }
    let set = uid_set(uids);
    match &config.move_to {
        None => {
            let flags = format!("+FLAGS.SILENT ({})", config.flag);
            within(timeout, || what("flag stored messages"), async { session.uid_store(&set, &flags).await?.try_collect::<Vec<_>>().await })
                .await?;
        }
        Some(target) if connection.has_move => {
            within(timeout, || what(&format!("move stored messages to {target:?} (does it exist?)")), session.uid_mv(&set, target)).await?;
        }
        Some(target) => {
            within(timeout, || what(&format!("copy stored messages to {target:?} (does it exist?)")), session.uid_copy(&set, target))
                .await?;
            within(timeout, || what("delete moved messages"), async {
                session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?.try_collect::<Vec<_>>().await
            })
            .await?;
            if connection.has_uidplus {
                within(timeout, || what("expunge moved messages"), async { session.uid_expunge(&set).await?.try_collect::<Vec<_>>().await }).await?;
            } else {
                tracing::warn!("{}", without_uidplus(&account, &format!("{mailbox:?}")));
            }
        }
    }
    Ok(())
}

/// What a server without MOVE and UIDPLUS leaves behind, for the logs and `doctor`.
pub fn without_uidplus(account: &str, mailboxes: &str) -> String {
    format!(
        "{account} offers neither MOVE nor UIDPLUS (UID EXPUNGE): messages copied to move_to stay in {mailboxes} \
         flagged \\Deleted, because a plain EXPUNGE would also remove what other clients deleted; expunge them \
         with a mail client, or set a flag instead of move_to"
    )
}

/// How an IDLE wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The server said something (new mail, flags) or the wait timed out: fetch again.
    Server,
    /// `stop` fired.
    Stopped,
}

impl Connection {
    /// Waits in IDLE (RFC 2177) until the server reports something, `max_wait` passes
    /// (RFC 2177 asks to re-issue IDLE within 29 minutes), or `stop` completes.
    pub async fn idle(self, max_wait: Duration, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<(Connection, Woken)> {
        let Connection { session, has_idle, has_move, has_uidplus, timeout } = self;
        // Stale notices from earlier commands would otherwise look like news.
        while session.unsolicited_responses.try_recv().is_ok() {}
        let mut handle = session.idle();
        within(timeout, || "cannot start IDLE".to_string(), handle.init()).await?;
        let woken = {
            let (wait, _interrupt) = handle.wait_with_timeout(max_wait);
            tokio::select! {
                result = wait => {
                    result.context("IDLE failed")?;
                    Woken::Server
                }
                () = stop => Woken::Stopped,
            }
        };
        // A server that went away shows here: DONE cannot be sent or is not answered.
        let session = within(timeout, || "cannot end IDLE (connection lost?)".to_string(), handle.done()).await?;
        Ok((Connection { session, has_idle, has_move, has_uidplus, timeout }, woken))
    }

    /// Says goodbye politely; errors do not matter any more.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.session.logout()).await;
    }
}

/// Bytes one batch may download, besides its count limit: big messages come in
/// smaller batches so that memory and the per-command timeout stay bounded.
const BATCH_BYTES: usize = 32 << 20;

/// Splits `(uid, size)` into batches of at most `count` messages and about
/// `BATCH_BYTES` (a single larger message still gets its own batch; oversized
/// messages count only a header's worth, as only that is downloaded).
fn batches(listing: &[(u32, u32)], count: usize, limit: usize) -> Vec<&[(u32, u32)]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (index, (_, size)) in listing.iter().enumerate() {
        let size = if *size as usize > limit { 4096 } else { *size as usize };
        if index > start && (index - start >= count || bytes + size > BATCH_BYTES) {
            batches.push(&listing[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < listing.len() {
        batches.push(&listing[start..]);
    }
    batches
}

/// One pass over every mailbox of one account, on one connection.
/// Failures count in each mailbox's fetch health: a failed login in all of them.
pub async fn fetch_account(config: &ImapConfig, core: &SharedStore) -> anyhow::Result<DrainReport> {
    let mut connection = match connect(config).await {
        Ok(connection) => connection,
        Err(error) => {
            for mailbox in &config.mailboxes {
                super::health::record_failure(core, config, &mailbox.name, &error).await;
            }
            return Err(error);
        }
    };
    let mut total = DrainReport::default();
    for mailbox in &config.mailboxes {
        let Some(_lease) = try_lease(core, config, &mailbox.name).await? else {
            tracing::info!(account = config.account(), mailbox = mailbox.name, "another gateway is fetching this mailbox; left to it");
            continue;
        };
        let report = match fetch_mailbox(&mut connection, config, mailbox, core, &|| false).await {
            Ok(report) => report,
            Err(error) => {
                super::health::record_failure(core, config, &mailbox.name, &error).await;
                return Err(error);
            }
        };
        add(&mut total, &report);
    }
    connection.logout().await;
    Ok(total)
}

/// The lease on `mailbox` (see [`MailboxLease`]), taken on the blocking pool; `None`
/// while another gateway holds it.
pub async fn try_lease(core: &SharedStore, config: &ImapConfig, mailbox: &str) -> anyhow::Result<Option<MailboxLease>> {
    let (store, account, mailbox) = (core.site.config.store.clone(), config.account(), mailbox.to_string());
    tokio::task::spawn_blocking(move || crate::store::imap::try_lease(&store, &account, &mailbox))
        .await
        .context("taking the mailbox's lease stopped unexpectedly")?
}

/// Whether `lease` still holds, asked on the blocking pool.
pub async fn lease_held(lease: &Arc<Mutex<MailboxLease>>) -> bool {
    let lease = lease.clone();
    tokio::task::spawn_blocking(move || lease.lock().unwrap_or_else(PoisonError::into_inner).held()).await.unwrap_or(false)
}

/// Adds `report` to `total`.
pub fn add(total: &mut DrainReport, report: &DrainReport) {
    total.files += report.files;
    total.created += report.created;
    total.updated += report.updated;
    total.quarantined += report.quarantined;
    total.ignored += report.ignored;
    total.duplicates += report.duplicates;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compressed() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let listing: Vec<(u32, u32)> = (1..=5).map(|uid| (uid, 100)).collect();
        let sizes: Vec<usize> = batches(&listing, 2, 1000).iter().map(|batch| batch.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let big = [(1, 20 << 20), (2, 20 << 20), (3, 10), (4, 200 << 20)];
        let sizes: Vec<usize> = batches(&big, 200, 100 << 20).iter().map(|batch| batch.len()).collect();
        assert_eq!(sizes, [1, 3], "the oversized one is only a header");
    }
}
