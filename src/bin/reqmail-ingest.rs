//! `reqmail-ingest`: the MTA's pipe into reqmail, as small as that job. It reads the
//! message and exits 0 once it is on the disk, with no templates, TLS or async runtime
//! started per message, mapping a fraction of the pages `reqmail` does:
//!
//! - while `reqmail serve` runs, it passes the message over serve's socket, and serve
//!   stores it in its intake, then processes it;
//! - else it takes the message into that intake itself (`store::intake`, a small SQLite
//!   file beside the database) and starts `reqmail ingest --drain` unless a drain runs,
//!   which moves it through the pipeline as serve would.
//!
//! In every other case it becomes `reqmail ingest` from the same folder, so the exit
//! statuses are those of `reqmail ingest`: 0, 75 (try again), 64, 78. When the clock is
//! fixed (tests, replays), an argument is not its own or the configuration does not load,
//! it execs it before reading anything, and `reqmail ingest` reads the message itself and
//! reports. When serve refuses a message already read, or it is too large for the intake,
//! it runs `reqmail ingest` on those bytes.
//!
//! It takes the arguments of `reqmail ingest`: `[--config FILE] [--recipient ADDRESS]`.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use reqmail::clock::Clock;
use reqmail::config::Config;
use reqmail::source::{pipe, socket};
use reqmail::store::intake::{self, Arrival};

/// sysexits.h EX_TEMPFAIL: the MTA keeps the message and tries again.
const EX_TEMPFAIL: u8 = 75;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // A fixed clock (tests, replays) and every error message are `reqmail ingest`'s to handle.
    if std::env::var_os(reqmail::clock::NOW_VARIABLE).is_some() {
        return become_ingest(&args);
    }
    let Some(arguments) = arguments(&args) else {
        return become_ingest(&args);
    };
    let recipient = arguments.recipient.as_deref().and_then(reqmail::parse::bare_address);
    let serve = reqmail::config::ingest_socket_of(arguments.config.as_deref()).and_then(|path| socket::connect(&path).ok());
    // Without serve, the whole configuration is read, as `reqmail ingest` reads it: a
    // broken one keeps the mail with the MTA, which tries again once it is fixed.
    let config = match serve {
        Some(_) => None,
        None => match reqmail::config::Config::load(arguments.config.as_deref()) {
            Ok(config) => Some(config),
            Err(_) => return become_ingest(&args),
        },
    };
    let raw = match pipe::read_message(&mut std::io::stdin().lock()) {
        Ok(raw) => raw,
        Err(error) => {
            eprintln!("reqmail-ingest: temporary failure, try again later: cannot read the message from standard input: {error}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    match (serve, config) {
        (Some(serve), _) => match socket::hand_over_on(serve, &raw, recipient.as_deref(), None) {
            Ok(_) => ExitCode::SUCCESS,
            Err(_) => full_ingest(&args, &raw),
        },
        (None, Some(config)) if raw.len() <= reqmail::store::LARGE_MESSAGE_BYTES => {
            take_in(&config, arguments.config.as_deref(), raw, recipient, &args)
        }
        _ => full_ingest(&args, &raw),
    }
}

/// Takes the message into the intake beside the database and starts a drain to move it
/// through the pipeline, as serve would; exits 0 once it is on the disk. Should the
/// intake fail, `reqmail ingest` stores and processes the message itself.
fn take_in(config: &Config, config_path: Option<&Path>, raw: Vec<u8>, recipient: Option<String>, args: &[OsString]) -> ExitCode {
    let arrival = Arrival { raw, source: "pipe", recipient, fixed_now: None, received: Clock::System.now() };
    let store_path = &config.store.path;
    if let Err(error) = intake::take_in(&intake::path_for(store_path), &arrival) {
        eprintln!("reqmail-ingest: the intake failed ({error:#}); reqmail ingest stores the message");
        return full_ingest(args, &arrival.raw);
    }
    if let Err(error) = pipe::start_drain(store_path, reqmail_binary, config_path) {
        // The message is safe; the next ingest, tick or serve moves it.
        eprintln!("reqmail-ingest: the message waits in the intake for the next ingest, tick or serve: {error:#}");
    }
    ExitCode::SUCCESS
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
