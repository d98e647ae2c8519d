//! `cargo bench --bench ingest`: the whole-process cost of reqmail's two ways in.
//!
//! 1. Pipe: the release binary `reqmail --config FILE ingest`, spawned once per message
//!    with the message on stdin, for 500 distinct messages into a database that already
//!    holds 100,000 tickets. Wall time from spawn to exit; every exit status must be 0.
//!    Then 500 more through `reqmail-ingest` (below), the MTA's way in: with no serve
//!    running it takes each message into the intake and starts a drain process (`reqmail
//!    ingest --drain`) unless one runs, which processes them after the answer. Then 500
//!    more while `reqmail serve` runs on the same configuration, so that each
//!    `ingest` hands its message over the socket (serve's CPU is printed besides), and
//!    500 more through `reqmail-ingest`, the small hand-off executable an MTA pipes into,
//!    as the `.deb` ships it: relinked statically at a fixed address by
//!    `scripts/static-ingest` when the bench starts (the bench says which it ran). That
//!    is a `cargo build --release` of the library, whose dependencies have fewer features
//!    than the bench's: the first time, and after each change to `src/`, it compiles.
//!    Serve (and the drain) answers once a message is on the disk and processes it after;
//!    each of these passes ends only when everything answered for is processed and its
//!    letters delivered, and prints how long that took after the last answer and the
//!    processing rate.
//! 2. Batch: one `reqmail --config FILE fetch` over an inbound Maildir of 10,000
//!    messages; wall time of the whole process, as messages per second.
//!
//! The configuration is the defaults except for paths into the work dir (a temp dir
//! under `target/bench-tmp/`), 25 agents declared as `[[people]]` with role "agent", and
//! `limits.auto_mail_global` raised so that a 10,000-message pass still sends every
//! receipt. Outbound transport is a Maildir with `deliver_immediately` on (the default),
//! so writing receipts and updates is part of what is measured.
//!
//! The 100,000-ticket database is built through the library as `fetch` would write it:
//! `pipeline::spool` + `pipeline::process` over generated mail, 2,000 messages per
//! transaction, each batch a day later than the one before; every ticket has its request,
//! an outgoing receipt (marked sent afterwards, as a delivery pass would) and history, and
//! one message in five is a reply to an earlier ticket. That takes a minute or more, so
//! the file is kept in `target/bench-cache/`, keyed by a SHA-256 of everything that
//! decides its content: every file below `src/` (with the migrations) and `templates/`,
//! `Cargo.lock`, this file, and the sizes. Any change there builds it afresh (and removes
//! the stale copy of that size); REQMAIL_BENCH_NO_CACHE=1 always builds it afresh.
//!
//! Messages are generated deterministically (fixed seeds): 2–4 KB each, with Received and
//! DKIM headers, a third multipart/alternative, replies quoting the receipt. Live traffic
//! mixes new requests (55 %), replies by the requester tagged `[REQ #N]` (30 %), replies
//! by an agent tagged `[REQ #N]` (10 %; these mail an update to the requester) and
//! untagged replies found by In-Reply-To alone (5 %); 70 % of replies go to one of the
//! 2,000 newest tickets, the rest to any ticket.
//!
//! After each pass it prints the store's size (file and WAL) against the raw inbound
//! mail it holds (target: at most 1.2 times).
//!
//! Besides the figures it prints what bounds them on this machine: the cost of one
//! fdatasync and of creating one small file in the work dir (ext4 slows file creation
//! down badly for minutes after many files nearby were deleted), the cost of spawning
//! `reqmail --version`, and the load average (other work on the machine inflates all).
//!
//! 3. Roundup, side by side (only with REQMAIL_BENCH_ROUNDUP=1): Roundup from PyPI in a
//!    virtualenv under `target/roundup-venv` (made on first use; needs python3 with venv),
//!    a tracker of its classic template on SQLite in the work dir, with anonymous mail
//!    access (so that unknown senders open issues, as in reqmail) and its outgoing mail
//!    written to a file (as reqmail's goes to a Maildir). The first pipe pass's messages
//!    are piped one process each into `roundup-mailgw TRACKER`, timed the same way, and
//!    the ratio of the medians is printed. Roundup does not know reqmail's `[REQ #N]` tags,
//!    so the replies open issues of their own there.
//!
//! Environment, for a quick look or for profiling (targets are judged at full size only):
//! REQMAIL_BENCH_TICKETS (100000), REQMAIL_BENCH_PIPE (500), REQMAIL_BENCH_BATCH (10000),
//! REQMAIL_BENCH_NO_CACHE=1, REQMAIL_BENCH_DIR (parent of the work dir, default
//! `target/bench-tmp`), REQMAIL_BENCH_KEEP=1 (keep the work dir, with the pipe messages as
//! pipe/NNNN.eml, for strace or perf afterwards), REQMAIL_BENCH_ROUNDUP=1 (also Roundup).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use reqmail::config::Config;
use reqmail::pipeline::{self, Incoming, Outcome};
use reqmail::site::Site;
use reqmail::store::Store;
use sha2::{Digest, Sha256};

#[path = "support/files.rs"]
mod support_files;
use support_files::{create_file_us, settle_file_creation};

const BIN: &str = env!("CARGO_BIN_EXE_reqmail");
const HANDOFF_BIN: &str = env!("CARGO_BIN_EXE_reqmail-ingest");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Whole-process targets (median, p95) in ms: `reqmail ingest` on its own, and a hand-off
/// to a running serve.
const PIPE_TARGET_MS: (f64, f64) = (3.0, 5.0);
const HANDOFF_TARGET_MS: (f64, f64) = (1.5, 3.0);
const BATCH_TARGET_PER_SECOND: f64 = 10_000.0;
/// The whole store per byte of raw inbound mail.
const STORE_TARGET_RATIO: f64 = 1.2;

const PREPARE_SEED: u64 = 0x5eed_2026_0001;
const LIVE_SEED: u64 = 0x5eed_2026_0002;
/// Messages per library transaction while preparing the database.
const PREPARE_CHUNK: usize = 2000;
/// Help-desk agents who answer by mail (their replies mail the requester).
const AGENTS: u64 = 25;
/// Distinct customers; each opens several tickets over time.
const CUSTOMERS: u64 = 20_000;

/// Shares of each kind of message, in percent; the rest are untagged replies found by
/// In-Reply-To alone.
struct Mix {
    new: u64,
    requester_reply: u64,
    agent_reply: u64,
}

/// The database: mostly tickets, with some conversation on them.
const PREPARE_MIX: Mix = Mix { new: 80, requester_reply: 10, agent_reply: 7 };
/// Live traffic, for both the pipe and the batch.
const LIVE_MIX: Mix = Mix { new: 55, requester_reply: 30, agent_reply: 10 };

