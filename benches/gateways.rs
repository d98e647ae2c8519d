//! Several gateways on one PostgreSQL database, beside one gateway on SQLite:
//!
//! ```sh
//! cargo bench --bench gateways
//! ```
//!
//! Starts a private PostgreSQL server (Debian's package, as `scripts/test` installs it:
//! initdb into a temporary folder, durable commits as in production: fsync on) and, for
//! 1, 2 and 4 gateways on one database (each gateway its own folder, configuration,
//! intake and socket, all naming the same `[store] url`), measures
//!
//! 1. the pipe: `reqmail-ingest` handing each message to the gateways' `serve` in turn,
//!    whole-process latency (median, p95), then how long until every message is
//!    processed, and the rate of that;
//! 2. batches: each gateway's `reqmail fetch` draining its own share of a Maildir at the
//!    same time, messages per second of them all.
//!
//! and the same with one gateway on a SQLite file. Gateways that fetch at once wait for
//! each other's batches: the bench lets a writer wait two minutes for the write lock
//! (`busy_timeout_ms`, 10 s by default). Every message is then in the store
//! once and every ticket number once. Sizes: REQMAIL_BENCH_PIPE (300 messages),
//! REQMAIL_BENCH_BATCH (2000), REQMAIL_BENCH_GATEWAYS ("1,2,4").

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqmail::config::Config;
use reqmail::store::Store;

#[path = "support/postgres.rs"]
mod support_postgres;
use support_postgres::Postgres;

const BIN: &str = env!("CARGO_BIN_EXE_reqmail");
const HANDOFF_BIN: &str = env!("CARGO_BIN_EXE_reqmail-ingest");

