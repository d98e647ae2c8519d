//! A private PostgreSQL server (Debian's `postgresql`) started by a test: `initdb` into a
//! temporary folder with password (SCRAM) authentication for one superuser, the server
//! listening on 127.0.0.1 on a free port with its Unix socket inside that folder, TLS on
//! with the test certificate, stopped in `Drop` (and by the kernel, with SIGQUIT, when
//! the thread that started it ends, should `Drop` never run). PostgreSQL refuses to run
//! as root, so a root test runs `initdb` and `postgres` as the `postgres` account the
//! package creates (the child process drops to it; no `su` in between, so the child is
//! the server).
//!
//! Over the Unix socket the role named like the test's operating-system user (root when
//! the tests run as root) and [`STRANGER`] log in by peer authentication, without a
//! password: [`Postgres::peer_database`].

use std::net::TcpStream;
use std::os::unix::fs::{chown, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::dovecot::{free_port, signal, wait_until};

pub const USER: &str = "reqmail";
pub const PASSWORD: &str = "database-secret";
/// A role that peer authentication checks over the socket and no operating-system user
/// of the tests is named like: its login is refused.
pub const STRANGER: &str = "reqmail_stranger";

pub struct Postgres {
    dir: tempfile::TempDir,
    child: Option<Child>,
    account: Option<(u32, u32)>,
    pub port: u16,
}

impl Postgres {
    /// A running server with the database `postgres` and the superuser [`USER`].
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new().prefix("reqmail-postgres-").tempdir().unwrap();
        let account = server_account();
        let data = dir.path().join("data");
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&data).unwrap();
        std::fs::create_dir(&sockets).unwrap();
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, PASSWORD).unwrap();
        let certificates = super::dovecot::certificates();
        // The server reads its key only when it is private to its own account.
        let key = dir.path().join("server.key");
        std::fs::copy(&certificates.key, &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some((uid, gid)) = account {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            for path in [&data, &sockets, &password_file, &key] {
                chown(path, Some(uid), Some(gid)).unwrap();
            }
        }
        let initdb = Command::new(program("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["--username", USER, "--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C.UTF-8", "--no-sync"])
            .arg(format!("--pwfile={}", password_file.display()))
            .as_account(account)
            .output()
            .unwrap_or_else(|error| panic!("cannot run initdb (scripts/test installs postgresql): {error}"));
        assert!(initdb.status.success(), "initdb failed: {}{}", String::from_utf8_lossy(&initdb.stdout), String::from_utf8_lossy(&initdb.stderr));
        // Password authentication on the loopback address too, not only on the socket; on
        // the socket, peer authentication first for the test's user and the stranger.
        let hba = format!(
            "local all \"{user}\" peer\nlocal all {STRANGER} peer\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n",
            user = os_user()
        );
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let settings = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{sockets}'\n\
             ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_buffers = 16MB\nmax_connections = 200\ndynamic_shared_memory_type = mmap\n",
            sockets = sockets.display(),
            cert = certificates.cert.display(),
            key = key.display(),
        );
        let mut config = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).unwrap();
        std::io::Write::write_all(&mut config, settings.as_bytes()).unwrap();
        let mut postgres = Postgres { dir, child: None, account, port: 0 };
        let mut last_error = String::new();
        for _attempt in 0..5 {
            postgres.port = free_port();
            match postgres.launch() {
                Ok(()) => return postgres,
                Err(error) => last_error = error,
            }
        }
        panic!("cannot start PostgreSQL: {last_error}");
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.log_path()).unwrap();
        let mut child = Command::new(program("postgres"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string()])
            .as_account(self.account)
            .dies_with_this_thread()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|error| format!("cannot run postgres (scripts/test installs postgresql): {error}"))?;
        let port = self.port;
        let url = self.plain_url("postgres");
        // The port opens before the server takes sessions: ready means a login works.
        let ready = wait_until(Duration::from_secs(30), || {
            matches!(child.try_wait(), Ok(Some(_)))
                || (TcpStream::connect(("127.0.0.1", port)).is_ok() && postgres::Client::connect(&url, postgres::NoTls).is_ok())
        });
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("postgres exited with {status}: {}", self.log()));
        }
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("postgres did not take a login within 30 seconds: {}", self.log()));
        }
        self.child = Some(child);
        Ok(())
    }

    /// The URL reqmail gets for database `database` on this server, as the superuser:
    /// TLS required, the server's certificate checked against the test CA.
    pub fn url(&self, database: &str) -> String {
        format!("{}?sslmode=require&sslrootcert={}", self.plain_url(database), super::dovecot::certificates().ca.display())
    }

    /// The same without TLS.
    pub fn plain_url(&self, database: &str) -> String {
        format!("postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/{database}", self.port)
    }

    /// A new empty database; its URL (as [`Postgres::url`]).
    pub fn create_database(&self, database: &str) -> String {
        self.client("postgres").batch_execute(&format!("CREATE DATABASE {database}")).unwrap();
        self.url(database)
    }

    /// A new database owned by the role named like the test's operating-system user
    /// (made with the first), and the URL by which that user reaches it over the Unix
    /// socket with peer authentication: no password, no TLS.
    pub fn peer_database(&self, database: &str) -> String {
        let user = os_user();
        let mut admin = self.client("postgres");
        for role in [user.as_str(), STRANGER] {
            let exists = admin.query_one("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", &[&role]).unwrap().get::<_, bool>(0);
            if !exists {
                admin.batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN")).unwrap();
            }
        }
        admin.batch_execute(&format!("CREATE DATABASE {database} OWNER \"{user}\"")).unwrap();
        self.socket_url(&user, database)
    }

    /// The URL of `database` over the server's Unix socket as `role`, without password.
    pub fn socket_url(&self, role: &str, database: &str) -> String {
        format!("postgresql://{role}@/{database}?host={}&port={}", self.dir.path().join("sockets").display(), self.port)
    }

    /// A connection to `database` without TLS, for a test's own checks and changes.
    pub fn client(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.plain_url(database), postgres::NoTls).unwrap_or_else(|error| panic!("cannot connect to {database}: {error}"))
    }

    /// Stops the server at once (SIGQUIT: immediate shutdown; its data is thrown away
    /// with the folder anyway), waiting until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "QUIT");
            if !wait_until(Duration::from_secs(10), || matches!(child.try_wait(), Ok(Some(_)))) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Stops the server and keeps its folder (data and log); its path.
    pub fn stop_and_keep(mut self) -> PathBuf {
        self.stop();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- postgres.log ({}) ---\n{}", self.dir.path().display(), self.log());
        }
    }
}