fn main() {
    let started = Instant::now();
    let tickets_wanted = env_size("REQMAIL_BENCH_TICKETS", 100_000);
    let pipe_count = env_size("REQMAIL_BENCH_PIPE", 500);
    let batch_count = env_size("REQMAIL_BENCH_BATCH", 10_000);
    let no_cache = env_flag("REQMAIL_BENCH_NO_CACHE");
    let keep = env_flag("REQMAIL_BENCH_KEEP");
    let full_size = tickets_wanted == 100_000 && pipe_count >= 500 && batch_count >= 10_000;
    assert!(tickets_wanted > 0 && pipe_count > 0 && batch_count > 0, "sizes must be 1 or more");

    // On the project's disk (where a real database lives; /tmp may be a RAM disk), next to
    // the cached database so that copying it is cheap; REQMAIL_BENCH_DIR puts it elsewhere.
    let work_base = std::env::var_os("REQMAIL_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| target_dir().join("bench-tmp"));
    std::fs::create_dir_all(&work_base).expect("the work dir's parent");
    let dir = tempfile::Builder::new().prefix("ingest-").tempdir_in(&work_base).expect("temp dir");
    let root = dir.path();
    let config_path = write_config(root);
    let config = Config::from_file(&config_path).expect("the bench configuration is valid");

    println!("reqmail ingest benchmark");
    println!("binary: {BIN}");
    println!("hand-off: {HANDOFF_BIN}, {}", static_handoff());
    println!("work dir: {}{}", root.display(), if keep { " (kept)" } else { " (removed at the end)" });
    println!(
        "machine: {} CPUs; in the work dir: 4 KiB append + fdatasync median {:.2} ms, creating a 3 KB file median {:.0} us; spawn to exit of `reqmail --version`: median {:.2} ms",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        fsync_floor_ms(root),
        create_file_us(root),
        spawn_floor_ms(),
    );
    println!("load average before: {}", load_average());
    if !full_size {
        println!("NOTE: sizes reduced from the environment; targets are not judged");
    }
    println!();

    // --- The database with 100,000 tickets ---------------------------------------------
    obtain_database(&config, tickets_wanted, no_cache);
    // Else the writeback of the fresh 1.3 GB copy lands in the first measured fsyncs.
    println!("  flushed to disk in {:.1} s", flush_disk(root).as_secs_f64());
    let before_pipe = DbStats::read(&config);
    println!("database before pipe: {before_pipe}");
    assert_eq!(before_pipe.tickets, tickets_wanted as i64, "the prepared database holds the wanted number of tickets");
    let mut generator = MailGen::from_database(LIVE_SEED, &config);
    // Every ingest delivers its letters through the outbound Maildir's tmp/.
    let letters_folder = config.outbound.maildir.join("tmp");
    std::fs::create_dir_all(&letters_folder).expect("the outbound Maildir");
    settle_file_creation(&letters_folder);
    println!();

    // --- 1. Pipe: one process per message ----------------------------------------------
    let mut expect = Expected::default();
    let messages: Vec<Vec<u8>> = (0..pipe_count).map(|_| generator.next(&LIVE_MIX, &mut expect)).collect();
    println!("pipe: {pipe_count} x `reqmail --config FILE ingest`, one process per message on stdin");
    if keep {
        std::fs::create_dir_all(root.join("pipe")).expect("pipe dir");
        for (index, raw) in messages.iter().enumerate() {
            std::fs::write(root.join("pipe").join(format!("{index:04}.eml")), raw).expect("keep pipe message");
        }
    }
    let alone = pipe_pass(&config, &config_path, root, &messages, &expect, full_size, None, BIN, PIPE_TARGET_MS);
    println!();
    let roundup = env_flag("REQMAIL_BENCH_ROUNDUP").then(|| {
        println!("Roundup: the same {pipe_count} messages, one `roundup-mailgw TRACKER` process each");
        let run = roundup_pass(root, &messages);
        println!();
        run
    });

    // --- 1a. The same through `reqmail-ingest`, as the MTA pipes it, no serve running ----
    let mut expect = Expected::default();
    let messages: Vec<Vec<u8>> = (0..pipe_count).map(|_| generator.next(&LIVE_MIX, &mut expect)).collect();
    println!("pipe: {pipe_count} x `reqmail-ingest --config FILE`, no serve running: it takes each into the intake, a drain process handles them");
    let alone_handed_off = pipe_pass(&config, &config_path, root, &messages, &expect, full_size, None, HANDOFF_BIN, PIPE_TARGET_MS);
    println!();

    // --- 1b. The same, handed to a running `reqmail serve` ------------------------------
    let mut expect = Expected::default();
    let messages: Vec<Vec<u8>> = (0..pipe_count).map(|_| generator.next(&LIVE_MIX, &mut expect)).collect();
    println!("pipe to serve: {pipe_count} x `reqmail --config FILE ingest` while `reqmail serve` runs on the same configuration");
    let daemon = Serve::start(&config, &config_path, root);
    let to_serve = pipe_pass(&config, &config_path, root, &messages, &expect, full_size, Some(&daemon), BIN, HANDOFF_TARGET_MS);
    println!();

    // --- 1c. The same through `reqmail-ingest`, the MTA's small hand-off executable ------
    let mut expect = Expected::default();
    let messages: Vec<Vec<u8>> = (0..pipe_count).map(|_| generator.next(&LIVE_MIX, &mut expect)).collect();
    println!("pipe to serve: {pipe_count} x `reqmail-ingest --config FILE` while `reqmail serve` runs");
    let handed_off = pipe_pass(&config, &config_path, root, &messages, &expect, full_size, Some(&daemon), HANDOFF_BIN, HANDOFF_TARGET_MS);
    daemon.stop();
    let after_pipe = DbStats::read(&config);
    println!();

    // --- 2. Batch: one `reqmail fetch` over an inbound Maildir -----------------------------
    let mut expect = Expected::default();
    let inbox = root.join("inbox");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(inbox.join(sub)).expect("inbound Maildir");
    }
    let mut sizes = Vec::with_capacity(batch_count);
    for index in 0..batch_count {
        let raw = generator.next(&LIVE_MIX, &mut expect);
        sizes.push(raw.len());
        // Names sort in generation order, as a deliverer's time-based names do.
        let name = format!("1795000000.M{index:07}P4242Q{index}.bench-mx");
        std::fs::write(inbox.join("new").join(name), &raw).expect("write an inbound file");
    }
    let flushed = flush_disk(root);
    println!("batch: one `reqmail --config FILE fetch` over an inbound Maildir of {batch_count} messages");
    println!("  messages: {}; {}; written and flushed to disk in {:.1} s", expect.mix_line(), size_line(sizes.iter().copied()), flushed.as_secs_f64());
    let outbox_before = count_files(&root.join("outbox/new"));
    let cpu_before = children_cpu_seconds();
    let batch_started = Instant::now();
    let output = reqmail_command(&config_path).arg("fetch").stdin(Stdio::null()).output().expect("run reqmail fetch");
    let batch_wall = batch_started.elapsed();
    let batch_cpu = children_cpu_seconds().zip(cpu_before).map(|((user, sys), (user0, sys0))| (user - user0, sys - sys0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "reqmail fetch exited with {:?}: {stderr}", output.status);
    let per_second = batch_count as f64 / batch_wall.as_secs_f64();
    let left = count_files(&inbox.join("new"));
    let seen = count_files(&inbox.join("cur"));
    let flagged = count_ending(&inbox.join("cur"), ":2,FS");
    let mailed = count_files(&root.join("outbox/new")) - outbox_before;
    let after_batch = DbStats::read(&config);
    println!("  exit status 0");
    println!(
        "  wall time {:.2} s: {per_second:.0} messages per second, {:.3} ms per message",
        batch_wall.as_secs_f64(),
        batch_wall.as_secs_f64() * 1000.0 / batch_count as f64
    );
    if let Some((user, sys)) = batch_cpu {
        println!(
            "  CPU of the fetch process: {user:.2} s user + {sys:.2} s system = {:.3} ms per message",
            (user + sys) * 1000.0 / batch_count as f64
        );
    }
    if !stderr.trim().is_empty() {
        println!("  stderr: {}", first_lines(&stderr, 3));
    }
    println!("  inbound Maildir after: {left} left in new/, {seen} in cur/, {flagged} flagged as quarantined");
    println!(
        "  outgoing mail: {} written, {mailed} delivered to the outbound Maildir, {} left queued",
        after_batch.messages_out - after_pipe.messages_out,
        after_batch.outbox_queued
    );
    println!(
        "  target >= {BATCH_TARGET_PER_SECOND:.0} messages per second: {} ({per_second:.0}/s)",
        verdict(full_size, per_second >= BATCH_TARGET_PER_SECOND)
    );
    println!("database after batch: {after_batch}");
    assert_eq!(left, 0, "fetch took every file");
    assert_eq!(seen, batch_count, "every file was acknowledged");
    assert_eq!(flagged, 0, "no file went to quarantine");
    assert_eq!(after_batch.tickets - after_pipe.tickets, expect.new as i64, "each new request opened one ticket");
    assert_eq!(mailed as i64, after_batch.messages_out - after_pipe.messages_out, "every outgoing message was delivered");
    assert_eq!(after_batch.outbox_queued, 0, "nothing is left in the outbox");
    println!();

    println!("summary:");
    for (what, run, target) in [
        ("`reqmail ingest` latency", &alone, PIPE_TARGET_MS),
        ("`reqmail-ingest` latency, no serve", &alone_handed_off, PIPE_TARGET_MS),
        ("`reqmail ingest` latency, serve running", &to_serve, HANDOFF_TARGET_MS),
        ("`reqmail-ingest` latency, serve running", &handed_off, HANDOFF_TARGET_MS),
    ] {
        println!("  {what}: median {:.2} ms, p95 {:.2} ms; {}", run.median, run.p95, target_line(full_size, run, target));
    }
    if let Some(roundup) = &roundup {
        println!(
            "  Roundup's mail gateway: median {:.2} ms, p95 {:.2} ms; its median is {:.0}x that of `reqmail ingest` alone, {:.0}x that of `reqmail-ingest` with serve",
            roundup.median,
            roundup.p95,
            roundup.median / alone.median,
            roundup.median / handed_off.median
        );
    }
    println!(
        "  batch fetch throughput: {per_second:.0} messages/s; target >= {BATCH_TARGET_PER_SECOND:.0}/s: {}",
        verdict(full_size, per_second >= BATCH_TARGET_PER_SECOND)
    );
    println!(
        "  store size: {:.2}x the raw inbound mail; target <= {STORE_TARGET_RATIO}x: {}",
        after_batch.size_ratio(),
        verdict(full_size, after_batch.size_ratio() <= STORE_TARGET_RATIO)
    );
    println!("  load average after: {} (other work on this 2-CPU machine inflates every figure)", load_average());
    println!("  bench took {:.1} s in all", started.elapsed().as_secs_f64());
    if keep {
        let kept = dir.keep();
        println!("  work dir kept: {}", kept.display());
    }
}

/// One `reqmail ingest` process per message, timed from spawn to exit; prints the
/// figures and checks that every message was stored and every letter delivered.
#[allow(clippy::too_many_arguments)]
fn pipe_pass(
    config: &Config,
    config_path: &Path,
    root: &Path,
    messages: &[Vec<u8>],
    expect: &Expected,
    full_size: bool,
    serve: Option<&Serve>,
    binary: &str,
    target: (f64, f64),
) -> Summary {
    let before = DbStats::read(config);
    println!("  messages: {}; {}", expect.mix_line(), size_line(messages.iter().map(Vec::len)));
    let outbox_before = count_files(&root.join("outbox/new"));
    let cpu_before = children_cpu_seconds();
    let serve_cpu_before = serve.map(Serve::cpu_seconds);
    let mut latencies = Vec::with_capacity(messages.len());
    let mut noisy = 0usize;
    let mut first_noise = String::new();
    let last_row_before = last_message_row(config);
    let first_handed = Instant::now();
    for raw in messages {
        let (elapsed, status, stderr) = ingest_once(binary, config_path, raw);
        assert_eq!(status, Some(0), "{binary} exited with {status:?}: {stderr}");
        if !stderr.trim().is_empty() {
            noisy += 1;
            if first_noise.is_empty() {
                first_noise = first_lines(&stderr, 2);
            }
        }
        latencies.push(elapsed);
    }
    let pipe_cpu = children_cpu_seconds().zip(cpu_before).map(|((user, sys), (user0, sys0))| (user - user0, sys - sys0));
    // Serve, and without it the hand-off's drain, answer once a message is on the disk
    // and process it after: the latency alone could hide a backlog, so the pass ends when
    // everything is processed and its letters are delivered.
    let answers_first = serve.is_some() || binary == HANDOFF_BIN;
    let processor = if serve.is_some() { "serve" } else { "the drain" };
    let log = || serve.map(Serve::log).unwrap_or_default();
    let backlog = answers_first.then(|| {
        let last_answered = Instant::now();
        let wanted = messages.len() as i64;
        let caught_up =
            wait_for_each(Duration::from_secs(120), Duration::from_millis(2), || processed_inbound_after(config, last_row_before) >= wanted);
        assert!(caught_up, "{processor} processed every message acknowledged; log:\n{}", log());
        let delivered = wait_for(Duration::from_secs(60), || outbox_queued(&read_only(config)) == 0);
        assert!(delivered, "{processor} delivered every letter; log:\n{}", log());
        (last_answered.elapsed(), first_handed.elapsed())
    });
    let serve_cpu = serve.map(Serve::cpu_seconds).zip(serve_cpu_before).map(|(after, before)| after - before);
    let all = Summary::of(&latencies);
    let head = Summary::of(&latencies[..latencies.len().min(100)]);
    let tail = Summary::of(&latencies[latencies.len().saturating_sub(100)..]);
    let mailed = count_files(&root.join("outbox/new")) - outbox_before;
    let after = DbStats::read(config);
    println!("  exit status 0 for all {} runs", latencies.len());
    println!("  latency, ms:      {}", all.line());
    println!("  first 100, ms:    {}", head.line());
    println!("  last 100, ms:     {}", tail.line());
    println!("  last 100 vs first 100: median {:+.1} %, mean {:+.1} %", pct(tail.median, head.median), pct(tail.mean, head.mean));
    if let Some((user, sys)) = pipe_cpu {
        let runs = latencies.len() as f64;
        println!(
            "  CPU per ingest process: {:.2} ms user + {:.2} ms system = {:.2} ms, of {:.2} ms mean wall",
            user * 1000.0 / runs,
            sys * 1000.0 / runs,
            (user + sys) * 1000.0 / runs,
            all.mean
        );
        if serve.is_none() && answers_first {
            println!("  (the drain processes run apart from the timed processes; their CPU is not in this figure)");
        }
    }
    if let Some((after_last, since_first)) = backlog {
        println!(
            "  {processor} had processed everything {:.1} ms after the last answer; {} messages processed in {:.2} s from the first hand-over: {:.0} messages/s",
            after_last.as_secs_f64() * 1000.0,
            latencies.len(),
            since_first.as_secs_f64(),
            latencies.len() as f64 / since_first.as_secs_f64()
        );
    }
    if let Some(seconds) = serve_cpu {
        println!("  CPU of serve per message (storing, processing, delivering): {:.2} ms", seconds * 1000.0 / latencies.len() as f64);
    }
    if noisy > 0 {
        println!("  {noisy} runs wrote to stderr; the first: {first_noise}");
    }
    println!(
        "  outgoing mail: {} written, {mailed} delivered to the outbound Maildir, {} left queued",
        after.messages_out - before.messages_out,
        after.outbox_queued
    );
    println!("  {}", target_line(full_size, &all, target));
    println!("database after: {after}");
    assert_eq!(after.tickets - before.tickets, expect.new as i64, "each new request opened one ticket");
    assert_eq!(after.quarantined, before.quarantined, "nothing went to quarantine");
    assert_eq!(mailed as i64, after.messages_out - before.messages_out, "every outgoing message was delivered");
    assert_eq!(after.outbox_queued, 0, "nothing is left in the outbox");
    all
}

/// Pipes each message into Roundup's mail gateway (see the file's doc), timed from spawn
/// to exit like `reqmail ingest`; every exit status must be 0 and every message an issue
/// or a message there.
fn roundup_pass(root: &Path, messages: &[Vec<u8>]) -> Summary {
    let venv = target_dir().join("roundup-venv");
    let bin = venv.join("bin");
    if !bin.join("roundup-mailgw").is_file() {
        let start = Instant::now();
        run_checked(Command::new("python3").arg("-m").arg("venv").arg(&venv), "python3 -m venv (Debian: python3-venv)");
        run_checked(Command::new(bin.join("pip")).args(["install", "--quiet", "roundup"]), "pip install roundup");
        println!("  installed Roundup into {} in {:.0} s", venv.display(), start.elapsed().as_secs_f64());
    }
    let version = run_checked(Command::new(bin.join("python")).args(["-c", "import roundup; print(roundup.__version__)"]), "roundup version");
    let tracker = root.join("roundup-tracker");
    let outgoing = root.join("roundup-outgoing.mbox");
    let options = format!("mail_domain=example.com,mail_host=localhost,tracker_web=http://localhost:8080/,mail_debug={}", outgoing.display());
    run_checked(Command::new(bin.join("roundup-admin")).arg("-i").arg(&tracker).args(["install", "classic", "sqlite", &options]), "roundup-admin install");
    // The classic template lets only known users mail in; a help desk takes mail from anyone.
    let schema_path = tracker.join("schema.py");
    let schema = std::fs::read_to_string(&schema_path).expect("the tracker's schema.py");
    let anonymous_mail = "db.security.addPermissionToRole('Anonymous', 'Email Access')";
    assert!(schema.contains(&format!("#{anonymous_mail}")), "the classic schema has the anonymous mail permission, commented out");
    std::fs::write(&schema_path, schema.replace(&format!("#{anonymous_mail}"), anonymous_mail)).expect("write schema.py");
    run_checked(Command::new(bin.join("roundup-admin")).arg("-i").arg(&tracker).args(["initialise", "bench-admin-password"]), "roundup-admin initialise");
    println!("  Roundup {}, classic template on SQLite, tracker {}", version.trim(), tracker.display());

    let cpu_before = children_cpu_seconds();
    let mut latencies = Vec::with_capacity(messages.len());
    for raw in messages {
        let mut command = Command::new(bin.join("roundup-mailgw"));
        command.arg(&tracker);
        let (elapsed, status, stderr) = piped_once(command, raw);
        assert_eq!(status, Some(0), "roundup-mailgw exited with {status:?}: {stderr}");
        latencies.push(elapsed);
    }
    let cpu = children_cpu_seconds().zip(cpu_before).map(|((user, sys), (user0, sys0))| (user - user0) + (sys - sys0));
    let messages_there = run_checked(Command::new(bin.join("roundup-admin")).arg("-i").arg(&tracker).args(["list", "msg"]), "roundup-admin list msg");
    assert_eq!(messages_there.lines().count(), messages.len(), "Roundup stored every message");
    let all = Summary::of(&latencies);
    println!("  exit status 0 for all {} runs; {} messages stored", latencies.len(), messages.len());
    println!("  latency, ms:      {}", all.line());
    if let Some(seconds) = cpu {
        println!("  CPU per roundup-mailgw process: {:.2} ms", seconds * 1000.0 / latencies.len() as f64);
    }
    all
}

/// Runs `command` to success and returns its standard output; panics with `what` and its
/// standard error otherwise.
fn run_checked(command: &mut Command, what: &str) -> String {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|error| panic!("{what}: cannot run: {error}"));
    assert!(output.status.success(), "{what} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Relinks the hand-off executable as the `.deb` ships it (`scripts/static-ingest`, with
/// this build's profile settings from the environment), and says how it is linked now.
fn static_handoff() -> &'static str {
    let output = Command::new(Path::new(MANIFEST_DIR).join("scripts/static-ingest"))
        .arg("--quiet")
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/static-ingest");
    assert!(output.status.success(), "scripts/static-ingest failed: {}", String::from_utf8_lossy(&output.stderr));
    linkage(Path::new(HANDOFF_BIN))
}

/// How the ELF executable at `path` is linked, from its header: a program header naming
/// an interpreter (PT_INTERP) means the dynamic loader runs first; ET_EXEC means a fixed
/// address (ET_DYN: position independent, relocated at each start).
fn linkage(path: &Path) -> &'static str {
    const PT_INTERP: u32 = 3;
    const ET_EXEC: u16 = 2;
    let elf = std::fs::read(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    assert!(elf.starts_with(b"\x7fELF\x02\x01"), "{} is a 64-bit little-endian ELF file", path.display());
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]);
    let kind = u16_at(16);
    let header_table = u64::from_le_bytes(elf[32..40].try_into().expect("8 bytes")) as usize;
    let (entry_size, entries) = (usize::from(u16_at(54)), usize::from(u16_at(56)));
    let interpreted = (0..entries).any(|index| {
        let at = header_table + index * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == PT_INTERP
    });
    match (interpreted, kind == ET_EXEC) {
        (true, _) => "dynamically linked",
        (false, true) => "statically linked at a fixed address",
        (false, false) => "statically linked, position independent",
    }
}

