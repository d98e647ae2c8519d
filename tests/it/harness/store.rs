//! The store the tests' desks run on: a SQLite file each (the default), or, with
//! `REQMAIL_TEST_STORE=postgres`, a PostgreSQL database each on one private server that
//! the test process starts at the first desk and stops when it exits.
//!
//! Each database is a copy of a template database that has the schema already (CREATE
//! DATABASE … TEMPLATE, some 0.1 s each here), not migrated one by one.
//! Tests run as threads of one process and statics are never dropped, so an atexit hook
//! stops the server and removes its folder; should the process die without running it,
//! the server gets SIGQUIT from the kernel (PR_SET_PDEATHSIG, set in
//! [`super::postgres`]) when the thread that started it ends, and that thread lives as
//! long as the process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use postgres::error::SqlState;

use super::postgres::Postgres;

const TEMPLATE: &str = "reqmail_template";

/// Whether the desks' stores are on PostgreSQL (`REQMAIL_TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| match std::env::var("REQMAIL_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(std::env::VarError::NotPresent) => false,
        Ok(other) => panic!("REQMAIL_TEST_STORE is sqlite (the default) or postgres, not {other:?}"),
        Err(error) => panic!("REQMAIL_TEST_STORE: {error}"),
    })
}

/// For a test of what exists only for a SQLite file: true, after saying so, when the
/// desks are on PostgreSQL, so that the test returns at once.
pub fn sqlite_only(what: &str) -> bool {
    let skip = on_postgres();
    if skip {
        eprintln!("not on PostgreSQL: {what} is for a SQLite store");
    }
    skip
}

struct Shared {
    server: Mutex<Option<Postgres>>,
    /// A session on the server's `postgres` database that creates and drops the desks'.
    admin: Mutex<postgres::Client>,
    next: AtomicU64,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("postgres-owner".into())
            .spawn(move || {
                let _ = sender.send(Postgres::start());
                loop {
                    std::thread::park();
                }
            })
            .unwrap();
        let server = receiver.recv().expect("the tests' PostgreSQL server did not start (its error is above)");
        // SAFETY: the handler only takes the server out of its mutex and stops it.
        assert_eq!(unsafe { libc::atexit(stop_at_exit) }, 0, "cannot register the PostgreSQL server's stop at exit");
        let mut admin = server.client("postgres");
        admin.batch_execute(&format!("CREATE DATABASE {TEMPLATE}")).unwrap();
        let config = reqmail::config::StoreConfig { url: Some(server.url(TEMPLATE)), ..Default::default() };
        drop(reqmail::store::Store::open(&config).unwrap_or_else(|error| panic!("cannot migrate the template database: {error:#}")));
        admin.batch_execute(&format!("ALTER DATABASE {TEMPLATE} WITH ALLOW_CONNECTIONS false")).unwrap();
        Shared { server: Mutex::new(Some(server)), admin: Mutex::new(admin), next: AtomicU64::new(0) }
    })
}

extern "C" fn stop_at_exit() {
    let Some(shared) = SHARED.get() else { return };
    let Some(server) = shared.server.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
    if std::env::var_os("REQMAIL_TEST_KEEP").is_some() {
        eprintln!("kept the PostgreSQL server's folder {}", server.stop_and_keep().display());
    }
}

/// A new database with the schema for one desk: its name and the URL reqmail gets.
pub fn new_database() -> (String, String) {
    let shared = shared();
    let name = format!("desk_{}", shared.next.fetch_add(1, Ordering::Relaxed));
    let mut admin = shared.admin.lock().unwrap_or_else(PoisonError::into_inner);
    let mut tries = 0;
    loop {
        match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}")) {
            Ok(()) => break,
            // The migration's session on the template may still be closing.
            Err(error) if error.code() == Some(&SqlState::OBJECT_IN_USE) && tries < 250 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("cannot create the database {name}: {error}"),
        }
    }
    drop(admin);
    let url = shared.server.lock().unwrap_or_else(PoisonError::into_inner).as_ref().expect("the server runs").url(&name);
    (name, url)
}

/// Drops a desk's database, ending the sessions still on it.
pub fn drop_database(name: &str) {
    let Some(shared) = SHARED.get() else { return };
    let mut admin = shared.admin.lock().unwrap_or_else(PoisonError::into_inner);
    if let Err(error) = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
        eprintln!("cannot drop the database {name}: {error}");
    }
}

/// `text` (a reqmail.toml) with `[store] url = "URL"`: in the `[store]` table when it
/// has one, else in one added at the end (where the lines of the test's own text keep
/// their numbers, which error messages cite).
pub fn with_store_url(text: &str, url: &str) -> String {
    let setting = format!("url = {}", toml::Value::from(url));
    // A test's text read back from the file and changed has it already; a test that
    // names a database of its own (several gateways, a store compared with SQLite's)
    // keeps it.
    let own_url = text.parse::<toml::Table>().is_ok_and(|table| table.get("store").and_then(|store| store.get("url")).is_some());
    if text.contains(&setting) || own_url {
        return text.to_string();
    }
    let mut lines: Vec<&str> = text.lines().collect();
    let merged = match lines.iter().position(|line| line.trim() == "[store]") {
        Some(header) => {
            lines.insert(header + 1, &setting);
            lines.join("\n") + "\n"
        }
        None => format!("{text}\n[store]\n{setting}\n"),
    };
    // A test may write a broken configuration on purpose; a sound one must say our URL.
    if let Ok(table) = merged.parse::<toml::Table>() {
        let said = table.get("store").and_then(|store| store.get("url")).and_then(|url| url.as_str());
        assert_eq!(said, Some(url), "the store's URL did not land in [store]:\n{merged}");
    }
    merged
}
