//! `cargo bench --bench reports`: reports and search over a store of 1,000,000 tickets.
//!
//! The store is built by direct SQL in one transaction (not through the mail pipeline,
//! which `benches/ingest.rs` measures), but through the real schema and its triggers, so
//! the report facts and the search index are what reqmail would have written: five
//! years of tickets (2022-01-01 to 2026-11-30, evenly spread), each created as `new`,
//! then opened, resolved and (all but the last two weeks') closed, one in ten held on
//! the way; each has an agent's note and a time entry. Subjects are 3–6 words drawn
//! from a 2,000-word vocabulary with a few common words; 6 queues, 3-level categories,
//! 300 hosts, 25 agents, 5,000 customers in 50 organisations. Fixed seeds.
//!
//! It prints the time to build the store, then (median of 5 runs, after one warm-up):
//! the weekly report (the week before "now", everything the weekly mail computes: the
//! report with its weekly series, the text and three PNG charts), the same filtered by a
//! queue, a year's report by month as an HTML page, searches (a common word, a rare
//! word, two words, a prefix, by sound), and the look-up of resolved tickets like a new
//! one that a receipt makes. Targets: weekly < 1 s, year < 5 s, search < 100 ms, the
//! look-up < 5 ms.
//!
//! Environment: REQMAIL_BENCH_TICKETS (1000000), REQMAIL_BENCH_DIR (parent of the work
//! dir, default `target/bench-tmp`), REQMAIL_BENCH_DB (a store file to keep: built there
//! when missing, used as it is when present, e.g. to look at query plans afterwards).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use reqmail::clock::format_time;
use reqmail::config::Config;
use reqmail::report::{self, chart, render, Filter, Grouping, Period, Request};
use reqmail::rules::Rules;
use reqmail::store::Store;

/// xorshift64*: deterministic and enough for spreading test data.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const COMMON: &[&str] = &["printer", "mail", "server", "password", "network", "disk", "login", "slow", "error", "license"];

