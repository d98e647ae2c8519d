//! A private PostgreSQL server for a bench: Debian's package, as `scripts/test` installs
//! it, its data folder made by initdb (trust authentication on loopback, durable commits
//! as in production: fsync on), on a free port; stopped when dropped. Included by the
//! benches that need it with `#[path]`. REQMAIL_BENCH_PG_SHARED_BUFFERS (e.g. `1GB`) sets
//! the server's buffer cache.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Postgres {
    dir: PathBuf,
    port: u16,
    account: Option<(u32, u32)>,
    bin: PathBuf,
}

#[allow(dead_code)] // Each bench uses its part.
impl Postgres {
    /// A new server with its data in `work/postgres` (`work` is the bench's own folder,
    /// which the server's account is given to reach it).
    pub fn start(work: &Path) -> Postgres {
        if let Some((uid, gid)) = server_account() {
            std::os::unix::fs::chown(work, Some(uid), Some(gid)).ok();
        }
        Postgres::start_in(&work.join("postgres"))
    }

    /// The server whose data is in `dir/data`: made there first when it is missing, else
    /// started as it was left (a kept server keeps its databases for the next run).
    pub fn start_in(dir: &Path) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server (Debian's postgresql package; scripts/test installs it)")
            .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
            .find(|bin| bin.join("initdb").exists())
            .expect("initdb under /usr/lib/postgresql");
        std::fs::create_dir_all(dir).unwrap();
        let account = server_account();
        if let Some((uid, gid)) = account {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
        }
        let mut server = Postgres { dir: dir.to_path_buf(), port: 0, account, bin };
        let data = dir.join("data");
        if !data.join("PG_VERSION").exists() {
            server.run("initdb", &["-D", data.to_str().unwrap(), "-U", "reqmail", "--auth", "trust", "-E", "UTF8", "--locale", "C.UTF-8"]);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50", dir.display());
        // PostgreSQL's default is 128 MB; a dedicated server is usually given a quarter of
        // its memory.
        if let Ok(size) = std::env::var("REQMAIL_BENCH_PG_SHARED_BUFFERS") {
            options += &format!(" -c shared_buffers={size}");
        }
        server.run("pg_ctl", &["-D", data.to_str().unwrap(), "-o", &options, "-l", dir.join("log").to_str().unwrap(), "-w", "start"]);
        server.port = port;
        server
    }

    fn run(&self, program: &str, args: &[&str]) {
        let mut command = Command::new(self.bin.join(program));
        command.args(args);
        if let Some((uid, gid)) = self.account {
            command.uid(uid).gid(gid);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{program}: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgresql://reqmail@127.0.0.1:{}/{database}?sslmode=disable", self.port)
    }

    /// psql's arguments to reach `database`, for looking at query plans by hand.
    pub fn psql(&self, database: &str) -> String {
        format!("{} -h 127.0.0.1 -p {} -U reqmail {database}", self.bin.join("psql").display(), self.port)
    }

    fn client(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(database), postgres::NoTls).expect("connect to the bench's PostgreSQL")
    }

    pub fn create_database(&self, database: &str) {
        self.client("postgres").batch_execute(&format!("CREATE DATABASE {database}")).unwrap();
    }

    pub fn has_database(&self, database: &str) -> bool {
        self.client("postgres").query_one("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", &[&database]).unwrap().get(0)
    }

    pub fn drop_database(&self, database: &str) {
        self.client("postgres").batch_execute(&format!("DROP DATABASE IF EXISTS {database}")).unwrap();
    }

    /// Runs `sql` in `database`.
    pub fn execute(&self, database: &str, sql: &str) {
        self.client(database).batch_execute(sql).unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// The size of `database` on disk, in bytes.
    pub fn database_size(&self, database: &str) -> i64 {
        self.client(database).query_one("SELECT pg_database_size(current_database())", &[]).unwrap().get(0)
    }

    pub fn version(&self) -> String {
        self.client("postgres").query_one("SHOW server_version", &[]).unwrap().get(0)
    }
}

/// PostgreSQL refuses to run as root: as root, the server runs as the package's account.
fn server_account() -> Option<(u32, u32)> {
    // SAFETY: getpwnam's record is read at once, on this one thread.
    (unsafe { libc::geteuid() } == 0).then(|| unsafe {
        let entry = libc::getpwnam(c"postgres".as_ptr());
        assert!(!entry.is_null(), "the postgres account (Debian's postgresql package makes it)");
        ((*entry).pw_uid, (*entry).pw_gid)
    })
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut command = Command::new(self.bin.join("pg_ctl"));
        // A fast stop: a kept data folder starts next time without recovery.
        command.args(["-D", self.dir.join("data").to_str().unwrap(), "-m", "fast", "-w", "stop"]).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some((uid, gid)) = self.account {
            command.uid(uid).gid(gid);
        }
        let _ = command.status();
    }
}
