//! Test harness: a fresh folder per test with a configuration, and a runner for the
//! real `reqmail` binary. Set REQMAIL_TEST_KEEP=1 to keep the folders of a run.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const BINARY: &str = env!("CARGO_BIN_EXE_reqmail");
/// The MTA pipe's hand-off program.
pub const HAND_OFF: &str = env!("CARGO_BIN_EXE_reqmail-ingest");

/// A test installation: its own folder, configuration, database and Maildirs.
pub struct Desk {
    dir: tempfile::TempDir,
    pub now: Option<String>,
    /// Its PostgreSQL database (name, URL) when the tests run on PostgreSQL
    /// ([`store::on_postgres`]).
    database: Option<(String, String)>,
    /// The test's own session on that database, kept for the desk's life.
    session: std::sync::Mutex<Option<reqmail::store::Store>>,
}

/// What one run of the binary did.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn ok(self) -> Run {
        assert_eq!(self.status, 0, "reqmail failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.stdout))
    }
}

impl Desk {
    /// A desk with the default configuration plus `extra` TOML appended.
    pub fn with_config(extra: &str) -> Desk {
        let dir = tempfile::Builder::new().prefix("reqmail-test-").tempdir().expect("temp dir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.path().join("mail/inbox").join(sub)).unwrap();
        }
        let database = store::on_postgres().then(store::new_database);
        let desk = Desk { dir, now: None, database, session: std::sync::Mutex::new(None) };
        // The built-in help address is help@example.com, which every test uses.
        desk.write_config(extra);
        desk
    }

    /// Replaces the desk's reqmail.toml with `text`, plus the desk's store when that is
    /// on PostgreSQL.
    pub fn write_config(&self, text: &str) {
        let text = match &self.database {
            Some((_, url)) => store::with_store_url(text, url),
            None => text.to_string(),
        };
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// The URL of the desk's PostgreSQL database; None on SQLite.
    pub fn store_url(&self) -> Option<&str> {
        self.database.as_ref().map(|(_, url)| url.as_str())
    }

    /// The desk's store opened as reqmail opens it (created and migrated if need be).
    pub fn open_store(&self) -> reqmail::store::Store {
        let config = reqmail::config::StoreConfig {
            path: self.path().join("reqmail.db"),
            url: self.store_url().map(str::to_string),
            ..Default::default()
        };
        reqmail::store::Store::open(&config).unwrap_or_else(|error| panic!("cannot open the desk's store: {error:#}"))
    }

    /// Whether the desk's store exists yet: its file on SQLite (reqmail makes it at the
    /// first command); always on PostgreSQL, where the harness made it.
    pub fn store_exists(&self) -> bool {
        self.database.is_some() || self.path().join("reqmail.db").exists()
    }

    /// Rows that break a foreign key. SQLite checks them only on a connection that asks;
    /// PostgreSQL at every commit, so there are none.
    pub fn foreign_key_violations(&self) -> i64 {
        if self.database.is_some() {
            return 0;
        }
        self.count("SELECT COUNT(*) FROM pragma_foreign_key_check")
    }

    /// Runs `work` on a connection to the desk's store: a new one to the SQLite file
    /// as it is (not created, nor changed by the store's settings), else the desk's
    /// PostgreSQL session.
    pub fn with_connection<T>(&self, work: impl FnOnce(&reqmail::store::Connection) -> T) -> T {
        if self.database.is_none() {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let path = self.path().join("reqmail.db");
            let conn = rusqlite::Connection::open_with_flags(&path, flags).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            return work(&reqmail::store::Connection::Sqlite(conn));
        }
        let mut session = self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&session.get_or_insert_with(|| self.open_store()).conn)
    }

    /// Runs one statement (SQLite's dialect) with `params` on the desk's store; the
    /// number of rows it changed.
    pub fn execute(&self, statement: &str, params: &[&dyn reqmail::store::ToSql]) -> usize {
        self.with_connection(|conn| conn.execute(statement, params).unwrap_or_else(|error| panic!("{statement}: {error}")))
    }

    pub fn new() -> Desk {
        Desk::with_config("")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("reqmail.toml")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(BINARY, args)
    }

