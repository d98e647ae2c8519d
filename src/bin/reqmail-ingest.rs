//! `reqmail-ingest`: the MTA pipe's hand-off to a running `reqmail serve`, as small as that
//! job. It reads the message, passes it over serve's socket and exits 0 once serve has
//! stored it: no database, templates, TLS or async runtime start per message, and the
//! executable maps a fraction of the pages `reqmail` does. In every other case it becomes
//! `reqmail ingest` from the same folder, so the exit statuses are those of `reqmail
//! ingest`: 0, 75 (try again), 64, 78. When no serve listens (or the clock is fixed, or an
//! argument is not its own) it execs it before reading anything, and `reqmail ingest`
//! reads the message itself: no second process waits beside it and no bytes are piped
//! twice. When serve refuses a message already read, it runs it on those bytes.
//!
//! It takes the arguments of `reqmail ingest`: `[--config FILE] [--recipient ADDRESS]`.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use reqmail::source::{pipe, socket};

/// sysexits.h EX_TEMPFAIL: the MTA keeps the message and tries again.
const EX_TEMPFAIL: u8 = 75;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some((serve, recipient)) = serve_listening(&args) else {
        return become_ingest(&args);
    };
    let raw = match pipe::read_message(&mut std::io::stdin().lock()) {
        Ok(raw) => raw,
        Err(error) => {
            eprintln!("reqmail-ingest: temporary failure, try again later: cannot read the message from standard input: {error}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    if socket::hand_over_on(serve, &raw, recipient.as_deref(), None).is_ok() {
        return ExitCode::SUCCESS;
    }
    full_ingest(&args, &raw)
}

/// The arguments this program understands; `None` for anything else.
struct Arguments {
    config: Option<PathBuf>,
    recipient: Option<String>,
}

fn arguments(args: &[OsString]) -> Option<Arguments> {
    let mut parsed = Arguments { config: None, recipient: None };
    let mut args = args.iter().map(|arg| arg.to_str());
    while let Some(arg) = args.next() {
        let (name, inline) = match arg?.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg?, None),
        };
        let value = match inline {
            Some(value) => value,
            None => args.next()??,
        };
        match name {
            "--config" if parsed.config.is_none() => parsed.config = Some(value.into()),
            "--recipient" if parsed.recipient.is_none() => parsed.recipient = Some(value.to_string()),
            _ => return None,
        }
    }
    Some(parsed)
}

/// A connection to the running serve that takes this message, and the envelope recipient
/// to tell it; `None` when `reqmail ingest` is to do the work.
fn serve_listening(args: &[OsString]) -> Option<(UnixStream, Option<String>)> {
    // A fixed clock (tests, replays) and every error message are `reqmail ingest`'s to handle.
    if std::env::var_os(reqmail::clock::NOW_VARIABLE).is_some() {
        return None;
    }
    let arguments = arguments(args)?;
    let path = reqmail::config::ingest_socket_of(arguments.config.as_deref())?;
    let serve = socket::connect(&path).ok()?;
    Some((serve, arguments.recipient.as_deref().and_then(reqmail::parse::bare_address)))
}

/// The `reqmail` beside this program.
fn reqmail_binary() -> PathBuf {
    std::env::current_exe().map(|exe| exe.with_file_name("reqmail")).unwrap_or_else(|_| PathBuf::from("reqmail"))
}

/// Becomes `reqmail ingest` with the same arguments and standard input, unread.
fn become_ingest(args: &[OsString]) -> ExitCode {
    let reqmail = reqmail_binary();
    let error = Command::new(&reqmail).arg("ingest").args(args).exec();
    eprintln!("reqmail-ingest: temporary failure, try again later: cannot run {}: {error}", reqmail.display());
    ExitCode::from(EX_TEMPFAIL)
}

/// Runs `reqmail ingest` with the same arguments, hands it the message and exits as it did.
fn full_ingest(args: &[OsString], raw: &[u8]) -> ExitCode {
    let reqmail = reqmail_binary();
    let mut child = match Command::new(&reqmail).arg("ingest").args(args).stdin(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!("reqmail-ingest: temporary failure, try again later: cannot run {}: {error}", reqmail.display());
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    // A child that stops reading has failed, and its exit status says how.
    let _ = child.stdin.take().map(|mut stdin| stdin.write_all(raw));
    match child.wait() {
        Ok(status) => ExitCode::from(status.code().and_then(|code| u8::try_from(code).ok()).unwrap_or(EX_TEMPFAIL)),
        Err(error) => {
            eprintln!("reqmail-ingest: temporary failure, try again later: {} did not finish: {error}", reqmail.display());
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}
