//! `cargo bench --bench reports`: reports and search over a store of 1,000,000 tickets.
//!
//! The store is built by direct SQL in one transaction (not through the mail pipeline,
//! which `benches/ingest.rs` measures), but through the real schema, its triggers and what
//! `store::tickets` writes with a new ticket and a status change, so the report facts and
//! the search index are what reqmail would have written: five years of tickets (2022-01-01
//! to 2026-11-30, evenly spread), each created as `new`, then opened, resolved and (all but
//! the last two weeks') closed, one in ten held on the way; each has an agent's note and a
//! time entry. Subjects are 3–6 words drawn from a 2,000-word vocabulary with a few common
//! words; 6 queues, 3-level categories, 300 hosts, 25 agents, 5,000 customers in 50
//! organisations. Fixed seeds.
//!
//! It prints the time to build the store, then (median of 5 runs, after one warm-up):
//! the weekly report (the week before "now", everything the weekly mail computes: the
//! report with its weekly series, the text and three PNG charts), the same filtered by a
//! queue, a year's report by month as an HTML page, searches (a common word, a rare
//! word, two words, a prefix, by sound), and the look-up of resolved tickets like a new
//! one that a receipt makes. Targets: weekly < 1 s, year < 5 s, search < 100 ms, the
//! look-up < 5 ms.
//!
//! Then what must not grow with the store: a `tick` pass with nothing due (< 50 ms) and
//! one with 10,000 timed jobs due, of every kind the scheduler runs (< 1 s, delivery of
//! the letters included, the WAL copied into the file beside it as `serve` and `reqmail
//! tick` do); the queue listings of `ticket list`, each filter (and two
//! together) in each order, a page of 50 (< 50 ms); `ticket show` (< 5 ms); and `fetch` of generated mail into this
//! store and into one of 100,000 tickets (within 10 %). The scheduler passes and the
//! fetch run in 2030, after the five years the reports read.
//!
//! Environment: REQMAIL_BENCH_TICKETS (1000000), REQMAIL_BENCH_DIR (parent of the work
//! dir, default `target/bench-tmp`), REQMAIL_BENCH_DB (a store file to keep: built there
//! when missing, used as it is when present, e.g. to look at query plans afterwards),
//! REQMAIL_BENCH_FETCH (messages a fetch pass, 3000), REQMAIL_BENCH_FETCH_BASE (the small
//! store's tickets, 100000), REQMAIL_BENCH_SKIP_REPORTS (set: only what must not grow),
//! REQMAIL_BENCH_ONLY_TICK (set: only the scheduler pass with 10,000 jobs due, a warm-up
//! pass then the timed one, then exit: for a profiler, e.g. `valgrind --tool=callgrind
//! --toggle-collect='reqmail::scheduler::tick'` to count only the passes, not the arming;
//! with REQMAIL_BENCH_TICK_SQL also set, the pass's SQL statements by time spent),
//! REQMAIL_BENCH_INGEST (messages piped through `reqmail ingest` into each store, 200).
//!
//! Last, the cost of one message through the MTA's pipe: REQMAIL_BENCH_INGEST `reqmail
//! ingest` processes (no `serve` running, so each does the work itself) into the large
//! store and the small one in turn, whole-process median and p95 of each (target: the
//! large store's median within 20 % of the small one's). Before the fetch and the pipe,
//! both SQLite stores are read once into the page cache: the comparison is of the work a
//! message costs, not of which store the machine happened to keep cached.
//!
//! REQMAIL_BENCH_STORE=postgres runs the same on PostgreSQL: the SQLite stores are built
//! (or kept) as above, settled, then a private server is started (initdb, fsync on, as
//! `benches/gateways.rs`) and each store is copied into a database of its own by `store
//! copy`'s code (verified by counts and hashes), then `VACUUM (ANALYZE)`, as autovacuum
//! would have left a store that grew over years; every measurement then runs with
//! `[store] url`. It prints how long each copy took. REQMAIL_BENCH_PG_DIR (a folder to
//! keep the server's data in: made and filled when missing, its databases used as they
//! are when present, like REQMAIL_BENCH_DB) saves the copy on the next run; the bench
//! prints the psql command that reaches the server while it runs.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use reqmail::clock::format_time;
use reqmail::config::Config;
use reqmail::report::{self, chart, render, Filter, Grouping, Period, Request};
use reqmail::rules::Rules;
use reqmail::scheduler::TickReport;
use reqmail::site::Site;
use reqmail::store::checkpointer::Checkpointer;
use reqmail::store::tickets::{TicketFilter, TicketOrder};
use reqmail::store::Store;
use reqmail::ticket::{Status, TicketId};

#[path = "support/postgres.rs"]
mod support_postgres;
#[path = "support/files.rs"]
mod support_files;
use support_postgres::Postgres;

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

const QUEUES: [&str; 6] = ["general", "hardware", "network", "mail", "accounts", "software"];

/// Where a bench store lives: a SQLite file, or a database on the bench's PostgreSQL.
enum Backing<'a> {
    File(&'a std::path::Path),
    Url(String),
}

