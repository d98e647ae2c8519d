//! Reports, lists and searches by mail. An agent writes to the request address
//! (`reports.request_address`, by default `help+report@…`), or to the help address with
//! a subject `Report: …`, `List: …` or `Search: …`, and gets the answer by mail: text
//! tables, a report's charts attached as PNG. One letter answers all the lines of one
//! message.
//!
//! Only an authentic agent or admin is answered (the reply token or the trusted
//! server's DMARC/DKIM/SPF results, never a bare From). Anyone else who writes to the
//! request address gets one short refusal a day; a subject command from anyone else is
//! an ordinary request and becomes a ticket. No request by mail opens a ticket: the
//! message ends `ignored` with what was asked, and its record names the answer.
//!
//! The words: clauses separated by commas. `my` (owner is the sender), `open`, `late`,
//! a status (`new`, `hold`, `resolved`, `closed` …), `all`; `queue NAME`, `category
//! PATH`, `owner ADDRESS`, `host NAME`, `organisation NAME`; periods `today`,
//! `yesterday`, `this week`, `last week`, `this month`, `last month`, `this year`,
//! `last year`, `last N days`, `since DATE`, `DATE to DATE`; `by week|month|queue|
//! category|owner|host`; for a search, `sounds like WORDS`. Words it does not know are
//! named in the answer, never guessed.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use crate::store::Connection;

use crate::apply;
use crate::decision::LetterRecord;
use crate::notify::letters::SenderNotice;
use crate::identify::sender::Sender;
use crate::parse::Mail;
use crate::report::chart::{self, Chart};
use crate::report::letter::{self, ChartFile, Content};
use crate::report::{build, render, Filter, Grouping, Period, Request};
use crate::site::Site;
use crate::store::{self, tickets::TicketFilter, tickets::TicketOrder};
use crate::ticket::{Role, SpoolId, Status};

/// Most tickets a list or a search by mail shows.
const MOST_LISTED: usize = 50;

/// What one line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Report,
    List,
    Search,
}

impl Ask {
    fn name(self) -> &'static str {
        match self {
            Ask::Report => "Report",
            Ask::List => "List",
            Ask::Search => "Search",
        }
    }

    fn from_name(name: &str) -> Option<Ask> {
        match name.trim().to_lowercase().as_str() {
            "report" => Some(Ask::Report),
            "list" => Some(Ask::List),
            "search" => Some(Ask::Search),
            _ => None,
        }
    }
}

/// A message that asks for reports, lists or searches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// Sent to the request address (anyone may try; only agents are answered), rather
    /// than a subject command to the help address (only agents' count as one).
    pub to_request_address: bool,
    /// Each line: what and the words after the colon.
    pub questions: Vec<(Ask, String)>,
}

/// `Report: …` as (Report, "…").
fn question(line: &str) -> Option<(Ask, String)> {
    let (name, words) = line.trim().split_once(':')?;
    Some((Ask::from_name(name)?, words.trim().to_string()))
}

/// Whether `mail` asks for reports, lists or searches, and what.
pub fn asked(site: &Site, mail: &Mail) -> Option<Asked> {
    let request_address = site.config.request_address();
    let to_request_address = mail.recipients.contains(&request_address);
    let from_subject = question(&mail.subject);
    if !to_request_address && from_subject.is_none() {
        return None;
    }
    // Only the sender's own words: a quoted earlier answer holds lines like these too.
    let own_words = crate::interpret::body::visible_note(&mail.text);
    let questions = from_subject.into_iter().chain(own_words.lines().filter_map(question)).collect();
    Some(Asked { to_request_address, questions })
}

/// Whether `sender` is answered: an agent or admin whose address is proven.
pub fn may_ask(sender: &Sender) -> bool {
    sender.trust.is_authentic() && matches!(sender.role, Role::Agent | Role::Admin)
}

/// What a request by mail led to, for the message's record.
pub struct Answered {
    /// Why the message made no ticket, with what was asked.
    pub reason: String,
    pub letters: Vec<LetterRecord>,
}

