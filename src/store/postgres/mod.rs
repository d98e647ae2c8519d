//! PostgreSQL behind the store: connecting by URL (TLS with rustls, or none when the URL
//! says `sslmode=disable` or names the server's Unix socket folder) and the schema, `migrations/postgres/NNNN_*.sql`, numbered and
//! named as SQLite's and applied in one transaction. `session` runs the store's queries
//! (translated by `dialect`, values converted by `values`); `copy` moves a store between
//! SQLite and PostgreSQL.

pub mod copy;
pub mod dialect;
pub mod session;
pub mod values;

pub use crate::store::error::describe;

use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use postgres::config::{Host, SslMode};
use postgres::{Client, Transaction};

/// The schema, one file per SQLite migration with the same number and name.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../migrations/postgres/0001_initial.sql")),
    ("0002_mail_language", include_str!("../migrations/postgres/0002_mail_language.sql")),
    ("0003_imap", include_str!("../migrations/postgres/0003_imap.sql")),
    ("0004_safety", include_str!("../migrations/postgres/0004_safety.sql")),
    ("0005_outbox_claims", include_str!("../migrations/postgres/0005_outbox_claims.sql")),
    ("0006_operations", include_str!("../migrations/postgres/0006_operations.sql")),
    ("0007_oauth_fetch_health", include_str!("../migrations/postgres/0007_oauth_fetch_health.sql")),
    ("0008_reports_search", include_str!("../migrations/postgres/0008_reports_search.sql")),
    ("0009_decisions", include_str!("../migrations/postgres/0009_decisions.sql")),
    ("0010_ticket_links", include_str!("../migrations/postgres/0010_ticket_links.sql")),
    ("0011_webhooks", include_str!("../migrations/postgres/0011_webhooks.sql")),
    ("0012_performance", include_str!("../migrations/postgres/0012_performance.sql")),
    ("0013_directory", include_str!("../migrations/postgres/0013_directory.sql")),
    ("0014_desk", include_str!("../migrations/postgres/0014_desk.sql")),
    ("0015_knowledge", include_str!("../migrations/postgres/0015_knowledge.sql")),
    ("0016_queue_order", include_str!("../migrations/postgres/0016_queue_order.sql")),
    ("0017_lean_storage", include_str!("../migrations/postgres/0017_lean_storage.sql")),
    ("0018_storage_decisions", include_str!("../migrations/postgres/0018_storage_decisions.sql")),
    ("0019_storage_search", include_str!("../migrations/postgres/0019_storage_search.sql")),
    ("0020_scale_listings", include_str!("../migrations/postgres/0020_scale_listings.sql")),
    ("0021_scale_status_order", include_str!("../migrations/postgres/0021_scale_status_order.sql")),
    ("0022_storage_notes_keys", include_str!("../migrations/postgres/0022_storage_notes_keys.sql")),
    ("0023_batch_search", include_str!("../migrations/postgres/0023_batch_search.sql")),
    ("0024_note_function", include_str!("../migrations/postgres/0024_note_function.sql")),
    ("0025_gateway_claims", include_str!("../migrations/postgres/0025_gateway_claims.sql")),
    ("0026_scale_primary_address", include_str!("../migrations/postgres/0026_scale_primary_address.sql")),
    ("0027_search_nfc", include_str!("../migrations/postgres/0027_search_nfc.sql")),
    ("0028_scheduler_triggers", include_str!("../migrations/postgres/0028_scheduler_triggers.sql")),
    ("0029_postgres_listing_ties", include_str!("../migrations/postgres/0029_postgres_listing_ties.sql")),
    ("0030_admin_index", include_str!("../migrations/postgres/0030_admin_index.sql")),
    ("0031_ticket_statements_keep_their_facts", include_str!("../migrations/postgres/0031_ticket_statements_keep_their_facts.sql")),
    ("0032_ticket_creation_keeps_its_facts", include_str!("../migrations/postgres/0032_ticket_creation_keeps_its_facts.sql")),
    ("0033_history_statements_keep_their_facts", include_str!("../migrations/postgres/0033_history_statements_keep_their_facts.sql")),
    ("0034_status_days_by_statement", include_str!("../migrations/postgres/0034_status_days_by_statement.sql")),
    ("0035_keys_before_body_hash", include_str!("../migrations/postgres/0035_keys_before_body_hash.sql")),
    ("0036_inbound_found_by_dedupe_key", include_str!("../migrations/postgres/0036_inbound_found_by_dedupe_key.sql")),
    ("0037_subject_sounds_in_fts5", include_str!("../migrations/postgres/0037_subject_sounds_in_fts5.sql")),
];

/// Serialises schema changes of gateways starting at once (any fixed number: ours).
const MIGRATION_LOCK: i64 = 0x7265_716d_6169_6c00;

