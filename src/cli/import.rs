//! `reqmail import mbox|maildir|mh PATH`: an old archive brought in as tickets, without letters.

use std::path::PathBuf;

use crate::cli::{Failure, Setup};
use crate::ops::import::{self, Format, Summary};

/// Turn an old archive into tickets: full threads, original dates, MH ticket numbers
/// kept; no receipts or notifications go out. Safe to run again: what is already here
/// is skipped. A progress bar shows on a terminal.
#[derive(Debug, clap::Args)]
pub struct Import {
    /// mbox (one file), maildir (cur/ and new/) or mh (numbered files, one ticket each).
    pub format: Format,
    /// The archive.
    pub path: PathBuf,
}

impl Import {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let mut summary = Summary::default();
        let items = import::read(self.format, &self.path, &mut summary).map_err(Failure::Usage)?;
        let mut store = setup.open_store()?;
        let bar = indicatif::ProgressBar::with_draw_target(Some(items.len() as u64), indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{wide_bar} {pos}/{len} messages, {eta} left")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let result = import::import(&setup.site, &mut store, &items, setup.clock.now(), &mut summary, || bar.inc(1));
        bar.finish_and_clear();
        print_summary(&summary);
        result?;
        Ok(())
    }
}

fn print_summary(summary: &Summary) {
    println!(
        "{} messages: {} new tickets, {} threaded onto tickets, {} skipped; {} letters held back",
        summary.messages,
        summary.created,
        summary.threaded,
        summary.skipped_count(),
        summary.letters_held_back
    );
    for (old, new) in &summary.renumbered {
        println!("  ticket {old} is #{new} here (a ticket here already had that number or a higher one)");
    }
    for (reason, labels) in &summary.skipped {
        println!("  skipped {} ({reason}):", labels.len());
        for label in labels.iter().take(10) {
            println!("    {label}");
        }
        if labels.len() > 10 {
            println!("    … and {} more", labels.len() - 10);
        }
    }
}