/// Answers `asked` for `sender` (who [`may_ask`]) in the caller's transaction: one
/// letter with every answer, within the rate limits of automatic mail.
pub fn answer(conn: &Connection, site: &Site, mail: &Mail, sender: &Sender, asked: &Asked, cause: SpoolId, now: DateTime<Utc>) -> anyhow::Result<Answered> {
    let asked_text: Vec<String> = asked.questions.iter().map(|(ask, words)| format!("{}: {words}", ask.name())).collect();
    let what = if asked_text.is_empty() { "nothing (sent the list of requests)".to_string() } else { asked_text.join("; ") };
    let mut reason = format!("a request by mail from agent {} ({what}), answered by mail", sender.address);
    if let Err(why) = store::ratelimit::admit(conn, &site.config.limits, &sender.address, None, now)? {
        reason = format!("a request by mail from agent {} ({what}), not answered: {why}", sender.address);
        return Ok(Answered { reason, letters: Vec::new() });
    }
    let mut text = String::new();
    let mut charts = Vec::new();
    if asked.questions.is_empty() {
        text.push_str(HELP);
    }
    let n_reports = asked.questions.iter().filter(|(ask, _)| *ask == Ask::Report).count();
    for (ask, words) in &asked.questions {
        let _ = writeln!(text, "{}: {words}\n", ask.name());
        let terms = Terms::read(site, sender, words, *ask, now);
        for note in &terms.notes {
            let _ = writeln!(text, "  ({note})");
        }
        if !terms.notes.is_empty() {
            text.push('\n');
        }
        match ask {
            Ask::Report => {
                let request = Request { period: terms.period.unwrap_or(Period::parse(None, None, now)?), filter: terms.filter.clone(), grouping: terms.grouping, with_weekly: true };
                let report = build(conn, &site.rules, &site.config.categories, &request)?;
                text.push_str(&render::text(&report));
                let prefix = if n_reports > 1 { format!("report-{}-", charts.len() / 3 + 1) } else { String::new() };
                for chart in [Chart::Trend, Chart::Categories, Chart::Sla] {
                    charts.push(ChartFile { name: format!("{prefix}{}", chart.name()), caption: chart.caption(), png: chart::png(&report, chart)? });
                }
            }
            Ask::List => text.push_str(&list(conn, &terms, now)?),
            Ask::Search => text.push_str(&search(conn, &terms)?),
        }
        text.push('\n');
    }
    let subject = match asked.questions.as_slice() {
        [(ask, words)] => format!("{}: {words}", ask.name()),
        [] => "What you can ask for by mail".to_string(),
        _ => format!("Your {} requests", asked.questions.len()),
    };
    // A reply to the answer is the next request, not a ticket.
    let request_address = site.config.request_address();
    let content = Content {
        recipient: &sender.address,
        reply_to: Some(&request_address),
        subject: &subject,
        text: &text,
        charts: &charts,
        in_reply_to: mail.message_id.as_deref(),
        auto_submitted: "auto-replied",
        kind: "answer",
    };
    let composed = letter::compose(&site.config, &content, now)?;
    composed.enqueue(conn, &site.config, now)?;
    tracing::info!(spool = cause.0, agent = sender.address, asked = what, "request by mail answered");
    let record = LetterRecord { template: "request-answer".into(), to: sender.address.clone(), role: sender.role.to_string() };
    Ok(Answered { reason, letters: vec![record] })
}

/// Refuses a request to the request address from someone who may not ask: one polite
/// notice a day per address, none to machines (the caller checks that).
pub fn refuse(conn: &Connection, site: &Site, sender: &Sender, cause: SpoolId, now: DateTime<Utc>) -> anyhow::Result<Answered> {
    let why = if sender.trust.is_authentic() {
        "reports, lists and searches by mail are for the help desk's agents".to_string()
    } else {
        "the message could not be verified as coming from your address".to_string()
    };
    let once = format!("request-refused:{}", now.date_naive());
    let notice = SenderNotice { recipient: &sender.address, template: "request_refused", once_key: &once, reason: &why, cause };
    let letters = apply::notice_without_ticket(conn, site, &notice, now)?.into_iter().collect();
    let trust = match &sender.trust {
        crate::identify::sender::Trust::Authentic { .. } => "authentic",
        crate::identify::sender::Trust::Unverified { .. } => "unverified",
    };
    Ok(Answered { reason: format!("a request by mail from {} ({trust} {}), refused: {why}", sender.address, sender.role), letters })
}