/// `reqmail serve` on the bench's configuration, for the pipe to hand its mail to.
struct Serve {
    child: std::process::Child,
    log: PathBuf,
}

impl Serve {
    /// Starts it and waits until it listens and its first scheduler pass is over (its CPU
    /// time stands still), so that the figures show the steady state.
    fn start(config: &Config, config_path: &Path, root: &Path) -> Serve {
        let log = root.join("serve.log");
        let child = reqmail_command(config_path)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("serve log"))
            .spawn()
            .expect("start reqmail serve");
        let serve = Serve { child, log };
        let socket = config.ingest_socket().expect("the bench configuration keeps the hand-over socket");
        assert!(wait_for(Duration::from_secs(60), || socket.exists()), "serve listens on {}; its log:\n{}", socket.display(), serve.log());
        let settled = wait_for(Duration::from_secs(60), || {
            let before = serve.cpu_seconds();
            std::thread::sleep(Duration::from_millis(300));
            serve.cpu_seconds() == before
        });
        assert!(settled, "serve went idle; its log:\n{}", serve.log());
        serve
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// User and system CPU seconds so far (`/proc/PID/stat`, USER_HZ 100).
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let status = self.child.wait().expect("wait for serve");
        assert!(status.success(), "serve exited with {status}; its log:\n{}", self.log());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every 20 ms for up to `limit`.
fn wait_for(limit: Duration, done: impl FnMut() -> bool) -> bool {
    wait_for_each(limit, Duration::from_millis(20), done)
}

/// Polls `done` every `every` for up to `limit`.
fn wait_for_each(limit: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(every);
    }
    false
}

