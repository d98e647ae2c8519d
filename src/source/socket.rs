//! The hand-over socket: while `reqmail serve` runs, `reqmail ingest` passes its message
//! to it over a Unix socket next to the database. Serve writes it into its intake
//! (`store::intake`, a small file of its own) and answers "stored" once it is on the disk
//! there, without waiting for the main database or for the processing of the messages
//! before it; it then moves the message into the spool and processes it (database open,
//! statements prepared, templates compiled), in the order of its answers. An MTA pipe
//! costs a process start, one round trip and one flush.
//! When nobody listens, or serve does not answer "stored", ingest does the work itself
//! (after moving what waits in the intake); the spool dedupes, so a message serve took
//! before it failed is not stored twice.
//!
//! One request and one reply per connection, in ASCII lines:
//! request `INGEST <length> <recipient or -> <REQMAIL_NOW or ->` and the message bytes;
//! reply `<status> <text>`: status 0 once the message is stored, else the exit status
//! ingest would give (75: try again; 64: a request serve does not take).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Notify};

use super::intake;
use super::SharedStore;
use crate::clock::{format_time, parse_time, Clock};
use crate::store::intake::{Arrival, Intake};

const VERB: &str = "INGEST";
/// The longest request line (an address and a time are far shorter).
const MAX_LINE: u64 = 1024;
/// How long either side waits for the other; processing one message takes milliseconds,
/// unless the database is locked (up to `store.busy_timeout_ms`).
const WAIT: Duration = Duration::from_secs(120);

/// The request line, without the message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    length: usize,
    recipient: Option<String>,
    now: Option<DateTime<Utc>>,
}

impl Header {
    fn line(&self) -> String {
        let now = self.now.map(format_time);
        format!("{VERB} {} {} {}\n", self.length, self.recipient.as_deref().unwrap_or("-"), now.as_deref().unwrap_or("-"))
    }

    fn parse(line: &str) -> Result<Header, String> {
        let fields: Vec<&str> = line.trim_end_matches(['\r', '\n']).split(' ').collect();
        let [VERB, length, recipient, now] = fields[..] else {
            return Err(format!("not a request: {:?}", line.trim_end()));
        };
        let length = length.parse().map_err(|_| format!("bad length {length:?}"))?;
        let recipient = (recipient != "-").then(|| recipient.to_string());
        let now = match now {
            "-" => None,
            text => Some(parse_time(text).ok_or_else(|| format!("bad time {text:?}"))?),
        };
        Ok(Header { length, recipient, now })
    }
}

/// Why ingest does the work itself.
#[derive(Debug)]
pub enum NotTaken {
    /// No serve listens on the socket (or there is no socket).
    NobodyListens,
    /// Serve answered something other than "stored", or the conversation broke off.
    Refused(String),
}

impl std::fmt::Display for NotTaken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotTaken::NobodyListens => formatter.write_str("no reqmail serve listens"),
            NotTaken::Refused(reason) => formatter.write_str(reason),
        }
    }
}

/// Hands `raw` to the serve listening at `path`; `Ok` with serve's answer once it has
/// stored the message. `now` is passed on when the caller's clock is fixed.
pub fn hand_over(path: &Path, raw: &[u8], recipient: Option<&str>, now: Option<DateTime<Utc>>) -> Result<String, NotTaken> {
    hand_over_on(connect(path)?, raw, recipient, now)
}

/// A connection to the serve listening at `path`.
pub fn connect(path: &Path) -> Result<std::os::unix::net::UnixStream, NotTaken> {
    std::os::unix::net::UnixStream::connect(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => NotTaken::NobodyListens,
        // Most likely serve runs as another user than ingest: the socket is theirs alone.
        _ => NotTaken::Refused(format!("cannot connect to {}: {error}", path.display())),
    })
}

/// [`hand_over`] on a connection made by [`connect`].
pub fn hand_over_on(
    mut stream: std::os::unix::net::UnixStream,
    raw: &[u8],
    recipient: Option<&str>,
    now: Option<DateTime<Utc>>,
) -> Result<String, NotTaken> {
    let refused = |error: std::io::Error| NotTaken::Refused(format!("the conversation with serve broke off: {error}"));
    stream.set_read_timeout(Some(WAIT)).map_err(refused)?;
    stream.set_write_timeout(Some(WAIT)).map_err(refused)?;
    let header = Header { length: raw.len(), recipient: recipient.map(str::to_string), now };
    stream.write_all(header.line().as_bytes()).and_then(|()| stream.write_all(raw)).map_err(refused)?;
    let mut reply = String::new();
    BufReader::new(&stream).take(MAX_LINE).read_line(&mut reply).map_err(refused)?;
    match reply.trim_end().split_once(' ') {
        Some(("0", text)) => Ok(text.to_string()),
        _ if reply.is_empty() => Err(NotTaken::Refused("serve closed the connection without an answer".into())),
        _ => Err(NotTaken::Refused(format!("serve answered {:?}", reply.trim_end()))),
    }
}

/// Whether a serve listens on the socket at `path`.
pub fn serve_listens(path: &Path) -> bool {
    connect(path).is_ok()
}

