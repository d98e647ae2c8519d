//! The knowledge loop: the receipt of a new ticket names up to three resolved tickets
//! and up to three articles that look like it, so that a requester whose problem is
//! solved that way can close the ticket by marking a box.
//!
//! Matching weighs the words the new ticket shares with each candidate by how rare they
//! are (inverse document frequency): a word in few tickets says more than "printer".
//! Cheap by construction: the counts are one key look-up per word, and candidates come
//! only from the newest tickets holding the rarest words (a few index ranges), however
//! many tickets there are. A candidate must share at least two words and half the
//! weight of the new ticket's known words; the labelled set in
//! `tests/it/knowledge.rs` measures what that gives.
//!
//! Articles are Markdown files in `knowledge.articles`, read the first time a receipt
//! needs them (a reply never does, and every ingest process compiles the site): the
//! first `# ` heading is the title (else the file name), the first paragraph after it
//! the summary.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

use anyhow::Context as _;
use crate::store::Connection;

use crate::config::KnowledgeConfig;
use crate::store::knowledge::{self as sql, words};

/// Most suggestions of each kind a receipt shows.
const MOST_SUGGESTED: usize = 3;
/// The rarest words of the new ticket whose tickets are looked at.
const RAREST_WORDS: usize = 6;
/// Tickets looked at per word: the newest that hold it. Reading them is most of what a
/// receipt's suggestions cost; with 400, a fetch into 1,000,000 tickets (where every
/// word of the bench's vocabulary is held by thousands) ran 25–40 % slower than into
/// 100,000, with 200 as fast. A good match is a recent one as a rule.
const TICKETS_PER_WORD: usize = 200;
/// Words a candidate must share with the new ticket.
const LEAST_SHARED_WORDS: usize = 2;
/// Share of the new ticket's weight a candidate must reach.
const LEAST_WEIGHT_SHARE: f64 = 0.6;
/// Weight a candidate must reach, as a share of what one word found nowhere else would
/// weigh: words that every other ticket has ("message could not be delivered") share
/// much of little.
const LEAST_WEIGHT_OF_A_UNIQUE_WORD: f64 = 0.5;
/// Longest summary shown, in characters.
const MOST_SUMMARY_CHARS: usize = 300;

/// One article from the folder.
#[derive(Debug, Clone)]
pub struct Article {
    pub title: String,
    /// The file name within the folder.
    pub file: String,
    pub summary: String,
    words: Vec<String>,
}

/// Where the articles are, the articles once read, and whether tickets are suggested.
#[derive(Debug, Default)]
pub struct Knowledge {
    folder: Option<PathBuf>,
    articles: OnceLock<Articles>,
    tickets: bool,
    /// Resolved tickets like a message's, found ahead of its receipt ([`Knowledge::look_ahead`]),
    /// by the subject and text they were found for; the newest last.
    ahead: Mutex<VecDeque<(String, Vec<sql::Resolved>)>>,
}

/// Look-ups kept ahead: a few batches' worth. One that no receipt takes (a reply's) is
/// dropped in its turn.
const MOST_AHEAD: usize = 1024;

#[derive(Debug, Default)]
struct Articles {
    list: Vec<Article>,
    /// In how many articles each word occurs.
    counts: HashMap<String, usize>,
}

impl Articles {
    fn of(list: Vec<Article>) -> Articles {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for article in &list {
            for word in &article.words {
                *counts.entry(word.clone()).or_default() += 1;
            }
        }
        Articles { list, counts }
    }