/// The list of what one can ask, for a message to the request address without a line.
const HELP: &str = "Write one request per line at the top of your message:

  Report: last month, queue hardware, by week
  List: my open tickets
  List: queue hardware, late
  Search: printer jam
  Search: sounds like prnter

Words: my, open, late, all, a status (new, open, hold, resolved, closed);
queue NAME, category PATH, owner ADDRESS, host NAME, organisation NAME;
today, yesterday, this week, last week, this month, last month, this year,
last year, last N days, since 2026-01-01, 2026-01-01 to 2026-03-31;
by week, month, queue, category, owner or host (reports).
";

/// The words of one line, understood.
#[derive(Debug, Default)]
struct Terms {
    filter: Filter,
    status: Option<Status>,
    /// Any status rather than only tickets that still take work (lists).
    all: bool,
    late: bool,
    period: Option<Period>,
    grouping: Grouping,
    /// For a search: the words to find, and whether by sound.
    words: Vec<String>,
    sounds_like: bool,
    /// What was not understood or does not apply, to tell the agent.
    notes: Vec<String>,
}

/// Words that carry no meaning in a request ("show me all the tickets of …").
const FILLER: &[&str] = &["tickets", "ticket", "the", "of", "in", "for", "show", "me", "please", "and", "with", "are", "that"];

impl Terms {
    fn read(site: &Site, sender: &Sender, line: &str, ask: Ask, now: DateTime<Utc>) -> Terms {
        let mut terms = Terms::default();
        let mut line = line.trim();
        if ask == Ask::Search {
            // A search is its words; "sounds like" asks for the subject words by sound.
            if let Some(rest) = line.get(..12).filter(|start| start.eq_ignore_ascii_case("sounds like ")).and(line.get(12..)) {
                terms.sounds_like = true;
                line = rest;
            }
            terms.words = line.split_whitespace().map(str::to_string).collect();
            return terms;
        }
        for clause in line.split([',', ';']).map(str::trim).filter(|clause| !clause.is_empty()) {
            terms.read_clause(site, sender, clause, now);
        }
        if ask == Ask::Report && (terms.status.is_some() || terms.late || terms.all) {
            terms.notes.push("a report counts tickets of every status; status, late and all apply to lists".into());
        }
        if ask == Ask::List {
            if terms.period.is_some() {
                terms.notes.push("a list shows tickets as they are now; a period applies to reports".into());
            }
            if terms.grouping != Grouping::Total {
                terms.notes.push("\"by\" applies to reports".into());
            }
            if terms.filter.organisation.is_some() {
                terms.notes.push("organisation applies to reports; the list is not narrowed by it".into());
            }
        }
        terms
    }

    fn read_clause(&mut self, site: &Site, sender: &Sender, clause: &str, now: DateTime<Utc>) {
        if let Some(period) = period(clause, now) {
            match period {
                Ok(period) => self.period = Some(period),
                Err(problem) => self.notes.push(problem),
            }
            return;
        }
        let words: Vec<&str> = clause.split_whitespace().collect();
        for (index, word) in words.iter().enumerate() {
            let lower = word.to_lowercase();
            let rest = words[index + 1..].join(" ");
            match lower.as_str() {
                "queue" | "category" | "owner" | "host" | "organisation" | "organization" | "by" => {
                    self.named(site, sender, &lower, &rest);
                    return;
                }
                "my" | "mine" => self.filter.owner = Some(sender.address.clone()),
                "open" | "active" => self.all = false,
                "late" | "overdue" => self.late = true,
                "all" | "any" => self.all = true,
                _ if FILLER.contains(&lower.as_str()) => {}
                _ => match lower.parse::<Status>() {
                    Ok(status) => self.status = Some(status),
                    Err(_) => self.notes.push(format!("{word:?} not understood; ignored")),
                },
            }
        }
    }

