//! The `reqmail` binary: parse the command line, set up logging, run, map the result to
//! an exit status. Exit statuses follow sysexits: 64 usage, 75 try again, 78 configuration.

use std::process::ExitCode;

use reqmail::cli::{self, Cli, Failure};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h, which the Rust binding does not name.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed goes back to the system at once, as the C library gives back a large
/// block: held for mimalloc's second (10 ms in its version 2 made no difference), the
/// buffers of a 30 MB message took one `ingest` to a peak of 118 MB, where its bound is
/// 94 MB. A batch (`fetch`) keeps the delay, which saves its writer 3-6 % of its time in
/// returning and taking back memory.
fn return_freed_memory_at_once() {
    // SAFETY: sets one option's value, which mimalloc reads whenever it purges.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

const EX_USAGE: u8 = 64;
const EX_TEMPFAIL: u8 = 75;
const EX_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = match Cli::from_process_args() {
        Ok(cli) => cli,
        Err(error) if matches!(error.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(EX_USAGE);
        }
    };
    if !matches!(cli.command, cli::Command::Fetch(_)) {
        return_freed_memory_at_once();
    }
    // The daemon's log is its record of work: one line per message handled by default.
    let daemon = matches!(cli.command, cli::Command::Serve(_));
    init_logging(cli.verbose + u8::from(daemon));
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(error)) => {
            eprintln!("reqmail: configuration error: {error:#}");
            ExitCode::from(EX_CONFIG)
        }
        Err(Failure::Usage(error)) => {
            eprintln!("reqmail: {error:#}");
            ExitCode::from(EX_USAGE)
        }
        Err(Failure::TryAgain(error)) => {
            eprintln!("reqmail: temporary failure, try again later: {error:#}");
            ExitCode::from(EX_TEMPFAIL)
        }
        Err(Failure::Other(error)) => {
            eprintln!("reqmail: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // async-imap traces every command it sends, passwords and OAuth2 tokens included.
    let filter = filter.add_directive("async_imap::imap_stream=off".parse().expect("a valid directive"));
    // html5ever warns about every malformed page it repairs ("foster parenting not
    // implemented"); customer HTML is malformed as a rule, and the warning says nothing
    // the admin can act on.
    let filter = filter.add_directive("html5ever=error".parse().expect("a valid directive"));
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_mimallocs_purge_delay() {
        // The option's default (a second) shows that the number names it.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) }, 1000);
    }
}
