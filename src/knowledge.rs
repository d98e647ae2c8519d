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
//! Articles are Markdown files in `knowledge.articles`, read once when the site is
//! compiled: the first `# ` heading is the title (else the file name), the first
//! paragraph after it the summary.

use std::collections::HashMap;

use anyhow::Context as _;
use rusqlite::Connection;

use crate::config::KnowledgeConfig;
use crate::store::knowledge::{self as sql, words};

/// Most suggestions of each kind a receipt shows.
const MOST_SUGGESTED: usize = 3;
/// The rarest words of the new ticket whose tickets are looked at.
const RAREST_WORDS: usize = 6;
/// Tickets looked at per word: the newest that hold it.
const TICKETS_PER_WORD: usize = 400;
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

/// The articles, read when the site is compiled, and whether tickets are suggested.
#[derive(Debug, Default)]
pub struct Knowledge {
    articles: Vec<Article>,
    /// In how many articles each word occurs.
    article_counts: HashMap<String, usize>,
    tickets: bool,
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
    /// Reads the articles of `config.articles`; an unreadable folder or file is an error
    /// that names it.
    pub fn load(config: &KnowledgeConfig) -> anyhow::Result<Knowledge> {
        let mut articles = Vec::new();
        if let Some(folder) = &config.articles {
            let entries = std::fs::read_dir(folder)
                .with_context(|| format!("knowledge.articles: cannot read the folder {} (a folder of Markdown files)", folder.display()))?;
            let mut paths: Vec<std::path::PathBuf> = Vec::new();
            for entry in entries {
                let path = entry.with_context(|| format!("knowledge.articles: cannot list {}", folder.display()))?.path();
                if path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("md")) {
                    paths.push(path);
                }
            }
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("knowledge.articles: cannot read {} as UTF-8 text", path.display()))?;
                let file = path.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_string();
                articles.push(article(file, &text));
            }
        }
        Ok(Knowledge::of(articles, config.tickets))
    }

    fn of(articles: Vec<Article>, tickets: bool) -> Knowledge {
        let mut article_counts: HashMap<String, usize> = HashMap::new();
        for article in &articles {
            for word in &article.words {
                *article_counts.entry(word.clone()).or_default() += 1;
            }
        }
        Knowledge { articles, article_counts, tickets }
    }

    pub fn article(&self, index: usize) -> Option<&Article> {
        self.articles.get(index)
    }

    /// Resolved tickets and articles like a new ticket's `subject` and `text`.
    pub fn suggest(&self, conn: &Connection, subject: &str, text: &str) -> rusqlite::Result<Suggestions> {
        let query = words(&format!("{subject}\n{text}"));
        let tickets = if self.tickets { similar_tickets(conn, &query)? } else { Vec::new() };
        let articles = best(
            self.articles.iter().enumerate().map(|(index, article)| {
                (index, query.iter().filter(|word| article.words.contains(word)).map(|word| weight(self.article_counts[word], self.articles.len())).collect())
            }),
            query.iter().filter_map(|word| self.article_counts.get(word)).map(|&count| weight(count, self.articles.len())).sum(),
            self.articles.len(),
        );
        Ok(Suggestions { tickets, articles })
    }
}

/// How much sharing a word that `holding` of `all` documents hold says (inverse
/// document frequency, never negative).
fn weight(holding: usize, all: usize) -> f64 {
    ((all as f64 + 1.0) / (holding as f64 + 0.5)).ln().max(0.0)
}

/// The candidates, each with the weights of the words it shares, that share enough of
/// `known_weight` (the query's words that occur anywhere) and enough in all, among `all`
/// documents; best first, at most [`MOST_SUGGESTED`]; ties go to the later candidate
/// (the newer ticket).
fn best<K: Copy + Ord>(candidates: impl Iterator<Item = (K, Vec<f64>)>, known_weight: f64, all: usize) -> Vec<K> {
    let least = (LEAST_WEIGHT_SHARE * known_weight).max(LEAST_WEIGHT_OF_A_UNIQUE_WORD * weight(0, all));
    let mut scored: Vec<(f64, K)> = candidates
        .filter(|(_, shared)| shared.len() >= LEAST_SHARED_WORDS)
        .map(|(key, shared)| (shared.iter().sum::<f64>(), key))
        .filter(|(score, _)| *score > 0.0 && *score >= least)
        .collect();
    scored.sort_by(|one, other| other.0.total_cmp(&one.0).then(other.1.cmp(&one.1)));
    scored.into_iter().take(MOST_SUGGESTED).map(|(_, key)| key).collect()
}

/// Resolved tickets that share the rarest of `query`'s words.
fn similar_tickets(conn: &Connection, query: &[String]) -> rusqlite::Result<Vec<sql::Resolved>> {
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
    let mut shared: HashMap<i64, Vec<f64>> = HashMap::new();
    for (holding, word) in known.iter().take(RAREST_WORDS) {
        let word_weight = weight(*holding as usize, all as usize);
        for ticket in sql::tickets_with(conn, word, TICKETS_PER_WORD)? {
            shared.entry(ticket).or_default().push(word_weight);
        }
    }
    let mut found = Vec::new();
    for ticket in best(shared.into_iter(), known_weight, all as usize) {
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
        let knowledge = Knowledge::of(articles, false);
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
}
