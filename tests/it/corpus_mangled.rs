//! Every file of the public corpus in `fixtures/corpus`, plus a truncated and a byte-mangled copy of each,
//! through the whole pipeline in-process (parse → classify → identify → plan → apply),
//! under a time and a memory bound: no panic, and an outcome for each. The mangling is
//! seeded, so a failure names the file and the variant and reproduces. Fuzz findings
//! are kept in `fixtures/mail/regression/` and run here too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqmail::config::Config;
use reqmail::pipeline::{self, Incoming, Outcome};
use reqmail::site::Site;
use reqmail::store::Store;

use crate::harness::{corpus, fixtures};

/// The longest any one message may take in a debug build on a slow machine.
const PER_MESSAGE: Duration = Duration::from_secs(20);
/// Peak resident memory of the whole test process.
const PEAK_RSS_KB: u64 = 3 * 1024 * 1024;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                let name = path.file_name().unwrap().to_string_lossy().to_lowercase();
                if !(name.starts_with("licen") || name.starts_with("copying") || name.ends_with(".md")) {
                    files.push(path);
                }
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
}

/// xorshift64: small, deterministic, good enough to pick bytes.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn truncated(raw: &[u8], random: &mut Seeded) -> Vec<u8> {
    if raw.len() < 2 {
        return raw.to_vec();
    }
    raw[..1 + (random.next() as usize % (raw.len() - 1))].to_vec()
}

/// Overwrites about one byte in 64 with bytes that hurt mail parsers most.
fn mangled(raw: &[u8], random: &mut Seeded) -> Vec<u8> {
    const NASTY: &[u8] = b"\r\n\0=?:;<>\"\\-\xff\x80 \t";
    let mut out = raw.to_vec();
    let n_changes = (out.len() / 64).clamp(1, 20_000);
    for _ in 0..n_changes {
        if out.is_empty() {
            break;
        }
        let at = random.next() as usize % out.len();
        out[at] = NASTY[random.next() as usize % NASTY.len()];
    }
    out
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

/// Runs every `(name, bytes)` through spool and process in one in-memory desk;
/// returns counts by outcome.
fn run_all(variant: &str, inputs: &[(String, Vec<u8>)]) -> [usize; 4] {
    let site = Site::compile(Config::default()).unwrap();
    let mut store = Store::open_in_memory(&site.config.store).unwrap();
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut counts = [0usize; 4];
    for (name, raw) in inputs {
        let start = Instant::now();
        let spooled = pipeline::spool(&mut store, &[Incoming { raw, source: "test", recipient: None, queue: None }], now).unwrap();
        let outcomes = pipeline::process(&site, &mut store, &pipeline::waiting(&spooled), now)
            .unwrap_or_else(|error| panic!("{variant} {name}: {error:#}"));
        if outcomes.is_empty() {
            // The same Message-ID or bytes as an earlier file: deduplicated at the spool.
            counts[3] += 1;
        }
        let elapsed = start.elapsed();
        assert!(elapsed < PER_MESSAGE, "{variant} {name}: took {elapsed:?}");
        for (_, outcome) in &outcomes {
            match outcome {
                Outcome::Applied { .. } => counts[0] += 1,
                Outcome::Quarantined { reason } => {
                    assert!(!reason.contains("reqmail failed on this message"), "{variant} {name}: panicked: {reason}");
                    assert!(!reason.is_empty());
                    if reason.contains("MIME structure is too broken") {
                        // A mail-parser panic, caught: keep the input to add to the fixtures.
                        let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("parser-failed-{variant}-{}", name.replace('/', "_")));
                        let _ = std::fs::write(&keep, raw);
                        eprintln!("kept {}", keep.display());
                    }
                    counts[1] += 1;
                }
                Outcome::Ignored { reason } => {
                    assert!(!reason.is_empty(), "{variant} {name}: ignored without a reason");
                    counts[2] += 1;
                }
                Outcome::Duplicate => counts[3] += 1,
            }
        }
        // Spooled messages all got decided (a duplicate was decided before).
        let spooled_left: i64 = store.conn.query_row("SELECT COUNT(*) FROM messages WHERE state = 'spooled'", [], |row| row.get(0)).unwrap();
        assert_eq!(spooled_left, 0, "{variant} {name}: left spooled");
    }
    counts
}

#[test]
fn every_corpus_file_truncated_and_mangled_has_an_outcome_without_panic() {
    let files = files_under(&corpus());
    assert!(files.len() > 1000, "found {} corpus files", files.len());
    let started = Instant::now();
    let originals: Vec<(String, Vec<u8>)> =
        files.iter().map(|path| (path.strip_prefix(corpus()).unwrap().display().to_string(), std::fs::read(path).unwrap())).collect();
    let mut random = Seeded(0x5eed_2026_0007);
    let truncated_copies: Vec<(String, Vec<u8>)> = originals.iter().map(|(name, raw)| (name.clone(), truncated(raw, &mut random))).collect();
    let mangled_copies: Vec<(String, Vec<u8>)> = originals.iter().map(|(name, raw)| (name.clone(), mangled(raw, &mut random))).collect();
    let mut total = 0;
    for (variant, inputs) in [("original", &originals), ("truncated", &truncated_copies), ("mangled", &mangled_copies)] {
        let [applied, quarantined, ignored, duplicates] = run_all(variant, inputs);
        total += applied + quarantined + ignored + duplicates;
        eprintln!("corpus {variant}: {} files: applied {applied}, quarantined {quarantined}, ignored {ignored}, duplicate {duplicates}", inputs.len());
    }
    assert_eq!(total, originals.len() * 3, "an outcome for each");
    let peak = peak_rss_kb();
    eprintln!("corpus: {} messages in {:?}, peak RSS {} MB", total, started.elapsed(), peak / 1024);
    assert!(peak < PEAK_RSS_KB, "peak RSS {peak} kB");
}

#[test]
fn fuzz_regressions_have_an_outcome_without_panic() {
    let inputs: Vec<(String, Vec<u8>)> = files_under(&fixtures().join("mail/regression"))
        .iter()
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(path).unwrap()))
        .collect();
    assert!(!inputs.is_empty(), "fixtures/mail/regression holds at least the seed case");
    let counts = run_all("regression", &inputs);
    assert_eq!(counts.iter().sum::<usize>(), inputs.len());
}