/// The last row of `messages`, inbound or outgoing.
fn last_message_row(config: &Config) -> i64 {
    read_only(config).query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |row| row.get(0)).expect("read the last message row")
}

/// Inbound messages spooled after row `after` that the pipeline has finished with
/// (applied, quarantined or ignored), read through the primary key: polling every few
/// milliseconds costs the same at a million tickets (a count over the whole table took
/// 5 s there).
fn processed_inbound_after(config: &Config, after: i64) -> i64 {
    read_only(config)
        .query_row("SELECT COUNT(*) FROM messages WHERE id > ?1 AND direction = 'in' AND state != 'spooled'", [after], |row| row.get(0))
        .expect("count processed messages")
}

/// Letters not yet delivered, through the index of the queued ones.
fn outbox_queued(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT COUNT(*) FROM outbox WHERE status = 'queued'", [], |row| row.get(0)).expect("count queued letters")
}

fn read_only(config: &Config) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(&config.store.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the database read-only")
}

// ---------------------------------------------------------------------------------------
// Setup

fn env_size(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        _ => default,
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "0")
}

fn write_config(root: &Path) -> PathBuf {
    let path = root.join("reqmail.toml");
    let text = format!(
        r#"[mail]
address = "help@example.com"
name = "Help Desk"
subject_tag = "REQ"

[store]
path = {db:?}

[inbound]
maildir = {inbox:?}

[outbound]
transport = "maildir"
maildir = {outbox:?}
deliver_immediately = true

# A site that takes 10,000 messages in one pass raises the hourly cap on automatic mail
# (default 2,000), else most receipts would be held back and not measured.
[limits]
auto_mail_global = 1000000
{agents}"#,
        db = root.join("reqmail.db").display().to_string(),
        inbox = root.join("inbox").display().to_string(),
        outbox = root.join("outbox").display().to_string(),
        agents = (0..AGENTS)
            .map(|index| {
                let agent = agent(index as usize);
                format!("\n[[people]]\naddresses = [{:?}]\nrole = \"agent\"\nname = {:?}\n", agent.address, agent.name)
            })
            .collect::<String>(),
    );
    std::fs::write(&path, text).expect("write the config");
    path
}