    /// `NAME VALUE`: a filter or the grouping.
    fn named(&mut self, site: &Site, sender: &Sender, name: &str, value: &str) {
        if value.is_empty() {
            self.notes.push(format!("{name} without a value; ignored"));
            return;
        }
        match name {
            "queue" => match site.rules.queue(value) {
                Some(queue) => self.filter.queue = Some(queue.name.clone()),
                None => self.notes.push(format!("there is no queue {value:?}; the queues are {}", site.rules.queue_names().join(", "))),
            },
            "category" => match site.rules.category(value) {
                Some(path) => self.filter.category = Some(path),
                None => self.notes.push(format!("there is no category {value:?}; the categories are {}", site.rules.category_names().join(", "))),
            },
            "owner" if value.eq_ignore_ascii_case("me") => self.filter.owner = Some(sender.address.clone()),
            "owner" => self.filter.owner = Some(value.to_lowercase()),
            "host" => self.filter.host = Some(value.to_string()),
            "by" => match <Grouping as clap::ValueEnum>::from_str(value, true) {
                Ok(grouping) => self.grouping = grouping,
                Err(_) => self.notes.push(format!("by {value:?} not understood; by week, month, queue, category, owner or host")),
            },
            _ => self.filter.organisation = Some(value.to_string()),
        }
    }
}

/// A period named in words; `None` when `clause` names none, `Err` when it names one badly.
fn period(clause: &str, now: DateTime<Utc>) -> Option<Result<Period, String>> {
    let clause = clause.trim().to_lowercase();
    let today = now.date_naive();
    let days = |first: NaiveDate, last: NaiveDate| Period::parse(Some(&first.to_string()), Some(&last.to_string()), now).map_err(|error| format!("{error:#}"));
    let month_start = |date: NaiveDate| date.with_day(1).unwrap_or(date);
    let year_start = |date: NaiveDate| date.with_ordinal(1).unwrap_or(date);
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let words: Vec<&str> = clause.split_whitespace().collect();
    Some(match words.as_slice() {
        ["today"] => days(today, today),
        ["yesterday"] => days(today - Duration::days(1), today - Duration::days(1)),
        ["this", "week"] => days(monday, today),
        ["last", "week"] => Ok(Period::last_week(now)),
        ["this", "month"] => days(month_start(today), today),
        ["last", "month"] => {
            let last_day = month_start(today) - Duration::days(1);
            days(month_start(last_day), last_day)
        }
        ["this", "year"] => days(year_start(today), today),
        ["last", "year"] => {
            let last_day = year_start(today) - Duration::days(1);
            days(year_start(last_day), last_day)
        }
        ["last", count, unit] if matches!(*unit, "days" | "weeks") => match count.parse::<i64>() {
            Ok(count) if (1..=3660).contains(&count) => {
                let length = if *unit == "weeks" { count * 7 } else { count };
                days(today - Duration::days(length - 1), today)
            }
            _ => Err(format!("\"{clause}\": the number must be from 1 to 3660")),
        },
        ["since", date] => Period::parse(Some(date), None, now).map_err(|error| format!("{error:#}")),
        [first, "to", last] | ["from", first, "to", last] => Period::parse(Some(first), Some(last), now).map_err(|error| format!("{error:#}")),
        _ => return None,
    })
}