/// Binds the socket at `path` for this serve: a socket left by a serve that died is
/// replaced; one another serve listens on is left alone (`Ok(None)`), as is any file
/// that is not a socket (an error).
pub fn bind(path: &Path) -> anyhow::Result<Option<UnixListener>> {
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if !metadata.file_type().is_socket() {
            anyhow::bail!("{} exists and is not a socket; move it away or set serve.socket", path.display());
        }
        if serve_listens(path) {
            return Ok(None);
        }
        std::fs::remove_file(path).with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {} to its owner", path.display()))?;
    Ok(Some(listener))
}

/// Answers ingest processes until `stopped`, then moves everything it acknowledged and
/// removes the socket. Each message is taken into the intake (`writer`) and answered
/// "stored" once it is on the disk there; `drain` moves it into the spool and processes it
/// on `core` right after, in the order of the answers, and `letters` says who sends its
/// letters. What a serve before this one left in the intake is moved first.
/// `limit` is the largest message taken (`inbound.max_message_bytes`); ingest keeps
/// larger ones itself.
pub async fn listen(core: SharedStore, letters: intake::Letters, intake: Intakes, listener: UnixListener, path: PathBuf, limit: usize, mut stopped: watch::Receiver<bool>) {
    let Intakes { writer, reader } = intake;
    let arrived = Arc::new(Notify::new());
    let writer = match intake::Writer::start(writer, arrived.clone()) {
        Ok(writer) => writer,
        Err(error) => {
            tracing::warn!("ingest cannot hand mail to this serve: cannot start the intake: {error}");
            let _ = std::fs::remove_file(&path);
            return;
        }
    };
    let clock = core.clock;
    let (finish, finishing) = watch::channel(false);
    // In a set of its own: should this task be aborted (the shutdown grace ran out), the
    // drain stops with it, and the next serve moves what is left.
    let mut drain = tokio::task::JoinSet::new();
    drain.spawn(intake::drain(core, letters, reader, writer.taker(), arrived, finishing));
    let stop = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stop);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(answer(writer.taker(), clock, stream, limit));
                }
                Err(error) => {
                    tracing::warn!("socket {}: {error}", path.display());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut stop => break,
        }
    }
    // Messages being taken in are finished (ingest waits for their answer), then
    // everything acknowledged is moved. The listener stays bound meanwhile, so that a
    // serve starting now leaves this intake alone.
    while connections.join_next().await.is_some() {}
    let _ = finish.send(true);
    if let Some(Err(error)) = drain.join_next().await {
        tracing::warn!("socket: the intake was not drained: {error}");
    }
    let _ = tokio::task::spawn_blocking(move || writer.stop()).await;
    let _ = std::fs::remove_file(&path);
    drop(listener);
}

/// The intake's two connections for [`listen`]: the writer's and the drain's.
pub struct Intakes {
    pub writer: Intake,
    pub reader: Intake,
}

impl Intakes {
    /// Opens (or creates) the intake beside the database at `store_path`.
    pub fn open(store_path: &Path) -> anyhow::Result<Intakes> {
        let path = crate::store::intake::path_for(store_path);
        let writer = Intake::open(&path)?;
        let reader = Intake::open_existing(&path)?.with_context(|| format!("the intake {} disappeared", path.display()))?;
        Ok(Intakes { writer, reader })
    }
}

/// One ingest process: read the message, take it into the intake, answer. The answer
/// comes once the message is on the disk, as an MTA's does; it waits neither for the
/// main database nor for the processing of the messages before it.
async fn answer(taker: intake::Taker, clock: Clock, stream: UnixStream, limit: usize) {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    let (status, text) = match tokio::time::timeout(WAIT, receive(&mut reader, limit)).await {
        Ok(Ok((header, raw))) => {
            let received = header.now.unwrap_or_else(|| clock.now());
            let arrival = Arrival { raw, source: "socket", recipient: header.recipient, fixed_now: header.now, received };
            match taker.take(arrival).await {
                Ok(()) => (0, "stored".to_string()),
                Err(error) => (75, error),
            }
        }
        Ok(Err(reason)) => (64, reason),
        Err(_) => (64, "the request did not arrive in time".to_string()),
    };
    let _ = tokio::time::timeout(WAIT, write.write_all(format!("{status} {text}\n").as_bytes())).await;
}

async fn receive(reader: &mut tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>, limit: usize) -> Result<(Header, Vec<u8>), String> {
    let mut line = String::new();
    (&mut *reader).take(MAX_LINE).read_line(&mut line).await.map_err(|error| error.to_string())?;
    let header = Header::parse(&line)?;
    if header.length > limit {
        return Err(format!("a message of {} bytes is larger than inbound.max_message_bytes = {limit}", header.length));
    }
    let mut raw = vec![0; header.length];
    reader.read_exact(&mut raw).await.map_err(|error| format!("the message was cut short: {error}"))?;
    Ok((header, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_read_back() {
        let now = parse_time("2026-11-21T09:00:00Z");
        for header in [
            Header { length: 0, recipient: None, now: None },
            Header { length: 4321, recipient: Some("help+12@example.com".into()), now },
        ] {
            assert_eq!(Header::parse(&header.line()), Ok(header));
        }
        for bad in ["", "INGEST\n", "INGEST x - -\n", "INGEST 1 - yesterday\n", "DELETE 1 - -\n", "INGEST 1 a b c\n"] {
            assert!(Header::parse(bad).is_err(), "{bad:?}");
        }
    }
}
