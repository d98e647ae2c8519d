//! `reqmail store usage` and `store compact`: where the store's bytes are, and a rewrite
//! that gives back the space it does not use.

use clap::Subcommand;

use crate::cli::{print_line, Failure, Setup};
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
}

impl StoreCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let store = setup.open_store()?;
        match self {
            StoreCommand::Usage { json } => {
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
        }
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