/// The tickets of `terms` as an aligned table, the most urgent deadline first.
fn list(conn: &Connection, terms: &Terms, now: DateTime<Utc>) -> anyhow::Result<String> {
    let filter = TicketFilter {
        status: terms.status,
        active: !terms.all,
        queue: terms.filter.queue.clone(),
        owner: terms.filter.owner.clone(),
        host: terms.filter.host.clone(),
        category: terms.filter.category.clone(),
        late_at: terms.late.then_some(now),
        order: TicketOrder::Due,
        limit: Some(MOST_LISTED as i64 + 1),
        ..TicketFilter::default()
    };
    let tickets = store::tickets::list(conn, &filter)?;
    if tickets.is_empty() {
        return Ok("No tickets.\n".into());
    }
    let mut table = vec![["#", "status", "priority", "due", "queue", "owner", "subject"].map(String::from).to_vec()];
    for ticket in tickets.iter().take(MOST_LISTED) {
        table.push(vec![
            ticket.number.to_string(),
            ticket.status.to_string(),
            ticket.priority.to_string(),
            ticket.due.map_or("-".into(), |due| due.format("%Y-%m-%d %H:%M").to_string()),
            ticket.queue.clone(),
            ticket.owner.clone().unwrap_or_else(|| "-".into()),
            ticket.subject.clone(),
        ]);
    }
    let mut text = render::left_aligned(&table);
    if tickets.len() > MOST_LISTED {
        let _ = writeln!(text, "(the first {MOST_LISTED}; narrow the request for the rest)");
    }
    Ok(text)
}

/// The tickets matching the search words, with the matching passage.
fn search(conn: &Connection, terms: &Terms) -> anyhow::Result<String> {
    let found = match crate::search::search(conn, &terms.words, terms.sounds_like, &terms.filter, MOST_LISTED) {
        Ok(found) => found,
        Err(error) if error.downcast_ref::<rusqlite::Error>().is_none() => return Ok(format!("{error:#}\n")),
        Err(error) => return Err(error),
    };
    if found.hits.is_empty() {
        return Ok("No tickets match.\n".into());
    }
    let mut text = String::new();
    for hit in &found.hits {
        let _ = writeln!(text, "#{}  {}  {}  {}", hit.ticket, hit.status, hit.queue, hit.subject);
        let _ = writeln!(text, "    {}: {}", hit.found_in, hit.snippet.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        crate::clock::parse_time(text).unwrap()
    }

    fn days(clause: &str) -> Option<(String, String)> {
        let period = period(clause, at("2026-12-02T10:00:00Z"))?.ok()?;
        Some((crate::clock::format_time(period.from), crate::clock::format_time(period.to)))
    }

    #[test]
    fn periods_in_words() {
        let cases = [
            ("today", "2026-12-02", "2026-12-03"),
            ("yesterday", "2026-12-01", "2026-12-02"),
            ("This week", "2026-11-30", "2026-12-03"),
            ("last week", "2026-11-23", "2026-11-30"),
            ("last month", "2026-11-01", "2026-12-01"),
            ("this month", "2026-12-01", "2026-12-03"),
            ("last year", "2025-01-01", "2026-01-01"),
            ("last 7 days", "2026-11-26", "2026-12-03"),
            ("last 2 weeks", "2026-11-19", "2026-12-03"),
            ("since 2026-10-01", "2026-10-01", "2026-12-03"),
            ("2026-01-01 to 2026-01-31", "2026-01-01", "2026-02-01"),
        ];
        for (clause, from, to) in cases {
            assert_eq!(days(clause), Some((format!("{from}T00:00:00Z"), format!("{to}T00:00:00Z"))), "{clause}");
        }
        assert!(period("queue hardware", at("2026-12-02T10:00:00Z")).is_none());
        assert!(period("since yesterday-ish", at("2026-12-02T10:00:00Z")).unwrap().is_err());
        assert!(period("last 0 days", at("2026-12-02T10:00:00Z")).unwrap().is_err());
        for hostile in ["last 99999999999999999999999 days", "last -5 weeks", "since 99999-12-01", "since 2026-02-30", "from \u{0} to \u{fffd}", "2026-12-31 to 2026-01-01"] {
            assert!(period(hostile, at("2026-12-02T10:00:00Z")).unwrap().is_err(), "{hostile:?} is refused with a reason");
        }
    }

    #[test]
    fn request_lines_are_read_from_the_top_of_the_line() {
        assert_eq!(question("Report: queue hardware, last month"), Some((Ask::Report, "queue hardware, last month".into())));
        assert_eq!(question("  list:my open tickets"), Some((Ask::List, "my open tickets".into())));
        assert_eq!(question("SEARCH: printer jam"), Some((Ask::Search, "printer jam".into())));
        assert_eq!(question("Re: Report: x"), None);
        assert_eq!(question("Reports are late"), None);
    }
}
