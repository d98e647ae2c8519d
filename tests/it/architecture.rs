//! The layering of `src/` as ARCHITECTURE.md states it: each top-level module uses only
//! the modules listed above it under "Layers" (or itself), every module is listed, and no
//! files import each other in a circle. Read from the `crate::…` paths of the sources, so
//! a new import that breaks the order fails here with the file that made it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The modules in the order of ARCHITECTURE.md's `layers` block.
fn layers() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let block = text.split("```layers\n").nth(1).expect("ARCHITECTURE.md has a ```layers block");
    let block = &block[..block.find("```").expect("the layers block ends")];
    block.split_whitespace().map(str::to_string).collect()
}

/// Every library source file, as its path below `src/`.
fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
    }
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut files: Vec<PathBuf> = files.into_iter().map(|path| path.strip_prefix(&src).unwrap().to_path_buf()).collect();
    // The executables (main.rs, bin/) use the library from outside, as `reqmail::`.
    files.retain(|path| path != Path::new("main.rs") && path != Path::new("lib.rs") && !path.starts_with("bin"));
    files.sort();
    files
}

/// The module path of a source file: `store/people.rs` → [store, people].
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    match last.strip_suffix(".rs").unwrap() {
        "mod" => {}
        name => parts.push(name.to_string()),
    }
    parts
}

/// The paths a file names, `crate::a::b::c` and `super::x` made absolute, as far as their
/// segments are lower-case names (modules, or functions: [`file_of`] sorts them out).
/// Comment lines are skipped.
fn references(file: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("src").join(file)).unwrap();
    let module = module_of(file);
    let parent = module[..module.len() - 1].to_vec();
    let mut found = Vec::new();
    for line in text.lines().filter(|line| !line.trim_start().starts_with("//")) {
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
            let mut rest = line;
            while let Some(at) = rest.find(prefix) {
                let glued = rest[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
                rest = &rest[at + prefix.len()..];
                if glued {
                    continue;
                }
                let mut path = base.clone();
                for segment in rest.split("::") {
                    let name: String = segment.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if name.is_empty() || !name.starts_with(|c: char| c.is_lowercase()) {
                        break;
                    }
                    let whole = name.len() == segment.len();
                    path.push(name);
                    if !whole {
                        break;
                    }
                }
                if !path.is_empty() {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// The source file a path lands in: the longest prefix that is a file of ours.
fn file_of(path: &[String], files: &BTreeSet<PathBuf>) -> Option<PathBuf> {
    (1..=path.len()).rev().find_map(|length| {
        let joined = path[..length].join("/");
        [PathBuf::from(format!("{joined}.rs")), PathBuf::from(format!("{joined}/mod.rs"))].into_iter().find(|candidate| files.contains(candidate))
    })
}

#[test]
fn modules_use_only_what_stands_above_them_in_architecture_md() {
    let layers = layers();
    let rank = |module: &str| layers.iter().position(|listed| listed == module);
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for file in sources() {
        let module = module_of(&file)[0].clone();
        seen.insert(module.clone());
        let Some(own) = rank(&module) else {
            problems.push(format!("src/{}: module `{module}` is not in ARCHITECTURE.md's layers", file.display()));
            continue;
        };
        for path in references(&file) {
            match rank(&path[0]) {
                Some(used) if used > own => problems.push(format!(
                    "src/{} uses crate::{}, but `{}` stands below `{module}` in ARCHITECTURE.md's layers",
                    file.display(),
                    path.join("::"),
                    path[0]
                )),
                Some(_) => {}
                None => problems.push(format!("src/{} uses crate::{}, a module not in the layers", file.display(), path.join("::"))),
            }
        }
    }
    for listed in &layers {
        if !seen.contains(listed) {
            problems.push(format!("ARCHITECTURE.md lists `{listed}`, which is not a module of src/"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_source_files_import_each_other_in_a_circle() {
    let files: BTreeSet<PathBuf> = sources().into_iter().collect();
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for file in &files {
        let targets = references(file).iter().filter_map(|path| file_of(path, &files)).filter(|target| target != file).collect();
        edges.insert(file.clone(), targets);
    }
    assert!(edges.values().map(BTreeSet::len).sum::<usize>() > 100, "the imports were read: {edges:?}");
    // Depth-first search; a file met again while still on the path closes a circle.
    fn visit(file: &PathBuf, edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>, path: &mut Vec<PathBuf>, done: &mut BTreeSet<PathBuf>) -> Option<Vec<PathBuf>> {
        if let Some(start) = path.iter().position(|on_path| on_path == file) {
            let mut circle = path[start..].to_vec();
            circle.push(file.clone());
            return Some(circle);
        }
        if done.contains(file) {
            return None;
        }
        path.push(file.clone());
        for next in &edges[file] {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(file.clone());
        None
    }
    let mut done = BTreeSet::new();
    for file in edges.keys() {
        if let Some(circle) = visit(file, &edges, &mut Vec::new(), &mut done) {
            let names: Vec<String> = circle.iter().map(|file| format!("src/{}", file.display())).collect();
            panic!("files import each other in a circle: {}", names.join(" -> "));
        }
    }
}

#[test]
fn sql_is_written_only_in_store() {
    let markers = ["\"SELECT ", "\"INSERT INTO", "\"DELETE FROM", "\"PRAGMA ", ".prepare(", ".prepare_cached(", ".query_row(", "conn.execute(", ".execute_batch("];
    let mut found = Vec::new();
    for file in sources() {
        if file.starts_with("store") {
            continue;
        }
        let text = std::fs::read_to_string(root().join("src").join(&file)).unwrap();
        for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim_start().starts_with("//")) {
            let update = line.contains("\"UPDATE ") && line.contains(" SET ");
            if update || markers.iter().any(|marker| line.contains(marker)) {
                found.push(format!("src/{}:{}: {}", file.display(), number + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "SQL belongs in src/store/:\n{}", found.join("\n"));
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let mut undocumented: Vec<String> = sources()
        .into_iter()
        .chain(["lib.rs", "main.rs"].map(PathBuf::from))
        .filter(|file| !std::fs::read_to_string(root().join("src").join(file)).unwrap().starts_with("//!"))
        .map(|file| format!("src/{}", file.display()))
        .collect();
    undocumented.sort();
    assert!(undocumented.is_empty(), "a `//!` line saying what the file is for is missing in: {}", undocumented.join(", "));
}