/// The store, letters into the work dir, and queues with every timed job the scheduler
/// pass exercises (hold timeout, nag mail; the survey after closing). A desk this size
/// sends more automatic mail an hour than the default cap. The hand-off socket is named
/// in the work dir: no `serve` listens there, so `ingest` does the work itself.
fn config_text(store: &Backing<'_>, work: &std::path::Path) -> String {
    let store = match store {
        Backing::File(path) => format!("path = {:?}", path.display().to_string()),
        Backing::Url(url) => format!("url = {url:?}"),
    };
    let mut text = format!(
        "[store]\n{store}\n\n[serve]\nsocket = {:?}\n\n[outbound]\nmaildir = {:?}\n\n[approval]\nsurvey = true\n\n[limits]\nauto_mail_global = 1000000\n",
        work.join("ingest.sock").display().to_string(),
        work.join("outbox").display().to_string()
    );
    for queue in QUEUES {
        text += &format!("\n[queues.{queue}]\nhold_timeout_days = 3\nnag_after_days = 7\n");
    }
    text
}

fn build_store(store: &mut Store, tickets: u64) -> anyhow::Result<()> {
    let words = vocabulary();
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
        // A status moves as reqmail moves it, with what follows (reports, suggestions).
        let mut updated = tx.prepare("UPDATE tickets SET updated = ?2 WHERE number = ?1")?;
        let mut move_to = |number: i64, status: &str, at: DateTime<Utc>| -> anyhow::Result<()> {
            updated.execute(rusqlite::params![number, format_time(at)])?;
            Ok(reqmail::store::tickets::set_text(&tx, reqmail::ticket::TicketId(number), reqmail::store::tickets::TextColumn::Status, Some(status))?)
        };
        let history = |number: i64, at: DateTime<Utc>, actor: &str, action: &str, detail: &str| {
            reqmail::store::tickets::add_history(&tx, reqmail::ticket::TicketId(number), at, actor, action, detail, None)
        };
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
            let queue = QUEUES[random.below(6) as usize];
            let owner = 1 + random.below(25) as i64;
            let category = format!("Area {} / Part {} / Cause {}", random.below(5), random.below(4), random.below(3));
            let host = format!("host{}", random.below(300));
            let due = created + chrono::Duration::hours(24 + random.below(48) as i64);
            let agent = format!("agent{owner}@example.com");
            let subject_text = subject.join(" ");
            insert.execute(rusqlite::params![
                number,
                subject_text,
                queue,
                owner,
                26 + random.below(5000) as i64,
                category,
                host,
                format_time(due),
                format_time(created)
            ])?;
            reqmail::store::tickets::created(&tx, reqmail::ticket::TicketId(number), &subject_text, &format_time(created))?;
            let answered = created + chrono::Duration::minutes(10 + random.below(600) as i64);
            move_to(number, "open", answered)?;
            history(number, answered, &agent, "comment", &format!("Looking at {} now.", subject[0]))?;
            let mut at = answered;
            if random.below(10) == 0 {
                at += chrono::Duration::hours(2);
                move_to(number, "hold", at)?;
                at += chrono::Duration::hours(20);
                move_to(number, "open", at)?;
            }
            let resolved = at + chrono::Duration::minutes(30 + random.below(4000) as i64);
            if resolved >= end {
                continue;
            }
            history(number, resolved, &agent, "time", &format!("time: 0m → 30m (+{}m)", 5 + random.below(120)))?;
            move_to(number, "resolved", resolved)?;
            if created < recent {
                move_to(number, "closed", resolved + chrono::Duration::days(5))?;
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
    time_prepared(name, target, &mut (), |_| Ok(()), |_| work()).expect("nothing to prepare")
}

/// As [`time`], with `prepare` run untimed before each run (the warm-up too): work that
/// changes the store, such as a scheduler pass, gets the same store each time.
fn time_prepared<S, T>(
    name: &str,
    target: Duration,
    state: &mut S,
    mut prepare: impl FnMut(&mut S) -> anyhow::Result<()>,
    mut work: impl FnMut(&mut S) -> T,
) -> anyhow::Result<T> {
    prepare(state)?;
    let mut result = work(state);
    let mut runs = Vec::new();
    for _ in 0..5 {
        prepare(state)?;
        let started = Instant::now();
        result = work(state);
        runs.push(started.elapsed());
    }
    let median = median(runs);
    let verdict = if median < target { "HIT" } else { "MISS" };
    println!("{name:<52} {:>9.2} ms   (target < {} ms: {verdict})", median.as_secs_f64() * 1000.0, target.as_millis());
    Ok(result)
}

fn main() -> anyhow::Result<()> {
    let tickets = env_number("REQMAIL_BENCH_TICKETS", 1_000_000);
    let on_postgres = match std::env::var("REQMAIL_BENCH_STORE").as_deref() {
        Err(_) | Ok("sqlite") => false,
        Ok("postgres" | "postgresql") => true,
        Ok(other) => anyhow::bail!("REQMAIL_BENCH_STORE={other}: say sqlite (the default) or postgres"),
    };
    let parent = std::env::var("REQMAIL_BENCH_DIR").unwrap_or_else(|_| "target/bench-tmp".into());
    std::fs::create_dir_all(&parent)?;
    let dir = tempfile::Builder::new().prefix("reports-").tempdir_in(&parent)?;
    // Absolute: the configuration written into the work dir reads a relative path from there.
    let kept = std::env::var_os("REQMAIL_BENCH_DB").map(std::path::absolute).transpose()?;
    let path = kept.clone().unwrap_or_else(|| dir.path().join("reqmail.db"));
    let existing = path.exists();
    let config_path = dir.path().join("reqmail.toml");
    std::fs::write(&config_path, config_text(&Backing::File(&path), dir.path()))?;
    let mut config = Config::load(Some(&config_path))?;
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

    // Declared after `dir`, so that the server stops before its folder goes.
    let server = if on_postgres {
        settle_scheduler(&mut store, &Site::compile(config.clone())?)?;
        let server = match std::env::var_os("REQMAIL_BENCH_PG_DIR") {
            Some(kept) => Postgres::start_in(&std::path::absolute(kept)?),
            None => Postgres::start(dir.path()),
        };
        println!("PostgreSQL {}: {}", server.version(), server.psql(LARGE_DATABASE));
        store = onto_postgres(store, &server, LARGE_DATABASE)?;
        std::fs::write(&config_path, config_text(&Backing::Url(server.url(LARGE_DATABASE)), dir.path()))?;
        config = Config::load(Some(&config_path))?;
        Some(server)
    } else {
        None
    };

    // Other work on the machine inflates every figure.
    println!("load average: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    let only_tick = std::env::var_os("REQMAIL_BENCH_ONLY_TICK").is_some();
    if std::env::var_os("REQMAIL_BENCH_SKIP_REPORTS").is_none() && !only_tick {
        time_reports(&store.conn, &config, &rules)?;
    }

    let site = Site::compile(config.clone())?;
    settle_scheduler(&mut store, &site)?;
    // The busy pass delivers its letters into the outbound Maildir's tmp/ first.
    let letters_folder = config.outbound.maildir.join("tmp");
    std::fs::create_dir_all(&letters_folder)?;
    let create_us = support_files::settle_file_creation(&letters_folder);
    println!("creating a file where letters are delivered: median {create_us:.0} us");
    // As in `serve` and `reqmail tick`, the WAL is copied into the file beside the pass.
    let checkpointer = Checkpointer::beside(&store, &config.store);
    // A minute before the busy pass: a kept store's tickets that a job armed for exactly
    // that moment (a survey after an auto-close) are not due yet, as when the clock runs.
    let mut bench = SchedulerBench { site: &site, store: &mut store, now: scheduler_now() - chrono::Duration::minutes(1) };
    if only_tick {
        bench.now = scheduler_now();
        // The timed passes below run in a process whose page cache holds the tickets.
        bench.arm()?;
        let warm_up = Instant::now();
        bench.tick();
        println!("tick: 10,000 jobs due, warm-up pass: {:.2} ms", warm_up.elapsed().as_secs_f64() * 1000.0);
        bench.arm()?;
        let profiled = std::env::var_os("REQMAIL_BENCH_TICK_SQL").is_some() && statements::start(&bench.store.conn);
        let (started, cpu_before) = (Instant::now(), thread_cpu());
        let due = bench.tick();
        println!(
            "tick: 10,000 jobs due, one pass: {:.2} ms, {:.2} ms of CPU on its thread; {} letters delivered",
            started.elapsed().as_secs_f64() * 1000.0,
            (thread_cpu() - cpu_before).as_secs_f64() * 1000.0,
            due.delivery.sent
        );
        if profiled {
            statements::print(&bench.store.conn, 25);
        }
        anyhow::ensure!(jobs_run(&due) == DUE_JOBS, "each armed ticket runs its one job: {due:?}");
        return Ok(());
    }
    let idle = time_prepared("tick: nothing due", Duration::from_millis(50), &mut bench, |_| Ok(()), |bench| bench.tick())?;
    assert_eq!(jobs_run(&idle), 0, "nothing is due in a settled store: {idle:?}");
    bench.now = scheduler_now();
    let due = time_prepared("tick: 10,000 jobs due", Duration::from_secs(1), &mut bench, SchedulerBench::arm, |bench| bench.tick())?;
    println!(
        "    {} escalations, {} reminders, {} auto-closed, {} hold timeouts, {} nags, {} surveys; {} letters delivered",
        due.escalations, due.reminders, due.auto_closed, due.hold_timeouts, due.nags, due.surveys, due.delivery.sent
    );
    assert_eq!(jobs_run(&due), DUE_JOBS, "each armed ticket runs its one job: {due:?}");

    if let Some(checkpointer) = checkpointer {
        checkpointer.finish(&store)?;
    }
    time_listings(&store.conn, tickets)?;
    time_show(&store.conn, &config_path, tickets)?;
    let small_config = compare_fetch(&site, &mut store, tickets, dir.path(), server.as_ref())?;
    drop(store);
    compare_ingest(&small_config, &config_path, tickets, dir.path())?;
    Ok(())
}

// --- The store on PostgreSQL -----------------------------------------------------------

/// The bench's databases on its PostgreSQL server: the large store's and the small one's.
const LARGE_DATABASE: &str = "large";
const SMALL_DATABASE: &str = "small";

/// The store in `database` on `server`: copied from the SQLite `store` (settled by
/// then) with `store copy`'s code, verified, then vacuumed and analyzed as a store that
/// grew over years would be; a database a kept server has already is used as it is.
fn onto_postgres(sqlite: Store, server: &Postgres, database: &str) -> anyhow::Result<Store> {
    let url = server.url(database);
    if server.has_database(database) {
        println!("postgres: database {database} as it is");
    } else {
        server.create_database(database);
        let started = Instant::now();
        let copied = copy_verified(&sqlite, &url);
        if copied.is_err() {
            // A kept server must not offer a half-made store next time.
            server.drop_database(database);
        }
        let rows = copied?;
        let copy_time = started.elapsed();
        let started = Instant::now();
        server.execute(database, "VACUUM (ANALYZE)");
        println!(
            "postgres: {rows} rows copied into {database} and verified in {:.1} s, VACUUM (ANALYZE) {:.1} s, {} MB",
            copy_time.as_secs_f64(),
            started.elapsed().as_secs_f64(),
            server.database_size(database) / 1_000_000
        );
    }
    drop(sqlite);
    Store::open(&reqmail::config::StoreConfig { url: Some(url), ..reqmail::config::StoreConfig::default() })
}

/// `store copy --to URL` of `sqlite`, in process: the rows copied, once both sides' counts
/// and hashes agree.
fn copy_verified(sqlite: &Store, url: &str) -> anyhow::Result<u64> {
    let url = reqmail::store::postgres::Url::parse(url)?;
    let report = reqmail::store::postgres::copy::to_postgres(sqlite.conn.sqlite("the bench's copy")?, &url, false, &mut |_| {})?;
    if let Some(different) = report.first_difference() {
        anyhow::bail!("the copy of {} differs: {:?} against {:?}", different.table, different.source, different.target);
    }
    Ok(report.tables.iter().map(|table| table.target.rows).sum())
}

// --- Fetch into a small and a large store ------------------------------------------------

/// The passes of `fetch` into each store, taken in turn so that a slow moment of the
/// machine falls on both alike.
const FETCH_PASSES: usize = 3;

/// `fetch` from the inbound Maildir into this store and into one of
/// REQMAIL_BENCH_FETCH_BASE tickets (100,000) built the same way, FETCH_PASSES times each
/// in turn, REQMAIL_BENCH_FETCH (3,000) generated messages a pass: messages per second of
/// each, and the ratio (target: the large store within 10 % of the small one). On
/// PostgreSQL the small store is copied there like the large one. Returns the small
/// store's configuration file.
fn compare_fetch(site: &Site, large: &mut Store, tickets: u64, work: &std::path::Path, server: Option<&Postgres>) -> anyhow::Result<std::path::PathBuf> {
    let base = env_number("REQMAIL_BENCH_FETCH_BASE", 100_000);
    let messages = env_number("REQMAIL_BENCH_FETCH", 3_000) as usize;
    let small_dir = work.join("small");
    std::fs::create_dir_all(&small_dir)?;
    let small_path = small_dir.join("reqmail.toml");
    let mut small = match server {
        Some(server) if server.has_database(SMALL_DATABASE) => {
            println!("fetch: database {SMALL_DATABASE} as it is beside this one");
            Store::open(&reqmail::config::StoreConfig { url: Some(server.url(SMALL_DATABASE)), ..reqmail::config::StoreConfig::default() })?
        }
        _ => {
            let file = small_dir.join("reqmail.db");
            std::fs::write(&small_path, config_text(&Backing::File(&file), &small_dir))?;
            let mut small = Store::open(&Config::load(Some(&small_path))?.store)?;
            let started = Instant::now();
            build_store(&mut small, base)?;
            settle_scheduler(&mut small, site)?;
            println!("fetch: a store of {base} tickets built in {:.1} s beside this one", started.elapsed().as_secs_f64());
            match server {
                Some(server) => onto_postgres(small, server, SMALL_DATABASE)?,
                None => small,
            }
        }
    };
    if let Some(server) = server {
        std::fs::write(&small_path, config_text(&Backing::Url(server.url(SMALL_DATABASE)), &small_dir))?;
    }
    warm_page_cache(&[&small_path, &work.join("reqmail.toml")])?;
    let inbox = work.join("inbox");
    let mut rates = [Vec::new(), Vec::new()];
    // Unique per run: the kept store has seen the earlier runs' messages.
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    for pass in 0..FETCH_PASSES {
        for (side, store) in [&mut small, &mut *large].into_iter().enumerate() {
            let mail = FetchMail::from_store(&store.conn, 11 + pass as u64)?;
            std::fs::create_dir_all(inbox.join("new"))?;
            for index in 0..messages {
                let name = format!("{run}.{pass}.{side}.{index}.bench");
                std::fs::write(inbox.join("new").join(name), mail.message(format!("{run}.{pass}.{side}.{index}"), index))?;
            }
            let started = Instant::now();
            let drained = reqmail::source::maildir::drain(site, store, &inbox, scheduler_now(), None)?;
            let elapsed = started.elapsed();
            anyhow::ensure!(drained.created + drained.updated == messages, "every generated message is applied: {drained:?}");
            rates[side].push(messages as f64 / elapsed.as_secs_f64());
        }
    }
    let [small_rates, large_rates] = rates.map(|runs| {
        let mut runs = runs;
        runs.sort_by(f64::total_cmp);
        runs[runs.len() / 2]
    });
    let drop = (1.0 - large_rates / small_rates) * 100.0;
    println!("fetch into {base} tickets: {small_rates:>8.0} messages/s (median of {FETCH_PASSES} passes of {messages})");
    println!("fetch into {tickets} tickets: {large_rates:>8.0} messages/s");
    println!("fetch: {drop:+.1} % slower in the large store (target <= 10 %: {})", if drop <= 10.0 { "HIT" } else { "MISS" });
    Ok(small_path)
}

// --- One message through the pipe, into a small and a large store ----------------------

/// `reqmail ingest` of REQMAIL_BENCH_INGEST (200) generated messages into each store, in
/// turn, each a process of its own with the message on stdin as the MTA runs it, after
/// five of each not counted: whole-process median and p95 of each store, and the ratio
/// of the medians (target: the large store within 20 % of the small one).
fn compare_ingest(small: &std::path::Path, large: &std::path::Path, tickets: u64, work: &std::path::Path) -> anyhow::Result<()> {
    const WARM_UP: usize = 5;
    let base = env_number("REQMAIL_BENCH_FETCH_BASE", 100_000);
    let messages = env_number("REQMAIL_BENCH_INGEST", 200) as usize;
    let configs = [small, large];
    let mails = configs
        .iter()
        .map(|config| {
            let store = Store::open(&Config::load(Some(config))?.store)?;
            FetchMail::from_store(&store.conn, 29)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    warm_page_cache(&configs)?;
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let mut latencies = [Vec::new(), Vec::new()];
    for index in 0..WARM_UP + messages {
        for (side, config) in configs.iter().enumerate() {
            let raw = mails[side].message(format!("{run}.ingest.{side}.{index}"), index);
            let started = Instant::now();
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_reqmail"))
                .arg("--config")
                .arg(config)
                .arg("ingest")
                .env("REQMAIL_NOW", format_time(scheduler_now()))
                .current_dir(work)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()?;
            std::io::Write::write_all(&mut child.stdin.take().expect("a piped stdin"), &raw)?;
            let output = child.wait_with_output()?;
            let elapsed = started.elapsed();
            anyhow::ensure!(output.status.success(), "reqmail ingest into {}: {}", config.display(), String::from_utf8_lossy(&output.stderr));
            if index >= WARM_UP {
                latencies[side].push(elapsed);
            }
        }
    }
    let [small_runs, large_runs] = latencies.map(|mut runs| {
        runs.sort();
        let quantile = |q: f64| runs[((runs.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
        (quantile(0.5), quantile(0.95))
    });
    let growth = (large_runs.0 / small_runs.0 - 1.0) * 100.0;
    println!("ingest into {base} tickets: median {:>7.2} ms, p95 {:>7.2} ms ({messages} processes, whole process)", small_runs.0, small_runs.1);
    println!("ingest into {tickets} tickets: median {:>7.2} ms, p95 {:>7.2} ms", large_runs.0, large_runs.1);
    println!("ingest: {growth:+.1} % per message in the large store (target <= 20 %: {})", if growth <= 20.0 { "HIT" } else { "MISS" });
    Ok(())
}

/// Reads the SQLite stores of `configs` (file and WAL) once, so that both sides start
/// with their store in the page cache, as a desk's server keeps it. Without this the
/// large store, built long before, is measured half from the disk: this machine gives
/// back page cache within minutes (2.1 of 2.1 GB cached became 1.9 in 45 s, idle), and
/// `ingest` into it took 59 ms instead of 11. On PostgreSQL the server's cache is its own.
fn warm_page_cache(configs: &[&std::path::Path]) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut bytes = 0u64;
    for config in configs {
        let store = Config::load(Some(config))?.store;
        if store.url.is_some() {
            continue;
        }
        let mut wal = store.path.clone().into_os_string();
        wal.push("-wal");
        for file in [store.path, wal.into()] {
            if let Ok(mut file) = std::fs::File::open(&file) {
                bytes += std::io::copy(&mut file, &mut std::io::sink())?;
            }
        }
    }
    if bytes > 0 {
        println!("page cache: {} MB of store read in {:.1} s", bytes / 1_000_000, started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|text| text.parse().ok()).unwrap_or(default)
}

/// Mail as a desk receives it: new requests from the store's customers (half), replies
/// by the requester to a recent ticket (three in ten), an agent's note (two in ten).
struct FetchMail {
    /// Recent tickets with their requester's address.
    recent: Vec<(i64, String)>,
    words: Vec<String>,
    seed: u64,
}

impl FetchMail {
    fn from_store(conn: &reqmail::store::Connection, seed: u64) -> anyhow::Result<FetchMail> {
        let recent = conn
            .prepare(
                "SELECT t.number, a.address FROM tickets t JOIN addresses a ON a.person = t.requester AND a.is_primary = 1
                 ORDER BY t.number DESC LIMIT 2000",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<reqmail::store::Result<_>>()?;
        Ok(FetchMail { recent, words: vocabulary(), seed })
    }

    fn message(&self, id: String, index: usize) -> Vec<u8> {
        let mut random = Random(self.seed.wrapping_mul(1_000_003) + index as u64 + 1);
        let mut text = |count: u64| (0..count).map(|_| self.words[random.below(self.words.len() as u64) as usize].as_str()).collect::<Vec<_>>().join(" ");
        let subject = text(4);
        let body = (0..12).map(|_| text(14)).collect::<Vec<_>>().join("\n");
        let (number, requester) = &self.recent[index * 7 % self.recent.len()];
        let (from, subject, fields) = match index % 10 {
            0..=4 => (format!("customer{}@example.org", 26 + index % 5000), subject, ""),
            5..=7 => (requester.clone(), format!("Re: [REQ #{number}] {subject}"), ""),
            _ => (format!("agent{}@example.com", 1 + index % 25), format!("Re: [REQ #{number}] {subject}"), "Status: open\n\n"),
        };
        format!(
            "From: {from}\nTo: help@example.com\nSubject: {subject}\nMessage-ID: <{id}@bench.example.org>\n\
             Date: Mon, 07 Jan 2030 09:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n\
             {fields}Hello,\n\n{body}\n\nRegards,\n{from}\n"
        )
        .into_bytes()
    }
}

/// The reports, searches and look-ups of resolved tickets, at the end of the five years.
fn time_reports(conn: &reqmail::store::Connection, config: &Config, rules: &Rules) -> anyhow::Result<()> {
    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    let week = Period::last_week(now);
    let weekly = Request { period: week, filter: Filter::default(), grouping: Grouping::Week, with_weekly: true };
    let report = time("weekly report (report, text, 3 PNG charts)", Duration::from_secs(1), || {
        let report = report::build(conn, rules, &[], &weekly).unwrap();
        let text = render::text(&report);
        let pngs: usize = chart::Chart::ALL.iter().map(|chart| chart::png(&report, *chart).unwrap().len()).sum();
        (report, text.len() + pngs)
    });
    println!("    week {}: {} opened, {} resolved, backlog {}", &report.0.from[..10], report.0.total.opened, report.0.total.resolved, report.0.total.backlog);
    let queue = Request { filter: Filter { queue: Some("hardware".into()), ..Filter::default() }, ..weekly.clone() };
    time("weekly report, one queue (report only)", Duration::from_secs(1), || report::build(conn, rules, &[], &queue).unwrap());
    let year = Request {
        period: Period::parse(Some("2025-12-01"), Some("2026-11-30"), now)?,
        filter: Filter::default(),
        grouping: Grouping::Month,
        with_weekly: true,
    };
    let year_report = time("year report by month (HTML with charts)", Duration::from_secs(5), || {
        let report = report::build(conn, rules, &[], &year).unwrap();
        assert!(render::html(&report).unwrap().contains("<svg"));
        report
    });
    println!("    year: {} opened, {} resolved", year_report.total.opened, year_report.total.resolved);
    let owner = Request { filter: Filter { owner: Some("agent7@example.com".into()), ..Filter::default() }, grouping: Grouping::Total, ..year };
    time("year report, one owner (report only)", Duration::from_secs(5), || report::build(conn, rules, &[], &owner).unwrap());

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

// --- The scheduler ---------------------------------------------------------------------

/// When the scheduler passes run: after the five years the reports read, so that what
/// they change (statuses, their report facts) stays out of the reports' periods when the
/// store is kept for another run.
fn scheduler_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, 9, 0, 0).unwrap()
}

/// Tickets with a job due in the busy pass.
const DUE_JOBS: usize = 10_000;

/// The kinds of timed job the busy pass runs, one per ticket, in turn.
const DUE_KINDS: [&str; 6] = ["escalation", "reminder", "auto-close", "hold-timeout", "nag", "survey"];

fn jobs_run(report: &TickReport) -> usize {
    report.escalations + report.reminders + report.auto_closed + report.hold_timeouts + report.nags + report.surveys
}

/// Brings a store built by SQL to where `tick` would have left it after five years: every
/// job of the past done (recorded in `scheduled_done`, two per ticket), the active tickets'
/// next look a month ahead, the others' never. Done once per store, as `tick` itself would
/// after a change of the scheduler's rules.
fn settle_scheduler(store: &mut Store, site: &Site) -> anyhow::Result<()> {
    let fingerprint = site.rules.scheduler_fingerprint();
    if reqmail::store::setting(&store.conn, "scheduler_rules")?.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    let started = Instant::now();
    let tx = store.conn.transaction()?;
    tx.execute(
        "UPDATE tickets SET scheduler_at = CASE WHEN status IN ('new', 'open', 'hold', 'resolved') THEN ?1 END",
        [format_time(scheduler_now() + chrono::Duration::days(30))],
    )?;
    tx.execute_batch(
        "INSERT OR IGNORE INTO scheduled_done (ticket, job, key, at) SELECT number, 'escalation', due, due FROM tickets WHERE due IS NOT NULL;
         INSERT OR IGNORE INTO scheduled_done (ticket, job, key, at) SELECT number, 'survey', 'once', updated FROM tickets WHERE status = 'closed';",
    )?;
    reqmail::store::set_setting(&tx, "scheduler_rules", &fingerprint)?;
    tx.commit()?;
    println!("scheduler: the store settled in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

struct SchedulerBench<'a> {
    site: &'a Site,
    store: &'a mut Store,
    now: DateTime<Utc>,
}

impl SchedulerBench<'_> {
    fn tick(&mut self) -> TickReport {
        reqmail::scheduler::tick(self.site, self.store, self.now).expect("tick")
    }

    /// Puts DUE_JOBS recent tickets (every tenth of the newest 100,000) into the state where one
    /// job of its kind is due at `now`, as if it had been waiting for this pass.
    fn arm(&mut self) -> anyhow::Result<()> {
        let at = |days: f64| format_time(self.now - chrono::Duration::minutes((days * 24.0 * 60.0) as i64));
        let tx = self.store.conn.transaction()?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS armed (number INTEGER PRIMARY KEY, kind TEXT NOT NULL);
             DELETE FROM armed;",
        )?;
        let newest: i64 = tx.query_row("SELECT MAX(number) FROM tickets", [], |row| row.get(0))?;
        anyhow::ensure!(newest >= DUE_JOBS as i64, "the scheduler pass needs a store of at least {DUE_JOBS} tickets");
        // A smaller store than the bench's million arms its tickets closer together.
        let stride = (newest / DUE_JOBS as i64).clamp(1, 10);
        {
            let mut arm = tx.prepare("INSERT INTO armed (number, kind) VALUES (?1, ?2)")?;
            for index in 0..DUE_JOBS {
                arm.execute(rusqlite::params![newest - stride * index as i64, DUE_KINDS[index % DUE_KINDS.len()]])?;
            }
        }
        tx.execute("DELETE FROM scheduled_done WHERE ticket IN (SELECT number FROM armed)", [])?;
        // The letters of an earlier pass at this same `now` would still be in the
        // rate-limit windows, fuller run after run (and a kept store's, store after
        // store): each pass starts with the windows a new store has at `now`, empty.
        let window = chrono::Duration::seconds(self.site.config.limits.auto_mail_window_seconds as i64);
        tx.execute("DELETE FROM auto_mail WHERE at > ?1", [format_time(self.now - window)])?;
        tx.execute("UPDATE settings SET value = (SELECT COUNT(*) FROM auto_mail) WHERE name = 'auto_mail_rows'", [])?;
        // status, created, updated, due, hold_started, resolved_at, closed_at for each kind.
        let states = [
            ("escalation", "open", at(10.0), at(0.1), Some(at(0.05)), None, None, None),
            ("reminder", "open", at(4.0), at(0.1), Some(at(-1.0)), None, None, None),
            ("auto-close", "resolved", at(10.0), at(6.0), Some(at(8.0)), None, Some(at(6.0)), None),
            ("hold-timeout", "hold", at(10.0), at(4.0), Some(at(-5.0)), Some(at(4.0)), None, None),
            ("nag", "open", at(9.0), at(8.0), Some(at(-10.0)), None, None, None),
            ("survey", "closed", at(10.0), at(0.1), Some(at(8.0)), None, Some(at(5.0)), Some(at(0.1))),
        ];
        let mut set = tx.prepare(
            "UPDATE tickets SET status = ?2, created = ?3, updated = ?4, due = ?5, hold_started = ?6, resolved_at = ?7,
                    closed_at = ?8, approval_stage = NULL, scheduler_at = ''
             WHERE number IN (SELECT number FROM armed WHERE kind = ?1)",
        )?;
        for (kind, status, created, updated, due, hold_started, resolved_at, closed_at) in states {
            set.execute(rusqlite::params![kind, status, created, updated, due, hold_started, resolved_at, closed_at])?;
        }
        drop(set);
        tx.commit()?;
        Ok(())
    }
}

/// CPU time of the calling thread: a pass's own work, without the checkpointer's thread
/// or the machine's other load.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// What each SQL statement of the pass cost, summed: SQLite's own timing of every
/// statement it runs (the triggers' work counted in the statement that fired them).
mod statements {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use rusqlite::trace::{TraceEvent, TraceEventCodes};

    static SPENT: Mutex<Option<HashMap<String, (u64, Duration)>>> = Mutex::new(None);

    fn spent(event: TraceEvent<'_>) {
        let TraceEvent::Profile(statement, took) = event else { return };
        let sql = statement.sql().split_whitespace().collect::<Vec<_>>().join(" ");
        let mut spent = SPENT.lock().unwrap();
        let entry = spent.get_or_insert_with(HashMap::new).entry(sql).or_default();
        entry.0 += 1;
        entry.1 += took;
    }

    /// Starts timing the statements of `conn`; false on PostgreSQL.
    pub fn start(conn: &reqmail::store::Connection) -> bool {
        let Some(conn) = conn.as_sqlite() else { return false };
        *SPENT.lock().unwrap() = Some(HashMap::new());
        conn.trace_v2(TraceEventCodes::SQLITE_TRACE_PROFILE, Some(spent));
        true
    }

    /// Stops timing and prints the `top` statements by the time they took in all.
    pub fn print(conn: &reqmail::store::Connection, top: usize) {
        if let Some(conn) = conn.as_sqlite() {
            conn.trace_v2(TraceEventCodes::empty(), None);
        }
        let spent = SPENT.lock().unwrap().take().unwrap_or_default();
        let mut rows: Vec<_> = spent.into_iter().collect();
        rows.sort_by_key(|(_, (_, took))| std::cmp::Reverse(*took));
        // SQLite's clock ticks in milliseconds: one run of a statement counts 0 or 1 ms,
        // and only sums over many runs mean something.
        println!("  SQL of the pass, by time in all (SQLite's clock: whole milliseconds, summed):");
        println!("  {:>9} {:>7} {:>8}  statement", "ms", "runs", "µs/run");
        for (sql, (runs, took)) in rows.into_iter().take(top) {
            let text: String = sql.chars().take(100).collect();
            println!("  {:>9.1} {runs:>7} {:>8.1}  {text}", took.as_secs_f64() * 1000.0, took.as_secs_f64() * 1e6 / runs as f64);
        }
    }
}

// --- Queue listings and one ticket -----------------------------------------------------

/// `ticket list`'s filters and orders, a page of 50 each (the whole queue by default).
fn time_listings(conn: &reqmail::store::Connection, tickets: u64) -> anyhow::Result<()> {
    let page = |filter: TicketFilter| TicketFilter { limit: Some(50), ..filter };
    let all = TicketFilter { active: false, ..TicketFilter::default() };
    let customer = format!("customer{}@example.org", 26 + tickets % 5000);
    let mut listings: Vec<(String, TicketFilter)> = vec![(
        "list: the queue (active, by time left, no limit)".into(),
        TicketFilter { active: true, order: TicketOrder::Due, ..TicketFilter::default() },
    )];
    for order in [TicketOrder::Number, TicketOrder::Due, TicketOrder::Priority, TicketOrder::Created, TicketOrder::Updated] {
        listings.push((format!("list --all --sort {order:?}"), page(TicketFilter { order, ..all.clone() })));
    }
    let filters = [
        ("--status open", TicketFilter { status: Some(Status::Open), ..all.clone() }),
        ("--status closed", TicketFilter { status: Some(Status::Closed), ..all.clone() }),
        ("--late", TicketFilter { late_at: Some(scheduler_now()), ..all.clone() }),
        ("--all --queue", TicketFilter { queue: Some("hardware".into()), ..all.clone() }),
        ("--all --requester", TicketFilter { requester: Some(customer.clone()), ..all.clone() }),
        ("--all --owner", TicketFilter { owner: Some("agent7@example.com".into()), ..all.clone() }),
        ("--all --host", TicketFilter { host: Some("host42".into()), ..all.clone() }),
        ("--all --category", TicketFilter { category: Some("Area 1 / Part 2".into()), ..all.clone() }),
        ("--queue (active)", TicketFilter { queue: Some("hardware".into()), active: true, ..TicketFilter::default() }),
        ("--owner (active)", TicketFilter { owner: Some("agent7@example.com".into()), active: true, ..TicketFilter::default() }),
        ("--status closed --queue", TicketFilter { status: Some(Status::Closed), queue: Some("hardware".into()), ..all.clone() }),
        ("--status closed --owner", TicketFilter { status: Some(Status::Closed), owner: Some("agent7@example.com".into()), ..all.clone() }),
    ];
    for (name, filter) in filters {
        for order in [TicketOrder::Number, TicketOrder::Due, TicketOrder::Priority, TicketOrder::Created, TicketOrder::Updated] {
            listings.push((format!("list {name} --sort {order:?}"), page(TicketFilter { order, ..filter.clone() })));
        }
    }
    for (name, filter) in listings {
        let listed = time(&name.to_lowercase(), Duration::from_millis(50), || reqmail::store::tickets::list(conn, &filter).unwrap());
        println!("    {} tickets", listed.len());
    }
    Ok(())
}

/// `ticket show` of a ticket the scheduler wrote to: in process (the reads and the text),
/// and as the whole command (start, configuration, store) that a person waits for.
fn time_show(conn: &reqmail::store::Connection, config_path: &std::path::Path, tickets: u64) -> anyhow::Result<()> {
    let number = TicketId(tickets as i64);
    let text = time("ticket show (in process)", Duration::from_millis(5), || {
        let ticket = reqmail::store::tickets::get(conn, number).unwrap().expect("the ticket exists");
        let history = reqmail::store::tickets::history(conn, number).unwrap();
        let links = reqmail::store::tickets::links(conn, number).unwrap();
        let host = ticket.host.as_deref().and_then(|host| reqmail::store::hosts::get(conn, host).unwrap());
        reqmail::ops::backup::ticket_text(&ticket, host.as_ref(), &history, &links, Some(scheduler_now()))
    });
    println!("    {} history entries", text.lines().filter(|line| line.starts_with("  [")).count());
    let output = time("reqmail ticket show (whole process)", Duration::from_millis(5), || {
        std::process::Command::new(env!("CARGO_BIN_EXE_reqmail"))
            .arg("--config")
            .arg(config_path)
            .args(["ticket", "show", &number.0.to_string()])
            .env("REQMAIL_NOW", format_time(scheduler_now()))
            .output()
            .expect("reqmail runs")
    });
    anyhow::ensure!(output.status.success(), "ticket show failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}
