//! `reqmail backup`, `export` and `restore`: the store copied, written out as plain files, rebuilt.

use std::path::PathBuf;

use crate::cli::{Cli, Failure};
use crate::config::Config;
use crate::ops::backup;

fn config(cli: &Cli) -> Result<Config, Failure> {
    Config::load(cli.config.as_deref()).map_err(|error| Failure::Config(error.into()))
}

/// Copy the store into FILE, consistently, while serve and ingest keep working.
#[derive(Debug, clap::Args)]
pub struct Backup {
    /// The new backup file.
    pub file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

impl Backup {
    pub fn execute(&self, cli: &Cli) -> Result<(), Failure> {
        let contents = backup::backup(&config(cli)?.store, &self.file, self.force)?;
        println!("backup {}: {} tickets, {} messages, schema {}", self.file.display(), contents.tickets, contents.messages, contents.schema_version);
        Ok(())
    }
}

/// Write every ticket as plain text with its raw messages (.eml) into the new folder
/// DIR, plus store.sql, from which `reqmail restore DIR` rebuilds the store.
#[derive(Debug, clap::Args)]
pub struct Export {
    /// A folder that does not exist yet (or is empty).
    pub dir: PathBuf,
}

impl Export {
    pub fn execute(&self, cli: &Cli) -> Result<(), Failure> {
        let contents = backup::export(&config(cli)?.store, &self.dir)?;
        println!("export {}: {} tickets, {} messages", self.dir.display(), contents.tickets, contents.messages);
        Ok(())
    }
}

/// Rebuild the store from a backup FILE or an export DIR. Stop serve first. A store
/// that holds data is replaced only with --force, and kept beside it under a new name.
#[derive(Debug, clap::Args)]
pub struct Restore {
    /// A file made by `reqmail backup`, or a folder made by `reqmail export`.
    pub source: PathBuf,
    /// Replace a store that already holds tickets or messages.
    #[arg(long)]
    pub force: bool,
}

impl Restore {
    pub fn execute(&self, cli: &Cli) -> Result<(), Failure> {
        let config = config(cli)?;
        let now = crate::clock::Clock::from_env().map_err(Failure::Config)?.now();
        let restored = backup::restore(&config, &self.source, self.force, now)?;
        println!(
            "restored {} into {}: {} tickets, {} messages, schema {}",
            self.source.display(),
            config.store.path.display(),
            restored.contents.tickets,
            restored.contents.messages,
            restored.contents.schema_version
        );
        if let Some(aside) = restored.replaced {
            println!("the store it replaced is kept as {}", aside.display());
        }
        Ok(())
    }
}
