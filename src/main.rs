//! The `reqmail` binary: parse the command line, set up logging, run, map the result to
//! an exit status. Exit statuses follow sysexits: 64 usage, 75 try again, 78 configuration.

use std::process::ExitCode;

use reqmail::cli::{self, Cli, Failure};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