/// A `postgresql://USER:PASS@HOST:PORT/DB[?sslmode=…&sslrootcert=FILE]` URL, read; or
/// `postgresql://USER@/DB?host=/SOCKET/FOLDER[&port=…]` for the server's Unix socket
/// (libpq's form; the port names the socket file, `.s.PGSQL.PORT`).
pub struct Url {
    /// The URL without its password, for every message that names it.
    pub shown: String,
    config: postgres::Config,
    /// A CA file for the server's certificate (libpq's `sslrootcert`); else the system's.
    root_certificates: Option<PathBuf>,
}

impl Url {
    pub fn parse(url: &str) -> anyhow::Result<Url> {
        let shown = without_password(url);
        anyhow::ensure!(
            url.starts_with("postgresql://") || url.starts_with("postgres://"),
            "{shown} is not a PostgreSQL URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE)"
        );
        // rust-postgres knows no sslrootcert; it is taken out here and given to rustls.
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut root_certificates = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some(("sslrootcert", file)) => root_certificates = Some(PathBuf::from(file)),
                _ => rest.push(pair),
            }
        }
        let without_root = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
        let mut config = postgres::Config::from_str(&without_root).with_context(|| format!("cannot read the URL {shown}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // As libpq: no user named, the one reqmail runs as (the role peer authentication
        // lets in over the socket).
        if config.get_user().is_none() {
            if let Some(user) = os_user() {
                config.user(&user);
            }
        }
        Ok(Url { shown, config, root_certificates })
    }

    /// Whether the URL reaches the server only by its Unix socket.
    fn by_socket(&self) -> bool {
        let hosts = self.config.get_hosts();
        !hosts.is_empty() && self.config.get_hostaddrs().is_empty() && hosts.iter().all(|host| matches!(host, Host::Unix(_)))
    }

    /// A connection, with TLS unless the URL says `sslmode=disable` or names a Unix
    /// socket: the server offers no TLS there (the kernel carries the bytes), and libpq
    /// does not ask for it whatever `sslmode` says, so neither does reqmail.
    pub fn connect(&self) -> anyhow::Result<Client> {
        let connected = match self.config.get_ssl_mode() {
            _ if self.by_socket() => self.config.connect(postgres::NoTls),
            SslMode::Disable => self.config.connect(postgres::NoTls),
            _ => {
                let tls = crate::tls::client_config(self.root_certificates.as_deref(), "sslrootcert in the URL")?;
                self.config.connect(tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone()))
            }
        };
        connected.map_err(|error| match self.login_refused(&error) {
            Some(what_to_do) => anyhow::anyhow!("cannot connect to {}: {}: {what_to_do}", self.shown, describe(&error)),
            None => anyhow::Error::new(error).context(format!("cannot connect to {}", self.shown)),
        })
    }

    /// What to do when the server refused the login (SQLSTATE class 28), by how it was
    /// asked: peer authentication over the socket knows no password.
    fn login_refused(&self, error: &postgres::Error) -> Option<String> {
        if !error.as_db_error().is_some_and(|db| db.code().code().starts_with("28")) {
            return None;
        }
        let role = self.config.get_user().unwrap_or_default();
        if self.by_socket() {
            let runs_as = os_user().unwrap_or_else(|| "the user reqmail runs as".to_string());
            return Some(format!(
                "over the Unix socket the server lets in the role named like the operating-system user (peer authentication); \
                 reqmail runs as {runs_as}, the URL names the role {role}: name the role {runs_as} in the URL, run reqmail as {role}, \
                 or map {runs_as} to {role} in the server's pg_ident.conf"
            ));
        }
        Some(format!("check the role {role} and its password in the URL, and the server's pg_hba.conf line for this machine"))
    }
}

/// The name of the operating-system user this process runs as.
fn os_user() -> Option<String> {
    let mut entry = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut buffer = vec![0 as libc::c_char; 4096];
    let mut found = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes only into `entry` and `buffer`, both ours and as large
    // as said; `found` is null or points at `entry`, whose name lies in `buffer`.
    unsafe {
        let status = libc::getpwuid_r(libc::geteuid(), entry.as_mut_ptr(), buffer.as_mut_ptr(), buffer.len(), &mut found);
        if status != 0 || found.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*found).pw_name).to_str().ok().map(str::to_string)
    }
}

/// `url` with the password left out, of the user part and of a `password=` parameter.
pub fn without_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((user_info, host)) => format!("{}@{host}", user_info.split(':').next().unwrap_or_default()),
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_string(),
    };
    match query {
        Some(query) => {
            let kept: Vec<&str> = query.split('&').filter(|pair| !pair.starts_with("password=")).collect();
            if kept.is_empty() { base } else { format!("{base}?{}", kept.join("&")) }
        }
        None => base,
    }
}

/// Brings the schema up to date in its own transaction; see [`migrate_in`].
pub fn migrate(client: &mut Client) -> anyhow::Result<()> {
    // Nearly every process finds the schema current: one round trip tells it so, where
    // the transaction, the lock and the checks below take nine.
    if current_version(client) == Some(MIGRATIONS.len() as i64) {
        return Ok(());
    }
    let mut transaction = client.transaction()?;
    migrate_in(&mut transaction)?;
    Ok(transaction.commit()?)
}