fn vocabulary() -> Vec<String> {
    // Pronounceable made-up words: consonant-vowel syllables.
    let consonants = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"];
    let vowels = ["a", "e", "i", "o", "u"];
    let mut random = Random(7);
    let mut words: Vec<String> = COMMON.iter().map(|word| word.to_string()).collect();
    while words.len() < 2000 {
        let syllables = 2 + random.below(2);
        let word: String = (0..syllables)
            .map(|_| format!("{}{}", consonants[random.below(14) as usize], vowels[random.below(5) as usize]))
            .collect::<String>()
            + consonants[random.below(14) as usize];
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

fn build_store(store: &mut Store, tickets: u64) -> anyhow::Result<()> {
    let words = vocabulary();
    let queues = ["general", "hardware", "network", "mail", "accounts", "software"];
    let mut random = Random(42);
    let start = Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    let step = (end - start).num_seconds() as u64 / tickets;
    let recent = end - chrono::Duration::days(14);
    let tx = store.conn.transaction()?;
    {
        let now = format_time(start);
        let mut person = tx.prepare("INSERT INTO people (id, role, created, organisation) VALUES (?1, ?2, ?3, ?4)")?;
        let mut address = tx.prepare("INSERT INTO addresses (address, person, is_primary) VALUES (?1, ?2, 1)")?;
        for id in 1..=25i64 {
            person.execute(rusqlite::params![id, "agent", now, Option::<String>::None])?;
            address.execute(rusqlite::params![format!("agent{id}@example.com"), id])?;
        }
        for id in 26..=5025i64 {
            person.execute(rusqlite::params![id, "customer", now, format!("Org {}", id % 50)])?;
            address.execute(rusqlite::params![format!("customer{id}@example.org"), id])?;
        }
        let mut insert = tx.prepare(
            "INSERT INTO tickets (number, subject, status, queue, importance, priority, owner, requester, category, host,
                                  due, created, updated)
             VALUES (?1, ?2, 'new', ?3, 'medium', 'medium', ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        )?;
        let mut status = tx.prepare("UPDATE tickets SET status = ?2, updated = ?3 WHERE number = ?1")?;
        let mut history = tx.prepare("INSERT INTO history (ticket, at, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for number in 1..=tickets as i64 {
            let created = start + chrono::Duration::seconds((number as u64 * step) as i64);
            let subject: Vec<&str> = (0..3 + random.below(4))
                .map(|_| {
                    // One word in five is a common one.
                    if random.below(5) == 0 {
                        COMMON[random.below(COMMON.len() as u64) as usize]
                    } else {
                        words[random.below(words.len() as u64) as usize].as_str()
                    }
                })
                .collect();
            let queue = queues[random.below(6) as usize];
            let owner = 1 + random.below(25) as i64;
            let category = format!("Area {} / Part {} / Cause {}", random.below(5), random.below(4), random.below(3));
            let host = format!("host{}", random.below(300));
            let due = created + chrono::Duration::hours(24 + random.below(48) as i64);
            let agent = format!("agent{owner}@example.com");
            insert.execute(rusqlite::params![
                number,
                subject.join(" "),
                queue,
                owner,
                26 + random.below(5000) as i64,
                category,
                host,
                format_time(due),
                format_time(created)
            ])?;
            let answered = created + chrono::Duration::minutes(10 + random.below(600) as i64);
            status.execute(rusqlite::params![number, "open", format_time(answered)])?;
            history.execute(rusqlite::params![number, format_time(answered), agent, "comment", format!("Looking at {} now.", subject[0])])?;
            let mut at = answered;
            if random.below(10) == 0 {
                at += chrono::Duration::hours(2);
                status.execute(rusqlite::params![number, "hold", format_time(at)])?;
                at += chrono::Duration::hours(20);
                status.execute(rusqlite::params![number, "open", format_time(at)])?;
            }
            let resolved = at + chrono::Duration::minutes(30 + random.below(4000) as i64);
            if resolved >= end {
                continue;
            }
            history.execute(rusqlite::params![number, format_time(resolved), agent, "time", format!("time: 0m → 30m (+{}m)", 5 + random.below(120))])?;
            status.execute(rusqlite::params![number, "resolved", format_time(resolved)])?;
            if created < recent {
                status.execute(rusqlite::params![number, "closed", format_time(resolved + chrono::Duration::days(5))])?;
            }
        }
    }
    tx.commit()?;
    store.conn.execute_batch("ANALYZE; PRAGMA optimize;")?;
    Ok(())
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// One warm-up, then the median of five runs.
fn time<T>(name: &str, target: Duration, mut work: impl FnMut() -> T) -> T {
    let mut result = work();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        result = work();
        runs.push(started.elapsed());
    }
    let median = median(runs);
    let verdict = if median < target { "ok" } else { "OVER TARGET" };
    println!("{name:<44} {:>9.1} ms   (target < {} ms: {verdict})", median.as_secs_f64() * 1000.0, target.as_millis());
    result
}

fn main() -> anyhow::Result<()> {
    let tickets: u64 = std::env::var("REQMAIL_BENCH_TICKETS").ok().and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    let parent = std::env::var("REQMAIL_BENCH_DIR").unwrap_or_else(|_| "target/bench-tmp".into());
    std::fs::create_dir_all(&parent)?;
    let dir = tempfile::Builder::new().prefix("reports-").tempdir_in(&parent)?;
    let kept = std::env::var_os("REQMAIL_BENCH_DB").map(std::path::PathBuf::from);
    let path = kept.clone().unwrap_or_else(|| dir.path().join("reqmail.db"));
    let existing = path.exists();
    std::fs::write(dir.path().join("reqmail.toml"), format!("[store]\npath = \"{}\"\n", path.display()))?;
    let config = Config::load(Some(&dir.path().join("reqmail.toml")))?;
    let rules = Rules::compile(&config).map_err(|error| anyhow::anyhow!("{error}"))?;
    let mut store = Store::open(&config.store)?;

    if existing {
        println!("store: {} as it is", path.display());
    } else {
        let started = Instant::now();
        build_store(&mut store, tickets)?;
        store.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        let size = std::fs::metadata(&path)?.len();
        println!("store: {tickets} tickets built in {:.1} s, {} MB", started.elapsed().as_secs_f64(), size / 1_000_000);
    }

    // Other work on the machine inflates every figure.
    println!("load average: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    let conn = &store.conn;
    let week = Period::last_week(now);
    let weekly = Request { period: week, filter: Filter::default(), grouping: Grouping::Week, with_weekly: true };
    let report = time("weekly report (report, text, 3 PNG charts)", Duration::from_secs(1), || {
        let report = report::build(conn, &rules, &[], &weekly).unwrap();
        let text = render::text(&report);
        let pngs: usize = chart::Chart::ALL.iter().map(|chart| chart::png(&report, *chart).unwrap().len()).sum();
        (report, text.len() + pngs)
    });
    println!("    week {}: {} opened, {} resolved, backlog {}", &report.0.from[..10], report.0.total.opened, report.0.total.resolved, report.0.total.backlog);
    let queue = Request { filter: Filter { queue: Some("hardware".into()), ..Filter::default() }, ..weekly.clone() };
    time("weekly report, one queue (report only)", Duration::from_secs(1), || report::build(conn, &rules, &[], &queue).unwrap());
    let year = Request {
        period: Period::parse(Some("2025-12-01"), Some("2026-11-30"), now)?,
        filter: Filter::default(),
        grouping: Grouping::Month,
        with_weekly: true,
    };
    let year_report = time("year report by month (HTML with charts)", Duration::from_secs(5), || {
        let report = report::build(conn, &rules, &[], &year).unwrap();
        assert!(render::html(&report).unwrap().contains("<svg"));
        report
    });
    println!("    year: {} opened, {} resolved", year_report.total.opened, year_report.total.resolved);
    let owner = Request { filter: Filter { owner: Some("agent7@example.com".into()), ..Filter::default() }, grouping: Grouping::Total, ..year };
    time("year report, one owner (report only)", Duration::from_secs(5), || report::build(conn, &rules, &[], &owner).unwrap());

    let rare = vocabulary()[1234].clone();
    let searches: [(&str, &[&str], bool); 6] = [
        ("search: common word", &["printer"], false),
        ("search: rare word", &[rare.as_str()], false),
        ("search: two words", &["printer", "slow"], false),
        ("search: prefix", &["pass*"], false),
        ("search: sounds like", &["pasword"], true),
        ("search: sounds like, two words", &["prnter", "slo"], true),
    ];
    for (name, words, sounds_like) in searches {
        let words: Vec<String> = words.iter().map(|word| word.to_string()).collect();
        let found = time(name, Duration::from_millis(100), || reqmail::search::search(conn, &words, sounds_like, &Filter::default(), 20).unwrap());
        let order = if found.ranked { "best first" } else { "most recent first" };
        println!("    {} tickets, {order}, {} matching passages", found.hits.len(), found.matches.map_or("uncounted".to_string(), |n| n.to_string()));
    }

    // What a new ticket's receipt costs more: the look-up of resolved tickets like it.
    let knowledge = reqmail::knowledge::Knowledge::load(&config.knowledge)?;
    let words = vocabulary();
    let new_tickets = [
        ("suggestions: rare and common words", format!("{} printer {}", words[1234], words[77]), format!("The {} shows an error since the {} update.", words[1234], words[500])),
        ("suggestions: common words only", "printer slow".to_string(), "The mail server is slow and the printer shows an error.".to_string()),
        ("suggestions: words nobody used", "zzyzx quux".to_string(), "Frobnicated the wibble.".to_string()),
    ];
    for (name, subject, text) in &new_tickets {
        let found = time(name, Duration::from_millis(5), || knowledge.suggest(conn, subject, text).unwrap());
        println!("    {} resolved tickets suggested", found.tickets.len());
    }
    Ok(())
}