    pub fn command_of(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.arg("--config").arg(self.config_path()).args(args).current_dir(self.path());
        command.env_remove("REQMAIL_CONFIG").env_remove("RUST_LOG");
        match &self.now {
            Some(now) => command.env("REQMAIL_NOW", now),
            None => command.env_remove("REQMAIL_NOW"),
        };
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let child = self.command(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run reqmail");
        watched(child, None)
    }

    /// `reqmail ingest` with `raw` on stdin.
    pub fn ingest(&self, raw: &[u8]) -> Run {
        self.ingest_with(&[], raw)
    }

    pub fn ingest_with(&self, args: &[&str], raw: &[u8]) -> Run {
        let mut all = vec!["ingest"];
        all.extend_from_slice(args);
        self.pipe_into(self.command(&all), raw)
    }

    /// `reqmail-ingest` with `raw` on stdin.
    pub fn hand_off(&self, args: &[&str], raw: &[u8]) -> Run {
        self.pipe_into(self.command_of(HAND_OFF, args), raw)
    }

    pub fn pipe_into(&self, mut command: Command, raw: &[u8]) -> Run {
        let child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        watched(child, Some(raw))
    }

    /// The note the last inbound message added to its ticket, as its history entry holds
    /// it ("" when it added none).
    pub fn last_note(&self) -> String {
        let rows = self.sql(
            "SELECT h.detail FROM messages m LEFT JOIN history h ON h.message = m.id
                    AND h.action IN ('comment', 'automatic-comment', 'internal-note', 'held-note')
              WHERE m.direction = 'in' ORDER BY m.id DESC LIMIT 1",
        );
        rows.first().and_then(|row| row[0].as_str()).unwrap_or("").to_string()
    }

    pub fn ticket(&self, number: i64) -> Value {
        self.run(&["ticket", "show", &number.to_string(), "--json"]).ok().json()
    }

    pub fn tickets(&self) -> Vec<Value> {
        self.run(&["ticket", "list", "--all", "--sort", "number", "--json"]).ok().json().as_array().cloned().unwrap_or_default()
    }

    /// Checks that the listing names each ticket's CC list and links as `ticket show`
    /// does: the listing reads them in its one query, `show` on its own.
    pub fn assert_listing_agrees_with_show(&self) {
        let listed = self.tickets();
        assert!(!listed.is_empty(), "the listing shows the tickets");
        for ticket in listed {
            let shown = self.ticket(ticket["number"].as_i64().expect("a number"));
            assert_eq!((&ticket["cc"], &ticket["links"]), (&shown["cc"], &shown["links"]), "ticket #{}", ticket["number"]);
        }
    }

    /// Messages delivered into the outbound Maildir, oldest first, as text.
    pub fn outbox(&self) -> Vec<Mail> {
        let new = self.path().join("mail/outbox/new");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&new) {
            Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        };
        files.sort_by_key(|path| std::fs::metadata(path).and_then(|meta| meta.modified()).ok());
        files.sort();
        files.iter().map(|path| Mail::read(path)).collect()
    }

    /// Drops what was delivered so far, so that the next `outbox()` shows only new mail.
    pub fn clear_outbox(&self) {
        let new = self.path().join("mail/outbox/new");
        if let Ok(entries) = std::fs::read_dir(&new) {
            for entry in entries {
                std::fs::remove_file(entry.unwrap().path()).unwrap();
            }
        }
    }

    /// Drops a file into the inbound Maildir's `new/`.
    pub fn deliver_to_inbox(&self, name: &str, raw: &[u8]) {
        let tmp = self.path().join("mail/inbox/tmp").join(name);
        std::fs::write(&tmp, raw).unwrap();
        std::fs::rename(&tmp, self.path().join("mail/inbox/new").join(name)).unwrap();
    }

    /// The rows of `query` (SQLite's dialect, translated on PostgreSQL), a blob as its length.
    pub fn sql(&self, query: &str) -> Vec<Vec<Value>> {
        use reqmail::store::connection::ValueRef;
        self.with_connection(|conn| {
            let mut statement = conn.prepare(query).unwrap_or_else(|error| panic!("{query}: {error}"));
            let columns = statement.column_count().unwrap();
            statement
                .query_map((), |row| {
                    (0..columns)
                        .map(|index| {
                            Ok(match row.get_ref(index)? {
                                ValueRef::Null => Value::Null,
                                ValueRef::Integer(number) => Value::from(number),
                                ValueRef::Real(number) => Value::from(number),
                                ValueRef::Text(text) => Value::from(String::from_utf8_lossy(text).into_owned()),
                                ValueRef::Blob(blob) => Value::from(blob.len()),
                            })
                        })
                        .collect()
                })
                .unwrap_or_else(|error| panic!("{query}: {error}"))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|error| panic!("{query}: {error}"))
        })
    }

    pub fn count(&self, query: &str) -> i64 {
        self.sql(query)[0][0].as_i64().unwrap()
    }

    /// `count`, or None while the store cannot answer: a process that is not the test's
    /// (a drain, serve) creates it, and until its schema commits there is no file or
    /// no table.
    pub fn try_count(&self, query: &str) -> Option<i64> {
        if self.database.is_none() && !self.path().join("reqmail.db").exists() {
            return None;
        }
        self.with_connection(|conn| conn.query_row(query, (), |row| row.get::<_, i64>(0)).ok())
    }
}