    /// The Markdown files of `folder`, in name order. A file that cannot be read is left
    /// out with a warning that names it, and text that is not UTF-8 is read as well as it
    /// goes: an article an admin saved badly must not stop the mail.
    fn read(folder: &std::path::Path) -> Articles {
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(folder) {
            Ok(entries) => entries.filter_map(Result::ok).map(|entry| entry.path()).collect(),
            Err(error) => {
                tracing::warn!(folder = %folder.display(), %error, "knowledge.articles: cannot read the folder; no articles are suggested");
                Vec::new()
            }
        };
        paths.retain(|path| path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("md")));
        paths.sort();
        let mut list = Vec::new();
        for path in paths {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let file = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
                    list.push(article(file, &String::from_utf8_lossy(&bytes)));
                }
                Err(error) => tracing::warn!(file = %path.display(), %error, "knowledge.articles: cannot read this article; it is left out"),
            }
        }
        Articles::of(list)
    }
}

/// What a receipt suggests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suggestions {
    pub tickets: Vec<sql::Resolved>,
    /// Indexes into the articles, best first.
    pub articles: Vec<usize>,
}

impl Suggestions {
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty() && self.articles.is_empty()
    }
}

/// The first `limit` characters of `text` on one line, cut with an ellipsis.
fn shortened(text: &str, limit: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(limit) {
        None => line,
        Some((cut, _)) => format!("{}…", line[..cut].trim_end()),
    }
}

/// An article from its Markdown text.
fn article(file: String, text: &str) -> Article {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let first = lines.iter().position(|line| !line.is_empty()).unwrap_or(lines.len());
    let title = lines.get(first).and_then(|line| line.strip_prefix("# ")).map(str::to_string);
    let body = &lines[if title.is_some() { first + 1 } else { first }..];
    let summary_lines: Vec<&str> =
        body.iter().copied().skip_while(|line| line.is_empty() || line.starts_with('#')).take_while(|line| !line.is_empty()).collect();
    let title = title.unwrap_or_else(|| file.trim_end_matches(".md").replace(['-', '_'], " "));
    let summary = shortened(&summary_lines.join(" "), MOST_SUMMARY_CHARS);
    let words = words(&format!("{title}\n{text}"));
    Article { title, file, summary, words }
}

impl Knowledge {
    /// The knowledge of `config`; a folder that cannot be read is an error that names it
    /// (its files are read when first needed).
    pub fn load(config: &KnowledgeConfig) -> anyhow::Result<Knowledge> {
        if let Some(folder) = &config.articles {
            std::fs::read_dir(folder)
                .with_context(|| format!("knowledge.articles: cannot read the folder {} (a folder of Markdown files)", folder.display()))?;
        }
        Ok(Knowledge { folder: config.articles.clone(), articles: OnceLock::new(), tickets: config.tickets, ahead: Mutex::default() })
    }

    fn articles(&self) -> &Articles {
        self.articles.get_or_init(|| self.folder.as_deref().map(Articles::read).unwrap_or_default())
    }

    pub fn article(&self, index: usize) -> Option<&Article> {
        self.articles().list.get(index)
    }

    /// Resolved tickets and articles like a new ticket's `subject` and `text`.
    pub fn suggest(&self, conn: &Connection, subject: &str, text: &str) -> crate::store::Result<Suggestions> {
        let key = format!("{subject}\n{text}");
        let taken = self.taken_ahead(&key);
        let Articles { list, counts } = self.articles();
        // A text's words cost more than the rest of a receipt's look-up: only when
        // something is still to be searched with them.
        let searched = (taken.is_none() && self.tickets) || !list.is_empty();
        let query = if searched { words(&key) } else { Vec::new() };
        let tickets = match taken {
            Some(found) => found,
            None if self.tickets => similar_tickets(conn, &query)?,
            None => Vec::new(),
        };
        let articles = best(
            list.iter().enumerate().map(|(index, article)| {
                (index, Shared::of(query.iter().filter(|word| article.words.contains(word)).map(|word| weight(counts[word], list.len()))))
            }),
            query.iter().filter_map(|word| counts.get(word)).map(|&count| weight(count, list.len())).sum(),
            list.len(),
        );
        Ok(Suggestions { tickets, articles })
    }

