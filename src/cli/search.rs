//! `reqmail search`: tickets by the words of their subjects, notes and text attachments.

use crate::cli::report::FilterArgs;
use crate::cli::{Failure, Setup};

/// Finds tickets whose subject, notes or text attachments contain all the words, best
/// match first (the most recent first when over 20,000 passages match), with the
/// matching passage. "print*" matches words that start so. --sounds-like lists the
/// newest tickets first.
#[derive(Debug, clap::Args)]
pub struct Search {
    #[arg(required = true, value_name = "WORDS")]
    pub words: Vec<String>,
    /// Match subject words that sound like the given ones (Soundex), for misspellings.
    #[arg(long)]
    pub sounds_like: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many tickets.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

impl Search {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let filter = self.filter.filter(setup);
        let store = setup.open_store()?;
        let found = crate::search::search(&store.conn, &self.words, self.sounds_like, &filter, self.limit.max(1)).map_err(|error| {
            if error.downcast_ref::<rusqlite::Error>().is_some() {
                Failure::Other(error)
            } else {
                Failure::Usage(error)
            }
        })?;
        let hits = &found.hits;
        if let (false, Some(matches)) = (found.ranked, found.matches) {
            eprintln!("{matches} passages match: the most recent come first; more words rank them by relevance");
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(hits).map_err(anyhow::Error::from)?);
            return Ok(());
        }
        for hit in hits {
            println!("#{}  {}  {}  {}", hit.ticket, hit.status, hit.queue, hit.subject);
            println!("    {}: {}", hit.found_in, hit.snippet.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if hits.is_empty() {
            eprintln!("no tickets match");
        }
        Ok(())
    }
}
