//! Golden cases: every `fixtures/mail/NAME.eml` and `fixtures/mail/golden/NAME.eml` goes
//! through the pipeline, and what it decided (`reqmail::decision::Decision`) must equal
//! `NAME.json` beside it. A change of behaviour shows as a diff of JSON:
//! `REQMAIL_BLESS=1 cargo test --test it golden` writes the new records, and the diff is
//! reviewed with the change. Without it a mismatch leaves `NAME.json.new` beside the case.
//!
//! Each case runs against its own fresh database with the site of
//! `fixtures/mail/golden/site.toml`, in which Ann's request "Printer on fire" has opened
//! ticket 1; `%TICKET%`, `%PARENT%` (the receipt's Message-ID) and `%UNIQUE%` in a case
//! are filled in, so client replies find that ticket as they would in real life.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use reqmail::config::Config;
use reqmail::pipeline::{self, Incoming};
use reqmail::site::Site;
use reqmail::store::Store;

use crate::harness::{fixtures, request};

const SEED_AT: &str = "2026-11-21T09:00:00Z";
const CASE_AT: &str = "2026-11-21T10:05:00Z";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn cases() -> Vec<PathBuf> {
    let mut cases = Vec::new();
    for dir in [fixtures().join("mail"), fixtures().join("mail/golden")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "eml") {
                cases.push(path);
            }
        }
    }
    cases.sort();
    cases
}

fn site() -> Site {
    let path = fixtures().join("mail/golden/site.toml");
    let mut config = Config::from_toml(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    config.origin = Some(path);
    Site::compile(config).unwrap()
}

/// A database in which ticket 1 exists; returns it with the receipt's Message-ID.
fn seeded(site: &Site) -> (Store, String) {
    let mut store = Store::open_in_memory(&site.config.store).unwrap();
    let raw = request("orig@example.org", "Ann Example <ann@example.org>", "Printer on fire", "It is burning.");
    let incoming = Incoming { raw: &raw, source: "golden", recipient: None, queue: None };
    let spooled = pipeline::spool(&mut store, &[incoming], at(SEED_AT)).unwrap();
    pipeline::process(site, &mut store, &pipeline::waiting(&spooled), at(SEED_AT)).unwrap();
    let receipt: String = store
        .conn
        .query_row("SELECT message_id FROM messages WHERE direction = 'out' ORDER BY id LIMIT 1", [], |row| row.get(0))
        .unwrap();
    (store, receipt)
}

fn decide(site: &Site, case: &Path) -> String {
    let (mut store, receipt) = seeded(site);
    let mut raw = std::fs::read(case).unwrap();
    let name = case.file_stem().unwrap().to_string_lossy().into_owned();
    if raw.windows(1).any(|byte| byte == b"%") {
        for (key, value) in [("%TICKET%", "1"), ("%PARENT%", receipt.as_str()), ("%UNIQUE%", name.as_str())] {
            raw = replace(&raw, key.as_bytes(), value.as_bytes());
        }
    }
    let incoming = Incoming { raw: &raw, source: "golden", recipient: None, queue: None };
    let spooled = pipeline::spool(&mut store, &[incoming], at(CASE_AT)).unwrap();
    let decided = pipeline::process_decided(site, &mut store, &pipeline::waiting(&spooled), at(CASE_AT)).unwrap();
    assert_eq!(decided.len(), 1, "{}: one message, one decision", case.display());
    decided[0].2.to_json()
}

fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(position) = rest.windows(from.len()).position(|window| window == from) {
        out.extend_from_slice(&rest[..position]);
        out.extend_from_slice(to);
        rest = &rest[position + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[test]
fn every_golden_case_decides_as_recorded() {
    let bless = std::env::var_os("REQMAIL_BLESS").is_some_and(|value| value == "1");
    let site = site();
    let cases = cases();
    assert!(cases.len() >= 40, "the golden cases are in fixtures/mail: found {}", cases.len());
    let mut failed = Vec::new();
    for case in &cases {
        let decided = decide(&site, case);
        let expected_path = case.with_extension("json");
        let failed_path = case.with_extension("json.new");
        let expected = std::fs::read_to_string(&expected_path).ok();
        if expected.as_deref() == Some(decided.as_str()) {
            let _ = std::fs::remove_file(&failed_path);
            continue;
        }
        if bless {
            std::fs::write(&expected_path, &decided).unwrap();
            let _ = std::fs::remove_file(&failed_path);
        } else {
            std::fs::write(&failed_path, &decided).unwrap();
            failed.push(format!("{} (now: {})", expected_path.display(), failed_path.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} golden cases decide differently; compare, then REQMAIL_BLESS=1 to accept:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn no_golden_record_is_left_without_its_case() {
    for dir in [fixtures().join("mail"), fixtures().join("mail/golden")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "json") {
                assert!(path.with_extension("eml").exists(), "{}: its .eml is gone; remove the record too", path.display());
            }
        }
    }
}