/// How long one run of the binary may take: past it, the test fails rather than hangs
/// (on a lock that is never given up, say).
const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The run of `child`, `raw` written to its stdin; killed once it takes [`RUN_LIMIT`].
fn watched(mut child: std::process::Child, raw: Option<&[u8]>) -> Run {
    let pid = child.id();
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let overdue = done.recv_timeout(RUN_LIMIT) == Err(std::sync::mpsc::RecvTimeoutError::Timeout);
        if overdue {
            dovecot::signal(pid, "KILL");
        }
        overdue
    });
    if let Some(raw) = raw {
        // A closed pipe is fine: the process may have decided before reading everything.
        let _ = child.stdin.take().unwrap().write_all(raw);
    }
    let output = child.wait_with_output().unwrap();
    let _ = finished.send(());
    let run = Run::from(output);
    assert!(!watchdog.join().unwrap(), "reqmail took over {RUN_LIMIT:?} and was killed:\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
    run
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = self.session.get_mut().map(Option::take);
        if std::env::var_os("REQMAIL_TEST_KEEP").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!("kept test folder {}", kept.keep().display());
            if let Some((name, _)) = &self.database {
                eprintln!("kept test database {name}");
            }
        } else if let Some((name, _)) = &self.database {
            store::drop_database(name);
        }
    }
}

/// An outgoing message read back with mail-parser.
pub struct Mail {
    pub raw: Vec<u8>,
}

impl Mail {
    pub fn read(path: &Path) -> Mail {
        Mail { raw: std::fs::read(path).unwrap() }
    }

    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.raw).expect("our mail parses")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().header_raw(name).map(|value| value.trim().to_string())
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or("").to_string()
    }

    pub fn to(&self) -> String {
        let parsed = self.parsed();
        parsed.to().and_then(|to| to.first()).and_then(|addr| addr.address.as_deref()).unwrap_or("").to_string()
    }

    pub fn message_id(&self) -> String {
        self.parsed().message_id().unwrap_or("").to_string()
    }

    pub fn body(&self) -> String {
        self.parsed().body_text(0).map(|text| text.into_owned()).unwrap_or_default()
    }
}

/// The fixtures folder of this repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The public mail corpus copied from other projects' test suites (`fixtures/corpus/MANIFEST.md`).
pub fn corpus() -> PathBuf {
    fixtures().join("corpus")
}

/// A fixture with `%NAME%` placeholders replaced.
pub fn fixture(name: &str, replacements: &[(&str, &str)]) -> Vec<u8> {
    let path = fixtures().join("mail").join(name);
    let mut text = String::from_utf8(std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))).unwrap();
    for (key, value) in replacements {
        text = text.replace(&format!("%{key}%"), value);
    }
    text.into_bytes()
}

/// A simple new request.
pub fn request(message_id: &str, from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@example.com\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Sat, 21 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub mod daemon;
pub mod dovecot;
pub mod http;
pub mod idp;
pub mod postfix;
pub mod postgres;
pub mod slapd;
pub mod store;

pub use store::{on_postgres, sqlite_only};

/// A plain message from `from` to `to` with Message-ID `<ID@test>`.
pub fn letter(from: &str, to: &str, subject: &str, body: &str, id: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
}

/// [`letter`] as our own MTA passed it: an Authentication-Results of `mx.example.com`
/// with aligned DMARC for the From domain (for `mail.trusted_authserv_id = "mx.example.com"`).
pub fn authenticated_letter(from: &str, to: &str, subject: &str, body: &str, id: &str) -> Vec<u8> {
    let domain = from.rsplit_once('@').map_or("", |(_, domain)| domain);
    let mut raw = format!("Authentication-Results: mx.example.com; dmarc=pass header.from={domain}\r\n").into_bytes();
    raw.extend(letter(from, to, subject, body, id));
    raw
}