/// The version recorded in `reqmail_schema`; `None` when that cannot be read (no schema yet).
fn current_version(client: &mut Client) -> Option<i64> {
    let messages = client.simple_query("SELECT COALESCE(MAX(version), 0) FROM reqmail_schema").ok()?;
    messages.iter().find_map(|message| match message {
        postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
        _ => None,
    })
}

/// Applies the migrations the database lacks, recorded in `reqmail_schema`; a database
/// from a newer reqmail is refused, never changed.
pub fn migrate_in(transaction: &mut Transaction<'_>) -> anyhow::Result<()> {
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    transaction.batch_execute("CREATE TABLE IF NOT EXISTS reqmail_schema (version BIGINT PRIMARY KEY, name TEXT NOT NULL)")?;
    let current = schema_version(transaction)?;
    anyhow::ensure!(
        current <= MIGRATIONS.len() as i64,
        "the PostgreSQL schema is at version {current}, newer than this reqmail's {}: upgrade reqmail",
        MIGRATIONS.len()
    );
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        transaction.batch_execute(sql).with_context(|| format!("PostgreSQL migration {name}"))?;
        transaction.execute("INSERT INTO reqmail_schema (version, name) VALUES ($1, $2)", &[&(index as i64 + 1), name])?;
    }
    Ok(())
}

/// The store at `url` as it is, its schema neither made nor changed (for `doctor`).
pub fn open_existing(url: &str) -> anyhow::Result<crate::store::Connection> {
    Ok(crate::store::Connection::Postgres(session::Session::new(Url::parse(url)?.connect()?)))
}

/// The schema version of the store behind `client` (`None`: reqmail made none there)
/// once a write went through: the gateways' write lock taken (waiting up to
/// `timeout_ms`), a row written, all rolled back.
pub fn check_writable(client: &mut Client, timeout_ms: u64) -> anyhow::Result<Option<i64>> {
    let mut transaction = client.transaction()?;
    let version = schema_version(&mut transaction)?;
    if version == 0 {
        return Ok(None);
    }
    transaction.batch_execute(&format!(
        "SET LOCAL lock_timeout = {timeout_ms}; SET LOCAL statement_timeout = {timeout_ms};
         SELECT pg_advisory_xact_lock({});
         INSERT INTO settings (name, value) VALUES ('doctor_write_test', '') ON CONFLICT (name) DO NOTHING",
        session::WRITE_LOCK
    ))?;
    transaction.rollback()?;
    Ok(Some(version))
}

/// The number of migrations applied (0 for a database reqmail never touched).
pub fn schema_version(transaction: &mut Transaction<'_>) -> anyhow::Result<i64> {
    let exists: bool = transaction.query_one("SELECT to_regclass('reqmail_schema') IS NOT NULL", &[])?.get(0);
    if !exists {
        return Ok(0);
    }
    Ok(transaction.query_one("SELECT COALESCE(MAX(version), 0) FROM reqmail_schema", &[])?.get(0))
}

#[cfg(test)]
mod tests {
    use super::{os_user, without_password, Url, MIGRATIONS};

    fn names(folder: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(".sql").map(str::to_string))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_sqlite_migration_has_its_postgresql_twin_with_the_same_number_and_name() {
        let sqlite = names(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations"));
        let postgres = names(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations/postgres"));
        assert_eq!(sqlite.len() as i64, crate::store::schema_version(), "a SQLite migration file is not in store::MIGRATIONS");
        assert_eq!(postgres, sqlite);
        let listed: Vec<String> = MIGRATIONS.iter().map(|(name, _)| name.to_string()).collect();
        assert_eq!(listed, sqlite, "postgres::MIGRATIONS lists the files in order");
    }

    #[test]
    fn a_socket_url_connects_without_tls_as_the_user_reqmail_runs_as_unless_it_names_one() {
        let url = Url::parse("postgresql:///reqmail?host=/run/postgresql").unwrap();
        assert!(url.by_socket());
        assert_eq!(url.config.get_user(), os_user().as_deref(), "libpq's default");
        let url = Url::parse("postgresql://desk@/reqmail?host=/run/postgresql&port=5433&sslmode=require").unwrap();
        assert!(url.by_socket(), "no TLS on a socket, whatever sslmode says");
        assert_eq!(url.config.get_user(), Some("desk"));
        assert!(!Url::parse("postgresql://desk@db.example/reqmail").unwrap().by_socket());
        assert!(!Url::parse("postgresql://desk@db.example/reqmail?host=/run/postgresql").unwrap().by_socket(), "a TCP host may have TLS");
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(without_password("postgresql://desk:s3cret@db.example:5433/reqmail?sslmode=require"), "postgresql://desk@db.example:5433/reqmail?sslmode=require");
        assert_eq!(without_password("postgresql://db/reqmail?user=desk&password=s3cret"), "postgresql://db/reqmail?user=desk");
        assert_eq!(without_password("postgres://desk@db"), "postgres://desk@db");
        assert_eq!(without_password("postgresql://desk:p@ss@db/x"), "postgresql://desk@db/x");
    }
}