/// `reqmail --config FILE` with nothing from the caller's environment that changes it.
fn reqmail_command(config_path: &Path) -> Command {
    command_for(BIN, config_path)
}

/// `binary --config FILE`, as [`reqmail_command`].
fn command_for(binary: &str, config_path: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(config_path)
        .env_remove("RUST_LOG")
        .env_remove(reqmail::config::CONFIG_VARIABLE)
        .env_remove(reqmail::clock::NOW_VARIABLE);
    command
}

/// User and system CPU seconds of the children waited for so far (`/proc/self/stat`
/// cutime and cstime, in the kernel's USER_HZ of 100 per second).
fn children_cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index)?.parse::<f64>().ok().map(|ticks| ticks / 100.0);
    Some((ticks(13)?, ticks(14)?))
}

/// Writes every dirty page of the work dir's filesystem to disk (`sync -f`, else `sync`).
fn flush_disk(root: &Path) -> Duration {
    let start = Instant::now();
    let synced = Command::new("sync").arg("-f").arg(root).status().is_ok_and(|status| status.success());
    if !synced {
        let _ = Command::new("sync").status();
    }
    start.elapsed()
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The cost of one small durable write on this disk.
fn fsync_floor_ms(root: &Path) -> f64 {
    let path = root.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let block = [0x5au8; 4096];
    let samples: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            file.write_all(&block).expect("probe write");
            file.sync_data().expect("probe fdatasync");
            start.elapsed()
        })
        .collect();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Summary::of(&samples).median
}

/// Starting and ending the binary without touching any database.
fn spawn_floor_ms() -> f64 {
    let samples: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(BIN).arg("--version").stdout(Stdio::null()).status().expect("reqmail --version");
            assert!(status.success());
            start.elapsed()
        })
        .collect();
    Summary::of(&samples).median
}

/// Spawns `reqmail ingest` (or `reqmail-ingest`, which takes no command word) with `raw`
/// on stdin; wall time from spawn to exit.
fn ingest_once(binary: &str, config_path: &Path, raw: &[u8]) -> (Duration, Option<i32>, String) {
    let mut command = command_for(binary, config_path);
    if binary == BIN {
        command.arg("ingest");
    }
    piped_once(command, raw)
}

/// Runs `command` with `raw` on stdin; wall time from spawn to exit, exit status, stderr.
fn piped_once(mut command: Command, raw: &[u8]) -> (Duration, Option<i32>, String) {
    let start = Instant::now();
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn the pipe command");
    child.stdin.take().expect("stdin").write_all(raw).expect("write the message to stdin");
    let output = child.wait_with_output().expect("wait for the pipe command");
    let elapsed = start.elapsed();
    (elapsed, output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

// ---------------------------------------------------------------------------------------
// The prepared database

/// Puts the prepared database at the configured path: from the cache when its key
/// matches, else built through the library (and cached).
fn obtain_database(config: &Config, tickets: usize, no_cache: bool) {
    let cache_dir = target_dir().join("bench-cache");
    let key = cache_key(tickets);
    let cached = cache_dir.join(format!("ingest-{tickets}-{}.sqlite", &key[..16]));
    let key_line = "key: SHA-256 of src/ (with the migrations), templates/, Cargo.lock, this bench and its sizes";
    if !no_cache && cached.is_file() {
        let start = Instant::now();
        std::fs::copy(&cached, &config.store.path).expect("copy the cached database");
        println!(
            "database: cached copy {} ({key_line}) copied in {:.1} s",
            cached.display(),
            start.elapsed().as_secs_f64()
        );
        return;
    }
    let start = Instant::now();
    let (inbound, new) = prepare_database(config, tickets);
    println!(
        "database: built through the library (pipeline::spool + pipeline::process, {PREPARE_CHUNK} messages per transaction) in {:.1} s: {inbound} inbound messages, {new} of them new requests",
        start.elapsed().as_secs_f64()
    );
    if no_cache {
        println!("  not cached (REQMAIL_BENCH_NO_CACHE)");
        return;
    }
    let start = Instant::now();
    std::fs::create_dir_all(&cache_dir).expect("cache dir");
    // Copies of this size with another key are stale.
    let stale_prefix = format!("ingest-{tickets}-");
    for entry in std::fs::read_dir(&cache_dir).expect("list the cache dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&stale_prefix) && name.ends_with(".sqlite") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let partial = cached.with_extension("partial");
    std::fs::copy(&config.store.path, &partial).expect("copy the database into the cache");
    std::fs::rename(&partial, &cached).expect("finish the cached copy");
    println!("  cached as {} ({key_line}) in {:.1} s", cached.display(), start.elapsed().as_secs_f64());
}

/// `target/`, from where cargo put this bench's executable (`target/release/deps/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench executable's path");
    exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target"))
}

/// A hash of everything that decides what the prepared database holds.
fn cache_key(tickets: usize) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"reqmail ingest bench database");
    for number in [tickets as u64, PREPARE_SEED, PREPARE_CHUNK as u64, PREPARE_MIX.new, PREPARE_MIX.requester_reply, PREPARE_MIX.agent_reply]
    {
        hasher.update(number.to_le_bytes());
    }
    let manifest = Path::new(MANIFEST_DIR);
    let mut files = Vec::new();
    for dir in ["src", "templates"] {
        collect_files(&manifest.join(dir), &mut files);
    }
    files.push(manifest.join("Cargo.lock"));
    files.push(manifest.join(file!()));
    files.sort();
    for file in files {
        let relative = file.strip_prefix(manifest).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        let content = std::fs::read(&file).unwrap_or_default();
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    hex::encode(hasher.finalize())
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => collect_files(&path, files),
            Ok(kind) if kind.is_file() => files.push(path),
            _ => {}
        }
    }
}