fn main() {
    let pipe_count = env_size("REQMAIL_BENCH_PIPE", 300);
    let batch_count = env_size("REQMAIL_BENCH_BATCH", 2000);
    let gateway_counts: Vec<usize> = std::env::var("REQMAIL_BENCH_GATEWAYS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .filter_map(|count| count.trim().parse().ok())
        .collect();
    let work = tempfile::Builder::new().prefix("reqmail-bench-gateways-").tempdir().expect("a work folder");
    println!("reqmail gateways bench: {pipe_count} piped messages, {batch_count} in batches; load average {}", load_average());

    println!("\nSQLite, one gateway");
    let site = work.path().join("sqlite");
    let gateways = Gateways::new(&site, 1, None);
    report(&gateways, pipe_count, batch_count);

    let server = Postgres::start(work.path());
    for (index, &count) in gateway_counts.iter().enumerate() {
        let database = format!("bench{index}");
        server.create_database(&database);
        println!("\nPostgreSQL {}, {count} gateway{}", server.version(), if count == 1 { "" } else { "s" });
        let site = work.path().join(format!("postgres-{count}"));
        let gateways = Gateways::new(&site, count, Some(server.url(&database)));
        report(&gateways, pipe_count, batch_count);
    }
}

/// Runs both passes on `gateways` and prints their figures.
fn report(gateways: &Gateways, pipe_count: usize, batch_count: usize) {
    let tag = gateways.root.file_name().unwrap().to_string_lossy().into_owned();
    let pipe: Vec<Vec<u8>> = (0..pipe_count).map(|index| message(&format!("{tag}-pipe-{index}"))).collect();
    let batch: Vec<Vec<u8>> = (0..batch_count).map(|index| message(&format!("{tag}-batch-{index}"))).collect();

    let serves: Vec<Serve> = gateways.configs.iter().map(|config| Serve::start(config)).collect();
    let mut latencies = Vec::with_capacity(pipe.len());
    let started = Instant::now();
    for (index, raw) in pipe.iter().enumerate() {
        let config = &gateways.configs[index % gateways.configs.len()];
        let begin = Instant::now();
        let mut child = Command::new(HANDOFF_BIN)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start reqmail-ingest");
        child.stdin.take().unwrap().write_all(raw).unwrap();
        let output = child.wait_with_output().unwrap();
        latencies.push(begin.elapsed());
        assert!(output.status.success(), "reqmail-ingest: {}", String::from_utf8_lossy(&output.stderr));
    }
    let answered = started.elapsed();
    let done = wait_for(Duration::from_secs(600), || gateways.processed() >= pipe.len() as i64);
    assert!(done, "the gateways processed {} of {} piped messages", gateways.processed(), pipe.len());
    let processed = started.elapsed();
    for serve in serves {
        serve.stop();
    }
    latencies.sort();
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "  pipe:   median {:.2} ms, p95 {:.2} ms; all {} processed {:.0} ms after the last answer ({:.0} messages/s)",
        quantile(0.5),
        quantile(0.95),
        pipe.len(),
        (processed - answered).as_secs_f64() * 1000.0,
        pipe.len() as f64 / processed.as_secs_f64()
    );

    for (index, raw) in batch.iter().enumerate() {
        let inbox = gateways.inbox(index % gateways.configs.len());
        std::fs::write(inbox.join("new").join(format!("{index}.eml")), raw).unwrap();
    }
    let started = Instant::now();
    let fetches: Vec<Child> = gateways
        .configs
        .iter()
        .map(|config| Command::new(BIN).arg("--config").arg(config).arg("fetch").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    for fetch in fetches {
        let output = fetch.wait_with_output().unwrap();
        assert!(output.status.success(), "fetch: {}", String::from_utf8_lossy(&output.stderr));
    }
    let elapsed = started.elapsed();
    let total = (pipe.len() + batch.len()) as i64;
    assert_eq!(gateways.processed(), total, "every message is in the store once");
    let (tickets, distinct, lowest, highest) = gateways.ticket_numbers();
    assert_eq!(tickets, distinct, "no ticket number twice");
    assert_eq!(highest - lowest + 1, tickets, "ticket numbers without gaps");
    println!("  batch:  {:.0} messages/s ({} messages in {:.2} s)", batch.len() as f64 / elapsed.as_secs_f64(), batch.len(), elapsed.as_secs_f64());
}

/// A new request with a Message-ID of its own.
fn message(id: &str) -> Vec<u8> {
    format!(
        "From: Customer {id} <customer-{id}@example.org>\r\nTo: help@example.com\r\nSubject: The printer in room {id} jams\r\n\
         Message-ID: <{id}@example.org>\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\n\r\n\
         The printer jams on every second page since this morning.\r\nCan someone look at it?\r\n\r\nThanks\r\n"
    )
    .into_bytes()
}

/// The folders and configurations of the gateways of one site.
struct Gateways {
    root: PathBuf,
    configs: Vec<PathBuf>,
}

impl Gateways {
    fn new(root: &Path, count: usize, url: Option<String>) -> Gateways {
        let configs = (0..count)
            .map(|index| {
                let dir = root.join(format!("gateway{index}"));
                for sub in ["inbox/new", "inbox/cur", "inbox/tmp", "outbox"] {
                    std::fs::create_dir_all(dir.join(sub)).unwrap();
                }
                let store = match &url {
                    Some(url) => format!("url = {url:?}"),
                    None => format!("path = {:?}", dir.join("reqmail.db").display().to_string()),
                };
                let config = dir.join("reqmail.toml");
                std::fs::write(
                    &config,
                    format!(
                        "[store]\n{store}\nbusy_timeout_ms = 120000\n\n[inbound]\nmaildir = {:?}\n\n[outbound]\ntransport = \"maildir\"\nmaildir = {:?}\n\n[limits]\nauto_mail_global = 1000000\n",
                        dir.join("inbox").display().to_string(),
                        dir.join("outbox").display().to_string()
                    ),
                )
                .unwrap();
                config
            })
            .collect();
        Gateways { root: root.to_path_buf(), configs }
    }

    fn inbox(&self, gateway: usize) -> PathBuf {
        self.configs[gateway].parent().unwrap().join("inbox")
    }

    fn store(&self) -> Store {
        Store::open(&Config::from_file(&self.configs[0]).expect("the bench configuration").store).expect("open the store")
    }

    fn processed(&self) -> i64 {
        self.store()
            .conn
            .query_row("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state != 'spooled'", [], |row| row.get(0))
            .expect("count processed messages")
    }

    /// (tickets, distinct numbers, lowest, highest).
    fn ticket_numbers(&self) -> (i64, i64, i64, i64) {
        self.store()
            .conn
            .query_row("SELECT COUNT(*), COUNT(DISTINCT number), MIN(number), MAX(number) FROM tickets", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .expect("read the ticket numbers")
    }
}

struct Serve {
    child: Child,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        let log = config.with_file_name("serve.log");
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let socket = Config::from_file(config).unwrap().ingest_socket().expect("serve's socket");
        let listening = wait_for(Duration::from_secs(60), || socket.exists());
        assert!(listening, "serve listens on {}; its log:\n{}", socket.display(), std::fs::read_to_string(&log).unwrap_or_default());
        Serve { child }
    }

    fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