    /// Finds the resolved tickets like a new ticket's `subject` and `text` ahead of its
    /// receipt, on `conn`: a batch's reader does it for the next batch on a connection of
    /// its own while the writer works on this one, and the receipt takes what it found.
    pub fn look_ahead(&self, conn: &Connection, subject: &str, text: &str) -> crate::store::Result<()> {
        if !self.tickets {
            return Ok(());
        }
        let key = format!("{subject}\n{text}");
        let found = similar_tickets(conn, &words(&key))?;
        let mut ahead = self.ahead.lock().unwrap_or_else(PoisonError::into_inner);
        if ahead.len() >= MOST_AHEAD {
            ahead.pop_front();
        }
        ahead.push_back((key, found));
        Ok(())
    }

    /// What [`Knowledge::look_ahead`] found for exactly this subject and text, once.
    fn taken_ahead(&self, key: &str) -> Option<Vec<sql::Resolved>> {
        let mut ahead = self.ahead.lock().unwrap_or_else(PoisonError::into_inner);
        let index = ahead.iter().rposition(|(found_for, _)| found_for == key)?;
        ahead.remove(index).map(|(_, found)| found)
    }
}

/// How much sharing a word that `holding` of `all` documents hold says (inverse
/// document frequency, never negative).
fn weight(holding: usize, all: usize) -> f64 {
    ((all as f64 + 1.0) / (holding as f64 + 0.5)).ln().max(0.0)
}

/// What a candidate shares with the new ticket: how many words, and their weight.
#[derive(Debug, Clone, Copy, Default)]
struct Shared {
    words: usize,
    weight: f64,
}

impl Shared {
    fn of(weights: impl Iterator<Item = f64>) -> Shared {
        weights.fold(Shared::default(), |shared, weight| Shared { words: shared.words + 1, weight: shared.weight + weight })
    }
}

/// The candidates, each with what it shares, that share enough of `known_weight` (the
/// query's words that occur anywhere) and enough words, among `all` documents; best
/// first, at most [`MOST_SUGGESTED`]; ties go to the later candidate (the newer ticket).
fn best<K: Copy + Ord>(candidates: impl Iterator<Item = (K, Shared)>, known_weight: f64, all: usize) -> Vec<K> {
    let least = (LEAST_WEIGHT_SHARE * known_weight).max(LEAST_WEIGHT_OF_A_UNIQUE_WORD * weight(0, all));
    let mut scored: Vec<(f64, K)> = candidates
        .filter(|(_, shared)| shared.words >= LEAST_SHARED_WORDS)
        .map(|(key, shared)| (shared.weight, key))
        .filter(|(score, _)| *score > 0.0 && *score >= least)
        .collect();
    scored.sort_by(|one, other| other.0.total_cmp(&one.0).then(other.1.cmp(&one.1)));
    scored.into_iter().take(MOST_SUGGESTED).map(|(_, key)| key).collect()
}