/// Builds the database through the library: spool and process in large transactions,
/// then marks every receipt and update as sent, as one delivery pass would, without
/// writing 100,000 files. Returns (inbound messages, new requests).
fn prepare_database(config: &Config, tickets_wanted: usize) -> (usize, usize) {
    let mut generator = MailGen::new(PREPARE_SEED, Vec::new(), 1);
    let site = Site::compile(config.clone()).expect("context");
    let mut store = Store::open(&config.store).expect("open the store");
    // Only speed, no change to what is written: statement journals of the per-message
    // savepoints in memory, and a statement cache that holds every statement `process`
    // uses (rusqlite keeps 16 by default, fewer than one message needs).
    store.conn.execute_batch("PRAGMA temp_store = MEMORY").expect("temp_store");
    store.conn.as_sqlite().expect("a SQLite store").set_prepared_statement_cache_capacity(256);
    let mut expect = Expected::default();
    let mut inbound = 0usize;
    let mut day = 0i64;
    while expect.new < tickets_wanted {
        let mut raws = Vec::with_capacity(PREPARE_CHUNK);
        while raws.len() < PREPARE_CHUNK && expect.new < tickets_wanted {
            raws.push(generator.next(&PREPARE_MIX, &mut expect));
        }
        let now: DateTime<Utc> = Utc.with_ymd_and_hms(2025, 1, 1, 9, 0, 0).unwrap() + chrono::Duration::days(day);
        day += 1;
        let sources: Vec<String> = (0..raws.len()).map(|index| format!("maildir:prepared-{}", inbound + index)).collect();
        let incoming: Vec<Incoming<'_>> =
            raws.iter().zip(&sources).map(|(raw, source)| Incoming { raw, source, recipient: None, queue: None }).collect();
        let spooled = pipeline::spool(&mut store, &incoming, now).expect("spool");
        let outcomes = pipeline::process(&site, &mut store, &pipeline::waiting(&spooled), now).expect("process");
        assert_eq!(outcomes.len(), raws.len(), "every prepared message is new");
        for (id, outcome) in &outcomes {
            assert!(matches!(outcome, Outcome::Applied { .. }), "prepared message {id} was not applied: {outcome:?}");
        }
        inbound += raws.len();
    }
    let sent = store
        .conn
        .execute("UPDATE outbox SET status = 'sent', attempts = 1, sent = next_attempt WHERE status = 'queued'", [])
        .expect("mark the outbox sent");
    assert!(sent >= expect.new, "at least a receipt per new ticket was written ({sent} outgoing)");
    store.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").expect("checkpoint");
    drop(store);
    (inbound, expect.new)
}

// ---------------------------------------------------------------------------------------
// Measurements

struct Summary {
    median: f64,
    p95: f64,
    mean: f64,
    min: f64,
    max: f64,
}

impl Summary {
    /// In milliseconds; p95 by nearest rank.
    fn of(samples: &[Duration]) -> Summary {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        if n == 0 {
            return Summary { median: f64::NAN, p95: f64::NAN, mean: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        let median = if n % 2 == 1 { ms[n / 2] } else { (ms[n / 2 - 1] + ms[n / 2]) / 2.0 };
        let p95 = ms[((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Summary { median, p95, mean: ms.iter().sum::<f64>() / n as f64, min: ms[0], max: ms[n - 1] }
    }

    fn line(&self) -> String {
        format!(
            "median {:6.2}   p95 {:6.2}   mean {:6.2}   min {:6.2}   max {:6.2}",
            self.median, self.p95, self.mean, self.min, self.max
        )
    }
}

fn pct(value: f64, base: f64) -> f64 {
    (value / base - 1.0) * 100.0
}

/// Median and p95 against their targets.
fn target_line(judged: bool, run: &Summary, (median, p95): (f64, f64)) -> String {
    format!("target median <= {median} ms, p95 <= {p95} ms: {}", verdict(judged, run.median <= median && run.p95 <= p95))
}

fn verdict(judged: bool, pass: bool) -> &'static str {
    match (judged, pass) {
        (false, _) => "not judged (reduced sizes)",
        (true, true) => "PASS",
        (true, false) => "MISS",
    }
}

fn size_line(sizes: impl Iterator<Item = usize>) -> String {
    let sizes: Vec<usize> = sizes.collect();
    let total: usize = sizes.iter().sum();
    format!(
        "size min {} / mean {:.0} / max {} bytes",
        sizes.iter().min().unwrap_or(&0),
        total as f64 / sizes.len().max(1) as f64,
        sizes.iter().max().unwrap_or(&0)
    )
}

struct DbStats {
    bytes: u64,
    wal_bytes: u64,
    /// The raw inbound mail the store holds, as it arrived.
    inbound_bytes: i64,
    tickets: i64,
    messages_in: i64,
    messages_out: i64,
    people: i64,
    quarantined: i64,
    outbox_queued: i64,
}

impl DbStats {
    fn read(config: &Config) -> DbStats {
        let conn = read_only(config);
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).expect(sql) };
        DbStats {
            bytes: std::fs::metadata(&config.store.path).map(|m| m.len()).unwrap_or(0),
            wal_bytes: std::fs::metadata(sibling(&config.store.path, "-wal")).map(|m| m.len()).unwrap_or(0),
            inbound_bytes: count("SELECT COALESCE(SUM(size), 0) FROM messages WHERE direction = 'in'"),
            tickets: count("SELECT COUNT(*) FROM tickets"),
            messages_in: count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
            messages_out: count("SELECT COUNT(*) FROM messages WHERE direction = 'out'"),
            people: count("SELECT COUNT(*) FROM people"),
            quarantined: count("SELECT COUNT(*) FROM quarantine"),
            outbox_queued: outbox_queued(&conn),
        }
    }
}

impl DbStats {
    /// The whole store (file and WAL) per byte of raw inbound mail.
    fn size_ratio(&self) -> f64 {
        (self.bytes + self.wal_bytes) as f64 / self.inbound_bytes.max(1) as f64
    }
}

impl std::fmt::Display for DbStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} MiB (+ WAL {:.1} MiB) for {:.1} MiB of raw inbound mail: {:.2}x; {} tickets, {} inbound and {} outgoing messages, {} people, {} quarantined",
            self.bytes as f64 / 1048576.0,
            self.wal_bytes as f64 / 1048576.0,
            self.inbound_bytes as f64 / 1048576.0,
            self.size_ratio(),
            self.tickets,
            self.messages_in,
            self.messages_out,
            self.people,
            self.quarantined
        )
    }
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|entries| entries.flatten().count()).unwrap_or(0)
}

fn count_ending(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter(|entry| entry.file_name().to_string_lossy().ends_with(suffix)).count())
        .unwrap_or(0)
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join(" | ")
}

// ---------------------------------------------------------------------------------------
// Message generation

/// What the generated messages should do to the database.
#[derive(Default)]
struct Expected {
    new: usize,
    requester_replies: usize,
    agent_replies: usize,
    reference_replies: usize,
}

impl Expected {
    fn mix_line(&self) -> String {
        format!(
            "{} new requests, {} requester replies tagged [REQ #N], {} agent replies tagged, {} untagged replies (In-Reply-To only)",
            self.new, self.requester_replies, self.agent_replies, self.reference_replies
        )
    }
}

/// A ticket as the generator knows it, to write replies to it.
struct TicketInfo {
    number: i64,
    subject: String,
    requester_name: String,
    requester_address: String,
    /// The Message-ID of the request that opened it.
    origin_id: String,
    /// The Message-ID of its receipt, when known.
    receipt_id: Option<String>,
}

struct Person {
    name: String,
    address: String,
    domain: String,
}

struct MailGen {
    rng: Rng,
    sequence: u64,
    tickets: Vec<TicketInfo>,
    /// The number the next new request will get (numbers are sequential).
    next_number: i64,
    clock: i64,
}