/// The name of the operating-system user the tests run as.
pub fn os_user() -> String {
    // SAFETY: geteuid has no preconditions; getpwuid's result is read before any other
    // call could overwrite its static buffer.
    unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        assert!(!entry.is_null(), "the tests' user has no entry in the user database");
        std::ffi::CStr::from_ptr((*entry).pw_name).to_str().unwrap().to_string()
    }
}

/// The uid and gid to run the server as: the package's `postgres` account when the test
/// runs as root, else none (the test's own user).
fn server_account() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions; getpwnam's result is read before any other
    // call could overwrite its static buffer.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let entry = libc::getpwnam(c"postgres".as_ptr());
        assert!(!entry.is_null(), "running as root needs the postgres account (scripts/test installs postgresql)");
        Some(((*entry).pw_uid, (*entry).pw_gid))
    }
}

/// A server program: on PATH, else in the newest of Debian's /usr/lib/postgresql/N/bin.
fn program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file()))
        .unwrap_or_default();
    on_path
        .or_else(|| {
            let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|entry| {
                    let entry = entry.ok()?;
                    let version = entry.file_name().to_str()?.parse().ok()?;
                    Some((version, entry.path().join("bin").join(name)))
                })
                .filter(|(_, path)| Path::new(path).is_file())
                .collect();
            versions.sort();
            versions.pop().map(|(_, path)| path)
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

trait AsAccount {
    fn as_account(&mut self, account: Option<(u32, u32)>) -> &mut Self;
    fn dies_with_this_thread(&mut self) -> &mut Self;
}

impl AsAccount for Command {
    fn as_account(&mut self, account: Option<(u32, u32)>) -> &mut Self {
        if let Some((uid, gid)) = account {
            // The test's working folder may be closed to that account.
            self.uid(uid).gid(gid).current_dir("/");
        }
        self
    }

    /// The server gets SIGQUIT (immediate shutdown) when the thread that started it
    /// ends, so that a test process that dies without stopping it leaves none behind.
    fn dies_with_this_thread(&mut self) -> &mut Self {
        let parent = std::process::id();
        // SAFETY: prctl and getppid are async-signal-safe. This runs after the change of
        // account, which would clear the setting.
        unsafe {
            self.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The test process may have died before the setting took.
                if libc::getppid() != parent as libc::pid_t {
                    return Err(std::io::Error::other("the test process is gone"));
                }
                Ok(())
            })
        }
    }
}