/// Resolved tickets that share the rarest of `query`'s words.
fn similar_tickets(conn: &Connection, query: &[String]) -> crate::store::Result<Vec<sql::Resolved>> {
    let all = sql::tickets_holding(conn, "")?;
    if all <= 0 || query.is_empty() {
        return Ok(Vec::new());
    }
    let mut known: Vec<(i64, &String)> = Vec::new();
    for word in query {
        let holding = sql::tickets_holding(conn, word)?;
        if holding > 0 {
            known.push((holding, word));
        }
    }
    known.sort();
    let known_weight: f64 = known.iter().map(|(holding, _)| weight(*holding as usize, all as usize)).sum();
    // Every (ticket, weight) found, grouped by ticket below: a sort of a few thousand
    // pairs costs a fraction of a map with an entry for each ticket.
    let mut hits: Vec<(i64, f64)> = Vec::with_capacity(RAREST_WORDS * TICKETS_PER_WORD);
    for (holding, word) in known.iter().take(RAREST_WORDS) {
        let word_weight = weight(*holding as usize, all as usize);
        sql::tickets_with(conn, word, TICKETS_PER_WORD, |ticket| hits.push((ticket, word_weight)))?;
    }
    // Stable: a ticket's weights are added in the order of its words, rarest first.
    hits.sort_by_key(|&(ticket, _)| ticket);
    let shared = hits.chunk_by(|one, other| one.0 == other.0).map(|run| (run[0].0, Shared::of(run.iter().map(|&(_, weight)| weight))));
    let mut found = Vec::new();
    for ticket in best(shared, known_weight, all as usize) {
        if let Some(mut resolved) = sql::resolved(conn, ticket)? {
            resolved.resolution = resolved.resolution.map(|text| shortened(&text, MOST_SUMMARY_CHARS));
            found.push(resolved);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_article_is_its_heading_and_first_paragraph() {
        let text = "\n# Clearing a paper jam\n\nOpen tray 2, pull the paper\nout slowly.\n\nThen close it.\n";
        let found = article("paper-jam.md".into(), text);
        assert_eq!(found.title, "Clearing a paper jam");
        assert_eq!(found.summary, "Open tray 2, pull the paper out slowly.");
        let untitled = article("vpn-setup.md".into(), "Install the client.\n");
        assert_eq!(untitled.title, "vpn setup");
        assert_eq!(untitled.summary, "Install the client.");
    }

    #[test]
    fn articles_match_by_shared_rare_words() {
        let articles = vec![
            article("jam.md".into(), "# Clearing a paper jam\n\nOpen the printer tray and remove the jammed paper.\n"),
            article("toner.md".into(), "# Replacing toner\n\nThe printer shows low toner: replace the cartridge.\n"),
            article("vpn.md".into(), "# VPN connection fails\n\nCheck the VPN client certificate.\n"),
        ];
        let knowledge = Knowledge { articles: OnceLock::from(Articles::of(articles)), ..Knowledge::default() };
        let conn = Connection::open_in_memory().unwrap();
        let suggested = |subject: &str, text: &str| -> Vec<String> {
            let found = knowledge.suggest(&conn, subject, text).unwrap();
            found.articles.iter().map(|&index| knowledge.article(index).unwrap().file.clone()).collect()
        };
        assert_eq!(suggested("Paper jam in the printer", "The paper is stuck in the tray."), ["jam.md"]);
        assert_eq!(suggested("VPN fails", "My VPN connection fails every morning"), ["vpn.md"]);
        assert!(suggested("Printer", "It prints nothing.").is_empty(), "one shared word is not enough");
    }

    #[test]
    fn a_folder_that_cannot_be_read_is_named() {
        let config = KnowledgeConfig { articles: Some("/nonexistent/kb".into()), tickets: true };
        let error = format!("{:#}", Knowledge::load(&config).unwrap_err());
        assert!(error.contains("knowledge.articles") && error.contains("/nonexistent/kb"), "{error}");
    }

    #[test]
    fn an_article_saved_badly_is_read_as_well_as_it_goes_and_an_unreadable_one_left_out() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("latin1.md"), b"# Caf\xe9 printer\n\nThe caf\xe9 printer jams: open tray 2.\n").unwrap();
        std::fs::write(folder.path().join("garbage.md"), [0xff, 0x00, 0xfe, 0x80, 0x0a]).unwrap();
        std::fs::create_dir(folder.path().join("folder.md")).unwrap();
        let knowledge = Knowledge::load(&KnowledgeConfig { articles: Some(folder.path().into()), tickets: false }).unwrap();
        let conn = Connection::open_in_memory().unwrap();
        let found = knowledge.suggest(&conn, "Printer jams", "The printer in the cafe jams at tray 2").unwrap();
        let titles: Vec<&str> = found.articles.iter().map(|&index| knowledge.article(index).unwrap().title.as_str()).collect();
        assert_eq!(titles, ["Caf\u{fffd} printer"]);
        assert_eq!(knowledge.articles().list.len(), 2, "the directory named like an article is left out");
    }
}