const FIRST_NAMES: &[&str] = &[
    "Ann", "Ben", "Carla", "Dmitri", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kasia", "Liam", "Mei", "Nadia", "Omar",
    "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe",
];
const LAST_NAMES: &[&str] = &[
    "Adams", "Bauer", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen", "Kowalski", "Lindqvist",
    "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Urbano", "Varga", "Weber", "Yilmaz",
];
const SUBJECTS: &[&str] = &[
    "Printer on floor {n} prints blank pages",
    "VPN drops every {n} minutes",
    "Cannot log in to the timesheet system",
    "New laptop for a starter on {n} March",
    "Password reset for the HR portal",
    "Outlook keeps asking for my password",
    "Shared drive S: not mapped after update",
    "Monitor flickers in meeting room {n}",
    "Request: access to project folder {n}",
    "Wi-Fi in building {n} very slow",
    "Phone extension {n} forwards to the wrong person",
    "Excel crashes when opening the budget sheet",
    "Please install the statistics package on PC-{n}",
    "Badge reader at door {n} does not accept my card",
    "Backup job {n} failed last night",
    "Calendar invitations arrive twice",
];
const WORDS: &[&str] = &[
    "the", "printer", "again", "since", "yesterday", "morning", "when", "I", "try", "to", "open", "file", "it", "says", "error",
    "network", "drive", "laptop", "screen", "after", "update", "restart", "did", "not", "help", "could", "you", "please", "check",
    "whether", "account", "is", "locked", "colleagues", "same", "problem", "office", "meeting", "room", "cable", "adapter",
    "password", "expired", "login", "page", "shows", "message", "about", "certificate", "browser", "cache", "cleared", "already",
    "urgent", "because", "deadline", "Friday", "report", "server", "slow", "minutes", "connection", "lost", "every", "time",
    "we", "have", "tried", "another", "machine", "works", "there", "so", "maybe", "profile", "settings", "something", "changed",
    "last", "week", "and", "also", "keyboard", "mouse", "battery", "replaced", "thanks", "for", "your", "quick", "answer",
    "attached", "screenshot", "would", "be", "great", "if", "someone", "came", "by", "today", "afternoon", "between", "two",
    "four", "o'clock", "my", "desk", "third", "floor", "near", "kitchen", "the", "the", "a", "a", "of", "of", "in", "on", "is",
];

impl MailGen {
    fn new(seed: u64, tickets: Vec<TicketInfo>, next_number: i64) -> MailGen {
        MailGen { rng: Rng(seed), sequence: 0, tickets, next_number, clock: 1_767_225_600 }
    }

