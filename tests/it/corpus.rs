//! Every message of the public corpus in `fixtures/corpus` goes through the whole pipeline: each is
//! applied, quarantined or ignored with a reason; none panics; none is lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::harness::{corpus, Desk};

fn corpus_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                let name = path.file_name().unwrap().to_string_lossy().to_lowercase();
                let is_licence = name.starts_with("license") || name.starts_with("licence") || name.starts_with("copying");
                if !is_licence && name != "manifest.md" {
                    files.push(path);
                }
            }
        }
    }
    let mut files = Vec::new();
    walk(&corpus(), &mut files);
    files.sort();
    files
}

#[test]
fn every_corpus_file_is_applied_quarantined_or_ignored() {
    let files = corpus_files();
    assert!(files.len() > 1000, "the corpus is beside the repository: found {} files", files.len());
    let desk = Desk::new();
    let mut expected_keys: HashMap<String, PathBuf> = HashMap::new();
    for (index, path) in files.iter().enumerate() {
        let raw = std::fs::read(path).unwrap();
        expected_keys.entry(reqmail::store::messages::stored_key(&reqmail::pipeline::dedupe_key(&raw))).or_insert_with(|| path.clone());
        desk.deliver_to_inbox(&format!("corpus{index:05}"), &raw);
    }
    desk.run(&["fetch"]).ok();

    let rows = desk.sql("SELECT dedupe_key, state, outcome FROM messages WHERE direction = 'in'");
    let stored: HashMap<String, (String, Option<String>)> = rows
        .into_iter()
        .map(|row| (row[0].as_str().unwrap().to_string(), (row[1].as_str().unwrap().to_string(), row[2].as_str().map(String::from))))
        .collect();
    let mut by_state: HashMap<String, usize> = HashMap::new();
    for (key, path) in &expected_keys {
        let (state, outcome) = stored.get(key).unwrap_or_else(|| panic!("{} was lost", path.display()));
        assert!(matches!(state.as_str(), "applied" | "quarantined" | "ignored"), "{}: left in state {state}", path.display());
        if state != "applied" {
            let reason = outcome.as_deref().unwrap_or("");
            assert!(!reason.is_empty(), "{}: {state} without a reason", path.display());
            assert!(!reason.contains("reqmail failed on this message"), "{}: panicked: {reason}", path.display());
        }
        *by_state.entry(state.clone()).or_default() += 1;
    }
    eprintln!("corpus: {} files, {} distinct messages, outcomes {by_state:?}", files.len(), expected_keys.len());
    assert!(by_state.get("applied").copied().unwrap_or(0) > 200, "most corpus messages are mail a person could send: {by_state:?}");
    let left = std::fs::read_dir(desk.path().join("mail/inbox/new")).unwrap().count();
    assert_eq!(left, 0, "every file was acknowledged");
}

#[test]
fn corpus_through_the_pipe_never_answers_other_than_zero() {
    // Every seventh file through `reqmail ingest`, as an MTA would deliver it.
    let desk = Desk::new();
    for path in corpus_files().iter().step_by(7) {
        let raw = std::fs::read(path).unwrap();
        let run = desk.ingest(&raw);
        assert_eq!(run.status, 0, "{}: {}", path.display(), run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}: {}", path.display(), run.stderr);
    }
}
