//! `reqmail quarantine`: list, show, retry or drop the messages reqmail could not process.

use std::io::Write as _;

use crate::cli::{Failure, Setup};
use crate::pipeline;
use crate::store;
use crate::ticket::SpoolId;

/// Messages reqmail could not process, kept whole with the reason.
#[derive(Debug, clap::Subcommand)]
pub enum QuarantineCommand {
    /// Every quarantined message with its reason.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One message: its reason, or with --raw its bytes exactly as they arrived.
    Show {
        id: i64,
        #[arg(long)]
        raw: bool,
    },
    /// Process the message again (after fixing the configuration, or with a newer reqmail).
    Retry { id: i64 },
    /// Erase the message's bytes for good; a record that it was dropped stays.
    Drop { id: i64 },
}

impl QuarantineCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let mut store = setup.open_store()?;
        let now = setup.clock.now();
        let quarantined = |store: &store::Store, id: i64| -> Result<SpoolId, Failure> {
            if store::quarantine::contains(&store.conn, SpoolId(id))? {
                Ok(SpoolId(id))
            } else {
                Err(anyhow::anyhow!("message {id} is not in quarantine; `reqmail quarantine list` shows what is").into())
            }
        };
        match self {
            QuarantineCommand::List { json } => {
                let entries = store::quarantine::list(&store.conn)?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&entries).expect("entries serialise"));
                } else {
                    for entry in &entries {
                        println!(
                            "{:>6}  {}  {:>9} bytes  {}  {}\n        reason: {}",
                            entry.id,
                            entry.at,
                            entry.size,
                            entry.from_address.as_deref().unwrap_or("(unknown sender)"),
                            entry.subject.as_deref().unwrap_or("(no subject)"),
                            entry.reason
                        );
                    }
                    if !entries.is_empty() {
                        println!("\n`reqmail quarantine show ID --raw` prints a message; `retry ID` processes it again; `drop ID` erases it.");
                    }
                }
            }
            QuarantineCommand::Show { id, raw } => {
                let id = quarantined(&store, *id)?;
                if *raw {
                    let bytes = store::messages::raw(&store.conn, id)?.unwrap_or_default();
                    std::io::stdout().write_all(&bytes).map_err(anyhow::Error::from)?;
                } else {
                    let entry = store::quarantine::list(&store.conn)?.into_iter().find(|entry| entry.id == id.0);
                    if let Some(entry) = entry {
                        println!("message {}\n  received  {}\n  size      {} bytes\n  from      {}\n  subject   {}\n  reason    {}",
                            entry.id,
                            entry.at,
                            entry.size,
                            entry.from_address.as_deref().unwrap_or("(unknown)"),
                            entry.subject.as_deref().unwrap_or("(none)"),
                            entry.reason);
                    }
                }
            }
            QuarantineCommand::Retry { id } => {
                let id = quarantined(&store, *id)?;
                let tx = store.write()?;
                store::quarantine::release(&tx, id)?;
                tx.commit()?;
                let outcomes = pipeline::process(&setup.site, &mut store, &[id], now)?;
                for (_, outcome) in outcomes {
                    let said = match outcome {
                        pipeline::Outcome::Applied { ticket, created: true } => format!("opened ticket #{ticket}"),
                        pipeline::Outcome::Applied { ticket, created: false } => format!("added to ticket #{ticket}"),
                        pipeline::Outcome::Quarantined { reason } => format!("quarantined again: {reason}"),
                        pipeline::Outcome::Ignored { reason } => format!("ignored: {reason}"),
                        pipeline::Outcome::Duplicate => "already processed".to_string(),
                    };
                    crate::cli::print_line(&format!("message {id}: {said}"));
                }
                crate::cli::deliver_now(setup, &mut store);
            }
            QuarantineCommand::Drop { id } => {
                let id = quarantined(&store, *id)?;
                let tx = store.write()?;
                store::quarantine::drop_message(&tx, id, now)?;
                tx.commit()?;
                println!("message {id} dropped");
            }
        }
        Ok(())
    }
}