    /// A generator that writes replies to the tickets already in the database.
    fn from_database(seed: u64, config: &Config) -> MailGen {
        let conn = rusqlite::Connection::open_with_flags(&config.store.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database read-only");
        let mut statement = conn
            .prepare(
                "SELECT t.number, t.subject, p.name,
                    (SELECT address FROM addresses WHERE person = t.requester ORDER BY is_primary DESC, address LIMIT 1),
                    (SELECT message_id FROM messages WHERE ticket = t.number AND direction = 'in' ORDER BY id LIMIT 1),
                    (SELECT message_id FROM messages WHERE ticket = t.number AND direction = 'out' ORDER BY id LIMIT 1)
                 FROM tickets t JOIN people p ON p.id = t.requester ORDER BY t.number",
            )
            .expect("prepare the ticket query");
        let tickets: Vec<TicketInfo> = statement
            .query_map([], |row| {
                Ok(TicketInfo {
                    number: row.get(0)?,
                    subject: row.get(1)?,
                    requester_name: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    requester_address: row.get(3)?,
                    origin_id: row.get(4)?,
                    receipt_id: row.get(5)?,
                })
            })
            .expect("query the tickets")
            .collect::<rusqlite::Result<_>>()
            .expect("read the tickets");
        let next_number = tickets.last().map_or(1, |last| last.number + 1);
        let mut generator = MailGen::new(seed, tickets, next_number);
        generator.clock += 400 * 86_400;
        generator
    }

    /// The next message; counts what it should do in `expect`.
    fn next(&mut self, mix: &Mix, expect: &mut Expected) -> Vec<u8> {
        self.sequence += 1;
        self.clock += 7 + self.rng.below(90) as i64;
        let total = 2100 + self.rng.below(1900) as usize;
        let roll = self.rng.below(100);
        if self.tickets.is_empty() || roll < mix.new {
            expect.new += 1;
            self.new_request(total)
        } else if roll < mix.new + mix.requester_reply {
            expect.requester_replies += 1;
            self.reply(total, false, true)
        } else if roll < mix.new + mix.requester_reply + mix.agent_reply {
            expect.agent_replies += 1;
            self.reply(total, true, true)
        } else {
            expect.reference_replies += 1;
            self.reply(total, false, false)
        }
    }

    fn customer(&mut self) -> Person {
        let index = self.rng.below(CUSTOMERS) as usize;
        let first = FIRST_NAMES[index % FIRST_NAMES.len()];
        let last = LAST_NAMES[(index / FIRST_NAMES.len()) % LAST_NAMES.len()];
        let domain = format!("customer{}.example", index % 800);
        let address = format!("{}.{}{index}@{domain}", first.to_lowercase(), last.to_lowercase());
        Person { name: format!("{first} {last}"), address, domain }
    }

    fn agent(&mut self) -> Person {
        agent(self.rng.below(AGENTS) as usize)
    }

    fn new_request(&mut self, total: usize) -> Vec<u8> {
        let person = self.customer();
        let template = SUBJECTS[self.rng.below(SUBJECTS.len() as u64) as usize];
        let subject = template.replace("{n}", &(1 + self.rng.below(40)).to_string());
        let id = self.message_id(&person.domain);
        self.tickets.push(TicketInfo {
            number: self.next_number,
            subject: subject.clone(),
            requester_name: person.name.clone(),
            requester_address: person.address.clone(),
            origin_id: id.clone(),
            receipt_id: None,
        });
        self.next_number += 1;
        let headers = self.headers(&person, &subject, &id, None, &[]);
        let (multipart, budget) = self.body_budget(total, headers.len());
        let signature = format!("Kind regards,\n{}\n\n-- \n{}\n{}\nPhone +1 555 01{:02}\n", person.name, person.name, person.domain, self.rng.below(100));
        let mut body = String::from("Hello,\n\n");
        let room = budget.saturating_sub(body.len() + signature.len());
        self.fill(&mut body, room);
        body.push_str(&signature);
        self.finish(headers, &body, multipart)
    }

    /// A reply to an earlier ticket: by its requester or by an agent, with the subject
    /// tag, or only In-Reply-To/References.
    fn reply(&mut self, total: usize, by_agent: bool, tagged: bool) -> Vec<u8> {
        // Most replies are about recent tickets; some about old ones.
        let count = self.tickets.len() as u64;
        let index = if self.rng.below(100) < 70 { count - 1 - self.rng.below(count.min(2000)) } else { self.rng.below(count) } as usize;
        let ticket = &self.tickets[index];
        let (number, ticket_subject, origin_id, receipt_id) =
            (ticket.number, ticket.subject.clone(), ticket.origin_id.clone(), ticket.receipt_id.clone());
        let (requester_name, requester_address) = (ticket.requester_name.clone(), ticket.requester_address.clone());
        let person = if by_agent {
            self.agent()
        } else {
            let domain = requester_address.rsplit_once('@').map_or("example.org", |(_, domain)| domain).to_string();
            Person { name: requester_name, address: requester_address, domain }
        };
        let subject = if tagged { format!("Re: [REQ #{number}] {ticket_subject}") } else { format!("Re: {ticket_subject}") };
        let id = self.message_id(&person.domain);
        // Mail clients answer the receipt when there is one, else the request itself.
        let parent = receipt_id.clone().unwrap_or_else(|| origin_id.clone());
        let references: Vec<String> = std::iter::once(origin_id).chain(receipt_id).collect();
        let headers = self.headers(&person, &subject, &id, Some(&parent), &references);
        let (multipart, budget) = self.body_budget(total, headers.len());

        let mut body = String::from("Hi,\n\n");
        self.paragraph(&mut body);
        if self.rng.below(2) == 0 {
            self.paragraph(&mut body);
        }
        let _ = write!(body, "Thanks,\n{}\n\n", person.name);
        let _ = writeln!(body, "On {}, Help Desk <help@example.com> wrote:", date_text(self.clock - 3600));
        let mut quoted = format!("Hello,\n\nwe have received your request and opened ticket #{number}:\n\n    {ticket_subject}\n\n");
        let signature_bytes = 8 + person.name.len() + person.domain.len();
        // Quoting adds "> " to lines of about 60 bytes.
        let room = budget.saturating_sub(body.len() + quoted.len() + signature_bytes) * 30 / 31;
        self.fill(&mut quoted, room);
        for line in quoted.lines() {
            body.push_str(if line.is_empty() { ">" } else { "> " });
            body.push_str(line);
            body.push('\n');
        }
        let _ = write!(body, "\n-- \n{}\n{}\n", person.name, person.domain);
        self.finish(headers, &body, multipart)
    }

    /// Whether the body goes as multipart/alternative, and how many bytes of plain text
    /// it may have so that the whole message is about `total` bytes.
    fn body_budget(&mut self, total: usize, header_bytes: usize) -> (bool, usize) {
        let multipart = self.rng.below(100) < 30;
        // CRLF line ends add about 3 %; an HTML copy about as large as the text, plus part headers.
        let room = total.saturating_sub(header_bytes + 100);
        let budget = if multipart { room.saturating_sub(330) * 100 / 215 } else { room * 100 / 103 };
        (multipart, budget.max(300))
    }

    fn message_id(&mut self, domain: &str) -> String {
        format!("{:x}.{:012x}.{}@mail.{domain}", self.sequence, self.rng.next() & 0xffff_ffff_ffff, self.rng.below(1000))
    }

    /// Paragraphs of about `room` bytes in all.
    fn fill(&mut self, out: &mut String, room: usize) {
        let end = out.len() + room;
        while out.len() + 40 < end {
            let limit = end - out.len();
            self.paragraph_within(out, limit);
        }
    }

    fn paragraph(&mut self, out: &mut String) {
        self.paragraph_within(out, usize::MAX);
    }

    /// A paragraph of a few sentences, stopped at a sentence end before `limit` bytes.
    fn paragraph_within(&mut self, out: &mut String, limit: usize) {
        let start = out.len();
        let sentences = 2 + self.rng.below(4);
        let mut line_length = 0;
        for _ in 0..sentences {
            if out.len() - start + 40 > limit {
                break;
            }
            let words = 6 + self.rng.below(14);
            for position in 0..words {
                if position > 2 && out.len() - start + 16 > limit {
                    break;
                }
                let mut word = WORDS[self.rng.below(WORDS.len() as u64) as usize].to_string();
                if position == 0 {
                    word[..1].make_ascii_uppercase();
                }
                if line_length + word.len() + 1 > 72 {
                    out.push('\n');
                    line_length = 0;
                } else if line_length > 0 {
                    out.push(' ');
                    line_length += 1;
                }
                out.push_str(&word);
                line_length += word.len();
            }
            out.push('.');
            line_length += 1;
        }
        out.push_str("\n\n");
    }

    /// The header block up to MIME-Version, as an MTA hands it over.
    fn headers(&mut self, person: &Person, subject: &str, id: &str, parent: Option<&str>, references: &[String]) -> String {
        let Person { name, address, domain } = person;
        let date = date_text(self.clock);
        let queue_id = format!("{:010X}", self.rng.next() & 0xff_ffff_ffff);
        let mut out = String::with_capacity(2048);
        let _ = write!(
            out,
            "Return-Path: <{address}>\r\n\
             Delivered-To: help@example.com\r\n\
             Received: from mail.{domain} (mail.{domain} [198.51.100.{ip}])\r\n\
             \tby mx1.example.com (Postfix) with ESMTPS id {queue_id}\r\n\
             \tfor <help@example.com>; {date}\r\n\
             Received: from [10.{a}.{b}.{c}] (unknown [10.{a}.{b}.{c}])\r\n\
             \tby mail.{domain} (Postfix) with ESMTPSA id {queue_id}2\r\n\
             \tfor <help@example.com>; {date}\r\n\
             DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=mail2025;\r\n\
             \th=from:to:subject:date:message-id:mime-version:content-type;\r\n\
             \tbh={bh};\r\n\
             \tb={b1}\r\n\
             \t {b2}\r\n\
             \t {b3}\r\n\
             From: \"{name}\" <{address}>\r\n\
             To: Help Desk <help@example.com>\r\n\
             Subject: {subject}\r\n\
             Date: {date}\r\n\
             Message-ID: <{id}>\r\n",
            ip = 1 + self.rng.below(250),
            a = self.rng.below(256),
            b = self.rng.below(256),
            c = self.rng.below(256),
            bh = self.base64ish(44),
            b1 = self.base64ish(64),
            b2 = self.base64ish(64),
            b3 = self.base64ish(44),
        );
        if let Some(parent) = parent {
            let _ = write!(out, "In-Reply-To: <{parent}>\r\n");
        }
        if !references.is_empty() {
            let list: Vec<String> = references.iter().map(|id| format!("<{id}>")).collect();
            let _ = write!(out, "References: {}\r\n", list.join("\r\n "));
        }
        let agent = ["Mozilla Thunderbird", "Microsoft Outlook 16.0", "Apple Mail (2.3774)", "Roundcube Webmail/1.6"]
            [self.rng.below(4) as usize];
        let _ = write!(out, "User-Agent: {agent}\r\nMIME-Version: 1.0\r\n");
        out
    }

    /// Headers, content type and body (plain, or plain and HTML alternatives).
    fn finish(&mut self, mut out: String, body: &str, multipart: bool) -> Vec<u8> {
        let text = body.replace('\n', "\r\n");
        if multipart {
            let boundary = format!("=_bench_{:016x}", self.rng.next());
            let html: String = body
                .split("\n\n")
                .filter(|paragraph| !paragraph.trim().is_empty())
                .map(|paragraph| format!("<p>{}</p>\r\n", paragraph.replace('&', "&amp;").replace('<', "&lt;").replace('\n', "<br>\r\n")))
                .collect();
            let _ = write!(
                out,
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
                 --{boundary}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n\
                 --{boundary}\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                 <html><body>\r\n{html}</body></html>\r\n--{boundary}--\r\n"
            );
        } else {
            let _ = write!(out, "Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}");
        }
        out.into_bytes()
    }

    fn base64ish(&mut self, length: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..length).map(|_| ALPHABET[self.rng.below(64) as usize] as char).collect()
    }
}

/// Help-desk agent number `index`, declared with role "agent" in the bench's configuration.
fn agent(index: usize) -> Person {
    let first = FIRST_NAMES[(index * 7) % FIRST_NAMES.len()];
    let last = LAST_NAMES[(index * 5 + index / 5) % LAST_NAMES.len()];
    let address = format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase());
    Person { name: format!("{first} {last}"), address, domain: "example.com".into() }
}

fn date_text(at: i64) -> String {
    DateTime::from_timestamp(at, 0).expect("a valid time").format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// SplitMix64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}
