//! `reqmail store usage` and `store compact`: where the store's bytes are, and a rewrite
//! that gives back the space it does not use. `store copy`: the store into PostgreSQL, or
//! from there into a new SQLite file, verified table by table.

use clap::Subcommand;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::{print_line, Failure, Setup};
use crate::store::postgres::copy::{self, NotEmpty, Progress, Report};
use crate::store::postgres::Url;
use crate::store::space::{self, FileUsage, InUse};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Per table and index: its pages, the bytes its rows hold and the bytes left empty;
    /// then the whole file against the raw inbound mail it holds. Reads every page.
    Usage {
        #[arg(long)]
        json: bool,
    },
    /// Rewrite the store with 8 KiB pages and without free pages (a store made by an
    /// older reqmail has 4 KiB pages, which most messages fill badly), its decision
    /// records from before they were compressed compressed first. Stop `reqmail
    /// serve` first; the store's folder and the temporary folder each need about the
    /// store's size free meanwhile.
    Compact,
    /// Copy the configured store into an empty PostgreSQL database (`--to
    /// postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=disable|prefer|require&sslrootcert=CA.pem]`),
    /// or a PostgreSQL store into a new SQLite file (`--from postgresql://… --to FILE`), in one
    /// transaction; then compare every table's row count and contents on both sides.
    Copy {
        /// Where to: a postgresql:// URL, or with --from a new SQLite file.
        #[arg(long)]
        to: String,
        /// A postgresql:// URL to copy from instead of the configured store.
        #[arg(long)]
        from: Option<String>,
        /// Overwrite a target that holds a store already.
        #[arg(long)]
        replace: bool,
        /// Copy nothing: only compare the two stores as they are.
        #[arg(long)]
        verify_only: bool,
    },
}

impl StoreCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        match self {
            StoreCommand::Usage { json } => {
                let store = setup.open_store()?;
                let tables = space::usage(&store.conn)?;
                let file = space::file_usage(&store.conn)?;
                let inbound = space::inbound_bytes(&store.conn)?;
                if *json {
                    let report = serde_json::json!({ "file": file, "inbound_bytes": inbound, "tables": tables });
                    print_line(&report.to_string());
                    return Ok(());
                }
                print_line(&format!("{:<34} {:>8} {:>12} {:>12} {:>12}", "table or index", "pages", "bytes", "row bytes", "empty bytes"));
                for table in &tables {
                    print_line(&format!(
                        "{:<34} {:>8} {:>12} {:>12} {:>12}",
                        table.name, table.pages, table.bytes, table.payload, table.unused
                    ));
                }
                print_line(&format!("{}; raw inbound mail {} bytes", file_line(&file), inbound));
                if inbound > 0 {
                    print_line(&format!("store per byte of inbound mail: {:.2}", file.bytes() as f64 / inbound as f64));
                }
                Ok(())
            }
            StoreCommand::Compact => {
                let store = setup.open_store()?;
                let compacted = space::compact(&store.conn).map_err(|error| match error.downcast_ref::<InUse>() {
                    Some(_) => Failure::TryAgain(error),
                    None => Failure::Other(error),
                })?;
                print_line(&format!("compacted: before {}", file_line(&compacted.before)));
                print_line(&format!("           after  {}", file_line(&compacted.after)));
                print_line(&format!("           {} decision records from an older reqmail compressed", compacted.decisions));
                print_line(&format!("           {} notes from an older reqmail compressed", compacted.notes));
                Ok(())
            }
            StoreCommand::Copy { to, from, replace, verify_only } => copy_store(setup, to, from.as_deref(), *replace, *verify_only),
        }
    }
}

fn copy_store(setup: &Setup, to: &str, from: Option<&str>, replace: bool, verify_only: bool) -> Result<(), Failure> {
    let is_url = |text: &str| text.starts_with("postgresql://") || text.starts_with("postgres://");
    let mut progress = progress_on_stderr();
    let report = match from {
        None => {
            if !is_url(to) {
                return Err(Failure::Usage(anyhow::anyhow!("--to takes a postgresql:// URL (or give --from postgresql://… --to FILE)")));
            }
            let url = Url::parse(to).map_err(Failure::Usage)?;
            let store = setup.open_store()?;
            if verify_only {
                copy::verify(store.conn.sqlite("reqmail store copy")?, &url)?
            } else {
                copy::to_postgres(store.conn.sqlite("reqmail store copy")?, &url, replace, &mut progress).map_err(|error| match error.downcast_ref::<NotEmpty>() {
                    Some(_) => Failure::Usage(error),
                    None => Failure::Other(error),
                })?
            }
        }
        Some(from) => {
            if !is_url(from) || is_url(to) {
                return Err(Failure::Usage(anyhow::anyhow!("--from takes a postgresql:// URL and --to then a new SQLite file")));
            }
            let url = Url::parse(from).map_err(Failure::Usage)?;
            let path = PathBuf::from(to);
            if verify_only {
                let copied = crate::store::dump::open_read_only(&path)?;
                copy::verify(&copied, &url)?
            } else {
                copy::to_sqlite(&url, &path, replace, &mut progress)?
            }
        }
    };
    print_report(&report)
}

/// Progress lines on stderr, at most one a second, once a copy has run for a second:
/// a small store copies silently.
fn progress_on_stderr() -> impl FnMut(Progress<'_>) {
    let started = Instant::now();
    let mut last = started;
    move |progress: Progress<'_>| {
        let now = Instant::now();
        if now.duration_since(started) >= Duration::from_secs(1) && now.duration_since(last) >= Duration::from_secs(1) {
            last = now;
            eprintln!("store copy: {} {} of {} rows", progress.table, progress.rows, progress.total);
        }
    }
}

/// The counts of each table on both sides, then "verified" or the first table that differs.
fn print_report(report: &Report) -> Result<(), Failure> {
    print_line(&format!("{:<24} {:>12} {:>12}  {}", "table", "source rows", "target rows", "contents"));
    for check in &report.tables {
        let contents = if check.matches() { "same" } else { "DIFFERENT" };
        print_line(&format!("{:<24} {:>12} {:>12}  {contents}", check.table, check.source.rows, check.target.rows));
    }
    match report.first_difference() {
        None => {
            print_line(&format!("verified: {} tables, {} rows", report.tables.len(), report.tables.iter().map(|check| check.source.rows).sum::<u64>()));
            Ok(())
        }
        Some(check) => Err(Failure::Other(anyhow::anyhow!(
            "the copy differs from its source: table {} has {} rows there and {} here{}",
            check.table,
            check.source.rows,
            check.target.rows,
            if check.source.rows == check.target.rows { ", with different contents" } else { "" }
        ))),
    }
}

fn file_line(file: &FileUsage) -> String {
    format!(
        "{} bytes in {} pages of {} bytes ({} free)",
        file.bytes(),
        file.pages,
        file.page_size,
        file.free_pages
    )
}
